"""Metering: what each model call used and cost, and per-player daily quotas.

A :class:`Meter` sits in the turn pipeline: ``reserve`` before the model runs (raises
:class:`~engine.errors.QuotaExceededError` when the player's quota for the day is used up),
``commit`` with the call's :class:`~engine.backends.base.Usage` afterwards, or ``release`` when
the turn ends without a model call. The counters live in the world file (:class:`Ledger`), so
quotas hold across threads and processes.

Prices are per million tokens, in any currency. ``cost`` is what the provider charges for a call;
``charge`` is what the player is billed against a spend quota: the cost, or a flat price per
question when the table sets ``per_question`` (the way chat bots in messaging apps charge).

Example::

    from engine.memory.ledger import Ledger
    from engine.metering import Meter, ModelPrice, PriceTable, Quota

    prices = PriceTable(currency="CNY", models={"deepseek-chat": ModelPrice(input=2, output=3)})
    meter = Meter(Ledger("world.db"), prices=prices, quota=Quota(questions_per_day=50))
    reservation = meter.reserve("player-1")
    ...  # run the turn
    meter.commit(reservation, usage, character="chen", model="deepseek-chat")
"""

from __future__ import annotations

import fnmatch
import logging
import time as _time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from engine.types import MAX_CALL_TOKENS, Usage

if TYPE_CHECKING:
    from engine.memory.ledger import Ledger, QuotaState

__all__ = ["Meter", "ModelPrice", "PriceTable", "Quota", "Reservation", "UsageCost", "day_of"]

logger = logging.getLogger(__name__)


#: The highest price accepted (per million tokens, or per question): with at most
#: ``MAX_CALL_TOKENS`` tokens a call, no cost can overflow to infinity.
MAX_PRICE = 1e9


class ModelPrice(BaseModel):
    """A model's price per million tokens: finite, from 0 to :data:`MAX_PRICE`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(
        0.0,
        ge=0,
        le=MAX_PRICE,
        allow_inf_nan=False,
        description="Price per million prompt (input) tokens.",
    )
    output: float = Field(
        0.0,
        ge=0,
        le=MAX_PRICE,
        allow_inf_nan=False,
        description="Price per million completion (output) tokens.",
    )


class PriceTable(BaseModel):
    """Prices by model name, in one currency.

    Model keys may be globs (``"deepseek-*"``); an exact name wins over a glob, then the longest
    glob. Unlisted models use ``default`` (free when unset, with a warning once per model).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: str = Field(
        "USD", min_length=1, description="Currency code or name, e.g. USD, CNY, credits."
    )
    models: dict[str, ModelPrice] = Field(
        default_factory=dict, description="Prices by model name or glob."
    )
    default: ModelPrice | None = Field(None, description="Price of models not listed.")
    per_question: float | None = Field(
        None,
        ge=0,
        le=MAX_PRICE,
        allow_inf_nan=False,
        description="If set, each question is billed to the player at this flat price.",
    )

    def price(self, model: str) -> ModelPrice | None:
        """The price of ``model``, or None when neither listed nor defaulted."""
        if model in self.models:
            return self.models[model]
        globs = sorted(
            (k for k in self.models if fnmatch.fnmatchcase(model, k)), key=len, reverse=True
        )
        if globs:
            return self.models[globs[0]]
        return self.default

    def cost(self, usage: Usage, model: str | None = None) -> float:
        """What the provider charges for a call."""
        name = model or usage.model
        price = self.price(name)
        if price is None:
            _warn_unpriced(name)
            return 0.0
        return (
            usage.prompt_tokens * price.input + usage.completion_tokens * price.output
        ) / 1_000_000

    def charge(self, usage: Usage, model: str | None = None) -> float:
        """What the player is billed for a call: the flat per-question price, or the cost."""
        if self.per_question is not None:
            return self.per_question
        return self.cost(usage, model)


_warned: set[str] = set()


def _warn_unpriced(model: str) -> None:
    if model not in _warned:
        _warned.add(model)
        logger.warning("no price for model %r; counting its cost as 0", model)


