"""LoRA fine-tuning of a causal LM into a query rewriter (`csd rewriter train`), as the
original CsdCLIP project did (its LLM_finetune/lora.sh), with transformers + peft on CPU.

The model learns to continue `Query: <raw query>\\nPlan:` with the plan's logic section in the
TIGR-100k annotated form (../shared/seed/CsdCLIP-README.txt), then end-of-sequence:

    Query: two kids building a sandcastle, nobody else on the beach
    Plan: -AND: < two kids building a sandcastle, two kids on a beach >, -NOT: < other people >

That form was chosen over the JSON plan by length: it is about 40% fewer tokens, and generation
time is proportional to tokens (JSON needs a grammar, which ran at ~20 tok/s against ~80 tok/s
free on 2 cores). The optimized phrase is not generated: rewrite.llm.validate_finetuned takes the
query's own positive text (or the AND clauses joined).

Speed on CPU (2 cores): the loss is computed only at the target positions (the 262k-entry
vocabulary head over every prompt position was most of a step), under bf16 autocast when the
CPU has native bf16 (AVX512-BF16 or AMX), fp32 otherwise. Checkpoints (adapter, optimizer,
step) are written atomically every `save_every` steps; a re-run with the same settings resumes.
The batch at step s depends only on the seed and s, so a resumed run sees the same data.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from csdclip_cli.errors import ModelFileMissing, UsageError, first_line
from csdclip_cli.rewrite.plan import Plan

PROMPT = "Query: {query}\nPlan:"
ADAPTER_FILE = "adapter.gguf"
LOCK_FILE = ".csd-train.lock"  # one run at a time in a folder (flock; holds the pid)
# Hand-written natural queries with plans (written apart from tests/data/rewrite_heldout.jsonl;
# tests/test_finetune.py checks that no query is close to a held-out one).
NATURAL = Path(__file__).parent / "data" / "natural_train.jsonl"
# Attention only: an adapter on the MLPs too made llama.cpp generate 23 tok/s instead of 29
# (40 without an adapter) on 2 cores, and latency is what the rewriter is judged on.
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


def prompt(query: str) -> str:
    """The text the model continues (training and inference use the same)."""
    return PROMPT.format(query=" ".join(query.split()))


def target(plan: Plan) -> str:
    """The continuation the model learns: ' -AND: < a, b >, -NOT: < c >, -OR: < d, e >'."""
    return " " + plan.logic()


@dataclass
class TrainConfig:
    """Everything that decides the adapter; a checkpoint resumes only under the same config."""

    base: str  # GGUF file or HuggingFace folder
    examples: int = 3400  # generated (query, plan) pairs, unless `data` is given
    natural: int = 4  # times the hand-written NATURAL set is added to the generated pairs
    data: str | None = None  # JSONL of plans or TIGR records instead of both
    steps: int = 900
    batch_size: int = 8
    lr: float = 4e-4
    rank: int = 16  # LoRA rank r
    alpha: float = 32.0  # LoRA alpha (scale alpha / r)
    seed: int = 0
    save_every: int = 50
    warmup: int = 30
    max_tokens: int = 128  # longer examples are dropped (none of the generated ones is)


@dataclass
class TrainResult:
    """A finished training run: the GGUF adapter written, steps, wall seconds of the training
    loop (all runs when resumed; `run_seconds` this one alone), the first step's loss and the mean
    of the last 20, examples used, the autocast dtype ("bfloat16 autocast" | "float32"), the
    per-step loss log and the step it resumed from."""

    adapter: Path
    steps: int
    seconds: float
    first_loss: float
    last_loss: float
    examples: int
    dtype: str
    log: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int = 0  # the checkpoint's step this run went on from (0: a fresh run)
    run_seconds: float = 0.0  # wall seconds of this run's loop alone
    warnings: list[str] = field(default_factory=list)  # repeated queries, examples left out as too long


def check_base(base: str | Path) -> Path:
    """`base` as an absolute path, when it is a GGUF file (by its magic bytes) or a HuggingFace
    folder whose config.json names a model_type and which holds a tokenizer. Raises
    ModelFileMissing otherwise (checked before anything is loaded or written)."""
    p = Path(base).expanduser().resolve()
    hint = "pass --base FILE.gguf or --base DIR (e.g. a local Qwen2.5-0.5B download)"
    if p.is_file():
        with p.open("rb") as f:
            gguf_file = f.read(4) == b"GGUF"
        if gguf_file and p.stat().st_size < 200_000_000:  # a LoRA adapter, or a base that small (read whole)
            from csdclip_cli.rewrite.lora_gguf import general_type

            try:
                kind = general_type(p)
            except Exception:  # cut short or damaged: transformers says why when it loads
                kind = None
            if kind == "adapter":  # transformers said "Cannot build a tokenizer from a GGUF file ..."
                raise ModelFileMissing(f"base model {p} is a LoRA adapter, not a model; {hint}")
        if gguf_file:
            return p
        raise ModelFileMissing(f"base model {p} is not a GGUF file (it does not start with 'GGUF'); {hint}")
    if p.is_dir() and (p / "config.json").is_file():
        try:
            config = json.loads((p / "config.json").read_text(encoding="utf-8"))
        except (ValueError, OSError) as e:  # it was reported as naming no model_type
            raise ModelFileMissing(f"base model {p}: config.json does not parse ({str(e)[:80]}); {hint}") from None
        if not isinstance(config, dict) or "model_type" not in config:
            raise ModelFileMissing(f"base model {p}: config.json names no model_type; {hint}")
        from csdclip_cli.rewrite.lora_gguf import gguf_arch

        gguf_arch(str(config["model_type"]))  # a llama folder was refused only after its load
        from csdclip_cli.encoders.hf import TOKENIZER_FILES  # one list of what a model folder's tokenizer is

        if not any((p / name).is_file() for name in TOKENIZER_FILES):
            raise ModelFileMissing(f"base model {p} holds no tokenizer ({', '.join(TOKENIZER_FILES)}); {hint}")
        return p
    if not p.exists():  # it was called "neither a GGUF file nor a HuggingFace folder"
        raise ModelFileMissing(f"base model {p} not found; {hint}")
    raise ModelFileMissing(f"base model {p} is neither a GGUF file nor a HuggingFace folder with config.json; {hint}")


def load_base(base: str | Path, dtype: Any = None) -> tuple[Any, Any]:
    """(model, tokenizer) from a GGUF file (dequantized to float32 by transformers) or a local
    HuggingFace folder. ModelFileMissing when neither, or when transformers cannot load it."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()  # csd draws its own progress; no tqdm bars per tensor
    transformers.logging.disable_progress_bar()
    p = check_base(base)
    dtype = dtype or torch.float32
    kw: dict[str, Any] = {"gguf_file": p.name} if p.is_file() else {}
    where = str(p.parent if p.is_file() else p)
    # transformers' GGUF reader draws a tqdm bar on stderr outside its own progress switch;
    # errors still arrive as exceptions (CSD_VERBOSE=1 shows the chatter)
    quiet = os.environ.get("CSD_VERBOSE") != "1"
    try:
        with contextlib.redirect_stderr(io.StringIO()) if quiet else contextlib.nullcontext():
            tok = AutoTokenizer.from_pretrained(where, **kw)
            model = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, **kw)
    except Exception as e:  # a damaged or unsupported model (transformers raises many kinds): its reason
        reason = f"{type(e).__name__}: {first_line(e)}"
        raise ModelFileMissing(f"base model {p} cannot be loaded by transformers: {reason}") from None
    return model, tok


