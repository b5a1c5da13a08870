"""Pure scoring for recall and relationships: no SQLite here.

A recalled memory's total is a weighted mean of three parts, each in 0..1:

* relevance: how well it matches the query: lexical and semantic scores fused, boosted for a
  named speaker and smoothed over neighbouring lines (see :mod:`engine.memory.ranking`), then
  divided by the best candidate's value so the top candidate has relevance 1.
* recency: ``decay ** hours`` since the memory was last recalled (or created).
* importance: ``(importance - 1) / 9`` for importance 1..10.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from engine.types import ScoreBreakdown

__all__ = [
    "RecallWeights",
    "derive_stage",
    "importance_score",
    "recency_score",
    "score_candidates",
]


class RecallWeights(BaseModel):
    """How recall ranks memories. The defaults suit a conversation; a quiz favours relevance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    relevance: float = Field(1.0, ge=0, description="Weight of query relevance in the total.")
    recency: float = Field(0.25, ge=0, description="Weight of recency in the total.")
    importance: float = Field(0.25, ge=0, description="Weight of importance in the total.")
    decay: float = Field(
        0.995, gt=0, le=1, description="Recency factor per hour since last access."
    )
    lexical: float = Field(1.0, ge=0, description="Weight of the lexical ranking in the fusion.")
    semantic: float = Field(1.0, ge=0, description="Weight of the semantic ranking in the fusion.")
    candidates: int = Field(
        100, ge=1, le=2000, description="Lexical candidates, and memories re-scored after fusion."
    )
    context_weight: float = Field(
        0.35, ge=0, description="bm25 weight of neighbouring turns indexed with a memory."
    )
    speaker_weight: float = Field(0.3, ge=0, description="bm25 weight of the speaker's name.")
    speaker_boost: float = Field(
        0.2,
        ge=0,
        description="When the query names a participant, lines they spoke get relevance x (1 + boost).",
    )
    neighbour_weight: float = Field(
        0.3,
        ge=0,
        description="Share of a neighbouring line's score a line gains (divided by distance).",
    )
    neighbour_window: int = Field(
        2, ge=0, le=10, description="How many lines each side count as neighbours."
    )


def recency_score(last_accessed: float, now: float, decay: float) -> float:
    """``decay ** hours`` since last access, in 0..1 (a future time counts as now)."""
    hours = max(0.0, (now - last_accessed) / 3600.0)
    return float(decay**hours)


def importance_score(importance: float) -> float:
    """Importance 1..10 mapped to 0..1."""
    return min(1.0, max(0.0, (importance - 1.0) / 9.0))


def score_candidates(
    *,
    relevance: Mapping[int, float],
    lexical: Mapping[int, float],
    semantic: Mapping[int, float],
    importance: Mapping[int, float],
    last_accessed: Mapping[int, float],
    now: float,
    weights: RecallWeights,
    limit: int | None = None,
) -> dict[int, ScoreBreakdown]:
    """Re-score candidates by relevance, recency and importance; best first, at most ``limit``.

    ``relevance`` (0..1) must hold every candidate; ``lexical`` and ``semantic`` are reported in
    the breakdown; ``importance`` and ``last_accessed`` must hold every candidate. Ties go to
    the higher relevance, then the newer id.
    """
    total_weight = (weights.relevance + weights.recency + weights.importance) or 1.0
    parts: dict[int, tuple[float, float, float, float]] = {}
    for item, rel in relevance.items():
        recency = recency_score(last_accessed[item], now, weights.decay)
        imp = importance_score(importance[item])
        total = (
            weights.relevance * rel + weights.recency * recency + weights.importance * imp
        ) / total_weight
        parts[item] = (total, rel, recency, imp)
    order = sorted(parts, key=lambda i: (-parts[i][0], -parts[i][1], -i))
    out: dict[int, ScoreBreakdown] = {}
    for item in order[:limit]:
        total, rel, recency, imp = parts[item]
        out[item] = ScoreBreakdown(
            relevance=round(min(1.0, max(0.0, rel)), 6),
            recency=round(recency, 6),
            importance=round(imp, 6),
            lexical=round(min(1.0, max(0.0, lexical.get(item, 0.0))), 6),
            semantic=round(min(1.0, max(0.0, semantic.get(item, 0.0))), 6),
            total=round(min(1.0, max(0.0, total)), 6),
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
