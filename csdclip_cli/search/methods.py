"""Retrieval methods over one index, all from the same plan and the same vectors:

plain  one vector for the raw query (what CLIP search tools do)
arith  rclip-style query arithmetic: sum(AND) - sum(NOT), re-normalised
deo    closed-form DEO query vector:
       (lp * mean(AND) - ln * mean(NOT) + lo * e(query)) / (lp - ln + lo)
csd    composite search (csdclip_cli.search.composite)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from csdclip_cli.encoders.base import l2_normalise
from csdclip_cli.errors import UsageError
from csdclip_cli.rewrite.plan import Plan
from csdclip_cli.search.composite import CompositeConfig, CompositeSearch, PlanVectors
from csdclip_cli.search.gallery import Gallery

if TYPE_CHECKING:
    from csdclip_cli.search.searcher import Result, Searcher

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
    v = _positives(pv).sum(0) - (pv.nots.sum(0) if len(pv.nots) else 0.0)
    return l2_normalise(v)


def deo_vector(pv: PlanVectors, w: DeoWeights | None = None) -> np.ndarray:
    w = w or DeoWeights()
    has_not = len(pv.nots) > 0
    denom = w.positive - (w.negative if has_not else 0.0) + w.original
    if denom <= 0:
        raise UsageError(f"DEO weights give a denominator of {denom:g} (lp - ln + lo must be > 0)")
    v = w.positive * _positives(pv).mean(0) + w.original * pv.raw
    if has_not:
        v = v - w.negative * pv.nots.mean(0)
    return l2_normalise(v / denom)


def rank(
    gallery: Gallery,
    method: str,
    pv: PlanVectors,
    k: int,
    config: CompositeConfig | None = None,
    min_match: bool = False,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(rows, scores, per-row clause details) for one method."""
    if method == "csd":
        cs = CompositeSearch(gallery, config)
        rows, scores, details = cs.search(pv, k, min_match=min_match)
        if min_match:
            details["passed_count"] = cs.passed_count
        return rows, scores, details
    if method == "plain":
        vec = pv.raw
    elif method == "arith":
        vec = arith_vector(pv)
    elif method == "deo":
        vec = deo_vector(pv)
    else:
        raise UsageError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    rows, scores = gallery.top(vec, k)
    return rows, scores, {}


def run_method(
    searcher: Searcher,
    method: str,
    plan: Plan,
    k: int,
    config: CompositeConfig | None = None,
    min_match: bool = False,
    **_: Any,
) -> list[Result]:
    pv = PlanVectors.embed(plan, searcher.text_encoder)
    rows, scores, details = rank(searcher.gallery, method, pv, k, config, min_match)
    passed = details.pop("passed_count", None)
    results = ResultList(searcher.results(rows, scores, details))
    results.passed_count = passed
    return results


class ResultList(list):
    """Results, plus how many candidates passed every AND clause (set with --min-match)."""

    passed_count: int | None = None
