"""A tiny random-weight gemma3 GGUF (2 layers, width 64) with the real gemma tokenizer, for
tests that run the whole fine-tuning path: transformers loads it, peft trains it, llama.cpp
runs it with the adapter. Norm weights are written as llama.cpp's gemma convention stores
them (the scale itself), so both readers see the same model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# head_dim 256 as in every gemma3: transformers scales queries by query_pre_attn_scalar (256 by
# default), llama.cpp by 1/sqrt(head_dim); they agree only there
WIDTH, HEADS, HEAD_DIM, FFN, LAYERS = 64, 1, 256, 128, 2


def write_tiny_gemma3(path: Path, tokenizer_from: Path, seed: int = 0) -> Path:
    """Write the tiny model at `path`, copying the tokenizer metadata of `tokenizer_from`."""
    import gguf

    reader = gguf.GGUFReader(str(tokenizer_from))
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data)
    w = gguf.GGUFWriter(str(path), "gemma3")
    w.add_name("tiny random gemma3")
    w.add_context_length(2048)
    w.add_embedding_length(WIDTH)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(1)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    w.add_sliding_window(512)
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        value, vtype = field.contents(), field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            w.add_key_value(key, value, vtype, sub_type=field.types[1])
        else:
            w.add_key_value(key, value, vtype)
    rng = np.random.default_rng(seed)

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    ones = lambda n: np.ones(n, dtype=np.float32)
    w.add_tensor("token_embd.weight", (rng.standard_normal((vocab, WIDTH)) * 0.02).astype(np.float32))
    for i in range(LAYERS):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", ones(WIDTH))
        w.add_tensor(b + "attn_q.weight", mat(HEADS * HEAD_DIM, WIDTH))
        w.add_tensor(b + "attn_k.weight", mat(HEAD_DIM, WIDTH))
        w.add_tensor(b + "attn_v.weight", mat(HEAD_DIM, WIDTH))
        w.add_tensor(b + "attn_output.weight", mat(WIDTH, HEADS * HEAD_DIM))
        w.add_tensor(b + "attn_q_norm.weight", ones(HEAD_DIM))
        w.add_tensor(b + "attn_k_norm.weight", ones(HEAD_DIM))
        w.add_tensor(b + "post_attention_norm.weight", ones(WIDTH))
        w.add_tensor(b + "ffn_norm.weight", ones(WIDTH))
        w.add_tensor(b + "ffn_gate.weight", mat(FFN, WIDTH))
        w.add_tensor(b + "ffn_up.weight", mat(FFN, WIDTH))
        w.add_tensor(b + "ffn_down.weight", mat(WIDTH, FFN))
        w.add_tensor(b + "post_ffw_norm.weight", ones(WIDTH))
    # small embeddings keep the residual stream steerable by the attention layers the adapter
    # changes; the final norm's gain then gives the tied head logits wide enough to be trained
    w.add_tensor("output_norm.weight", 20 * ones(WIDTH))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
