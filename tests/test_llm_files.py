"""The GGUF files `--rewriter llm` and `csd doctor` are given or find (--llm, $CSD_LLM, [rewrite]
llm, the model store, --adapter) are checked before llama.cpp sees them, and a refusal says what
the file is, where its path came from and what to do. Small generated GGUFs and a recording
stand-in for the llama.cpp worker: no model is loaded here."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

from csdclip_cli.errors import ModelFileMissing
from csdclip_cli.rewrite import llm_worker
from csdclip_cli.rewrite.llm import LlamaRewriter, default_llm_path, resolve_model
from csdclip_cli.rewrite.rules import RuleRewriter

Q = "a red car on the beach, no dog"
FAKE = Path(__file__).parent / "fakes" / "llm_worker.py"
# a stand-in worker that answers like a working model and appends every request to the file it is given
RECORDER = """
import json, sys
log = open(sys.argv[1], "a")
for line in sys.stdin:
    req = json.loads(line)
    log.write(line); log.flush()
    op = req["op"]
    if op == "info":
        reply = {"ok": True, "version": "fake", "system_info": "AVX2 = 1 |"}
    elif op == "load":
        reply = {"ok": True, "chat": False, "n_ctx": 512, "n_ctx_train": 2048}
    elif op == "generate":
        reply = {"ok": True, "text": " blue", "prompt_tokens": 4}
    else:
        break
    print(json.dumps(reply), flush=True)
"""


def write_model(path: Path, tokens: int = 8, general_type: str | None = None) -> Path:
    """A small GGUF model: an architecture, a vocabulary of `tokens` entries, one tensor."""
    import gguf

    w = gguf.GGUFWriter(str(path), "gemma3")
    if general_type:
        w.add_type(general_type)
    w.add_context_length(2048)
    w.add_token_list([f"tok{i}" for i in range(tokens)])
    w.add_tensor("token_embd.weight", np.zeros((tokens, 4), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def write_lora(path: Path) -> Path:
    """A small GGUF LoRA adapter, as `csd rewriter train` writes it."""
    from csdclip_cli.rewrite import lora_gguf

    state = {
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": np.zeros((2, 4), np.float32),
        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": np.zeros((4, 2), np.float32),
    }
    return lora_gguf.write_adapter(path, state, "gemma3_text", alpha=4.0)


def not_models(d: Path) -> dict[str, tuple[Path, str]]:
    """Files that only look like GGUF models, each with what the refusal must say."""
    d.mkdir(exist_ok=True)
    (d / "notes.gguf").write_text("some text, not a model\n")
    (d / "empty.gguf").write_bytes(b"")
    (d / "picture.gguf").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    (d / "folder.gguf").mkdir(exist_ok=True)
    return {
        "text": (d / "notes.gguf", "is not a GGUF file (it does not start with 'GGUF')"),
        "empty": (d / "empty.gguf", "is empty (0 bytes)"),
        "png": (d / "picture.gguf", "is not a GGUF file (it does not start with 'GGUF')"),
        "folder": (d / "folder.gguf", "is a folder, not a GGUF file"),
        "adapter": (write_lora(d / "lora.gguf"), "is a LoRA adapter, not a model; give it with --adapter"),
    }


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """csd doctor's report wide enough that no value is folded onto a second line."""
    monkeypatch.setenv("COLUMNS", "1000")


