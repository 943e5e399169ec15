"""Plans cached by (rewriter, model fingerprint, prompt version, query): repeated searches
and evaluations never run the LLM twice for the same query."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from csdclip_cli.rewrite.plan import Plan


class PlanCache:
    def __init__(self, path: str | Path | None = None):
        from csdclip_cli import config

        self.path = Path(path) if path else config.cache_dir() / "plans.sqlite"
        self._db: sqlite3.Connection | None = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path)
            self._db.execute("CREATE TABLE IF NOT EXISTS plans (k TEXT PRIMARY KEY, plan TEXT)")
        return self._db

    @staticmethod
    def key(rewriter: str, fingerprint: str, query: str) -> str:
        return hashlib.sha256(f"{rewriter}\0{fingerprint}\0{query}".encode()).hexdigest()

    def get(self, k: str) -> Plan | None:
        row = self.db.execute("SELECT plan FROM plans WHERE k = ?", (k,)).fetchone()
        return Plan.from_json(row[0]) if row else None

    def put(self, k: str, plan: Plan) -> None:
        self.db.execute("INSERT OR REPLACE INTO plans VALUES (?, ?)", (k, plan.to_json()))
        self.db.commit()


class CachedRewriter:
    def __init__(self, inner: Any, cache: PlanCache | None = None):
        self.inner = inner
        self.cache = cache or PlanCache()
        self.name = inner.name
        self.fingerprint = inner.fingerprint

    @property
    def warnings(self) -> list[str]:
        return getattr(self.inner, "warnings", [])

    def rewrite(self, query: str) -> Plan:
        q = " ".join(query.split())
        k = PlanCache.key(self.name, self.fingerprint, q)
        plan = self.cache.get(k)
        if plan is None:
            plan = self.inner.rewrite(q)
            if getattr(self.inner, "cacheable", True):  # a fallback after a crash or timeout is not the model's plan
                self.cache.put(k, plan)
        return plan
