"""The studio page in a real browser: Playwright driving Debian's headless Chromium.

Playwright cannot download its own browser here, so the test uses ``/usr/bin/chromium``
(``make test`` installs it with apt when it is missing).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures_server import ROOT, Live, start_server

CHROMIUM = Path("/usr/bin/chromium")
# As root, and with nothing reaching out: no background connections to a closed network.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is in the dev extra: pip install -e '.[dev]'"
)

if not CHROMIUM.exists():
    pytest.skip(
        "no /usr/bin/chromium (make test installs it: apt-get install chromium)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("studio")
    shutil.copytree(ROOT / "characters", folder / "characters")
    live = start_server(folder, characters=str(folder / "characters"))
    yield live
    live.thread.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, studio_server: Live) -> Iterator[Any]:
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{studio_server.url}/studio/#key={studio_server.key}")
    yield page
    context.close()
    assert not errors, errors


def connect(page: Any, player: str) -> None:
    page.fill("#player", player)
    page.click("#connect")
    page.wait_for_function(
        "p => document.querySelector('#status').textContent.includes(p)", arg=player
    )


def say(page: Any, character: str, text: str) -> Any:
    page.select_option("#character", character)
    page.fill("#line", text)
    page.press("#line", "Enter")
    bubble = page.locator(".line.npc").last
    bubble.locator("xpath=self::*[@data-state]").wait_for(timeout=20_000)
    return bubble


def test_key_leaves_the_address_bar(page: Any, studio_server: Live) -> None:
    assert studio_server.key not in page.url
    assert page.input_value("#credential") == studio_server.key


def test_chat_in_english_streams_a_reply_and_shows_the_turn(page: Any) -> None:
    connect(page, "web-en")
    bubble = say(page, "mira", "Hello! What is this place?")
    assert bubble.get_attribute("data-state") == "done"
    assert len(bubble.inner_text()) > 10
    assert page.inner_text("#emotion") != "-"
    assert "affinity" in page.inner_text("#relationship")
    assert page.locator("#sections tr").count() > 0
    assert page.locator(".line.player").last.inner_text() == "Hello! What is this place?"


def test_chat_in_chinese_with_the_page_in_chinese(page: Any) -> None:
    page.select_option("#lang", "zh")
    assert page.inner_text("#send") == "发送"
    connect(page, "web-zh")
    bubble = say(page, "lin", "你好！这里是哪里？")
    assert bubble.get_attribute("data-state") == "done"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in bubble.inner_text())


def test_enter_while_composing_does_not_send(page: Any) -> None:
    connect(page, "web-ime")
    page.fill("#line", "ni hao")
    page.dispatch_event("#line", "keydown", {"key": "Enter", "isComposing": True})
    page.wait_for_timeout(300)
    assert page.input_value("#line") == "ni hao"
    assert page.locator(".line.player").count() == 0


def test_open_memories_and_forget_one(page: Any, studio_server: Live) -> None:
    connect(page, "web-mem")
    say(page, "mira", "My name is Ada and I keep bees.")
    assert studio_server.service.runtime.wait_idle(20)
    page.click("#memory-panel summary")
    items = page.locator("#memories li[data-memory]")
    items.first.wait_for()
    before = items.count()
    first_id = items.first.get_attribute("data-memory")
    items.first.locator("button.forget").click()
    page.wait_for_function(
        "id => !document.querySelector(`#memories li[data-memory='${id}']`)", arg=first_id
    )
    status, body = studio_server.http("GET", "/v1/players/web-mem/characters/mira/memories")
    assert int(first_id) not in [m["id"] for m in body["memories"]]
    assert len(body["memories"]) == before - 1


def test_broken_character_file_shows_its_line(page: Any) -> None:
    connect(page, "web-file")
    page.click("#file-panel summary")
    page.fill("#file-name", "tess.yaml")
    page.fill(
        "#file-text",
        "name: Tess\nrole: courier\npersonality:\n  traits: [brave]\nemotions:\n  set: [neutral]\n  baseline: giddy\n",
    )
    page.click("#validate")
    problem = page.locator("#problems li").first
    problem.wait_for()
    assert "line 7" in problem.inner_text()


def test_save_and_reload_a_character(page: Any, studio_server: Live) -> None:
    connect(page, "web-save")
    page.click("#file-panel summary")
    content = (
        (ROOT / "characters" / "bram.yaml")
        .read_text(encoding="utf-8")
        .replace("name: Bram", "name: Bramble", 1)
    )
    page.fill("#file-name", "bram.yaml")
    page.fill("#file-text", content)
    page.click("#save")
    page.wait_for_function("document.querySelector('#status').textContent.includes('bram')")
    assert "Bramble (bram)" in page.inner_text("#character")
