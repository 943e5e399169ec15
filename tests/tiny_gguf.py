"""Tiny random-weight GGUFs for tests that run the whole fine-tuning path: transformers loads
them, peft trains them, llama.cpp runs them with the adapter. A gemma3 (2 layers, width 64) with
the real gemma tokenizer, and a qwen2 / qwen3 of the same size with a byte-level BPE tokenizer
trained on the test's own texts (both readers tokenize it alike). Norm weights are written as
llama.cpp stores them (gemma: the scale itself), so both readers see the same model."""

from __future__ import annotations

import json
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


def write_tiny_qwen(path: Path, arch: str, texts: list[str], seed: int = 0) -> Path:
    """Write a tiny random `arch` ("qwen2" or "qwen3") GGUF at `path` whose GPT-2-style byte-level
    BPE vocabulary (about 600 entries, end of text `<|endoftext|>`) is trained on `texts`.

    qwen2 has q/k/v biases (zero here), qwen3 q/k norms and head_dim 128: transformers' GGUF reader
    does not read qwen3's key_length and takes Qwen3Config's default of 128, as every Qwen3 has."""
    import gguf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    eot = "<|endoftext|>"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=[eot], initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    spec = json.loads(tok.to_str())
    vocab: dict[str, int] = spec["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.__getitem__)
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]

    heads, kv_heads = 4, 2
    head_dim = 128 if arch == "qwen3" else WIDTH // heads
    w = gguf.GGUFWriter(str(path), arch)
    w.add_name(f"tiny random {arch}")
    w.add_context_length(2048)
    w.add_embedding_length(WIDTH)
    w.add_block_count(LAYERS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(10000.0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")  # llama.cpp's name for the GPT-2 split, which ByteLevel uses
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if t == eot else gguf.TokenType.NORMAL for t in tokens])
    w.add_token_merges(merges)
    w.add_eos_token_id(vocab[eot])
    w.add_bos_token_id(vocab[eot])
    w.add_add_bos_token(False)
    rng = np.random.default_rng(seed)

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)

    ones = lambda n: np.ones(n, dtype=np.float32)
    zeros = lambda n: np.zeros(n, dtype=np.float32)
    q, kv = heads * head_dim, kv_heads * head_dim
    w.add_tensor("token_embd.weight", (rng.standard_normal((len(tokens), WIDTH)) * 0.02).astype(np.float32))
    for i in range(LAYERS):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", ones(WIDTH))
        w.add_tensor(b + "attn_q.weight", mat(q, WIDTH))
        w.add_tensor(b + "attn_k.weight", mat(kv, WIDTH))
        w.add_tensor(b + "attn_v.weight", mat(kv, WIDTH))
        if arch == "qwen2":
            for name, n in (("q", q), ("k", kv), ("v", kv)):
                w.add_tensor(b + f"attn_{name}.bias", zeros(n))
        else:
            w.add_tensor(b + "attn_q_norm.weight", ones(head_dim))
            w.add_tensor(b + "attn_k_norm.weight", ones(head_dim))
        w.add_tensor(b + "attn_output.weight", mat(WIDTH, q))
        w.add_tensor(b + "ffn_norm.weight", ones(WIDTH))
        w.add_tensor(b + "ffn_gate.weight", mat(FFN, WIDTH))
        w.add_tensor(b + "ffn_up.weight", mat(FFN, WIDTH))
        w.add_tensor(b + "ffn_down.weight", mat(WIDTH, FFN))
    w.add_tensor("output_norm.weight", 20 * ones(WIDTH))  # tied head, as in the gemma one above
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def save_as_huggingface_folder(gguf_path: Path, folder: Path) -> Path:
    """The GGUF's model and tokenizer as transformers reads them, saved as a HuggingFace folder
    (config.json, model.safetensors, tokenizer.json): the folder that llama.cpp's
    convert_hf_to_gguf.py would turn back into `gguf_path`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, name = str(gguf_path.parent), gguf_path.name
    AutoTokenizer.from_pretrained(where, gguf_file=name).save_pretrained(folder)
    loaded = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    del config.quantization_config  # a model read from a GGUF is marked quantized and refuses to save
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict())
    model.save_pretrained(folder)
    return folder