@pytest.fixture
def recorder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The file the recording worker writes its requests to (one JSON object a line)."""
    log = tmp_path / "requests.jsonl"
    monkeypatch.setattr(llm_worker, "worker_argv", lambda: [sys.executable, "-c", RECORDER, str(log)])
    return log


def requests(log: Path, op: str) -> list[dict]:
    """The requests of kind `op` the recording worker was sent."""
    return [r for r in map(json.loads, log.read_text().splitlines()) if r["op"] == op] if log.exists() else []


@pytest.mark.parametrize("kind", ["text", "empty", "png", "folder", "adapter"])
def test_a_file_that_cannot_be_a_model_is_refused_naming_where_it_came_from(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner, recorder: Path
) -> None:
    """A text file, an empty file, a PNG renamed .gguf, a folder or a LoRA adapter given as the
    model got llama.cpp's "Failed to load model from file" (csd doctor) or a fallback warning
    (csd rewrite -r llm), whichever of --llm, $CSD_LLM and [rewrite] llm named it."""
    path, says = not_models(tmp_path / "files")[kind]
    with pytest.raises(ModelFileMissing, match=re.escape(f"{path} (from --llm) {says}")):
        LlamaRewriter(path, worker=[sys.executable, str(FAKE), "ok"])
    monkeypatch.setenv("CSD_LLM", str(path))
    with pytest.raises(ModelFileMissing, match=r"\(from \$CSD_LLM\)"):
        resolve_model()
    monkeypatch.delenv("CSD_LLM")
    cfg = tmp_path / "csd.toml"
    cfg.write_text(f"[rewrite]\nllm = {json.dumps(str(path))}\n")
    monkeypatch.setenv("CSD_CONFIG", str(cfg))
    with pytest.raises(ModelFileMissing, match=re.escape(f"(from [rewrite] llm in {cfg})")):
        resolve_model()
    monkeypatch.delenv("CSD_CONFIG")
    # the CLI: one line and exit 1, never a plan from the rules that hides the broken file
    r = invoke(runner, "rewrite", Q, "--rewriter", "llm", "--llm", str(path), "--json")
    assert r.exit_code == 1 and says in r.stderr and "(from --llm)" in r.stderr and not r.stdout, r.stderr
    r = invoke(runner, "doctor", "--llm", str(path), "--timeout", "20")
    assert r.exit_code == 1 and "FAIL" in r.stdout, r.stdout
    assert says in r.stdout and f"{path} (from --llm)" in r.stdout, r.stdout
    assert requests(recorder, "load") == []  # llama.cpp never saw it


def test_a_model_cut_short_is_named_after_llama_cpp_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner
) -> None:
    """A download cut short starts with 'GGUF' like a whole one: llama.cpp's "Failed to load
    model" is explained (gguf's reader is run only then: it takes seconds over a real model)."""
    whole = write_model(tmp_path / "whole.gguf", tokens=64)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    loadfail = [sys.executable, str(FAKE), "loadfail"]  # as llama.cpp refuses it
    rw = LlamaRewriter(cut, worker=loadfail)  # not refused up front: only a load tells
    assert rw.rewrite(Q) == RuleRewriter().rewrite(Q)
    (w,) = rw.warnings
    assert "failed to load model: bad magic" in w and "cut short or damaged" in w, w
    # a whole file llama.cpp refuses for another reason: its own words alone
    rw = LlamaRewriter(whole, worker=loadfail)
    rw.rewrite(Q)
    assert "cut short" not in rw.warnings[0] and "bad magic" in rw.warnings[0]
    monkeypatch.setattr(llm_worker, "worker_argv", lambda: loadfail)
    r = invoke(runner, "doctor", "--llm", str(cut), "--timeout", "20")
    assert r.exit_code == 1 and "cut short or damaged" in r.stdout, r.stdout


def test_the_header_read_is_cheap_and_knows_an_adapter(tmp_path: Path) -> None:
    """gguf's reader parsed a model's whole vocabulary (~10 s for the 253 MB gemma) to find
    general.type; the header is read up to the vocabulary, so a file cut inside it still reads."""
    from csdclip_cli.rewrite.llm import gguf_type

    assert gguf_type(write_lora(tmp_path / "lora.gguf")) == "adapter"
    assert gguf_type(write_model(tmp_path / "typed.gguf", general_type="model")) == "model"
    model = write_model(tmp_path / "model.gguf", tokens=5000)
    head = tmp_path / "head.gguf"
    head.write_bytes(model.read_bytes()[:2000])  # cut inside tokenizer.ggml.tokens
    assert gguf_type(model) is None and gguf_type(head) is None
    for bad in (b"GGUF", b"GGUF\x03\0\0\0" + b"\xff" * 16, b"not a gguf at all"):
        (tmp_path / "bad.gguf").write_bytes(bad)
        with pytest.raises(ValueError):
            gguf_type(tmp_path / "bad.gguf")


