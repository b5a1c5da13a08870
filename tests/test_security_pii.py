"""Personal information an adversarial pass slipped past the redactor, and a Luhn-valid number
that is not a card, decided by its context."""

from __future__ import annotations

import pytest

from engine.safety import redact_pii


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("call me at 138.1234.5678", "[phone]"),
        ("call me at 1381 234 5678", "[phone]"),
        ("mail josé@example.com", "[email]"),
        ("mail bob@exämple.de", "[email]"),
        ("mail bob＠example.com", "[email]"),
        ("mail bob at example dot com", "[email]"),
        ("mail bob (at) example (dot) com", "[email]"),
        ("my card is 4111 1111 1111 1111", "[bank_card]"),
        ("卡号 4111111111111111", "[bank_card]"),
    ],
)
def test_personal_information_is_redacted(line: str, kind: str) -> None:
    out = redact_pii(line)
    assert kind in out, out
    assert not any(part in out for part in ("5678", "josé", "exämple", "example", "1111")), out


@pytest.mark.parametrize(
    "line",
    [
        "your invoice is INV-4111-1111-1111-1111",
        "order #4111111111111111 has shipped",
        "tracking number 4111 1111 1111 1111",
        "look at the fountain",
        "meet me at noon dot",
    ],
)
def test_lookalikes_in_context_are_left_alone(line: str) -> None:
    assert redact_pii(line) == line
