"""Pure scoring for recall and relationships: no SQLite here.

A recalled memory's total is a weighted mean of three parts, each in 0..1:

* relevance: how well it matches the query. The lexical score (FTS5 bm25 divided by the best
  score of the query) and the semantic score (cosine similarity, scaled to 0..1 between the
  worst and best semantic candidate) are summed with their weights (or, with
  ``fusion="rrf"``, their rankings are merged by reciprocal rank fusion), then divided by the
  best fused value so the top candidate has relevance 1.
* recency: ``decay ** hours`` since the memory was last recalled (or created).
* importance: ``(importance - 1) / 9`` for importance 1..10.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.memory.types import ScoreBreakdown

__all__ = [
    "RecallWeights",
    "linear_fuse",
    "derive_stage",
    "importance_score",
    "recency_score",
    "rrf_fuse",
    "score_candidates",
]


class RecallWeights(BaseModel):
    """How recall ranks memories. The defaults suit a conversation; a quiz favours relevance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    relevance: float = Field(1.0, ge=0, description="Weight of query relevance in the total.")
    recency: float = Field(0.25, ge=0, description="Weight of recency in the total.")
    importance: float = Field(0.25, ge=0, description="Weight of importance in the total.")
    decay: float = Field(0.995, gt=0, le=1, description="Recency factor per hour since last access.")
    lexical: float = Field(1.0, ge=0, description="Weight of the lexical ranking in the fusion.")
    semantic: float = Field(1.0, ge=0, description="Weight of the semantic ranking in the fusion.")
    fusion: Literal["linear", "rrf"] = Field(
        "linear",
        description="How lexical and semantic rankings merge: a weighted sum of scores, each "
        "scaled to 0..1 over the candidates (linear), or reciprocal rank fusion (rrf).",
    )
    rrf_k: float = Field(5.0, gt=0, description="Reciprocal rank fusion constant: 1 / (k + rank).")
    candidates: int = Field(100, ge=1, le=2000, description="Candidates taken from each ranking.")
    context_weight: float = Field(
        0.35, ge=0, description="bm25 weight of neighbouring turns indexed with a memory."
    )
    speaker_weight: float = Field(0.3, ge=0, description="bm25 weight of the speaker's name.")
    speaker_boost: float = Field(
        0.2,
        ge=0,
        description="When the query names a participant, lines they spoke get relevance x (1 + boost).",
    )
    min_semantic: float = Field(
        0.0, ge=-1, le=1, description="Dense candidates below this cosine similarity are dropped."
    )


def recency_score(last_accessed: float, now: float, decay: float) -> float:
    """``decay ** hours`` since last access, in 0..1 (a future time counts as now)."""
    hours = max(0.0, (now - last_accessed) / 3600.0)
    return float(decay**hours)


def importance_score(importance: float) -> float:
    """Importance 1..10 mapped to 0..1."""
    return min(1.0, max(0.0, (importance - 1.0) / 9.0))