def encode_example(tok: Any, query: str, continuation: str) -> tuple[list[int], int]:
    """Token ids of prompt + continuation + EOS, and where the continuation starts."""
    p = tok(prompt(query), add_special_tokens=True)["input_ids"]
    full = tok(prompt(query) + continuation, add_special_tokens=True)["input_ids"]
    if full[: len(p)] != p:  # the tokenizer merged across the boundary: tokenize apart
        full = p + tok(continuation, add_special_tokens=False)["input_ids"]
    return [*full, tok.eos_token_id], len(p)


def read_examples(cfg: TrainConfig, warnings: list[str] | None = None) -> list[Plan]:
    """The training plans: `cfg.data` (plan JSON or TIGR lines), or `cfg.examples` generated
    pairs plus `cfg.natural` copies of the hand-written NATURAL set."""
    from csdclip_cli.rewrite.planfile import read_plans

    if cfg.data:
        read = read_plans(cfg.data)
        if read.repeats() and warnings is not None:
            warnings.append(f"--data {cfg.data}: {read.repeats()}")
        plans = list(read.values())
        if not plans:
            raise UsageError(f"{cfg.data} holds no plans to train on")
        # a plan of no clause would teach the model to drop the query; one of OR groups or NOT
        # clauses only ("a house or a tree", "no cars") is what `csd rewrite -o` writes for those
        empty = [p.raw for p in plans if not (p.and_ or p.or_ or p.not_)]
        if empty:
            raise UsageError(
                f"{cfg.data}: {len(empty)} plan(s) have no clause (first: {empty[0][:60]!r}); "
                "every training plan needs an AND, NOT or OR clause"
            )
        kept: list[Plan] = []
        unreadable: list[Plan] = []
        for p in plans:
            alternatives = [x for g in p.or_ for x in g]
            if not p.raw.strip() or any(not c.strip() for c in [*p.and_, *p.not_, *alternatives]):
                raise UsageError(f"{cfg.data}: the plan of {p.raw[:60]!r} has an empty query or clause")
            # an OR alternative is wanted too
            both = {c.strip().lower() for c in [*p.and_, *alternatives]} & {c.strip().lower() for c in p.not_}
            if both:
                raise UsageError(f"{cfg.data}: the plan of {p.raw[:60]!r} both wants and excludes {sorted(both)!r}")
            (kept if _target_reads_back(p) else unreadable).append(p)
        # a clause holding a comma ('a billboard "Buy Now, Pay Later"') becomes two when the
        # training target (TIGR's '< a, b >') is read back: such plans are left out, with a warning
        if unreadable and warnings is not None:
            warnings.append(
                f"--data {cfg.data}: {len(unreadable)} plan(s) left out, a clause holds a comma, which separates "
                f"clauses in the training target (first: {unreadable[0].raw[:60]!r})"
            )
        plans = kept
        if not plans:
            raise UsageError(f"{cfg.data} holds no plans to train on: every one has a clause holding a comma")
        return plans
    from csdclip_cli.rewrite.training_data import generate

    return list(generate(cfg.examples, seed=cfg.seed)) + list(read_plans(NATURAL).values()) * cfg.natural


