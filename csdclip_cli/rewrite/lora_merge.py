"""A GGUF LoRA adapter added into its base GGUF: one model file that needs no adapter, for
llama.cpp tools and servers that take a single GGUF.

As llama.cpp's `llama-export-lora` does (`tools/export-lora/export-lora.cpp`): every adapted
weight becomes `W + (alpha / r) * B @ A`, stored float16 (a K-quant cannot be written back by
the gguf package, which only dequantizes them); every other tensor and all metadata are copied
byte for byte. csd adds one key before the vocabulary, `csd.rewriter.prompt` (the training
prompt), by which `--rewriter llm --llm MERGED.gguf` knows to prompt and check it as the
fine-tuned rewriter rather than with the few-shot prompt.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csdclip_cli.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

PROMPT_KEY = "csd.rewriter.prompt"


def merge_adapter(
    base: Path, adapter: Path, out: Path, prompt: str, progress: Callable[[int, int], None] | None = None
) -> int:
    """Write `base` (a GGUF model) with `adapter` (a GGUF LoRA adapter of it) merged in, at
    `out`, with `prompt` under PROMPT_KEY. Returns how many weights were merged. `progress(i, n)`
    is called after each of the n tensors. Written to a temporary file and renamed: never half a
    file. Raises UsageError, before anything is written, when `adapter` is no LoRA adapter, is
    for another architecture, or names a weight the base lacks or has in another shape."""
    import gguf
    import numpy as np

    model, lora = _read(base), _read(adapter)

    def string(reader: gguf.GGUFReader, key: str) -> str | None:
        field = reader.fields.get(key)
        return None if field is None else str(field.contents())

    if string(model, "general.type") == "adapter":
        raise UsageError(f"{base.name} is a LoRA adapter, not a model: give the model it was trained on")
    if string(lora, "general.type") != "adapter" or "adapter.lora.alpha" not in lora.fields:
        raise UsageError(f"{adapter.name} is not a LoRA adapter (its general.type is not 'adapter')")
    arch, lora_arch = string(model, "general.architecture"), string(lora, "general.architecture")
    if arch is None:
        raise UsageError(f"{base.name} names no general.architecture: not a llama.cpp model")
    if arch != lora_arch:
        raise UsageError(f"{adapter.name} was trained for a {lora_arch} model and {base.name} is {arch}")
    alpha = float(lora.fields["adapter.lora.alpha"].contents())
    pairs = _pairs(lora, adapter.name)
    weights = {t.name: t for t in model.tensors}
    for name, (a, b) in pairs.items():
        w = weights.get(name)
        shape = None if w is None else tuple(int(d) for d in reversed(w.shape))  # numpy order [out, in]
        if shape != (b.shape[0], a.shape[1]):
            has = "has no such weight" if w is None else f"has it as {shape}"
            raise UsageError(
                f"{adapter.name} adapts {name} as {(b.shape[0], a.shape[1])} and {base.name} {has}: "
                "an adapter goes with the model it was trained on"
            )
    if out.resolve() in (base.resolve(), adapter.resolve()):
        raise UsageError(f"the merged model would overwrite {out.name}: write it to another file")

    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), arch)
    writer.add_string(PROMPT_KEY, prompt)  # first, before the vocabulary: read from the header alone
    for field in model.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue  # the writer's own (as gguf's gguf_new_metadata.py copies a model)
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    for t in model.tensors:
        if t.name in pairs:
            rows, cols = (int(d) for d in reversed(t.shape))
            writer.add_tensor_info(t.name, (rows, cols), np.dtype(np.float16), rows * cols * 2)
        else:
            writer.add_tensor_info(t.name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
    try:
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for i, t in enumerate(model.tensors):
            if t.name in pairs:
                a, b = pairs[t.name]
                w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
                w = w.reshape(b.shape[0], a.shape[1]) + (alpha / a.shape[0]) * (b @ a)
                writer.write_tensor_data(w.astype(np.float16))
            else:
                writer.write_tensor_data(t.data, tensor_endianess=model.endianess)
            if progress is not None:
                progress(i + 1, len(model.tensors))
        writer.close()
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(pairs)


def _read(path: Path) -> Any:
    """gguf's reader over `path`; UsageError for a file it cannot read (cut short, damaged)."""
    import gguf

    try:
        return gguf.GGUFReader(str(path))
    except Exception as e:  # gguf's reader raises several kinds (ValueError, IndexError, ...)
        raise UsageError(f"{path.name} is cut short or damaged ({type(e).__name__}: {e}); copy it again") from None


def _pairs(lora: Any, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{base weight name: (A [r, in], B [out, r]) as float32} of a GGUF LoRA adapter's tensors."""
    import gguf
    import numpy as np

    halves: dict[str, dict[str, np.ndarray]] = {}
    for t in lora.tensors:
        weight, _, half = t.name.rpartition(".lora_")
        if not weight or half not in ("a", "b"):
            raise UsageError(f"{name}: tensor {t.name} is not a LoRA matrix (.lora_a / .lora_b)")
        data = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        rows, cols = (int(d) for d in reversed(t.shape))
        halves.setdefault(weight, {})[half] = data.reshape(rows, cols)
    pairs = {}
    for weight, ab in halves.items():
        if set(ab) != {"a", "b"} or ab["a"].shape[0] != ab["b"].shape[1]:
            raise UsageError(f"{name}: {weight} has no matching lora_a / lora_b pair")
        pairs[weight] = (ab["a"], ab["b"])
    if not pairs:
        raise UsageError(f"{name} holds no LoRA matrices")
    return pairs
