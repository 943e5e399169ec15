# Two commands on a fresh machine:  make demo  (the main job)  ·  make test  (the test suite)
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export OMP_WAIT_POLICY := PASSIVE
export HF_HUB_OFFLINE := 1

.PHONY: demo test lint install install-test clean

$(BIN)/.base: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch/torchvision pinned: these install from local disk here (others download GBs)
	$(BIN)/pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps "cn_clip==1.6.0" six
	touch $@

# llama-cpp-python compiles from source on first install (~6 min on 2 cores); pip caches the wheel.
$(BIN)/.test: $(BIN)/.base
	$(BIN)/pip install -q -e ".[test,llm]"
	$(BIN)/pip install -q -e tests/fake_plugin
	touch $@

install: $(BIN)/.base
install-test: $(BIN)/.test

demo: $(BIN)/.base
	$(BIN)/csd demo

test: $(BIN)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(BIN)/.test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) indexes/* data/demo