def _target_reads_back(plan: Plan) -> bool:
    """Whether the training target of `plan` (target(): its TIGR logic section) parses back to the
    same clauses, as llm.parse_logic reads the model's output."""
    from csdclip_cli.errors import PlanFormatError
    from csdclip_cli.rewrite.plan import parse_logic

    try:
        back = parse_logic(plan.logic())
    except PlanFormatError:
        return False
    return (back.and_, back.not_, back.or_) == (plan.and_, plan.not_, plan.or_)


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """Example indices of the batch at `step`: epochs are seeded shuffles of range(n)."""
    per_epoch = max(1, n // batch_size)
    epoch, k = divmod(step, per_epoch)
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order[k * batch_size : (k + 1) * batch_size]


def _bf16_ok() -> bool:
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def plans_digest(plans: list[Plan]) -> str:
    """sha256 (16 hex digits) of the training plans in order: what a checkpoint was trained on."""
    h = hashlib.sha256()
    for p in plans:
        h.update(p.to_json().encode() + b"\n")
    return h.hexdigest()[:16]


def read_checkpoint(cfg: TrainConfig, out_dir: Path, digest: str | None = None) -> dict[str, Any] | None:
    """The checkpoint in `out_dir` (config, adapter and optimizer state, step, log, seconds, the
    plans_digest of its data), or None when there is none. UsageError when it cannot be read, was
    saved under settings other than `cfg`, or (given `digest`) on other training plans: an
    edited --data file at the same path, or generated pairs from another csd version."""
    import torch

    path = out_dir / "checkpoint.pt"
    if not path.is_file():
        return None
    try:
        ckpt: dict[str, Any] = torch.load(path, weights_only=False)
        saved = ckpt["config"]
    except Exception as e:  # torch.load raises RuntimeError, ValueError, EOFError, pickle errors, ...
        raise UsageError(
            f"{path} is not a readable checkpoint ({type(e).__name__}); --fresh starts over there"
        ) from None
    # the same plans at another path (a data file moved or copied) are the same run: the digest says so
    moved = (
        digest is not None
        and ckpt.get("data") == digest
        and saved.get("data")
        and cfg.data
        and {**saved, "data": cfg.data} == asdict(cfg)
    )
    if saved != asdict(cfg) and not moved:
        raise UsageError(
            f"{out_dir} holds a training run with other settings ({_diff(saved, asdict(cfg))}); "
            "use another --out, or --fresh to start over there"
        )
    if digest is not None and ckpt.get("data", digest) != digest:
        what = f"{cfg.data} has changed" if cfg.data else "the generated pairs differ (another csd version)"
        raise UsageError(
            f"{out_dir} holds a training run on other data: {what} since its checkpoint was saved; "
            "use another --out, or --fresh to start over there"
        )
    return ckpt


def checkpoint_step(cfg: TrainConfig, out_dir: Path) -> int:
    """The step the checkpoint in `out_dir` holds (0 when none); UsageError as read_checkpoint."""
    ckpt = read_checkpoint(cfg, out_dir)
    return int(ckpt["step"]) if ckpt else 0


@dataclass
class TrainingRun:
    """A training run whose data and folder passed their checks: its config, folder, plans and
    the checkpoint it goes on from (None: step 0). Made by `prepare`, run by `run_training`."""

    cfg: TrainConfig
    out_dir: Path
    plans: list[Plan]
    checkpoint: dict[str, Any] | None
    digest: str  # plans_digest(plans), saved in every checkpoint
    fresh: bool = False  # an older run's checkpoint in out_dir is neither read nor kept
    warnings: list[str] = field(default_factory=list)  # what the data's reading found (repeated queries)
    lock_fd: int | None = None  # the run's flock on out_dir/LOCK_FILE, held until close() or exit
    started: float = field(default_factory=time.time)

    def close(self) -> None:
        """Let go of `out_dir`'s lock (another run may train there)."""
        if self.lock_fd is not None:
            os.close(self.lock_fd)
            self.lock_fd = None

    def __enter__(self) -> TrainingRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def kept_step(self) -> int:
        """The step of the checkpoint in `out_dir` that the same command goes on from: 0 when
        there is none, or when (fresh) it is still the older run's."""
        path = self.out_dir / "checkpoint.pt"
        if not path.is_file() or (self.fresh and path.stat().st_mtime < self.started):
            return 0
        try:
            ckpt = read_checkpoint(self.cfg, self.out_dir, self.digest)
        except UsageError:
            return 0
        return int(ckpt["step"]) if ckpt else 0

    @property
    def resumed_from(self) -> int:
        """The step the run goes on from (0: a fresh run)."""
        return int(self.checkpoint["step"]) if self.checkpoint else 0

    @property
    def finished(self) -> bool:
        """Whether `out_dir` already holds this run done: every step, and its adapter written."""
        return self.resumed_from >= self.cfg.steps and (self.out_dir / ADAPTER_FILE).is_file()


def prepare(cfg: TrainConfig, out_dir: Path, fresh: bool = False) -> TrainingRun:
    """Read and check everything a run needs before its model loads: the training plans, the
    checkpoint in `out_dir`, and that `out_dir` can be written (it is made). `fresh` ignores that
    checkpoint; the run's first checkpoint replaces it (a run that fails before leaves it).
    UsageError when `out_dir` is a file or cannot be written, holds an adapter without a
    checkpoint (unless `fresh`), the data holds an unusable plan (read_examples) or the
    checkpoint cannot be read, has other settings or other data (read_checkpoint)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file; give a folder for checkpoints and {ADAPTER_FILE}")
    if not fresh and (out_dir / ADAPTER_FILE).is_file() and not (out_dir / "checkpoint.pt").is_file():
        # an adapter no run of this folder can resume (copied there, or its checkpoint removed) was
        # overwritten without a word
        raise UsageError(
            f"--out {out_dir} holds {ADAPTER_FILE} and no checkpoint: another run's adapter; give another "
            "--out, or --fresh to replace it"
        )
    notes: list[str] = []
    plans = read_examples(cfg, notes)
    digest = plans_digest(plans)
    checkpoint = None if fresh else read_checkpoint(cfg, out_dir, digest)
    try:  # a parent that is a file, /proc, a read-only disk: said now, not after the model's minute to load
        out_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(out_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise UsageError(f"--out {out_dir}: cannot write there ({e.strerror or e}); choose another folder") from None
    try:  # two runs into one folder both "succeeded", each with the other's checkpoint
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise UsageError(
            f"--out {out_dir} is being trained into by {holder}; wait for it, or give another --out"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
    return TrainingRun(cfg, out_dir, plans, checkpoint, digest, fresh=fresh, warnings=notes, lock_fd=fd)


def train(
    cfg: TrainConfig,
    out_dir: Path,
    progress: Callable[[int, int, float], None] | None = None,
    model_and_tokenizer: tuple[Any, Any] | None = None,
) -> TrainResult:
    """`run_training(prepare(cfg, out_dir), ...)`: fine-tune `cfg.base` with LoRA into `out_dir`,
    resuming from its checkpoint when that has the same config. Raises what prepare raises."""
    with prepare(cfg, out_dir) as run:
        return run_training(run, progress, model_and_tokenizer)


def run_training(
    run: TrainingRun,
    progress: Callable[[int, int, float], None] | None = None,
    model_and_tokenizer: tuple[Any, Any] | None = None,
) -> TrainResult:
    """Fine-tune `run.cfg.base` with LoRA and write `out_dir/adapter.gguf` (GGUF LoRA adapter
    for llama.cpp) and `out_dir/train.json` (config, losses, seconds), going on from the run's
    checkpoint; a checkpoint every `save_every` steps. `progress(step, steps, loss)` after each
    step. UsageError for a base csd cannot export an adapter for, or whose tokenizer has no
    end-of-sequence token."""
    import torch
    from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    from csdclip_cli.rewrite.lora_gguf import gguf_arch, write_adapter

    cfg, out_dir, plans, ckpt = run.cfg, run.out_dir, run.plans, run.checkpoint
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = out_dir / "checkpoint.pt"
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model, tok = model_and_tokenizer or load_base(cfg.base)
    model_type = getattr(model.config, "model_type", "")
    gguf_arch(model_type)  # refuse an unsupported base before hours of training
    if tok.eos_token_id is None:
        raise UsageError(f"the tokenizer of {cfg.base} has no end-of-sequence token")
    examples = [encode_example(tok, p.raw, target(p)) for p in plans]
    long = [p.raw for p, e in zip(plans, examples) if len(e[0]) > cfg.max_tokens]
    examples = [e for e in examples if len(e[0]) <= cfg.max_tokens]
    if not examples:
        raise UsageError(f"no training example fits in {cfg.max_tokens} tokens (prompt, query and plan)")
    notes = list(run.warnings)
    if long:  # left out without a word before
        notes.append(
            f"{len(long)} of {len(plans)} training examples are longer than {cfg.max_tokens} tokens with the prompt "
            f"and plan, and are left out (first: {long[0][:60]!r})"
        )

    # peft annotates lora_alpha as int but only divides it by r: a float alpha is honoured
    lora = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=0.0, target_modules=list(TARGET_MODULES))  # type: ignore[arg-type]
    with warnings.catch_warnings():  # peft asks transformers 5 a deprecated question: not the user's to fix
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing", category=FutureWarning)
        model = get_peft_model(model, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg.warmup, cfg.steps))
    step, log, spent = 0, [], 0.0
    if ckpt is not None:
        set_peft_model_state_dict(model, ckpt["adapter"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        step, log, spent = ckpt["step"], ckpt["log"], ckpt["seconds"]

    inner: Any = model.get_base_model()
    body, head = inner.model, inner.get_output_embeddings()
    softcap = getattr(inner.config, "final_logit_softcapping", None)
    use_bf16 = _bf16_ok()
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    t0 = time.perf_counter()
    while step < cfg.steps:
        batch = [examples[i] for i in batch_indices(len(examples), cfg.batch_size, cfg.seed, step)]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        for b, (ids, start) in enumerate(batch):
            input_ids[b, : len(ids)] = torch.tensor(ids)
            mask[b, : len(ids)] = 1
            labels[b, start : len(ids)] = torch.tensor(ids[start:])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            hidden = body(input_ids=input_ids, attention_mask=mask).last_hidden_state
            # position t predicts token t+1: only the target positions go through the head
            sel = labels[:, 1:] != -100
            logits = head(hidden[:, :-1][sel]).float()
        if softcap:
            logits = torch.tanh(logits / softcap) * softcap
        loss = torch.nn.functional.cross_entropy(logits, labels[:, 1:][sel])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        value = loss.item()
        log.append({"step": step, "loss": round(value, 5)})
        if progress:
            progress(step, cfg.steps, value)
        if step % cfg.save_every == 0 or step == cfg.steps:
            state = {
                "config": asdict(cfg),
                "data": run.digest,
                "adapter": get_peft_model_state_dict(model, save_embedding_layers=False),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "step": step,
                "log": log,
                "seconds": spent + time.perf_counter() - t0,
            }
            torch.save(state, ckpt_path.with_suffix(".tmp"))
            os.replace(ckpt_path.with_suffix(".tmp"), ckpt_path)

    seconds = spent + time.perf_counter() - t0
    # the embeddings are frozen and not targeted: nothing of them to save ("auto" looks for the
    # base's config.json, on the hub when it is not a folder, and warns when it finds none)
    weights = get_peft_model_state_dict(model, save_embedding_layers=False)
    arrays = {k: v.detach().float().cpu().numpy() for k, v in weights.items()}
    adapter = write_adapter(out_dir / ADAPTER_FILE, arrays, model_type, cfg.alpha)
    result = TrainResult(
        adapter=adapter,
        steps=step,
        seconds=seconds,
        first_loss=log[0]["loss"] if log else float("nan"),
        last_loss=_mean_tail(log),
        examples=len(examples),
        dtype="bfloat16 autocast" if use_bf16 else "float32",
        log=log,
        resumed_from=run.resumed_from,
        run_seconds=seconds - spent,
        warnings=notes,
    )
    summary = asdict(result) | {"adapter": str(adapter.resolve()), "config": asdict(cfg), "log": log}
    (out_dir / "train.json").write_text(json.dumps(summary, indent=1))
    return result


def _lr_factor(step: int, warmup: int, steps: int) -> float:
    """Linear warm-up, then linear decay to 10% (the usual LoRA schedule)."""
    if step < warmup:
        return (step + 1) / warmup
    return max(0.1, 1.0 - 0.9 * (step - warmup) / max(1, steps - warmup))


def _mean_tail(log: Sequence[dict[str, float]], n: int = 20) -> float:
    tail = [r["loss"] for r in log[-n:]]
    return sum(tail) / len(tail) if tail else float("nan")


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    return ", ".join(f"{k} {a.get(k)!r} there, {b.get(k)!r} now" for k in b if a.get(k) != b.get(k))