def test_the_model_store_passes_over_files_that_are_not_models(isolated: Path, runner, recorder: Path) -> None:
    """An empty a-partial.gguf (a download under way) was picked over the valid b.gguf beside it."""
    store = isolated / "models"  # $CSD_MODELS
    (store / "a-partial.gguf").write_bytes(b"")
    (store / "a-text.gguf").write_text("not a model")
    write_lora(store / "a-lora.gguf")
    good = write_model(store / "b.gguf")
    assert default_llm_path() == good
    assert resolve_model() == (good, None)
    r = invoke(runner, "doctor", "--timeout", "20")
    assert r.exit_code == 0 and str(good) in r.stdout, r.stdout
    assert [q["path"] for q in requests(recorder, "load")] == [str(good)]
    # nothing usable left: said, with each file's reason, not the shipped rewriter in their place
    good.unlink()
    with pytest.raises(ModelFileMissing, match=r"no usable GGUF model in .*models: a-lora.gguf is a LoRA adapter") as e:
        default_llm_path()
    assert "a-partial.gguf is empty (0 bytes)" in str(e.value) and "a-text.gguf is not a GGUF file" in str(e.value)
    assert "pass --llm FILE" in str(e.value)
    r = invoke(runner, "rewrite", Q, "--rewriter", "llm")
    assert r.exit_code == 1 and "no usable GGUF model" in r.stderr


def test_doctor_takes_an_adapter_as_rewrite_does(tmp_path: Path, runner, recorder: Path) -> None:
    """`csd doctor --llm ADAPTER.gguf` said "give it with --adapter", and csd doctor had no
    --adapter. It loads the adapter with the model (checked to fit it, as csd rewrite does) and
    its test decode runs with it."""
    model = write_model(tmp_path / "model.gguf")
    lora = write_lora(tmp_path / "lora.gguf")
    r = invoke(runner, "doctor", "--llm", str(lora), "--timeout", "20")
    assert r.exit_code == 1 and "give it with --adapter" in r.stdout, r.stdout
    r = invoke(runner, "doctor", "--llm", str(model), "--adapter", str(lora), "--timeout", "20")
    assert r.exit_code == 0, r.output
    assert "LoRA adapter" in r.stdout and str(lora) in r.stdout and "fine-tuned prompt (adapter)" in r.stdout
    (load,) = requests(recorder, "load")
    assert load["path"] == str(model) and load["lora_path"] == str(lora) and load["check_lora"] is True
    assert len(requests(recorder, "generate")) == 1  # the test decode, on the model with its adapter
    # the same refusals as csd rewrite --adapter, in the report
    r = invoke(runner, "doctor", "--llm", str(model), "--adapter", str(model), "--timeout", "20")
    assert r.exit_code == 1 and "is a GGUF model, not a LoRA adapter" in r.stdout, r.stdout
    assert "(from --adapter)" in r.stdout
    r = invoke(runner, "doctor", "--adapter", "", "--timeout", "20")
    assert r.exit_code == 2 and "--adapter is empty" in r.stderr


def test_settings_paths_are_read_from_the_settings_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner, recorder: Path
) -> None:
    """`CSD_CONFIG=/x/cfg/csd.toml csd doctor` run from /tmp said "Model path does not exist:
    b.gguf" although /x/cfg/b.gguf exists: a relative [rewrite] llm was read from the working
    folder."""
    from csdclip_cli import config

    cfg = tmp_path / "x" / "cfg"
    cfg.mkdir(parents=True)
    model = write_model(cfg / "b.gguf")
    lora = write_lora(cfg / "lora.gguf")
    (cfg / "csd.toml").write_text('[rewrite]\nllm = "b.gguf"\nadapter = "lora.gguf"\n')
    monkeypatch.setenv("CSD_CONFIG", str(cfg / "csd.toml"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert config.settings("rewrite") == {"llm": str(model), "adapter": str(lora)}
    assert resolve_model() == (model, lora)
    r = invoke(runner, "doctor", "--timeout", "20")
    assert r.exit_code == 0, r.stdout
    assert f"(from [rewrite] llm in {cfg / 'csd.toml'})" in r.stdout
    (load,) = requests(recorder, "load")
    assert (load["path"], load["lora_path"]) == (str(model), str(lora))
    # `~` is the home folder; an absolute path stays as it is; --llm is still the working folder's
    (tmp_path / "csd.toml").write_text(f'[rewrite]\nllm = "~/home.gguf"\nadapter = "{lora}"\n')
    monkeypatch.setenv("CSD_CONFIG", str(tmp_path / "csd.toml"))
    monkeypatch.setenv("HOME", str(elsewhere))
    assert config.settings("rewrite") == {"llm": str(elsewhere / "home.gguf"), "adapter": str(lora)}
    write_model(elsewhere / "m.gguf")
    assert resolve_model("m.gguf", use_adapter=False) == (Path("m.gguf"), None)
