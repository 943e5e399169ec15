"""A torch-free text encoder for search: the model's text tower exported to ONNX, and its
tokenizer as a `tokenizers` JSON, so `csd search` embeds queries with onnxruntime and numpy
(importing torch alone takes longer than the whole search).

An export is a folder (`<index root>/.text-models/<fingerprint>/`, shared by every index of
those weights) with:
    text.onnx        input_ids [batch, context] (int64, plus attention_mask for HF models)
                     -> L2-normalised float32 features [batch, dim]
    tokenizer.json   the `tokenizers` form of the family's tokenizer
    text.json        the recipe: tokenizer kind, context length, special ids, text cleaning,
                     spec, fingerprint, and the parity measured against the torch encoder
Families opt in with `Encoder.export_text(folder) -> TextRecipe | None`; an encoder without
it (a plugin) keeps searching through torch.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from csdclip_cli.encoders.text_clean import clean_text

FORMAT = 1
MIN_PARITY = 0.9999  # cosine between ONNX and torch text vectors required to use an export
PROBES = ("a red car and a tree at night, no person", "一只猫在沙发上", 'a "quoted" thing &amp; 🐶', "x " * 300)


@dataclass(frozen=True)
class TextRecipe:
    """How to turn texts into the ONNX model's inputs.

    kind: "clip-bpe" (OpenAI / open_clip BPE: sot + tokens + eot, cut to the context with eot
    last, padded with 0), "wordpiece" (BERT: [CLS] + tokens + [SEP], the same cut and padding),
    "hf" (the tokenizer's own post-processor, truncation and padding).
    clean: "clip" (ftfy, HTML unescape twice, whitespace, lower case: open_clip's _clean_lower),
    "cnclip" (Chinese-CLIP's lower case and quote rewrite), "none".
    """

    kind: str
    context_length: int
    clean: str
    sot: int | None
    eot: int | None
    pad: int
    inputs: tuple[str, ...]
    dim: int
    spec: str
    fingerprint: str
    parity: float = 0.0
    format: int = FORMAT
    tokenizer_dir: str = ""  # a local folder the tokenizer was exported from ("" for built-in vocabularies)
    tokenizer_fp: str = ""  # fingerprint.tokenizer_fingerprint of that folder at export time


def export_dir(index_root: str | Path, fingerprint: str) -> Path:
    """Where the export of weights `fingerprint` lives under an index root."""
    return Path(index_root) / ".text-models" / re.sub(r"[^A-Za-z0-9_.-]", "-", fingerprint)


class OnnxTextEncoder:
    """encode_texts(texts) -> float32 [n, dim], L2-normalised, from an export folder.

    Raises FileNotFoundError / ValueError when the folder is missing or of another format."""

    def __init__(self, folder: str | Path, threads: int | None = None):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        data = json.loads((self.folder / "text.json").read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"{self.folder}: text export format {data.get('format')}, expected {FORMAT}")
        data["inputs"] = tuple(data["inputs"])
        self.recipe = TextRecipe(**data)
        self.spec, self.fingerprint, self.dim = self.recipe.spec, self.recipe.fingerprint, self.recipe.dim
        self.context_length = self.recipe.context_length
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        if self.recipe.kind == "hf":
            self.tokenizer.enable_truncation(self.context_length)
            self.tokenizer.enable_padding(length=self.context_length, pad_id=self.recipe.pad)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.folder / "text.onnx"), opts, providers=["CPUExecutionProvider"])

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Texts -> the ONNX inputs, int64 [n, context_length]: `input_ids`, plus `attention_mask` when
        the recipe lists it. clip-bpe and wordpiece: cleaned (clean_text), sot + tokens + eot, cut with
        eot kept last and padded with `pad` (as open_clip's tokenizer and cn_clip's `tokenize` do); hf:
        the tokenizer's own truncation and padding. Raises ValueError when the recipe lacks sot or eot."""
        r = self.recipe
        cleaned = [clean_text(t, r.clean) for t in texts]
        if r.kind == "hf":
            enc = self.tokenizer.encode_batch(cleaned)
            feeds = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64)}
            if "attention_mask" in r.inputs:
                feeds["attention_mask"] = np.array([e.attention_mask for e in enc], dtype=np.int64)
            return feeds
        if r.sot is None or r.eot is None:
            raise ValueError(f"{self.folder}/text.json: a clip-bpe recipe needs sot and eot ids")
        ids = np.full((len(texts), r.context_length), r.pad, dtype=np.int64)
        for i, e in enumerate(self.tokenizer.encode_batch(cleaned, add_special_tokens=False)):
            toks = [r.sot, *e.ids, r.eot]
            if len(toks) > r.context_length:
                toks = toks[: r.context_length]
                toks[-1] = r.eot
            ids[i, : len(toks)] = toks
        return {"input_ids": ids}

    def unread(self, text: str) -> str | None:
        """The end of `text` the model does not read, being past its context_length tokens (what
        tokenize() cuts), or None when all of it is read."""
        r = self.recipe
        cleaned = clean_text(text, r.clean)
        if r.kind == "hf":
            e = self.tokenizer.encode(cleaned)
            return "..." if e.overflowing else None
        e = self.tokenizer.encode(cleaned, add_special_tokens=False)
        room = r.context_length - 2  # sot and eot
        if len(e.ids) <= room:
            return None
        return cleaned[e.offsets[room][0] :].strip() or None

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts -> float32 [n, dim], L2-normalised, from the ONNX text tower (onnxruntime, CPU)."""
        out = self.session.run(None, self.tokenize(list(texts)))[0]
        out = np.asarray(out, dtype=np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


# ---- export (torch side; imported only when exporting) -------------------------------------


def export_module(module: Any, example: dict[str, Any], path: Path) -> None:
    """torch.onnx.export of `module(**example)` -> features, with a dynamic batch axis."""
    import warnings

    import torch

    names = list(example)
    axes = {n: {0: "batch"} for n in names} | {"features": {0: "batch"}}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module.eval(),
            tuple(example.values()),
            str(path),
            input_names=names,
            output_names=["features"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no extra dependency, seconds for a text tower
        )


def text_tower(model: Any, encode: Any) -> Any:
    """A torch module holding `model` whose forward is L2-normalised `encode(model, *inputs)`:
    what text.onnx computes."""
    import torch

    class TextTower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, *inputs: Any) -> Any:
            x = encode(self.m, *inputs)
            return x / x.norm(dim=-1, keepdim=True)

    return TextTower()


def clip_bpe_tokenizer(encoder_vocab: dict[str, int], bpe_ranks: dict[tuple[str, str], int]) -> Any:
    """OpenAI CLIP's byte-level BPE (open_clip's SimpleTokenizer) as a `tokenizers` Tokenizer:
    the same pattern split, byte-to-unicode table and merges, with '</w>' ending each word.
    Special tokens and cleaning are applied around it (OnnxTextEncoder.tokenize)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    merges = [pair for pair, _ in sorted(bpe_ranks.items(), key=lambda kv: kv[1])]
    tok = Tokenizer(
        models.BPE(vocab=dict(encoder_vocab), merges=merges, end_of_word_suffix="</w>", continuing_subword_prefix="")
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""), behavior="removed", invert=True
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    return tok


