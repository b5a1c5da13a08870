"""Personal information in players' lines: e-mail, Chinese resident ID, bank card, phone,
street address. Found with validation (ID check digit, Luhn), replaced by ``[kind]``.

Part of the safety layer (:mod:`engine.safety.policy` re-exports it).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["PiiKind", "PiiSpan", "find_pii", "redact_pii"]

PiiKind = Literal["email", "id_number", "bank_card", "phone", "address"]

_D = "[0-9０-９]"
_ANY_DIGIT = re.compile(_D)
_SPELLED = re.compile(r"[(\[ ]at[)\] ]", re.IGNORECASE)
_NOT_D = "(?<![0-9０-９])"
_NO_D_AFTER = "(?![0-9０-９])"
# Letters of any script in the local part and the domain (josé@, exämple.de), a full-width @,
# and the spelled-out "bob at example dot com" / "bob (at) example (dot) com".
_AT = r"(?:@|＠)"
_SPELLED_AT = r"(?: ?[(\[]at[)\]] ?| at )"
_SPELLED_DOT = r"(?: ?[(\[]dot[)\]] ?| dot )"
# (Latin letters with accents, not Chinese: "邮箱a@b.cn" keeps its "邮箱".)
_MAIL_CHAR = "A-Za-z0-9\u00c0-\u024f"
_EMAIL = re.compile(
    rf"(?<![{_MAIL_CHAR}._%+-])[{_MAIL_CHAR}._%+-]+{_AT}[{_MAIL_CHAR}-]+(?:[.．][{_MAIL_CHAR}-]+)*[.．][A-Za-z]{{2,}}(?![{_MAIL_CHAR}-])"
    rf"|(?<![{_MAIL_CHAR}._%+-])[{_MAIL_CHAR}._%+-]+{_SPELLED_AT}[{_MAIL_CHAR}-]+(?:{_SPELLED_DOT}[{_MAIL_CHAR}-]+)*"
    rf"{_SPELLED_DOT}(?:com|net|org|edu|gov|io|info|cn|de|uk|fr|es|jp|ru|co|me)\b",
    re.IGNORECASE,
)
_ID_NUMBER = re.compile(
    rf"{_NOT_D}{_D}{{6}} ?{_D}{{8}} ?{_D}{{3}}[0-9０-９XxＸｘ](?![0-9０-９A-Za-z])"
)
_BANK_CARD = re.compile(
    rf"{_NOT_D}(?:{_D}{{4}}[ -]){{2,4}}{_D}{{1,4}}{_NO_D_AFTER}"
    rf"|{_NOT_D}{_D}{{4}}[ -]{_D}{{6}}[ -]{_D}{{4,5}}{_NO_D_AFTER}"
    rf"|{_NOT_D}{_D}{{13,19}}{_NO_D_AFTER}"
)
_PHONE = re.compile(
    # mainland mobile: 1[3-9]x xxxx xxxx, optional +86 / 0086 / (+86)
    # (any grouping: 138 1234 5678, 1381 234 5678, 138.1234.5678)
    rf"(?<![0-9０-９+])(?:\(?(?:\+|00)?86\)?[ -]?)?[1１][3-9３-９](?:[ .-]?{_D}){{9}}{_NO_D_AFTER}"
    # international E.164 with a leading +
    rf"|(?<![\w+])\+[1-9][0-9 ().-]{{6,20}}[0-9](?![0-9])"
    # mainland landline 010-12345678, 0755-1234567
    rf"|(?<![0-9-])0[1-9][0-9]{{1,2}}-[0-9]{{7,8}}(?![0-9-])"
    # North American (555) 123-4567, 555-123-4567
    rf"|(?<![0-9-])(?:\([0-9]{{3}}\) ?|[0-9]{{3}}-)[0-9]{{3}}-[0-9]{{4}}(?![0-9-])"
)
_STREET_SUFFIX = (
    r"(?:[Ss]treet|St|[Aa]venue|Ave|[Rr]oad|Rd|[Bb]oulevard|Blvd|[Ll]ane|Ln|[Dd]rive|Dr|[Cc]ourt|Ct|"
    r"[Ww]ay|[Pp]lace|Pl|[Tt]errace|[Cc]lose|[Cc]rescent|[Ss]quare|Sq|[Hh]ighway|Hwy|[Pp]arkway|Pkwy)"
)
_EN_ADDRESS = (
    rf"\b[0-9]{{1,5}}[A-Za-z]?,?\s+(?:(?:[0-9]+(?:st|nd|rd|th)|[A-Z][A-Za-z'.-]*)\s+){{1,4}}{_STREET_SUFFIX}\b\.?"
    r"(?:,?\s+(?:Apt|Apartment|Unit|Suite|Flat|#)\.?\s*[0-9A-Za-z-]+)?"
)
# A Chinese place-name character: any ideograph but the little words that usually precede an address.
_ZH_NAME = r"(?:(?![我你他她它们在是到于往去住的了和跟给从寄送址家])[\u4e00-\u9fff])"
_ZH_ADMIN = (
    rf"(?:{_ZH_NAME}{{2,8}}?(?:省|自治区|特别行政区))?(?:{_ZH_NAME}{{1,8}}?(?:市|州|盟))?"
    rf"(?:{_ZH_NAME}{{1,8}}?(?:区|县|旗))?(?:{_ZH_NAME}{{1,8}}?(?:镇|乡|街道))?"
)
_ZH_TAIL = rf"(?:\s*(?:院|大厦|小区|花园))?(?:\s*{_D}{{1,5}}\s*(?:号楼|栋|幢|座|单元|层|楼|室|号))*"
_ZH_ADDRESS = (
    rf"{_ZH_ADMIN}{_ZH_NAME}{{1,10}}?(?:路|街|大道|大街|巷|弄|胡同)\s*{_D}{{1,5}}(?:-{_D}{{1,4}})?\s*号{_ZH_TAIL}"
    rf"|{_ZH_ADMIN}{_ZH_NAME}{{2,10}}?(?:小区|花园|公寓|大厦|新村)\s*{_D}{{1,4}}\s*(?:号楼|栋|幢|座)"
    rf"(?:\s*{_D}{{1,5}}\s*(?:单元|层|楼|室|号))*"
)
_ADDRESS = re.compile(f"{_EN_ADDRESS}|{_ZH_ADDRESS}")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _digits(text: str) -> str:
    return "".join(str(unicodedata.digit(c)) for c in text if c.isdigit())


def _valid_id_number(span: str) -> bool:
    """ISO 7064 MOD 11-2 check digit of an 18-character resident ID."""
    compact = unicodedata.normalize("NFKC", span).replace(" ", "").upper()
    if len(compact) != 18 or not compact[:17].isdigit():
        return False
    total = sum(int(c) * w for c, w in zip(compact[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == compact[17]


def _valid_card(span: str) -> bool:
    digits = _digits(span)
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


# A number right after an identifier prefix ("INV-", "order #") or named as an order,
# invoice, tracking or reference number is not a card, whatever Luhn says; a number named a
# card is one.
_NOT_CARD_BEFORE = re.compile(
    r"(?:[A-Za-z]{2,}[-#]|#|\b(?:invoice|order|tracking|reference|ref|serial|sku|ticket|parcel|shipment)"
    r"(?: (?:no|number|id|code))?\.?[ :#-]*|(?:订单|发票|单号|运单|快递)[号码]?[ :：]*)$",
    re.IGNORECASE,
)
_CARD_BEFORE = re.compile(r"(?:card|visa|mastercard|amex|卡号|银行卡|信用卡)", re.IGNORECASE)


def _card_in_context(text: str, start: int) -> bool:
    before = text[max(0, start - 30) : start]
    if _CARD_BEFORE.search(before):
        return True
    return _NOT_CARD_BEFORE.search(before) is None


def _valid_phone(span: str) -> bool:
    if span.lstrip().startswith("+"):
        return 8 <= len(_digits(span)) <= 15
    return True


@dataclass(frozen=True)
class PiiSpan:
    """A piece of personal information found in a text."""

    kind: PiiKind
    start: int
    end: int


_PII_FINDERS: tuple[tuple[PiiKind, re.Pattern[str], Any], ...] = (
    ("email", _EMAIL, None),
    ("id_number", _ID_NUMBER, _valid_id_number),
    ("bank_card", _BANK_CARD, _valid_card),
    ("phone", _PHONE, _valid_phone),
    ("address", _ADDRESS, None),
)


def find_pii(text: str) -> list[PiiSpan]:
    """Personal information in ``text``, in order, spans never overlapping.

    Kinds: ``email``; ``id_number`` (18-digit Chinese resident ID with a valid check digit);
    ``bank_card`` (13-19 digits passing Luhn); ``phone`` (mainland mobile with or without +86,
    international numbers with +, mainland landlines, North American numbers); ``address``
    (``12 Baker Street``, ``北京市朝阳区建国路88号``)."""
    found: list[PiiSpan] = []
    if (
        not _ANY_DIGIT.search(text)
        and "@" not in text
        and "＠" not in text
        and not _SPELLED.search(text)
    ):
        return found  # every kind needs a digit, except e-mail which needs an @ or a spelled one
    for kind, regex, valid in _PII_FINDERS:
        for match in regex.finditer(text):
            start, end = match.span()
            if start == end or (valid is not None and not valid(match.group(0))):
                continue
            if kind == "bank_card" and not _card_in_context(text, start):
                continue
            if any(start < s.end and s.start < end for s in found):
                continue
            found.append(PiiSpan(kind, start, end))
    return sorted(found, key=lambda s: s.start)


def redact(text: str) -> tuple[str, list[str]]:
    """``text`` with each piece of personal information replaced by ``[kind]``, and the kinds
    found (each once, in order of appearance)."""
    out, kinds = _redacted(text)
    return out, list(kinds)


# A turn redacts the player's line twice (for the model, and as stored): it is read once.
@functools.lru_cache(maxsize=64)
def _redacted(text: str) -> tuple[str, tuple[str, ...]]:
    spans = find_pii(text)
    out = text
    for span in reversed(spans):
        out = out[: span.start] + f"[{span.kind}]" + out[span.end :]
    return out, tuple(dict.fromkeys(s.kind for s in spans))


def redact_pii(text: str) -> str:
    """``text`` with each piece of personal information replaced by ``[kind]``.

    >>> redact_pii("call me on +86 138-1234-5678 or mail a@b.cn")
    'call me on [phone] or mail [email]'
    """
    return redact(text)[0]
