"""`csd doctor`: is this machine's llama.cpp build usable, and which GGUF would `--rewriter llm` use?

Every check runs in the llama.cpp worker process, so a build that crashes (a wheel compiled
with -march=native on another CPU) is reported as a failed check instead of killing csd.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from csdclip_cli.rewrite.llm_worker import LlamaWorker, WorkerFailed

CPU_FEATURES = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


@dataclass(frozen=True)
class Check:
    """One row of the report: `ok` is None for information, True / False for a check."""

    name: str
    value: str
    ok: bool | None = None


def cpu_features() -> str:
    """The SIMD features /proc/cpuinfo lists, from CPU_FEATURES ('' where it is unreadable)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""
    flags: set[str] = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    return " ".join(f for f in CPU_FEATURES if f in flags)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def diagnose(
    gguf: Path | None,
    timeout: float = 120.0,
    worker: list[str] | None = None,
    adapter: Path | None = None,
    missing: str | None = None,
    origin: str = "",
) -> list[Check]:
    """Checks in report order. A failed check has ok=False and says what to do in `value`.
    `adapter`: a LoRA GGUF loaded with the model (checked to fit it, as `csd rewrite` does, and
    used by the test decode); `missing`: why there is no GGUF, if known; `origin`: where the
    GGUF's path came from (`llm.llm_origin`)."""
    from csdclip_cli.rewrite.llm import fit_checked, load_failure, merged_prompt

    checks = [
        Check("python", f"{platform.python_version()} ({platform.machine()})"),
        Check("cpu", f"{platform.processor() or platform.machine()}: {cpu_features() or 'flags unknown'}"),
        Check("hnswlib", _version("hnswlib")),
    ]
    llama_version = _version("llama-cpp-python")
    try:
        w = LlamaWorker(worker)
    except WorkerFailed as e:
        return [*checks, Check("llama.cpp worker", e.reason, False)]
    try:
        try:
            info = w.request({"op": "info"}, timeout=timeout)
        except WorkerFailed as e:
            return [*checks, Check("llama-cpp-python", f"{llama_version}: {e.reason}", False)]
        if not info.get("ok"):
            no_module = "No module named 'llama_cpp'" in str(info.get("error"))
            why = "not installed: run `make install-llm` in csd's clone" if no_module else str(info.get("error"))
            return [*checks, Check("llama-cpp-python", why, False)]
        features = " ".join(
            part.split("=")[0].split(":")[-1].strip()
            for part in str(info.get("system_info", "")).split("|")
            if part.strip().endswith("= 1")
        )
        checks.append(Check("llama-cpp-python", f"{info.get('version', llama_version)}; built with: {features or '?'}"))
        if gguf is None:
            why = missing or "none found: pass --llm FILE, set $CSD_LLM, or put a *.gguf in models/"
            checks.append(Check("GGUF", why, False))
            return checks
        checks.append(Check("GGUF", f"{gguf}{origin}"))
        if adapter is not None:
            checks.append(Check("LoRA adapter", str(adapter)))
        t0 = time.perf_counter()
        req = {
            "op": "load",
            "path": str(gguf),
            "n_ctx": 512,
            "n_threads": 2,
            "lora_path": adapter and str(adapter),
            "check_lora": fit_checked(adapter),  # another model's adapter segfaults llama.cpp
        }
        try:
            load = w.request(req, timeout=timeout)
        except WorkerFailed as e:
            return [*checks, Check("load", e.reason, False)]
        if not load.get("ok"):
            error = str(load.get("error"))
            why = error if load.get("kind") == "misfit" else load_failure(gguf, error)
            return [*checks, Check("load", why, False)]
        # with an adapter (or one merged in) the fine-tuned prompt is used whatever the template;
        # else the template decides between a chat prompt and the raw few-shot one
        prompt = (
            "fine-tuned prompt (adapter)"
            if adapter
            else "fine-tuned prompt (adapter merged in)"
            if merged_prompt(gguf)
            else "chat template"
            if load.get("chat")
            else "no chat template (raw few-shot prompt)"
        )
        checks.append(
            Check(
                "load",
                f"{time.perf_counter() - t0:.2f} s; context {load.get('n_ctx_train')} tokens (trained); {prompt}",
                True,
            )
        )
        t0 = time.perf_counter()
        try:
            gen = w.request({"op": "generate", "prompt": "The sky is", "max_tokens": 8}, timeout=timeout)
        except WorkerFailed as e:
            hint = " Rebuild llama-cpp-python portably: see the README, 'Fastest native build'."
            return [*checks, Check("test decode", e.reason + hint, False)]
        if not gen.get("ok"):
            return [*checks, Check("test decode", str(gen.get("error")), False)]
        checks.append(Check("test decode", f"ok in {time.perf_counter() - t0:.2f} s: {gen.get('text', '')!r}", True))
        return checks
    finally:
        w.close()
