"""Retrieval methods over one index, all from the same plan and the same vectors:

plain  one vector for the raw query (what CLIP search tools do)
arith  rclip-style query arithmetic: sum(AND) - sum(NOT), re-normalised
deo    closed-form DEO query vector:
       (lp * mean(AND) - ln * mean(NOT) + lo * e(query)) / (lp - ln + lo)
csd    composite search (csdclip_cli.search.composite)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from csdclip_cli.encoders.base import l2_normalise
from csdclip_cli.errors import UsageError
from csdclip_cli.search.composite import CompositeConfig, CompositeSearch, PlanVectors
from csdclip_cli.search.gallery import Gallery

METHODS = ("plain", "arith", "deo", "csd")


@dataclass(frozen=True)
class DeoWeights:
    """The DEO paper's text defaults."""

    positive: float = 1.0
    negative: float = 1.0
    original: float = 0.2


def _positives(pv: PlanVectors) -> np.ndarray:
    return np.concatenate([pv.ands, *[g.mean(0, keepdims=True) for g in pv.ors]]) if pv.ors else pv.ands


def arith_vector(pv: PlanVectors) -> np.ndarray:
    """rclip-style query arithmetic: sum of the AND (and OR-mean) vectors minus the NOT
    vectors, L2-normalised: float32 [d]."""
    v = _positives(pv).sum(0) - (pv.nots.sum(0) if len(pv.nots) else 0.0)
    return l2_normalise(v)


def deo_vector(pv: PlanVectors, w: DeoWeights | None = None) -> np.ndarray:
    """DEO's closed-form query vector (lp * mean(AND) - ln * mean(NOT) + lo * e(query)) /
    (lp - ln + lo), L2-normalised: float32 [d]. Raises UsageError when the denominator is <= 0."""
    w = w or DeoWeights()
    has_not = len(pv.nots) > 0
    denom = w.positive - (w.negative if has_not else 0.0) + w.original
    if denom <= 0:
        raise UsageError(f"DEO weights give a denominator of {denom:g} (lp - ln + lo must be > 0)")
    v = w.positive * _positives(pv).mean(0) + w.original * pv.raw
    if has_not:
        v = v - w.negative * pv.nots.mean(0)
    return l2_normalise(v / denom)


# row -> (clause -> calibrated score, clause -> passed, the optimized phrase's calibrated score)
ClauseDetails = dict[int, tuple[dict[str, float], dict[str, bool], float | None]]


@dataclass(frozen=True)
class Ranking:
    """One method's answer to one query: gallery rows int64 [k'] best first, their scores
    float32 [k'], per-row clause details (csd only: row -> (clause -> calibrated score,
    clause -> passed, phrase score)), and with min_match the number of candidates passing every AND clause."""

    rows: np.ndarray
    scores: np.ndarray
    details: ClauseDetails = field(default_factory=dict)
    passed_count: int | None = None
    examined: int | None = None  # with min_match: the rows passed_count is counted among


def query_vector(method: str, pv: PlanVectors) -> np.ndarray:
    """The single vector [d] that plain, arith and deo search with."""
    if method == "plain":
        return pv.raw
    if method == "arith":
        return arith_vector(pv)
    if method == "deo":
        return deo_vector(pv)
    raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")


def rank(
    gallery: Gallery,
    method: str,
    pv: PlanVectors,
    k: int,
    config: CompositeConfig | None = None,
    min_match: bool = False,
) -> Ranking:
    """The top k of one query by `method` (plain | arith | deo | csd).
    Raises UsageError for an unknown method."""
    if method == "csd":
        cs = CompositeSearch(gallery, config)
        rows, scores, details = cs.search(pv, k, min_match=min_match)
        return Ranking(
            rows, scores, details, cs.passed_count if min_match else None, cs.examined if min_match else None
        )
    rows, scores = gallery.top(query_vector(method, pv), k)
    return Ranking(rows, scores)


def rank_many(
    gallery: Gallery, method: str, pvs: list[PlanVectors], k: int, config: CompositeConfig | None = None
) -> list[Ranking]:
    """rank() for a batch of queries: one batched search ([nq, d] in, [nq, k] out) for the
    single-vector methods, query by query for csd. Each result equals rank()'s."""
    if method == "csd":
        return [rank(gallery, method, pv, k, config) for pv in pvs]
    if not pvs:
        return []
    rows, scores = gallery.top_many(np.stack([query_vector(method, pv) for pv in pvs]), k)
    return [Ranking(r[r >= 0], s[r >= 0]) for r, s in zip(rows, scores)]
