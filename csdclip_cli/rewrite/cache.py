"""Plans cached by (rewriter, model fingerprint, prompt version, query): repeated searches
and evaluations never run the LLM twice for the same query."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

from csdclip_cli.rewrite.plan import Plan


class PlanCache:
    """Plans in SQLite (table plans: k TEXT PRIMARY KEY, plan TEXT holding Plan JSON), by default
    `<cache dir>/plans.sqlite`; the database is opened on first use. Safe to share between
    threads (csd serve answers requests on a thread pool): one connection, one lock."""

    def __init__(self, path: str | Path | None = None):
        from csdclip_cli import config

        self.path = Path(path) if path else config.cache_dir() / "plans.sqlite"
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    @property
    def db(self) -> sqlite3.Connection:
        """The SQLite connection, opened (folder and table created) on first use."""
        with self._lock:
            return self._open()

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            from csdclip_cli.errors import UsageError

            folder = self.path.parent
            try:  # $CSD_CACHE names a folder: a file there was a FileExistsError traceback
                folder.mkdir(parents=True, exist_ok=True)
                # used from the server's worker threads (it raised ProgrammingError), under _lock
                self._db = sqlite3.connect(self.path, check_same_thread=False)
                self._db.execute("CREATE TABLE IF NOT EXISTS plans (k TEXT PRIMARY KEY, plan TEXT)")
            except (OSError, sqlite3.Error) as e:
                raise UsageError(
                    f"cannot use the plan cache {self.path} ({getattr(e, 'strerror', None) or e}); "
                    "$CSD_CACHE must name a writable folder (the cache is FOLDER/plans.sqlite)"
                ) from None
        return self._db

    @staticmethod
    def key(rewriter: str, fingerprint: str, query: str) -> str:
        """The cache key of `query` for a rewriter name and fingerprint: a SHA-256 hex digest."""
        return hashlib.sha256(f"{rewriter}\0{fingerprint}\0{query}".encode()).hexdigest()

    def get(self, k: str) -> Plan | None:
        """The plan stored under key `k`, or None; raises PlanFormatError when the stored JSON is not a plan."""
        with self._lock:
            row = self.db.execute("SELECT plan FROM plans WHERE k = ?", (k,)).fetchone()
        return Plan.from_json(row[0]) if row else None

    def put(self, k: str, plan: Plan) -> None:
        """Store `plan` under key `k` (replacing any earlier plan) and commit."""
        with self._lock:
            self.db.execute("INSERT OR REPLACE INTO plans VALUES (?, ?)", (k, plan.to_json()))
            self.db.commit()


class CachedRewriter:
    """A rewriter (`inner`: name, fingerprint, rewrite) whose plans are kept in a PlanCache by
    (name, fingerprint, whitespace-collapsed query); LlamaRewriter's fingerprint names the GGUF,
    the adapter and the prompt version."""

    def __init__(self, inner: Any, cache: PlanCache | None = None):
        self.inner = inner
        self.cache = cache or PlanCache()
        self.name = inner.name
        self.fingerprint = inner.fingerprint

    @property
    def warnings(self) -> list[str]:
        """The inner rewriter's warnings (an empty list when it keeps none)."""
        return getattr(self.inner, "warnings", [])

    def rewrite(self, query: str) -> Plan:
        """The cached plan of `query` (whitespace collapsed), else the inner rewriter's, then cached
        unless the inner rewriter says it is not `cacheable` (a fallback after a crash or timeout)."""
        q = " ".join(query.split())
        k = PlanCache.key(self.name, self.fingerprint, q)
        plan = self.cache.get(k)
        if plan is None:
            plan = self.inner.rewrite(q)
            if getattr(self.inner, "cacheable", True):  # a fallback after a crash or timeout is not the model's plan
                self.cache.put(k, plan)
        return plan
