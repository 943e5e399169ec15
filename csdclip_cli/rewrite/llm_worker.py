"""The llama.cpp worker: a child process that loads one GGUF and answers requests over a pipe.

llama.cpp is native code: a build for another CPU segfaults on the first decode, an
out-of-memory kill or a hang takes the process with it. Running it here, not in csd's own
process, lets csd fall back to the rule-based plan and carry on (`LlamaWorker` below is the
parent's side; `python -m csdclip_cli.rewrite.llm_worker` is the child's).

Protocol: one JSON object per line each way. Requests:
  {"op": "info"}                       -> {"ok", "version", "system_info"}
  {"op": "load", "path", "n_ctx", "n_threads", "n_gpu_layers", "lora_path", "check_lora"}
                                       -> {"ok", "chat", "n_ctx", "n_ctx_train"}
  {"op": "generate", "prompt", "chat", "schema", "max_tokens", "stop"}
                                       -> {"ok", "text", "prompt_tokens"}
                                          or {"ok": false, "kind": "context", "prompt_tokens", "n_ctx"}
Any failure of a request is {"ok": false, "error": "..."}; the child stays up.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

# A chat template adds role markers around the prompt; this bounds them for the context check.
CHAT_OVERHEAD_TOKENS = 32


class WorkerFailed(Exception):
    """The worker died, hung past its timeout, or could not be started. `reason` is one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def worker_argv() -> list[str]:
    """The command that starts the real worker: this module, under this interpreter."""
    return [sys.executable, "-m", "csdclip_cli.rewrite.llm_worker"]


class LlamaWorker:
    """The parent's handle on one worker process.

    `request(obj, timeout)` sends one request and returns the reply dict; it raises
    WorkerFailed (and kills the child) when the child dies, closes its pipe or does not
    answer within `timeout` seconds. Safe to call `close()` any number of times.
    """

    def __init__(self, argv: list[str] | None = None):
        env = dict(os.environ)
        env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before llama_cpp loads (busy-wait: 30x slower)
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                argv or worker_argv(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,  # llama.cpp's chatter stays off the user's terminal
                env=env,
                start_new_session=True,  # Ctrl-C reaches csd, which then ends the worker
            )
        except OSError as e:
            raise WorkerFailed(f"cannot start the llama.cpp worker: {e}") from None
        self._buf = b""

    def request(self, obj: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request (see the protocol above) and return the child's reply dict, or
        {"ok": False, "error": "malformed reply"} when the reply is JSON but not an object. Raises
        WorkerFailed when the child has died or closed its pipe, answers something other than JSON, or
        does not answer within `timeout` seconds (the last two kill it)."""
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerFailed(self._death()) from None
        line = self._readline(timeout)
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            self.close()
            raise WorkerFailed(f"the llama.cpp worker answered garbage: {line[:80]!r}") from None
        return reply if isinstance(reply, dict) else {"ok": False, "error": "malformed reply"}

    def _readline(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise WorkerFailed(f"the llama.cpp worker did not answer within {timeout:g} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                raise WorkerFailed(self._death())
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode("utf-8", errors="replace")

    def _death(self) -> str:
        try:
            rc = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.close()
            return "the llama.cpp worker closed its pipe"
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            hint = (
                " (a llama-cpp-python build for another CPU, or a LoRA adapter of another model? see `csd doctor`)"
                if name in ("SIGSEGV", "SIGILL")
                else ""
            )
            return f"the llama.cpp worker was killed by {name}{hint}"
        tail = self.stderr_tail()
        return f"the llama.cpp worker exited with status {rc}" + (f": {tail}" if tail else "")

    def stderr_tail(self) -> str:
        """The last non-empty line the worker wrote to stderr ('' if none)."""
        try:
            self._stderr.seek(0)
            lines = [ln.strip() for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        except (OSError, ValueError):
            return ""
        return lines[-1][:160] if lines else ""

    def close(self) -> None:
        """Kill the child if it still runs, wait for it, close its pipes and its stderr file; idempotent."""
        if self.proc.poll() is None:
            try:
                self.proc.kill()
            except OSError:
                pass
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        try:
            self._stderr.close()
        except OSError:
            pass


# ---- the child's side -------------------------------------------------------------------


class LoraMisfit(ValueError):
    """The adapter asked for was trained on another model (the parent refuses it, not falls back)."""


def _lora_misfit(model_path: str, lora_path: str) -> str | None:
    """Why the LoRA adapter at `lora_path` does not fit the model at `model_path` (another
    architecture, or projections of another width), or None. llama.cpp segfaults applying such
    an adapter; its vocabulary-only load (0.5 s for gemma-3-270m) gives the model's facts."""
    import gguf
    from llama_cpp import Llama

    meta = Llama(model_path=model_path, vocab_only=True, verbose=False).metadata
    arch = meta.get("general.architecture", "?")
    width = meta.get(f"{arch}.embedding_length")
    reader = gguf.GGUFReader(lora_path)
    field = reader.fields.get("general.architecture")
    lora_arch = bytes(field.parts[field.data[0]]).decode("utf-8") if field is not None else "?"
    # lora_a of the q / k / v projections reads the model's hidden state: its first dimension is the width
    widths = {int(t.shape[0]) for t in reader.tensors if re.search(r"attn_[qkv]\.weight\.lora_a$", t.name)}
    name, base = Path(lora_path).name, Path(model_path).name
    if lora_arch != arch:
        return f"the adapter {name} was trained for a {lora_arch} model and {base} is {arch}"
    if width and widths and int(width) not in widths:
        return f"the adapter {name} was trained for a {arch} model of width {sorted(widths)[0]} and {base} has width {width}"
    return None


class _Model:
    def __init__(self, req: dict[str, Any]):
        from llama_cpp import Llama

        kwargs: dict[str, Any] = {}
        if req.get("lora_path"):
            if req.get("check_lora") and (why := _lora_misfit(req["path"], req["lora_path"])):
                raise LoraMisfit(f"{why}; pass the GGUF of the model it was trained on (--llm)")
            kwargs["lora_path"] = req["lora_path"]
        self.llm = Llama(
            model_path=req["path"],
            n_ctx=int(req.get("n_ctx", 2048)),
            n_threads=int(req.get("n_threads", 2)),
            n_gpu_layers=int(req.get("n_gpu_layers", 0)),
            seed=42,
            verbose=False,
            **kwargs,
        )
        self.chat = bool(self.llm.metadata.get("tokenizer.chat_template"))
        self._grammars: dict[str, Any] = {}

    def n_ctx_train(self) -> int | None:
        """The context length the model was trained with (GGUF `<arch>.context_length`)."""
        arch = self.llm.metadata.get("general.architecture", "")
        value = self.llm.metadata.get(f"{arch}.context_length")
        return int(value) if value and str(value).isdigit() else None

    def generate(self, req: dict[str, Any]) -> dict[str, Any]:
        from llama_cpp import LlamaGrammar

        prompt = str(req["prompt"])
        max_tokens = int(req.get("max_tokens", 220))
        n_prompt = len(self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False))
        if self.chat:
            n_prompt += CHAT_OVERHEAD_TOKENS
        n_ctx = self.llm.n_ctx()
        if n_prompt + max_tokens > n_ctx:
            return {"ok": False, "kind": "context", "prompt_tokens": n_prompt, "n_ctx": n_ctx}
        grammar = None
        if req.get("schema"):
            key = json.dumps(req["schema"], sort_keys=True)
            if key not in self._grammars:
                self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
            grammar = self._grammars[key]
        stop = req.get("stop") or None
        if req.get("chat", self.chat):
            r: Any = self.llm.create_chat_completion(
                messages=[{"role": "user", "content": prompt}],
                grammar=grammar,
                max_tokens=max_tokens,
                temperature=0.0,
                stop=stop,
            )
            text = r["choices"][0]["message"]["content"] or ""
        else:
            r = self.llm.create_completion(prompt, grammar=grammar, max_tokens=max_tokens, temperature=0.0, stop=stop)
            text = r["choices"][0]["text"]
        return {"ok": True, "text": text, "prompt_tokens": n_prompt}