def export_text_encoder(encoder: Any, dest: Path) -> tuple[bool, str]:
    """Export `encoder`'s text side to `dest` (atomically). Returns (done, why-not).

    The export is checked against the torch encoder on PROBES (cosine >= MIN_PARITY) before
    it is kept; a family that cannot export, or an export that disagrees, is not kept."""
    fn = getattr(encoder, "export_text", None)
    if fn is None:
        return False, f"{encoder.spec} has no ONNX text export"
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        recipe = fn(tmp)
        if recipe is None:
            return False, f"{encoder.spec}'s tokenizer has no torch-free form"
        (tmp / "text.json").write_text(json.dumps(asdict(recipe)))
        onnx_vecs = OnnxTextEncoder(tmp, threads=1).encode_texts(PROBES)
        parity = float((onnx_vecs * encoder.encode_texts(PROBES)).sum(1).min())
        if parity < MIN_PARITY:
            return False, f"the ONNX export of {encoder.spec} disagrees with torch (cosine {parity:.6f})"
        recipe = TextRecipe(**{**asdict(recipe), "parity": parity})
        (tmp / "text.json").write_text(json.dumps(asdict(recipe)))
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
        return True, ""
    except OSError as e:
        return False, f"cannot write the ONNX export to {dest.parent}: {e.strerror or e}"
    except Exception as e:  # an exporter failure must never fail a build or a search
        return False, f"the ONNX export of {encoder.spec} failed: {type(e).__name__}: {str(e)[:120]}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def stale_tokenizer(recipe: TextRecipe) -> str | None:
    """Why an export's tokenizer is out of date (the tokenizer files in the folder it was read
    from have changed since), or None: the weights' fingerprint names the export, and it does
    not cover the tokenizer. None too when that folder is gone (the export is all there is)."""
    from csdclip_cli.fingerprint import tokenizer_fingerprint

    d = Path(recipe.tokenizer_dir) if recipe.tokenizer_dir else None
    if d is None or not d.is_dir() or tokenizer_fingerprint(d) == recipe.tokenizer_fp:
        return None
    return f"the tokenizer files in {d} changed since the text export was made"


def _current(folder: Path) -> bool:
    """Whether the export in `folder` is readable and its tokenizer up to date."""
    try:
        data = json.loads((folder / "text.json").read_text())
        data["inputs"] = tuple(data["inputs"])
        return stale_tokenizer(TextRecipe(**data)) is None
    except (OSError, ValueError, TypeError, KeyError):
        return False


def ensure_text_export(encoder: Any, index_root: str | Path) -> str | None:
    """Export `encoder`'s text side beside the indexes unless an up-to-date export is there
    (stale_tokenizer); returns a note when it cannot be (searches then embed queries with
    torch), else None."""
    folder = export_dir(index_root, encoder.fingerprint)
    if (folder / "text.json").is_file() and _current(folder):
        return None
    done, why = export_text_encoder(encoder, folder)
    return None if done else f"{why}; searches will embed queries with the full model (slower start)"
