"""PII redaction: each case states the text that must come out, in English and Chinese."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.safety import Policy, check_input, find_pii, redact_pii


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # mainland mobile numbers, with and without country code and separators
        ("我的手机号是13812345678", "我的手机号是[phone]"),
        ("call me: 138 1234 5678", "call me: [phone]"),
        ("电话 138-1234-5678，随时打", "电话 [phone]，随时打"),
        ("+86 139 1234 5678 is my number", "[phone] is my number"),
        ("(+86)15912345678", "[phone]"),
        ("手机：１３８１２３４５６７８", "手机：[phone]"),  # full-width digits
        # international E.164, landlines, North American
        ("ring +44 20 7946 0958 after six", "ring [phone] after six"),
        ("my cell is +1 (415) 555-2671", "my cell is [phone]"),
        ("座机 010-62345678", "座机 [phone]"),
        ("office: (415) 555-2671", "office: [phone]"),
        # email
        ("write to mira.host+plaza@example.co.uk today", "write to [email] today"),
        ("邮箱是 chen_tea@qq.com 哦", "邮箱是 [email] 哦"),
        # resident ID numbers (valid check digit)
        ("身份证号11010519491231002X", "身份证号[id_number]"),
        ("ID 440308199901011234 please", "ID [id_number] please"),
        ("身份证 320102198001010016。", "身份证 [id_number]。"),
        ("ID440308199901011234", "ID[id_number]"),
        ("110105 19491231 002X", "[id_number]"),
        # bank cards passing Luhn
        ("card 4111 1111 1111 1111 exp 12/27", "card [bank_card] exp 12/27"),
        ("卡号6222021234567890128", "卡号[bank_card]"),
        ("amex 3782-822463-10005", "amex [bank_card]"),
        ("5500-0000-0000-0004", "[bank_card]"),
        # street addresses
        ("I live at 221B Baker Street, London.", "I live at [address], London."),
        ("Send it to 1600 Pennsylvania Avenue please", "Send it to [address] please"),
        ("12 Oak Lane, Apt 4", "[address]"),
        ("我住在北京市朝阳区建国路88号", "我住在[address]"),
        ("寄到广东省深圳市南山区科技园路1号3栋501室吧", "寄到[address]吧"),
        ("地址：上海市徐汇区漕溪北路595号", "地址：[address]"),
        ("我家在阳光小区3栋2单元501室", "我家在[address]"),
        # several kinds in one line
        ("电话13812345678，邮箱a@b.cn", "电话[phone]，邮箱[email]"),
    ],
)
def test_pii_is_redacted(text: str, expected: str) -> None:
    assert redact_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Let's meet on 2024-05-01 at 14:30.",
        "The festival ran from 1998 to 2003, 5 days a year.",
        "Order #123456 shipped; it weighs 2.5 kg and costs $19.99.",
        "It's 12345 steps from here to the stage.",
        "Pi is 3.14159265358979.",
        "我2023年10月1日到的，买了3斤茶，花了128元。",
        "第88号选手上场了，比分是3比2。",
        "这条街有100多年历史了。",
        "今天是5月20号，人民路上人很多。",
        "Room 404, floor 3.",
        "110105194912310021 is not a valid ID",  # wrong check digit
        "4111 1111 1111 1112 fails Luhn",
        "1234567890123 is just a long number",
        "12800000000 is not a mobile number",  # 12x is not a mobile prefix
        "The ISBN is 978-3-16-148410-0.",
        "I walked 3 big dogs on the road.",
    ],
)
def test_text_without_pii_is_untouched(text: str) -> None:
    assert redact_pii(text) == text
    assert find_pii(text) == []


def test_find_pii_reports_kinds_and_spans_in_order() -> None:
    text = "a@b.io 13812345678"
    spans = find_pii(text)
    assert [(s.kind, text[s.start : s.end]) for s in spans] == [
        ("email", "a@b.io"),
        ("phone", "13812345678"),
    ]


def test_input_verdict_reports_pii_kinds() -> None:
    verdict = check_input("my email is a@b.io and phone 13812345678", Policy())
    assert verdict.category == "pii" and verdict.rule == "pii:email"
    assert verdict.pii == ("email", "phone")
    assert "a@b.io" not in verdict.text and "13812345678" not in verdict.text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789 -+@.abcXx路号市区北京138()"), max_size=60))
def test_redaction_is_idempotent(text: str) -> None:
    once = redact_pii(text)
    assert redact_pii(once) == once


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["", " ", "，", "call "]))
def test_every_mainland_mobile_number_is_redacted(number: str, prefix: str) -> None:
    assert number not in redact_pii(f"{prefix}{number} ok")
