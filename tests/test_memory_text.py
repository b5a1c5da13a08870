"""Text preparation for the index: segmentation, query terms, safe FTS5 expressions."""

from __future__ import annotations

import sqlite3

import pytest

from engine.memory.text import MAX_QUERY_TERMS, bigrams, fts_query, index_text, query_terms


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("jieba", "我 每天 都 会 开着 摩托车"),
        ("bigram", "我每 每天 天都 都会 会开 开着 着摩 摩托 托车"),
    ],
)
def test_chinese_is_segmented_for_the_index(mode, expected) -> None:
    assert index_text("我每天都会开着摩托车", mode) == expected


def test_english_text_is_left_to_the_tokenizer() -> None:
    assert index_text("Hello, brave traveller!") == "Hello, brave traveller!"


def test_mixed_text_segments_only_the_chinese_runs() -> None:
    assert index_text("Lin说：我喜欢tea") == "Lin 说 ： 我 喜欢 tea"


def test_bigrams_of_a_single_character_is_the_character() -> None:
    assert bigrams("茶") == ["茶"] and bigrams("") == []


def test_query_terms_drop_stopwords_and_duplicates() -> None:
    assert query_terms("What did you do with the the lantern?") == ["lantern"]
    assert query_terms("你最喜欢喝什么茶？") == ["最", "喜欢", "喝", "茶"]


def test_query_of_only_stopwords_keeps_them() -> None:
    assert query_terms("who are you") == ["who", "are", "you"]


def test_query_terms_are_bounded() -> None:
    text = " ".join(f"word{i}" for i in range(500))
    assert len(query_terms(text)) == MAX_QUERY_TERMS


@pytest.mark.parametrize("terms", [['a"b'], ["NEAR"], ["AND", "OR"], ["x*"], ["col:val"]])
def test_fts_query_reads_operators_and_symbols_as_plain_words(terms) -> None:
    """Valid FTS5 whatever the terms hold, matching the words themselves (not as operators)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(text)")
    conn.execute("INSERT INTO t VALUES ('near and or x col val a b')")
    conn.execute("INSERT INTO t VALUES ('something else entirely')")
    rows = conn.execute("SELECT text FROM t WHERE t MATCH ?", (fts_query(terms),)).fetchall()
    assert rows == [("near and or x col val a b",)]


def test_fts_query_with_column_restricts_terms() -> None:
    assert fts_query(["a", "b"], column="text") == 'text : ("a" OR "b")'
    assert fts_query([]) == ""
