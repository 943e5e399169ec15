"""Reading a weight file people downloaded: the one place that decides whether its bytes are
weights, and says so in one line when they are not."""

from __future__ import annotations

from pathlib import Path

from csdclip_cli.errors import ModelFileMissing, UnsafeCheckpoint


def read_state_dict(path: Path) -> dict:
    """The tensors of a checkpoint file by name, read without executing pickled code.

    Reads safetensors, torch archives and pickles (`torch.load(weights_only=True)`) and OpenAI's
    TorchScript archives; a `state_dict` or `model` entry is unwrapped and DataParallel's
    `module.` prefix dropped. Raises ModelFileMissing for an empty or unreadable file and
    UnsafeCheckpoint for pickled objects that are not plain tensors."""
    import torch

    if path.stat().st_size == 0:  # an interrupted download, the commonest unreadable checkpoint
        raise ModelFileMissing(f"{path} is empty (0 bytes); download it again")

    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except SafetensorError as e:  # truncated, or not safetensors at all
            raise ModelFileMissing(f"{path} is not a readable safetensors file: {str(e)[:120]}") from None
    import pickle

    with open(path, "rb") as f:
        magic = f.read(2)
    if not magic.startswith((b"\x80", b"PK")):  # a text file was called "pickled objects"
        raise ModelFileMissing(
            f"{path} is not a readable checkpoint (neither a torch archive nor a pickle); check the file"
        )
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (KeyError, EOFError, ValueError) as e:  # torch's reader on bytes that are no checkpoint
        raise ModelFileMissing(f"{path} is not a readable checkpoint ({type(e).__name__}); check the file") from None
    except pickle.UnpicklingError:
        raise UnsafeCheckpoint(
            f"{path} holds pickled objects that are not plain weights; refusing to load it "
            "(csd loads checkpoints with weights_only=True). Convert it to .safetensors."
        ) from None
    except RuntimeError as e:
        if "TorchScript" not in str(e) and "zip" not in str(e):
            raise ModelFileMissing(f"{path} is not a readable checkpoint: {str(e).splitlines()[0][:120]}") from None
        import warnings

        try:
            with warnings.catch_warnings():  # torch deprecates jit.load; OpenAI's archives need it
                warnings.simplefilter("ignore", FutureWarning)
                obj = torch.jit.load(str(path), map_location="cpu").state_dict()  # OpenAI's JIT archives
        except RuntimeError as jit_error:  # a zip archive cut short: the commonest bad download after an empty one
            reason = str(jit_error).splitlines()[0][:80]
            raise ModelFileMissing(
                f"{path} is not a readable checkpoint (cut short? {reason}); download it again"
            ) from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    return {k.removeprefix("module."): v for k, v in obj.items()}
