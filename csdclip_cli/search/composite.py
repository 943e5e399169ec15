"""Composite search (CsdCLIP): score every clause of a plan, calibrate, fuse, penalise NOT.

For a candidate image x and a clause c with text vector t_c:
    z_c(x) = (cos(x, t_c) - mu_c) / sigma_c          calibration: mu_c, sigma_c are the mean and
                                                     spread of cos(., t_c) over a stored gallery sample
    AND    = softmin_tau(z_and_1, ..., z_and_n)      a missing condition costs much more than a weaker one
    OR     = max over the group's members            (each group joins the AND terms)
    NOT    = sum_j max(0, z_not_j - not_margin)      excluded things present above their baseline
    score  = AND + phrase_weight * z_phrase - not_weight * NOT
A plan with one clause and no NOT / OR ranks by that clause alone: the plain search ranking.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from csdclip_cli.errors import UsageError
from csdclip_cli.rewrite.phrases import exclusion_phrase
from csdclip_cli.rewrite.plan import Plan
from csdclip_cli.search.gallery import Gallery


@dataclass
class CompositeConfig:
    """Fusion weights. Defaults were tuned on the demo benchmark's tune split (see README)."""

    phrase_weight: float = 1.0
    and_temperature: float = 2.0
    not_weight: float = 0.5
    not_margin: float = -0.5
    pass_z: float = 1.5  # a clause "passes" at this calibrated score (max F1 on the demo gallery)
    expansion: int = 10  # ANN candidates: k * expansion (at least min_candidates)
    min_candidates: int = 400
    clause_ef: int = 256  # HNSW ef per clause query (candidates = "union")
    # "proxy": one ANN query for the linear part of the fused score (calibration-weighted sum of the
    # clause vectors); "union": the top-n of the phrase and of every clause, merged. Measured by
    # benchmarks/search_1m.py: proxy is ~3x faster than union at a small cost in agreement.
    candidates: str = "proxy"

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> CompositeConfig:
        """Defaults, the settings file's [composite] table, then a TOML/JSON file ([composite]
        table or top level), then overrides; each checked against RANGES. Raises UsageError for
        a file that is missing or does not parse, an unknown setting or a value out of range."""
        from csdclip_cli import config

        values: dict[str, Any] = checked(
            config.settings("composite"), f"settings file {config.config_file()} [composite]"
        )
        if path is not None:
            p = Path(path)
            if p.is_dir():
                raise UsageError(f"config file {p} is a folder; give a .toml or .json file")
            if not p.is_file():
                raise UsageError(f"config file {p} not found")
            if p.suffix.lower() not in (".toml", ".json"):  # it was read as JSON and said 'Expecting value'
                raise UsageError(f"config file {p}: write the weights as .toml or .json")
            try:
                text = p.read_text(encoding="utf-8")
                data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
            except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
                raise UsageError(f"config file {p} does not parse: {e}") from None
            if not isinstance(data, dict):
                raise UsageError(f"config file {p} must hold a table of settings, not {type(data).__name__}")
            # a settings file (csd.toml) may be given: its [composite] table is read, its other
            # tables ([rewrite]) are for the settings file itself
            tables = {k for k, v in data.items() if k in config.TABLES and isinstance(v, dict)}
            rest = {k: v for k, v in data.items() if k not in tables}
            if "composite" in tables and rest:  # a top-level weight beside the table was ignored
                raise UsageError(
                    f"config file {p}: {', '.join(sorted(rest))} outside its [composite] table; put fusion settings in it"
                )
            values.update(checked(data["composite"] if "composite" in tables else rest, str(p)))
        values.update(checked({k: v for k, v in overrides.items() if v is not None}, "the request"))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The weights as a plain dict (the keys of a --config file)."""
        return asdict(self)


# what each setting may be: (kind, low, high) for numbers ("int" whole), or the allowed words;
# out of range, a weight gave NaN or infinite scores (and_temperature = 0) or turned an
# exclusion into a preference (not_weight < 0)
RANGES: dict[str, tuple[str, float, float] | tuple[str, ...]] = {
    "phrase_weight": ("float", 0.0, 100.0),
    "and_temperature": ("float", 1e-3, 100.0),
    "not_weight": ("float", 0.0, 100.0),
    "not_margin": ("float", -100.0, 100.0),
    "pass_z": ("float", -100.0, 100.0),
    "expansion": ("int", 1, 1000),
    "min_candidates": ("int", 1, 1_000_000),
    "clause_ef": ("int", 1, 100_000),
    "candidates": ("proxy", "union"),
}


def checked(values: dict[str, Any], where: str) -> dict[str, Any]:
    """`values` ({setting: value}) when every setting is known and within RANGES; ints for
    whole-number settings. Raises UsageError naming `where`, the setting and what it may be."""
    import math

    out: dict[str, Any] = {}
    for k, v in values.items():
        rule = RANGES.get(k)
        if rule is None:
            raise UsageError(f"{where}: unknown composite setting {k!r}; known: {', '.join(RANGES)}")
        if rule[0] in ("float", "int"):
            _, lo, hi = rule
            number = not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)
            whole = rule[0] == "float" or (number and v == int(v))
            if not (number and whole and lo <= v <= hi):
                kind = "a whole number" if rule[0] == "int" else "a number"
                raise UsageError(f"{where}: {k} must be {kind} in [{lo:g}, {hi:g}], not {v!r}")
            out[k] = int(v) if rule[0] == "int" else float(v)
        elif v not in rule:
            raise UsageError(f"{where}: {k} must be one of {', '.join(map(repr, rule))}, not {v!r}")
        else:
            out[k] = v
    return out


@dataclass(frozen=True)
class Clause:
    """One scored clause of a plan: kind "and" | "not" | "or", and its text (an OR group's
    members joined by " | "). str() is the name users see: "NOT a dog" for a NOT clause."""

    kind: str
    text: str

    @property
    def positive(self) -> bool:
        """An AND or OR clause: it passes when its score reaches pass_z (a NOT when it stays below)."""
        return self.kind != "not"

    def __str__(self) -> str:
        return f"NOT {self.text}" if self.kind == "not" else self.text


@dataclass
class PlanVectors:
    """Every text of a plan embedded in one batched encoder call."""

    plan: Plan
    phrase: np.ndarray  # [d] optimized phrase
    ands: np.ndarray  # [A, d]
    nots: np.ndarray  # [N, d]
    ors: list[np.ndarray]  # one [m, d] per group
    raw: np.ndarray  # [d] the raw query (for the plain / deo baselines)

    @staticmethod
    def texts(plan: Plan) -> list[str]:
        """The texts a plan embeds, in order: phrase, raw query, AND, NOT (as exclusion
        phrases: "no dogs" is embedded as "a dog"), then every OR member."""
        ands = plan.positives
        nots = [exclusion_phrase(n) for n in plan.not_]
        return [plan.optimized, plan.raw, *ands, *nots, *[x for g in plan.or_ for x in g]]

    @classmethod
    def embed(cls, plan: Plan, encoder: Any) -> PlanVectors:
        """Every text of `plan` embedded by `encoder` (encode_texts -> float32 [n, d])."""
        from csdclip_cli.encoders.checked import text_vectors

        return cls.split(plan, text_vectors(encoder, cls.texts(plan)))

    @classmethod
    def embed_many(cls, plans: list[Plan], encoder: Any) -> list[PlanVectors]:
        """embed() for many plans with one encode_texts call over all their texts."""
        texts = [cls.texts(p) for p in plans]
        flat = [t for ts in texts for t in ts]
        from csdclip_cli.encoders.checked import text_vectors

        v = text_vectors(encoder, flat) if flat else np.zeros((0, 0), np.float32)
        out, i = [], 0
        for p, ts in zip(plans, texts):
            out.append(cls.split(p, v[i : i + len(ts)]))
            i += len(ts)
        return out

    @classmethod
    def split(cls, plan: Plan, v: np.ndarray) -> PlanVectors:
        """PlanVectors from the vectors of texts(plan), float32 [len(texts), d]."""
        ands = plan.positives
        i = 2 + len(ands)
        nots = v[i : i + len(plan.not_)]
        i += len(plan.not_)
        ors = []
        for g in plan.or_:
            ors.append(v[i : i + len(g)])
            i += len(g)
        return cls(plan, v[0], v[2 : 2 + len(ands)], nots, ors, v[1])


def calibration(gallery: Gallery, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma) of each query vector's cosine over the stored gallery sample."""
    sims = gallery.sample @ vectors.T.astype(np.float32)
    return sims.mean(0), np.maximum(sims.std(0), 1e-4)


