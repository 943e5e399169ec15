"""A peft LoRA adapter written as a llama.cpp GGUF LoRA adapter, so that llama.cpp applies it
to the quantized base at load time (llama-cpp-python's `lora_path`).

Format (llama.cpp `src/llama-adapter.cpp`, as written by its `convert_lora_to_gguf.py`):
metadata `general.type = "adapter"`, `adapter.type = "lora"`, `adapter.lora.alpha` (float32),
`general.architecture` equal to the base model's; for every adapted weight `W` [out, in] of
block i two tensors `blk.{i}.<name>.weight.lora_a` (numpy shape [r, in]) and `.lora_b`
([out, r]); llama.cpp adds `(alpha / r) * B @ A @ x` to `W @ x`, which is peft's scaling
`lora_alpha / r`. Gemma 2/3 and Qwen 2/3 store q/k projections unpermuted in GGUF, so the
peft matrices are written as they are; Llama-family bases (permuted q/k) are refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from csdclip_cli.errors import UsageError

# transformers module name -> llama.cpp tensor name (gguf-py's TensorNameMap)
TENSOR_NAMES = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}
# architectures whose GGUF keeps HF's q/k layout (no rotary permutation at conversion)
UNPERMUTED = {"gemma2", "gemma3", "gemma3_text", "qwen2", "qwen3"}
_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")


def gguf_arch(model_type: str) -> str:
    """The llama.cpp architecture name for a transformers `model_type` (UsageError if the
    adapter could not be applied correctly to it)."""
    if model_type not in UNPERMUTED:
        raise UsageError(
            f"cannot export a LoRA adapter for {model_type!r} bases: csd writes adapters for "
            f"{', '.join(sorted(UNPERMUTED))} (their GGUF keeps the attention weights unpermuted)"
        )
    return "gemma3" if model_type == "gemma3_text" else model_type


def gguf_tensors(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """peft state-dict names (`...layers.3.self_attn.q_proj.lora_A.weight`) -> GGUF names
    (`blk.3.attn_q.weight.lora_a`). Arrays keep their [r, in] / [out, r] shapes."""
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        m = _KEY.search(key)
        if not m or m.group(2) not in TENSOR_NAMES:
            raise UsageError(f"adapter tensor {key!r} is not a LoRA matrix of a known projection")
        layer, proj, ab = m.groups()
        out[f"blk.{layer}.{TENSOR_NAMES[proj]}.weight.lora_{ab.lower()}"] = value
    return out


def general_type(path: Path) -> str | None:
    """The `general.type` of a GGUF file ("adapter" for a LoRA adapter, "model" or None for a
    model), read with the gguf package's reader. Raises ValueError when `path` is not GGUF (and
    what gguf's reader raises for a file cut short: IndexError, ...)."""
    import gguf

    field = gguf.GGUFReader(str(path)).fields.get("general.type")
    return bytes(field.parts[field.data[0]]).decode("utf-8") if field is not None else None


def write_adapter(
    path: Path, state: dict[str, np.ndarray], model_type: str, alpha: float, name: str = "csd rewriter LoRA"
) -> Path:
    """Write `state` (peft LoRA tensors as float arrays) as a GGUF LoRA adapter at `path`,
    float16. Returns `path`. Written to a temporary file and renamed: never half a file."""
    import gguf

    arch = gguf_arch(model_type)
    tensors = gguf_tensors(state)
    tmp = path.with_name(path.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(alpha))
    writer.add_name(name)
    for key in sorted(tensors, key=_order):
        writer.add_tensor(key, np.ascontiguousarray(tensors[key], dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(path)
    return path


def _order(key: str) -> tuple[int, str]:
    return int(key.split(".")[1]), key
