"""Graded retrieval metrics, defined here (csd's own, stable run to run; R@k is CLIP_benchmark's).

A ranking is a list of image ids, best first; relevance is a set of highly relevant (HR,
gain 1) and moderately relevant (MR, gain 0.5) ids; everything else is irrelevant (0).

    R@k      1 if an HR image is in the top k (LAION CLIP_benchmark's text->image recall:
             any positive in the top k, averaged over captions)
    GRP@k    sum of gains in the top k / the same sum for the ideal ranking (all HR, then MR)
    NIPR@k   sum of 1/i over HR images at positions i <= k / sum_{i=1..min(k,#HR)} 1/i
    nDCG@k   DCG with the gains above and log2(i+1) discounts, over the ideal DCG
    mAP      average precision over HR images in the returned ranking, divided by #HR
    P@k      fraction of the top k that is HR (strict) or HR-or-MR (lenient); a ranking
             shorter than k counts its missing places as misses
A query with no HR image has no R / NIPR / mAP / strict P (NaN, left out of the means); one
with neither HR nor MR also has no GRP / nDCG / lenient P.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

GAIN_HR = 1.0
GAIN_MR = 0.5


def gains(ranking: Sequence[str], hr: set[str], mr: set[str]) -> np.ndarray:
    """float64 [len(ranking)]: 1 for an HR id, 0.5 for an MR id, 0 otherwise."""
    return np.array([GAIN_HR if x in hr else GAIN_MR if x in mr else 0.0 for x in ranking], dtype=np.float64)


def ideal_gains(hr: set[str], mr: set[str], k: int) -> np.ndarray:
    """float64 [<= k]: the gains of the ideal ranking (every HR image, then every MR one), cut to k."""
    g = [GAIN_HR] * len(hr) + [GAIN_MR] * len(mr)
    return np.array(g[:k], dtype=np.float64)


def recall_at(ranking: Sequence[str], hr: set[str], k: int) -> float:
    """R@k: 1.0 when an HR image is in the top k, else 0.0 (CLIP_benchmark's text->image
    recall); NaN without HR images."""
    if not hr:
        return math.nan
    return float(any(x in hr for x in ranking[:k]))


def grp_at(ranking: Sequence[str], hr: set[str], mr: set[str], k: int) -> float:
    """GRP@k: the gains in the top k over the ideal ranking's (module docstring); NaN with no HR or MR image."""
    ideal = ideal_gains(hr, mr, k).sum()
    if ideal == 0:
        return math.nan
    return float(gains(ranking[:k], hr, mr).sum() / ideal)


def nipr_at(ranking: Sequence[str], hr: set[str], k: int) -> float:
    """NIPR@k: sum of 1/i over HR images at positions i <= k, over sum_{i=1..min(k, #HR)} 1/i
    (module docstring); NaN without HR images."""
    if not hr:
        return math.nan
    got = sum(1.0 / (i + 1) for i, x in enumerate(ranking[:k]) if x in hr)
    best = sum(1.0 / i for i in range(1, min(k, len(hr)) + 1))
    return got / best


def ndcg_at(ranking: Sequence[str], hr: set[str], mr: set[str], k: int) -> float:
    """nDCG@k with gains 1 / 0.5 / 0 and log2(i + 1) discounts, over the ideal DCG (Järvelin &
    Kekäläinen 2002); NaN with no HR or MR image."""
    ideal = ideal_gains(hr, mr, k)
    if ideal.sum() == 0:
        return math.nan
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    g = gains(ranking[:k], hr, mr)
    return float((g * disc[: len(g)]).sum() / (ideal * disc[: len(ideal)]).sum())


def average_precision(ranking: Sequence[str], hr: set[str]) -> float:
    """Average precision over the HR images of the whole returned ranking, divided by #HR (HR
    images missing from the ranking count as 0); NaN without HR images."""
    if not hr:
        return math.nan
    hits, total = 0, 0.0
    for i, x in enumerate(ranking):
        if x in hr:
            hits += 1
            total += hits / (i + 1)
    return total / len(hr)


def precision_at(ranking: Sequence[str], relevant: set[str], k: int) -> float:
    """Fraction of the top k in `relevant`; places missing from a ranking shorter than k count
    as misses. NaN when `relevant` is empty."""
    if not relevant:
        return math.nan
    return sum(1 for x in ranking[:k] if x in relevant) / k


def query_metrics(ranking: Sequence[str], hr: set[str], mr: set[str], ks: Sequence[int]) -> dict[str, float]:
    """Every metric at every k for one query: {'R@10': .., 'GRP@10': .., ..., 'mAP': ..}."""
    out: dict[str, float] = {}
    for k in ks:
        out[f"R@{k}"] = recall_at(ranking, hr, k)
        out[f"GRP@{k}"] = grp_at(ranking, hr, mr, k)
        out[f"NIPR@{k}"] = nipr_at(ranking, hr, k)
        out[f"nDCG@{k}"] = ndcg_at(ranking, hr, mr, k)
        out[f"P_strict@{k}"] = precision_at(ranking, hr, k)
        out[f"P_lenient@{k}"] = precision_at(ranking, hr | mr, k) if hr or mr else math.nan
    out["mAP"] = average_precision(ranking, hr)
    return out


def bootstrap_ci(values: Sequence[float], n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(mean, low, high): 95% percentile bootstrap over queries; NaNs are left out."""
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    if len(v) == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def paired_difference(
    a: Sequence[float], b: Sequence[float], n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of (a - b) over queries where both are defined, with a 95% bootstrap CI."""
    d = [x - y for x, y in zip(a, b) if not (math.isnan(x) or math.isnan(y))]
    return bootstrap_ci(d, n_boot, seed)


def rank_by_score(ids: Sequence[str], scores: Sequence[float]) -> list[str]:
    """Best first; ties keep the gallery order (stable), so equal scores rank deterministically."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    return [ids[i] for i in order]