def softmin(z: np.ndarray, tau: float) -> np.ndarray:
    """Smooth minimum over the last axis; equals z when all terms are equal."""
    if z.shape[-1] == 1:
        return z[..., 0]
    m = z.min(-1, keepdims=True)
    return m[..., 0] - tau * np.log(np.exp(-(z - m) / tau).mean(-1))


class CompositeSearch:
    """Composite search over a gallery: candidates from the clauses, every clause scored and
    calibrated against the gallery sample (z-scores), fused by a soft minimum over AND and OR
    clauses plus the phrase, minus a hinge penalty per NOT clause (CompositeConfig's weights)."""

    def __init__(self, gallery: Gallery, config: CompositeConfig | None = None):
        self.gallery = gallery
        self.config = config or CompositeConfig()
        self.passed_count: int | None = None
        self.examined: int | None = None  # of the last search(): how many rows were scored

    def _single(self, pv: PlanVectors) -> bool:
        return len(pv.ands) == 1 and not len(pv.nots) and not pv.ors

    @staticmethod
    def stacked(pv: PlanVectors) -> np.ndarray:
        """phrase, AND..., NOT..., OR members... as one matrix (the column order `score` uses)."""
        return np.concatenate([pv.phrase[None], pv.ands, pv.nots, *pv.ors])

    def proxy(self, pv: PlanVectors, sigma: np.ndarray) -> np.ndarray:
        """The linear part of the fused score as one vector: the AND / OR terms over their
        spread, plus the weighted phrase, minus the weighted NOT clauses."""
        cfg = self.config
        a, n = len(pv.ands), len(pv.nots)
        terms = [pv.ands / sigma[1 : 1 + a, None]]
        i = 1 + a + n
        for g in pv.ors:
            terms.append((g / sigma[i : i + len(g), None]).mean(0, keepdims=True))
            i += len(g)
        q = np.concatenate(terms).mean(0) + cfg.phrase_weight * pv.phrase / sigma[0]
        if n:
            q = q - cfg.not_weight * (pv.nots / sigma[1 + a : 1 + a + n, None]).sum(0)
        return q / max(float(np.linalg.norm(q)), 1e-12)

    def candidates(self, pv: PlanVectors, k: int, sigma: np.ndarray | None = None) -> np.ndarray:
        """Gallery rows (int64) worth scoring exactly: for a one-clause plan those of plain
        search; else the candidate index's top n (k x expansion, at least min_candidates) for
        one calibrated proxy vector ("proxy"), or the union over the phrase and every AND / OR
        vector ("union"). Raises UsageError for another `candidates` setting."""
        cfg = self.config
        if self._single(pv):  # exactly plain search for the one clause
            return self.gallery.candidates(pv.ands, max(k * cfg.expansion, 100))
        n = max(k * cfg.expansion, cfg.min_candidates)
        if cfg.candidates == "proxy":
            if sigma is None:
                sigma = calibration(self.gallery, self.stacked(pv))[1]
            return self.gallery.candidates(self.proxy(pv, sigma)[None], n)
        if cfg.candidates != "union":
            raise UsageError(f"composite candidates must be 'proxy' or 'union', not {cfg.candidates!r}")
        queries = [pv.phrase[None], pv.ands, *pv.ors]
        return self.gallery.candidates(np.concatenate([q for q in queries if len(q)]), n, cfg.clause_ef)

    def score(
        self, pv: PlanVectors, rows: np.ndarray, calib: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, dict[Clause, np.ndarray], np.ndarray | None]:
        """Fused score float32 [len(rows)] of `rows`, each clause's calibrated score (z-score
        against the gallery sample, Clause -> [len(rows)]), and the optimized phrase's ([len(rows)];
        None for a one-clause plan, which ranks by its clause alone)."""
        cfg = self.config
        allv = self.stacked(pv)
        mu, sigma = calib if calib is not None else calibration(self.gallery, allv)
        z = (self.gallery.scores(rows, allv) - mu) / sigma
        a, n = len(pv.ands), len(pv.nots)
        z_phrase, z_and, z_not = z[:, 0], z[:, 1 : 1 + a], z[:, 1 + a : 1 + a + n]
        terms = [z_and]
        i = 1 + a + n
        or_cols = []
        for g in pv.ors:
            best = z[:, i : i + len(g)].max(1)
            or_cols.append(best)
            terms.append(best[:, None])
            i += len(g)
        per_clause: dict[Clause, np.ndarray] = {}
        for j, c in enumerate(pv.plan.positives):
            per_clause[Clause("and", c)] = z_and[:, j]
        for j, c in enumerate(pv.plan.not_):
            per_clause[Clause("not", c)] = z_not[:, j]
        for group, col in zip(pv.plan.or_, or_cols):
            per_clause[Clause("or", " | ".join(group))] = col
        if self._single(pv):
            return z_and[:, 0], per_clause, None
        and_all = np.concatenate(terms, 1)
        score = softmin(and_all, cfg.and_temperature) + cfg.phrase_weight * z_phrase
        if n:
            score = score - cfg.not_weight * np.maximum(0.0, z_not - cfg.not_margin).sum(1)
        return score, per_clause, z_phrase

    def search(
        self, pv: PlanVectors, k: int, min_match: bool = False, exhaustive: bool = False
    ) -> tuple[np.ndarray, np.ndarray, dict[int, tuple[dict[str, float], dict[str, bool], float | None]]]:
        """Top-k rows, their scores, and per row: clause scores, pass/fail marks, and the optimized
        phrase's calibrated score (None for a one-clause plan, which ranks by its clause alone)."""
        calib = calibration(self.gallery, self.stacked(pv))
        rows = np.flatnonzero(self.gallery.alive) if exhaustive else self.candidates(pv, k, calib[1])
        score, per, z_phrase = self.score(pv, rows, calib)
        passed = {c: (v >= self.config.pass_z if c.positive else v < self.config.pass_z) for c, v in per.items()}
        keep = np.ones(len(rows), bool)
        if min_match:
            for c, ok in passed.items():
                if c.positive:
                    keep &= ok
        idx = np.flatnonzero(keep)
        self.passed_count = len(idx)  # candidates passing every AND clause (with min_match)
        self.examined = len(rows)  # the whole gallery only when search is exact
        order = idx[np.argsort(-score[idx], kind="stable")[:k]]
        details = {
            int(rows[i]): (
                {str(c): float(v[i]) for c, v in per.items()},
                {str(c): bool(ok[i]) for c, ok in passed.items()},
                None if z_phrase is None else float(z_phrase[i]),
            )
            for i in order
        }
        return rows[order], score[order], details