def rrf_fuse(rankings: Sequence[tuple[Sequence[int], float]], k: float) -> dict[int, float]:
    """Reciprocal rank fusion: ``sum(weight / (k + rank))`` over the rankings holding an id."""
    fused: dict[int, float] = {}
    for ids, weight in rankings:
        if weight <= 0:
            continue
        for rank, item in enumerate(ids, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


def linear_fuse(
    lexical: Mapping[int, float],
    semantic: Mapping[int, float],
    lexical_weight: float,
    semantic_weight: float,
) -> dict[int, float]:
    """Weighted sum of the lexical score over its best and the semantic score scaled to 0..1.

    A candidate missing from one ranking scores 0 there. With only one ranking present its
    weight is taken as 1 (the other has nothing to say).
    """
    if not lexical:
        lexical_weight, semantic_weight = 0.0, 1.0
    elif not semantic:
        lexical_weight, semantic_weight = 1.0, 0.0
    best_lex = max(lexical.values(), default=0.0) or 1.0
    low = min(semantic.values(), default=0.0)
    span = (max(semantic.values(), default=0.0) - low) or 1.0
    fused: dict[int, float] = {}
    for item in set(lexical) | set(semantic):
        lex = lexical.get(item, 0.0) / best_lex
        sem = (semantic[item] - low) / span if item in semantic else 0.0
        # A tiny floor keeps a candidate found by only a zero-weighted ranking in the list.
        fused[item] = lexical_weight * lex + semantic_weight * sem + 1e-9
    return fused


def score_candidates(
    *,
    lexical: Mapping[int, float],
    semantic: Mapping[int, float],
    importance: Mapping[int, float],
    last_accessed: Mapping[int, float],
    now: float,
    weights: RecallWeights,
    limit: int | None = None,
    boosted: Collection[int] = (),
) -> dict[int, ScoreBreakdown]:
    """Score the candidate ids found by either ranking; with ``limit``, only the best ones.

    ``lexical`` maps ids to positive bm25 scores (higher is better), ``semantic`` to cosine
    similarities; ``importance`` and ``last_accessed`` must hold every id. Ids in ``boosted``
    (lines spoken by someone the query names) get ``weights.speaker_boost``. The result is
    ordered best first (total, then relevance, then the newer id).
    """
    if weights.fusion == "rrf":
        lex_ids = sorted(lexical, key=lambda i: (-lexical[i], i))
        sem_ids = sorted(semantic, key=lambda i: (-semantic[i], i))
        rankings: list[tuple[Sequence[int], float]] = []
        if lex_ids:
            rankings.append((lex_ids, weights.lexical if sem_ids else 1.0))
        if sem_ids:
            rankings.append((sem_ids, weights.semantic if lex_ids else 1.0))
        fused = rrf_fuse(rankings, weights.rrf_k)
    else:
        fused = linear_fuse(lexical, semantic, weights.lexical, weights.semantic)
    if boosted and weights.speaker_boost:
        for item in boosted:
            if item in fused:
                fused[item] *= 1.0 + weights.speaker_boost
    best_fused = max(fused.values(), default=0.0) or 1.0
    best_lex = max(lexical.values(), default=0.0) or 1.0
    total_weight = (weights.relevance + weights.recency + weights.importance) or 1.0
    parts: dict[int, tuple[float, float, float, float]] = {}
    for item, value in fused.items():
        relevance = value / best_fused
        recency = recency_score(last_accessed[item], now, weights.decay)
        imp = importance_score(importance[item])
        total = (
            weights.relevance * relevance + weights.recency * recency + weights.importance * imp
        ) / total_weight
        parts[item] = (total, relevance, recency, imp)
    order = sorted(parts, key=lambda i: (-parts[i][0], -parts[i][1], -i))
    out: dict[int, ScoreBreakdown] = {}
    for item in order[:limit]:
        total, relevance, recency, imp = parts[item]
        out[item] = ScoreBreakdown(
            relevance=round(relevance, 6),
            recency=round(recency, 6),
            importance=round(imp, 6),
            lexical=round(lexical.get(item, 0.0) / best_lex, 6),
            semantic=round(min(1.0, max(0.0, semantic.get(item, 0.0))), 6),
            total=round(total, 6),
        )
    return out


#: Relationship stages, checked in order; the first whose test passes names the stage.
STAGES: tuple[tuple[str, str], ...] = (
    ("enemy", "affinity <= -60"),
    ("hostile", "affinity <= -25"),
    ("wary", "affinity < 0 and trust < 0"),
    ("stranger", "familiarity < 5"),
    ("acquaintance", "familiarity < 25 or affinity < 15"),
    ("close friend", "affinity >= 60 and trust >= 50 and familiarity >= 50"),
    ("friend", "otherwise"),
)


def derive_stage(affinity: float, trust: float, familiarity: float) -> str:
    """The relationship stage for the numbers (see :data:`STAGES`)."""
    if affinity <= -60:
        return "enemy"
    if affinity <= -25:
        return "hostile"
    if affinity < 0 and trust < 0:
        return "wary"
    if familiarity < 5:
        return "stranger"
    if familiarity < 25 or affinity < 15:
        return "acquaintance"
    if affinity >= 60 and trust >= 50 and familiarity >= 50:
        return "close friend"
    return "friend"


def clamp(value: float, low: float, high: float) -> float:
    """``value`` limited to ``low..high`` (NaN becomes ``low``)."""
    if math.isnan(value):
        return low
    return min(high, max(low, value))
