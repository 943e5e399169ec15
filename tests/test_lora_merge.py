"""`csd rewriter merge` and `train --merged`: a LoRA adapter added into its base GGUF. Small
generated GGUFs (one weight float32, one Q8_0-quantized, one left alone); the whole path on a
tiny random model is in test_finetune.py."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

from csdclip_cli.errors import UsageError
from csdclip_cli.rewrite import lora_gguf
from csdclip_cli.rewrite.finetune import PROMPT
from csdclip_cli.rewrite.llm import gguf_header_string, merged_prompt
from csdclip_cli.rewrite.lora_merge import PROMPT_KEY, merge_adapter

OUT, IN, R, ALPHA = 64, 32, 4, 8.0


def write_base(path: Path, arch: str = "qwen2", q_rows: int = OUT) -> Path:
    """A model GGUF: a vocabulary, attn_q float32 [q_rows, IN], attn_v Q8_0 [OUT, IN], and an
    embedding no adapter touches."""
    import gguf

    rng = np.random.default_rng(1)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_context_length(2048)
    w.add_token_list([f"tok{i}" for i in range(8)])
    w.add_tensor("token_embd.weight", rng.standard_normal((8, IN)).astype(np.float32))
    w.add_tensor("blk.0.attn_q.weight", rng.standard_normal((q_rows, IN)).astype(np.float32))
    v = gguf.quants.quantize(rng.standard_normal((OUT, IN)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_v.weight", v, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def write_adapter(path: Path, model_type: str = "qwen2") -> tuple[Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(2)
    state = {}
    for proj in ("q_proj", "v_proj"):
        key = f"base_model.model.model.layers.0.self_attn.{proj}.lora_"
        state[key + "A.weight"] = rng.standard_normal((R, IN)).astype(np.float32)
        state[key + "B.weight"] = rng.standard_normal((OUT, R)).astype(np.float32)
    return lora_gguf.write_adapter(path, state, model_type, alpha=ALPHA), state


def tensors(path: Path) -> dict[str, tuple[object, np.ndarray]]:
    import gguf

    r = gguf.GGUFReader(str(path))
    return {t.name: (t.tensor_type, np.array(t.data)) for t in r.tensors}


def test_merged_weights_are_the_base_plus_the_scaled_lora_product(tmp_path: Path) -> None:
    import gguf

    base = write_base(tmp_path / "base.gguf")
    adapter, state = write_adapter(tmp_path / "lora.gguf")
    out = tmp_path / "merged.gguf"
    assert merge_adapter(base, adapter, out, PROMPT) == 2
    before, after = tensors(base), tensors(out)
    assert list(after) == list(before)  # every tensor, in the base's order
    for name, proj in (("blk.0.attn_q.weight", "q_proj"), ("blk.0.attn_v.weight", "v_proj")):
        qtype, data = before[name]
        key = f"base_model.model.model.layers.0.self_attn.{proj}.lora_"
        # the adapter stores float16: the product is compared at that precision
        a = state[key + "A.weight"].astype(np.float16).astype(np.float32)
        b = state[key + "B.weight"].astype(np.float16).astype(np.float32)
        want = gguf.quants.dequantize(data, qtype).reshape(OUT, IN) + (ALPHA / R) * (b @ a)
        assert after[name][0] == gguf.GGMLQuantizationType.F16
        assert np.allclose(after[name][1].astype(np.float32), want, rtol=2e-3, atol=2e-2)
    assert np.array_equal(after["token_embd.weight"][1], before["token_embd.weight"][1])
    # the metadata is the base's, plus the prompt key, found from the header alone
    read = lambda p: {
        f.name: f.contents() for f in gguf.GGUFReader(str(p)).fields.values() if f.name != "GGUF.kv_count"
    }
    meta_before, meta_after = read(base), read(out)
    assert meta_after.pop(PROMPT_KEY) == PROMPT
    assert meta_after == meta_before
    assert gguf_header_string(out, PROMPT_KEY) == PROMPT and merged_prompt(out) == PROMPT
    assert merged_prompt(base) is None


def test_a_merge_that_cannot_be_right_is_refused_before_a_byte_is_written(tmp_path: Path) -> None:
    base = write_base(tmp_path / "base.gguf")
    adapter, _ = write_adapter(tmp_path / "lora.gguf")
    gemma_adapter, _ = write_adapter(tmp_path / "gemma-lora.gguf", "gemma3_text")
    narrow = write_base(tmp_path / "narrow.gguf", q_rows=OUT // 2)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(adapter.read_bytes()[: adapter.stat().st_size // 2])
    out = tmp_path / "merged.gguf"
    cases = [
        (base, gemma_adapter, "was trained for a gemma3 model and base.gguf is qwen2"),
        (base, base, "base.gguf is not a LoRA adapter"),
        (adapter, adapter, "lora.gguf is a LoRA adapter, not a model"),
        (narrow, adapter, "adapts blk.0.attn_q.weight as (64, 32) and narrow.gguf has it as (32, 32)"),
        (base, cut, "cut.gguf is cut short or damaged"),
    ]
    for b, a, said in cases:
        with pytest.raises(UsageError, match=re.escape(said)):
            merge_adapter(b, a, out, PROMPT)
        assert not out.exists() and not out.with_name("merged.gguf.tmp").exists()
    with pytest.raises(UsageError, match="would overwrite base.gguf"):
        merge_adapter(base, adapter, base, PROMPT)
    assert tensors(base)  # still the model it was


def test_merge_command_says_what_it_wrote_and_refuses_in_one_line(runner, tmp_path: Path) -> None:
    base = write_base(tmp_path / "base.gguf")
    adapter, _ = write_adapter(tmp_path / "lora.gguf")
    out = tmp_path / "merged.gguf"
    r = invoke(runner, "rewriter", "merge", "--llm", str(base), "--adapter", str(adapter), "-o", str(out))
    assert r.exit_code == 0, r.output
    assert "2 weights with the adapter added" in r.output and f"--rewriter llm --llm {out}" in r.output
    assert merged_prompt(out) == PROMPT
    cases = [  # a file that is not there or not a model: 1 (as every command), a wrong argument: 2
        (["--llm", str(tmp_path / "none.gguf")], "none.gguf (from --llm) not found", 1),
        (["--llm", str(adapter)], "is a LoRA adapter, not a model", 1),
        (["--adapter", str(tmp_path)], "a folder, not a file", 1),
        (["--adapter", str(base)], "is a GGUF model, not a LoRA adapter", 1),
        (["--llm", str(out)], "has a LoRA adapter merged in already", 1),  # it would be added twice
        (["-o", str(tmp_path)], "is a folder: give the .gguf file to write", 2),
        (["-o", str(tmp_path / "no" / "m.gguf")], "does not exist", 2),
    ]
    for (option, value), said, code in cases:
        args = {"--llm": str(base), "--adapter": str(adapter), "-o": str(tmp_path / "m2.gguf")}
        args[option] = value
        r = invoke(runner, "rewriter", "merge", *[x for kv in args.items() for x in kv])
        assert r.exit_code == code and said in r.output, r.output
        assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert not (tmp_path / "m2.gguf").exists()


def test_a_merged_model_is_prompted_as_the_fine_tuned_rewriter_and_refuses_a_second_adapter(tmp_path: Path) -> None:
    from csdclip_cli.errors import ModelFileMissing
    from csdclip_cli.rewrite.llm import LlamaRewriter

    base = write_base(tmp_path / "base.gguf")
    adapter, _ = write_adapter(tmp_path / "lora.gguf")
    merged = tmp_path / "merged.gguf"
    merge_adapter(base, adapter, merged, PROMPT)
    rw = LlamaRewriter(merged, worker=["true"])
    plain = LlamaRewriter(base, worker=["true"])
    assert rw.finetuned_prompt == PROMPT and plain.finetuned_prompt is None
    assert ":merged:" in rw.fingerprint and ":merged:" not in plain.fingerprint
    with pytest.raises((UsageError, ModelFileMissing), match="has a LoRA adapter merged in already"):
        LlamaRewriter(merged, adapter=adapter, worker=["true"])