def _info() -> dict[str, Any]:
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    return {
        "ok": True,
        "version": getattr(llama_cpp, "__version__", "?"),
        "system_info": info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info),
    }


def _serve(inp: IO[str], out: IO[str]) -> None:
    model: _Model | None = None
    for line in inp:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "exit":
                return
            if op == "info":
                reply = _info()
            elif op == "load":
                model = _Model(req)
                reply = {
                    "ok": True,
                    "chat": model.chat,
                    "n_ctx": model.llm.n_ctx(),
                    "n_ctx_train": model.n_ctx_train(),
                }
            elif op == "generate":
                reply = model.generate(req) if model else {"ok": False, "error": "no model loaded"}
            else:
                reply = {"ok": False, "error": f"unknown op {op!r}"}
        except Exception as e:  # reported to the parent, which falls back to the rules
            msg = str(e).splitlines()[0][:400] if str(e) else type(e).__name__
            reply = {"ok": False, "error": msg, "kind": "misfit" if isinstance(e, LoraMisfit) else "error"}
        out.write(json.dumps(reply, ensure_ascii=False) + "\n")
        out.flush()


def main() -> None:
    """The child's side (`python -m csdclip_cli.rewrite.llm_worker`): serve requests from stdin until
    {"op": "exit"} or end of input, replying on a private copy of stdout while fd 1 goes to stderr."""
    # The protocol gets a private copy of stdout; fd 1 then points at stderr, so nothing that
    # llama.cpp (C code) or a library prints can corrupt a reply.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _serve(sys.stdin, proto)


if __name__ == "__main__":
    main()
