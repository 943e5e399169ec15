"""What each model family does to a text before tokenising it, kept torch-free so the ONNX
text path (onnx_text) cleans a query exactly as the family's own encoder does."""

from __future__ import annotations

import html


def cnclip_text(text: str) -> str:
    """Chinese-CLIP's own preprocessing before `tokenize` (cn_clip/eval/data.py and
    cn_clip/training/data.py, `_preprocess_text`): lower case, curly double quotes as '"'.
    Without it a query with “quotes” gets other token ids than in Chinese-CLIP's evaluation."""
    return text.lower().replace("“", '"').replace("”", '"')


def clean_text(text: str, how: str) -> str:
    """`text` as family `how` cleans it before tokenising: "clip" (open_clip's
    tokenizer.basic_clean + whitespace_clean + lower), "cnclip" (cnclip_text), else as is."""
    if how == "clip":
        import ftfy

        text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
        return " ".join(text.split()).strip().lower()
    if how == "cnclip":
        return cnclip_text(text)
    return text
