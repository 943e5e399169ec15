# Two commands on a fresh machine:  make demo  (the main job)  ·  make test  (the test suite)
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export OMP_WAIT_POLICY := PASSIVE
export HF_HUB_OFFLINE := 1

# Compiled dependencies are built portably, never with -march=native: a native llama.cpp
# segfaulted on another x86-64 CPU, and pip's wheel cache is keyed by the sdist, not by the
# build flags, so a cached native wheel would come back whatever flags we pass. We build each
# once with --no-cache-dir into a folder named after its version and flags, and install only
# from there (--only-binary), so a stale wheel in pip's cache is never picked up.
LLAMA_CPP_VERSION := 0.3.36
HNSWLIB_VERSION := 0.8.0
# AVX2/FMA/F16C: every x86-64 CPU since 2013-2015 (Haswell, Zen). See README "Fastest native build".
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF
WHEELHOUSE ?= $(HOME)/.cache/csd/wheels
flags_id = $(shell printf '%s' '$(1)' | sha1sum | cut -c1-10)
LLAMA_WHEELS := $(WHEELHOUSE)/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(call flags_id,$(LLAMA_CMAKE_ARGS))
HNSWLIB_WHEELS := $(WHEELHOUSE)/hnswlib-$(HNSWLIB_VERSION)-no-native

.PHONY: demo test lint install install-llm install-test clean wheels

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(HNSWLIB_WHEELS)/.done: | $(BIN)/python
	HNSWLIB_NO_NATIVE=1 $(BIN)/pip wheel -q --no-cache-dir --no-deps --no-binary hnswlib -w $(HNSWLIB_WHEELS) "hnswlib==$(HNSWLIB_VERSION)"
	touch $@

# llama-cpp-python compiles from source: about 6-8 minutes on 2 cores, once per machine.
$(LLAMA_WHEELS)/.done: | $(BIN)/python
	@echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) (portable: $(LLAMA_CMAKE_ARGS)); about 6-8 minutes on 2 cores, once"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" FORCE_CMAKE=1 $(BIN)/pip wheel -q --no-cache-dir --no-deps --no-binary llama-cpp-python -w $(LLAMA_WHEELS) "llama-cpp-python==$(LLAMA_CPP_VERSION)"
	touch $@

wheels: $(HNSWLIB_WHEELS)/.done $(LLAMA_WHEELS)/.done

$(BIN)/.base: pyproject.toml $(HNSWLIB_WHEELS)/.done | $(BIN)/python
	# torch/torchvision pinned: these install from local disk here (others download GBs)
	$(BIN)/pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/pip install -q --only-binary hnswlib --find-links $(HNSWLIB_WHEELS) "hnswlib==$(HNSWLIB_VERSION)"
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps "cn_clip==1.6.0" six
	touch $@

# what --rewriter llm and csd rewriter train need, without the test suite's plugin and tools
$(BIN)/.llm: $(BIN)/.base $(LLAMA_WHEELS)/.done
	$(BIN)/pip install -q --only-binary llama-cpp-python --find-links $(LLAMA_WHEELS) "llama-cpp-python==$(LLAMA_CPP_VERSION)"
	$(BIN)/pip install -q -e ".[llm,train]"
	touch $@

$(BIN)/.test: $(BIN)/.llm
	$(BIN)/pip install -q -e ".[test,llm]"
	# the test encoder fake:colour, registered through the real plugin entry point
	$(BIN)/pip install -q -e tests/fake_plugin
	# the page test drives Debian's Chromium (a browser download by playwright is not possible offline)
	command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
		echo "warning: install Debian's chromium (apt-get install chromium) for tests/test_serve.py's page test"
	touch $@

install: $(BIN)/.base
install-llm: $(BIN)/.llm
install-test: $(BIN)/.test

demo: $(BIN)/.base
	$(BIN)/csd demo

test: $(BIN)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(BIN)/.test
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

clean:
	rm -rf $(VENV) indexes/* data/demo
