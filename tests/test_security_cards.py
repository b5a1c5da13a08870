"""A PNG card cannot exhaust memory: the text chunks' total decompressed size is capped, not
only each chunk's."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest

from engine.cards import read_card, read_png_text
from engine.errors import CardError

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def _bomb(chunks: int, each: int, kind: bytes = b"zTXt") -> bytes:
    """A 1x1 PNG with ``chunks`` compressed text chunks, each expanding to ``each`` bytes."""
    packed = zlib.compress(b"A" * each, 9)
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
    parts = [_SIGNATURE, ihdr]
    for n in range(chunks):
        keyword = f"k{n}".encode()
        body = keyword + b"\0\0" + packed if kind == b"zTXt" else keyword + b"\0\1\0\0\0" + packed
        parts.append(_chunk(kind, body))
    parts.append(_chunk(b"IDAT", zlib.compress(b"\0\0")))
    parts.append(_chunk(b"IEND", b""))
    return b"".join(parts)


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt"])
def test_many_compressed_text_chunks_are_refused_by_their_total(kind: bytes) -> None:
    raw = _bomb(60, 8 * 1024 * 1024 - 16, kind)
    assert len(raw) < 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(CardError, match="total"):
            read_png_text(raw)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


def test_npc_import_of_a_text_chunk_bomb_is_a_clear_card_error(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb(300, 8 * 1024 * 1024 - 16))
    with pytest.raises(CardError) as caught:
        read_card(path)
    assert "bomb.png" in str(caught.value) and "total" in str(caught.value)


def test_a_card_with_a_few_text_chunks_still_reads() -> None:
    raw = _bomb(3, 1000)
    assert set(read_png_text(raw)) == {"k0", "k1", "k2"}
