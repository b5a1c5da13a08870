"""Text preparation for the full-text index: Chinese segmentation, query terms, safe FTS5 queries.

The index uses SQLite FTS5's ``porter unicode61`` tokenizer, which lowercases and stems English
but treats a run of Chinese characters as one token. So Chinese text is segmented here before
it is stored in the index (jieba words by default; character bigrams, or both, on request),
and queries are built from the same segmentation.

Player text never reaches FTS5's query syntax: every term is a double-quoted string, so
``AND``, ``NEAR(``, ``*``, ``^``, ``-``, ``:`` and parentheses are matched as plain words (or
dropped as punctuation), never interpreted.

>>> index_text("我每天都会开着摩托车到码头")
'我 每天 都 会 开着 摩托车 到 码头'
>>> index_text("摩托车", "bigram")
'摩托 托车'
>>> query_terms("What did Caroline paint?")
['caroline', 'paint']
>>> fts_query(['caroline', 'paint'])
'"caroline" OR "paint"'
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Literal

__all__ = [
    "index_words",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TERMS",
    "Segmentation",
    "bigrams",
    "fts_query",
    "index_text",
    "query_terms",
    "scope_prefix",
    "scoped",
    "segment_cjk",
    "split_frequent",
]

logger = logging.getLogger(__name__)

Segmentation = Literal["jieba", "bigram", "jieba+bigram"]

#: A query keeps at most this many distinct terms (a 10,000-character paste still searches,
#: on its first terms, in bounded time).
MAX_QUERY_TERMS = 48
#: A query is read up to this many characters: segmentation (jieba) costs grow with the text,
#: so a huge paste costs no more than its start.
MAX_QUERY_CHARS = 4000

# Han ideographs (+ ext A, compatibility), kana and Hangul: scripts written without spaces.
_CJK_RUN = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+")
_CJK_CHAR = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
#: The full-text index's tokenizer (``engine.memory.schema`` creates the table with it).
TOKENIZER = "porter unicode61 remove_diacritics 2"
# Words as FTS5's unicode61 tokenizer sees them (letters and digits; apostrophes split).
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

_jieba_lock = threading.Lock()
_jieba_ready = False

ENGLISH_STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are aren as at be because been before
    being below between both but by can cannot could couldn did didn do does doesn doing don down
    during each few for from further had hadn has hasn have haven having he her here hers herself
    him himself his how i if in into is isn it its itself just let ll me more most mustn my myself
    no nor not now of off on once only or other ought our ours ourselves out over own re s same
    shan she should shouldn so some such t than that the their theirs them themselves then there
    these they this those through to too under until up ve very was wasn we were weren what when
    where which while who whom why will with won would wouldn you your yours yourself yourselves
    d m o y ain also ever get got gonna hey hi oh ok okay really yeah yes thanks thank like
    """.split()
)

CHINESE_STOPWORDS = frozenset(
    """
    的 了 是 我 你 他 她 它 们 我们 你们 他们 她们 吗 呢 吧 啊 呀 哦 嗯 哈 哎 唉 嘛 啦 么 什么 怎么
    这 那 这个 那个 这样 那样 就 都 也 还 在 有 和 与 及 或 而 但 又 很 太 不 没 没有 一 一个 个 些
    一些 会 要 能 可以 让 把 被 给 对 从 到 向 着 过 之 其 所 以 于 为 为了 地 得 去 来 说 吗 呗 噢
    哟 喔 哇 嘿 诶 咱 咱们 您 自己 还是 就是 不是 知道 觉得 现在 时候 一下 一点 然后 所以 因为
    """.split()
)

STOPWORDS = ENGLISH_STOPWORDS | CHINESE_STOPWORDS


def _jieba_cut(text: str) -> list[str]:
    global _jieba_ready
    import jieba

    if not _jieba_ready:
        with _jieba_lock:
            if not _jieba_ready:
                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba_ready = True
    return [w for w in jieba.lcut(text) if w.strip()]


def bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of a CJK run (a one-character run is its own token)."""
    if len(run) < 2:
        return [run] if run else []
    return [run[i : i + 2] for i in range(len(run) - 1)]


def segment_cjk(run: str, mode: Segmentation = "jieba") -> list[str]:
    """Tokens for one run of CJK characters under the given segmentation."""
    tokens: list[str] = []
    if mode in ("jieba", "jieba+bigram"):
        tokens.extend(_jieba_cut(run))
    if mode in ("bigram", "jieba+bigram"):
        grams = bigrams(run)
        if mode == "jieba+bigram":
            seen = set(tokens)
            grams = [g for g in grams if g not in seen or len(run) < 2]
        tokens.extend(grams)
    return tokens


def index_text(text: str, mode: Segmentation = "jieba") -> str:
    """The text as stored in the FTS index: CJK runs replaced by space-separated segments.

    Non-CJK text is left for the tokenizer (which lowercases and stems English).
    """
    if not _CJK_CHAR.search(text):
        return text
    out: list[str] = []
    pos = 0
    for match in _CJK_RUN.finditer(text):
        out.append(text[pos : match.start()])
        out.append(" " + " ".join(segment_cjk(match.group(), mode)) + " ")
        pos = match.end()
    out.append(text[pos:])
    return re.sub(r"\s+", " ", "".join(out)).strip()


def _raw_terms(text: str, mode: Segmentation) -> Iterable[str]:
    pos = 0
    for match in _CJK_RUN.finditer(text):
        yield from (w.lower() for w in _WORD.findall(text[pos : match.start()]))
        for token in segment_cjk(match.group(), mode):
            yield from _WORD.findall(token)
        pos = match.end()
    yield from (w.lower() for w in _WORD.findall(text[pos:]))


def query_terms(
    text: str,
    mode: Segmentation = "jieba",
    *,
    stopwords: frozenset[str] = STOPWORDS,
    limit: int = MAX_QUERY_TERMS,
) -> list[str]:
    """Distinct search terms of a player's query, stopwords removed, in order of appearance.

    If every term is a stopword the stopwords are kept (a query of only "who are you" still
    searches). At most ``limit`` terms are kept, from the first :data:`MAX_QUERY_CHARS`
    characters.
    """
    seen: dict[str, None] = {}
    for term in _raw_terms(text[:MAX_QUERY_CHARS], mode):
        if term not in seen:
            seen[term] = None
    terms = list(seen)
    kept = [t for t in terms if t not in stopwords and not (len(t) == 1 and t.isascii())]
    return (kept or terms)[:limit]


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts_query(terms: Sequence[str], *, column: str | None = None, prefix: str = "") -> str:
    """An FTS5 MATCH expression OR-ing every term, each quoted so it is matched literally.

    With ``column`` the terms are restricted to that column: ``text : ("a" OR "b")``.
    With ``prefix`` each term is searched in that player's part of the index (see ``scoped``).
    Returns an empty string when there are no terms.
    """
    if not terms:
        return ""
    body = " OR ".join(_quote(scoped(t, prefix) if prefix else t) for t in terms)
    if column:
        return f"{column} : ({body})"
    return body


@functools.lru_cache(maxsize=4096)
def scope_prefix(player: str) -> str:
    """The prefix glued to every indexed word of ``player``'s memories (and to query terms).

    It partitions the full-text index by player: a word's postings, and the document
    frequencies bm25 weighs it by, cover only that player's memories, so the cost of a search
    follows the player's conversations, not the size of the file. The prefix has a fixed
    length (no prefix is the start of another) and only consonants and digits, so the porter
    stemmer still sees the word's own vowel structure.
    """
    digest = int(hashlib.sha1(player.encode("utf-8")).hexdigest()[:12], 16)
    return f"q{digest:015d}"


def scoped(text: str, prefix: str) -> str:
    """``text`` as indexed for one player: ``prefix`` glued to the front of every word.

    A word is cut where SQLite's tokenizer would cut it (its Unicode tables are older than
    Python's: it splits a few characters Python reads as letters), and each part gets the
    prefix, so no text can make SQLite see a word that starts with another player's prefix.

    >>> scoped("Hi, Caroline", "q7")
    'q7Hi, q7Caroline'
    """
    return _WORD.sub(lambda m: _scoped_word(m.group(), prefix), text)


def index_words(text: str) -> list[str]:
    """The words of indexed ``text`` where SQLite's unicode61 tokenizer cuts them, as written
    (a store that tokenizes in Python, such as the PostgreSQL one, folds and stems them).

    >>> index_words("Hi, Caroline's 龙井 茶")
    ['Hi', 'Caroline', 's', '龙井', '茶']
    """
    out: list[str] = []
    for match in _WORD.finditer(text):
        word = match.group()
        if word.isascii() or all(_tokenizer_agrees(c) for c in word):
            out.append(word)
            continue
        start = 0
        for i, char in enumerate(word):
            if not _tokenizer_agrees(char):
                if i > start:
                    out.append(word[start:i])
                start = i + 1
        if start < len(word):
            out.append(word[start:])
    return out


def _scoped_word(word: str, prefix: str) -> str:
    if word.isascii() or all(_tokenizer_agrees(c) for c in word):
        return prefix + word
    out: list[str] = []
    start = 0
    for i, char in enumerate(word):
        if not _tokenizer_agrees(char):
            if i > start:
                out.append(prefix + word[start:i])
            out.append(char)  # SQLite splits here: the next part starts a word of its own
            start = i + 1
    if start < len(word):
        out.append(prefix + word[start:])
    return "".join(out)


_probe_lock = threading.Lock()
_probe: sqlite3.Connection | None = None


@functools.cache
def _tokenizer_agrees(char: str) -> bool:
    """Whether SQLite's unicode61 tokenizer keeps ``char`` inside a word, as Python does.

    Letters and digits Unicode 3.2 already had are kept by every SQLite; a newer one is asked
    of SQLite itself, once per character (the answer depends on SQLite's version)."""
    if char.isascii() or unicodedata.ucd_3_2_0.category(char)[0] in "LN":
        return True
    global _probe
    with _probe_lock:
        if _probe is None:
            _probe = sqlite3.connect(":memory:", check_same_thread=False)
            _probe.execute(f"CREATE VIRTUAL TABLE probe USING fts5(t, tokenize = '{TOKENIZER}')")
            _probe.execute("CREATE VIRTUAL TABLE probe_terms USING fts5vocab(probe, instance)")
        _probe.execute("INSERT INTO probe (rowid, t) VALUES (1, ?)", (f"xx{char}xx",))
        (count,) = _probe.execute("SELECT count(*) FROM probe_terms WHERE doc = 1").fetchone()
        _probe.execute("DELETE FROM probe WHERE rowid = 1")
    return bool(count == 1)


def split_frequent(terms: list[str], counts: list[int], budget: int) -> tuple[list[str], list[str]]:
    """``terms`` as (searched, frequent), given in how many memories each is found
    (``counts``): the most frequent words move to the second list while the others are found
    in more than ``budget`` memories (counted per word, so overlaps count twice). At least one
    word found anywhere stays searched: a word found nowhere adds nothing, so it cannot stand
    in for the others.

    >>> split_frequent(["the", "lantern", "festival"], [900, 40, 300], 1000)
    (['lantern', 'festival'], ['the'])
    """
    if budget <= 0 or len(terms) < 2:
        return terms, []
    total = sum(counts)
    found = sum(1 for c in counts if c)
    frequent: set[int] = set()
    for i in sorted(range(len(terms)), key=lambda i: -counts[i]):
        if total <= budget or len(frequent) >= found - 1:
            break
        frequent.add(i)
        total -= counts[i]
    return (
        [t for i, t in enumerate(terms) if i not in frequent],
        [t for i, t in enumerate(terms) if i in frequent],
    )
