"""The LLM runs in a child process: whatever it does (crash, hang, refuse to load, print
garbage, overflow its context), csd answers with the rule-based plan, one warning, exit 0."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from csdclip_cli.rewrite import llm_worker
from csdclip_cli.rewrite.cache import CachedRewriter, PlanCache
from csdclip_cli.rewrite.llm import LlamaRewriter
from csdclip_cli.rewrite.rules import RuleRewriter

FAKE = Path(__file__).parent / "fakes" / "llm_worker.py"
Q = "a red car on the beach, no dog"


def fake(mode: str) -> list[str]:
    return [sys.executable, str(FAKE), mode]


@pytest.fixture
def gguf_stub(tmp_path: Path) -> Path:
    p = tmp_path / "stub.gguf"  # the fake workers never read it; the rewriter needs a file
    p.write_bytes(b"GGUF" + b"\0" * 32)
    return p


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("segv", "killed by SIGSEGV"),
        ("hang", "did not answer within 1 s"),
        ("loadfail", "cannot load stub.gguf: failed to load model: bad magic"),
        ("garbage", "answered garbage"),
    ],
)
def test_worker_failure_falls_back_to_rules(gguf_stub: Path, tmp_path: Path, mode: str, reason: str) -> None:
    inner = LlamaRewriter(gguf_stub, timeout=1, worker=fake(mode))
    rw = CachedRewriter(inner, PlanCache(tmp_path / "plans.sqlite"))
    t0 = time.monotonic()
    plan = rw.rewrite(Q)
    assert time.monotonic() - t0 < 20
    assert plan == RuleRewriter().rewrite(Q)
    assert len(inner.warnings) == 1 and reason in inner.warnings[0], inner.warnings
    assert "used the rule-based plan" in inner.warnings[0]
    assert inner._worker is None  # the dead or hung child was reaped, not left behind
    # a fallback is not the model's plan: never cached, so a repaired install is used next time
    assert PlanCache(tmp_path / "plans.sqlite").get(PlanCache.key("llm", inner.fingerprint, Q)) is None


def test_hung_worker_is_killed(gguf_stub: Path) -> None:
    inner = LlamaRewriter(gguf_stub, timeout=1, worker=fake("hang"))
    inner._load()
    proc = inner._worker.proc
    inner.rewrite(Q)
    assert proc.poll() is not None  # killed at the timeout


def test_working_worker_is_reused_and_cached(gguf_stub: Path, tmp_path: Path) -> None:
    inner = LlamaRewriter(gguf_stub, worker=fake("ok"))
    rw = CachedRewriter(inner, PlanCache(tmp_path / "plans.sqlite"))
    rw.rewrite("a red car, no dog")
    pid = inner._worker.proc.pid
    rw.rewrite("a red car at night")
    assert inner._worker.proc.pid == pid and inner.calls == 2  # one worker for the whole batch
    assert PlanCache(tmp_path / "plans.sqlite").get(PlanCache.key("llm", inner.fingerprint, "a red car at night"))
    inner.close()
    assert inner._worker is None


def test_worker_that_crashes_after_answering_is_restarted(gguf_stub: Path) -> None:
    inner = LlamaRewriter(gguf_stub, worker=fake("segv-later"))
    inner.rewrite("a red car")
    inner.rewrite("a red car, no dog")  # crashes: rules plan
    assert any("SIGSEGV" in w for w in inner.warnings)
    inner.rewrite("a red car at night")  # a fresh worker answers again
    assert inner.last_failure is None and inner._worker is not None


def test_dead_build_is_not_retried_for_every_query(gguf_stub: Path) -> None:
    inner = LlamaRewriter(gguf_stub, worker=fake("segv"))
    for q in ("a red car", "a blue car", "a green car"):
        inner.rewrite(q)
    assert inner.calls == 1  # crashed before its first answer: the rest go straight to the rules
    assert len(set(inner.warnings)) == 1


def _cli_with_fake_worker(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setattr(llm_worker, "worker_argv", lambda: fake(mode))


def test_cli_rewrite_survives_a_segfaulting_llm(runner, gguf_stub: Path, monkeypatch) -> None:
    from conftest import invoke

    _cli_with_fake_worker(monkeypatch, "segv")
    r = invoke(runner, "rewrite", Q, "--rewriter", "llm", "--llm", str(gguf_stub), "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["not"] == ["dog"]
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and "SIGSEGV" in warnings[0]


def test_cli_batch_writes_a_plan_for_every_line_when_the_llm_crashes(
    runner, gguf_stub: Path, tmp_path: Path, monkeypatch
) -> None:
    from conftest import invoke

    _cli_with_fake_worker(monkeypatch, "segv-later")
    qs = tmp_path / "q.txt"
    qs.write_text("a red car\na blue car, no dog\na tree at night\n")
    out = tmp_path / "plans.jsonl"
    r = invoke(runner, "rewrite", "--file", str(qs), "-o", str(out), "--rewriter", "llm", "--llm", str(gguf_stub))
    assert r.exit_code == 0
    plans = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [p["raw"] for p in plans] == ["a red car", "a blue car, no dog", "a tree at night"]
    assert plans[1]["not"] == ["dog"]


def test_doctor_reports_a_crashing_build(runner, gguf_stub: Path, monkeypatch) -> None:
    from conftest import invoke

    _cli_with_fake_worker(monkeypatch, "segv")
    r = invoke(runner, "doctor", "--llm", str(gguf_stub), "--timeout", "10")
    assert r.exit_code == 1
    assert "FAIL" in r.stdout and "test decode" in r.stdout and "SIGSEGV" in r.stdout
    assert "AVX2" in r.stdout  # the build's features, from the worker


def test_cli_batch_names_the_line_of_a_warning_and_counts_repeats(
    runner, gguf_stub: Path, tmp_path: Path, monkeypatch
) -> None:
    from conftest import invoke

    _cli_with_fake_worker(monkeypatch, "segv")
    qs = tmp_path / "q.txt"
    qs.write_text("a red car\n\na blue car, no dog\na tree at night\n")
    r = invoke(
        runner,
        "rewrite",
        "--file",
        str(qs),
        "-o",
        str(tmp_path / "p.jsonl"),
        "--rewriter",
        "llm",
        "--llm",
        str(gguf_stub),
    )
    assert r.exit_code == 0
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 2, warnings
    assert "line 1:" in warnings[0] and "SIGSEGV" in warnings[0]
    assert "on 3 lines in all" in warnings[1]
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 3


def test_cached_plans_follow_a_change_of_the_rules(gguf_stub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the model's plan is checked against the rules' plan: plans cached under older rules are stale
    before = LlamaRewriter(gguf_stub, worker=fake("ok")).fingerprint
    monkeypatch.setattr(RuleRewriter, "fingerprint", "rules-next")
    assert LlamaRewriter(gguf_stub, worker=fake("ok")).fingerprint != before


def test_missing_llama_cpp_names_the_portable_install(runner, gguf_stub: Path, tmp_path: Path, monkeypatch) -> None:
    """Without llama-cpp-python the advice was `pip install llama-cpp-python`, which compiles for
    this CPU only (-march=native: a build that crashed on another CPU); it names the Makefile's
    portable build now, in the rewrite's warning and in csd doctor."""
    from conftest import invoke

    shim = tmp_path / "shim" / "llama_cpp"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'llama_cpp'\", name='llama_cpp')\n")
    code = (
        f"import runpy, sys; sys.path.insert(0, {str(shim.parent)!r}); "
        "runpy.run_module('csdclip_cli.rewrite.llm_worker', run_name='__main__')"
    )
    monkeypatch.setattr(llm_worker, "worker_argv", lambda: [sys.executable, "-c", code])
    r = invoke(runner, "rewrite", Q, "--rewriter", "llm", "--llm", str(gguf_stub), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["not"] == ["dog"]
    assert "llama-cpp-python is not installed: run `make install-llm`" in r.stderr, r.stderr
    r = invoke(runner, "doctor", "--llm", str(gguf_stub), "--timeout", "20")
    assert r.exit_code == 1 and "make install-llm" in r.stdout and "pip install" not in r.stdout, r.stdout


def test_the_server_answers_concurrent_llm_requests(isolated: Path, gguf_stub: Path, monkeypatch) -> None:
    """Four `rewriter: llm` requests at once gave 500 500 500 200: the plan cache's SQLite
    connection was used from the server's other threads (ProgrammingError), and the worker's
    pipe would have been shared. Every request gets a plan now, the model's own."""
    from concurrent.futures import ThreadPoolExecutor

    from starlette.testclient import TestClient

    from csdclip_cli.serve.app import create_app
    from csdclip_cli.serve.service import Service

    monkeypatch.setenv("CSD_LLM", str(gguf_stub))
    monkeypatch.setattr(llm_worker, "worker_argv", lambda: fake("ok"))
    client = TestClient(create_app(Service(isolated / "indexes")), raise_server_exceptions=False)

    queries = [
        "a red car",
        "a red car.",
        "a red car!",
        "A red car",
        "a Red car",
        "a red Car",
        "a red car?",
        "A RED CAR",
    ]

    def ask(query: str) -> tuple[int, dict]:
        r = client.post("/api/rewrite", json={"query": query, "rewriter": "llm"})
        return r.status_code, r.json()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(ask, queries))
    assert [status for status, _ in answers] == [200] * 8, answers
    # the fake model's plan, accepted by the checks: no reply was lost or crossed on the pipe
    assert all(body["plan"]["and"] == ["a red car"] and not body["warnings"] for _, body in answers), answers


def test_doctor_names_an_adapter_given_as_the_model(runner, monkeypatch) -> None:
    """`csd doctor --llm adapter.gguf` said only 'Failed to load model'; --timeout 0 was taken and
    every check 'did not answer within 0 s', as from a broken build."""
    from conftest import invoke

    import csdclip_cli.rewrite.shipped as shipped

    monkeypatch.setattr(llm_worker, "worker_argv", lambda: fake("loadfail"))  # llama.cpp refuses an adapter
    r = invoke(runner, "doctor", "--llm", str(shipped.ADAPTER), "--timeout", "10")
    assert r.exit_code == 1 and "is a LoRA adapter, not a model" in r.stdout and "--adapter" in r.stdout, r.stdout
    r = invoke(runner, "doctor", "--timeout", "0")
    assert r.exit_code == 2 and "--timeout" in r.stderr