class Quota(BaseModel):
    """Per-player daily limits; None means unlimited.

    A question is admitted while the day's questions are below ``questions_per_day`` and the
    tokens and spend committed so far are below theirs (so the last admitted question may run
    over a token or spend limit by its own size). Days start at midnight in UTC plus
    ``utc_offset_hours`` (8 for China Standard Time).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    questions_per_day: int | None = Field(
        None, ge=0, description="Questions a player may ask a day."
    )
    tokens_per_day: int | None = Field(
        None, ge=0, description="Tokens (in + out) a player may use a day."
    )
    spend_per_day: float | None = Field(
        None, ge=0, allow_inf_nan=False, description="Charge a player may run up a day."
    )
    utc_offset_hours: float = Field(
        0.0, ge=-14, le=14, description="Where the day starts, as an offset from UTC."
    )


def day_of(now: float, utc_offset_hours: float = 0.0) -> str:
    """The quota day (``YYYY-MM-DD``) of an epoch time."""
    return _time.strftime("%Y-%m-%d", _time.gmtime(now + utc_offset_hours * 3600))


class Reservation(BaseModel):
    """A question counted against a player's quota, waiting for its usage (or its release)."""

    model_config = ConfigDict(frozen=True)

    id: int
    player: str
    day: str
    time: float


class UsageCost(BaseModel):
    """What one committed call used and cost."""

    model_config = ConfigDict(frozen=True)

    usage_id: int | None = Field(
        description="Row id in the usage table; None when the reservation was settled."
    )
    prompt_tokens: int
    completion_tokens: int
    cost: float
    charge: float
    currency: str


class Meter:
    """Counts usage and enforces quotas for one world.

    ``ledger`` holds the tables; ``prices`` turns tokens into money (free when None); ``quota``
    limits each player per day (unlimited when None). ``clock`` gives epoch seconds.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        prices: PriceTable | None = None,
        quota: Quota | None = None,
        clock: Callable[[], float] = _time.time,
    ) -> None:
        self.ledger = ledger
        self.prices = prices or PriceTable()
        self.quota = quota or Quota()
        self.clock = clock

    def reserve(
        self,
        player: str,
        *,
        now: float | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        model: str = "",
    ) -> Reservation:
        """Count a question against ``player``'s quota. Atomic across threads and processes.

        ``prompt_tokens`` and ``completion_tokens`` are what the call may use (the prompt and
        its reply limit): the reservation holds them, and their charge, until it is committed
        or released, so turns under way count against the token and spend limits and a burst
        of concurrent turns cannot pass them together.

        Raises :class:`~engine.errors.QuotaExceededError` when the day's quota is used up."""
        when = self.clock() if now is None else now
        day = day_of(when, self.quota.utc_offset_hours)
        likely = Usage(
            prompt_tokens=min(max(0, prompt_tokens), MAX_CALL_TOKENS),
            completion_tokens=min(max(0, completion_tokens), MAX_CALL_TOKENS),
            model=model,
        )
        hold_spend = (
            self.prices.charge(likely, model) if self.quota.spend_per_day is not None else 0.0
        )
        reservation_id = self.ledger.reserve(
            player,
            day=day,
            now=when,
            max_questions=self.quota.questions_per_day,
            max_tokens=self.quota.tokens_per_day,
            max_spend=self.quota.spend_per_day,
            hold_tokens=likely.total_tokens,
            hold_spend=hold_spend,
        )
        return Reservation(id=reservation_id, player=player, day=day, time=when)

    def commit(
        self, reservation: Reservation, usage: Usage, *, character: str, model: str | None = None
    ) -> UsageCost:
        """Record the call's usage and cost, and add its tokens and charge to the player's day."""
        name = model or usage.model
        cost = self.prices.cost(usage, name)
        charge = self.prices.charge(usage, name)
        usage_id = self.ledger.commit(
            reservation.id,
            character=character,
            model=name,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            latency_ms=usage.latency_ms,
            ttft_ms=usage.ttft_ms,
            estimated=usage.estimated,
            cost=cost,
            charge=charge,
            currency=self.prices.currency,
            now=self.clock(),
        )
        return UsageCost(
            usage_id=usage_id,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cost=cost,
            charge=charge,
            currency=self.prices.currency,
        )

    def release(self, reservation: Reservation) -> None:
        """Give the question back: the turn ended before the model was called."""
        self.ledger.release(reservation.id)

    def state(self, player: str, *, now: float | None = None) -> QuotaState:
        """What ``player`` has used today."""
        when = self.clock() if now is None else now
        return self.ledger.quota_state(player, day_of(when, self.quota.utc_offset_hours))
