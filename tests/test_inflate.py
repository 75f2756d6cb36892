"""Content-Encoding decoding in bounded steps (toolkit/inflate.py)."""

from __future__ import annotations

import gzip
import zlib

import pytest

from toolkit.inflate import STEP, InflateError, Inflater


def test_a_bomb_is_inflated_one_step_at_a_time():
    bomb = gzip.compress(bytes(64 * STEP), compresslevel=9)  # 64 MiB of zeros in about 64 KiB
    pieces = Inflater("gzip").feed(bomb)
    sizes = [len(next(pieces)) for _ in range(3)]  # the caller stops whenever it likes
    assert len(bomb) < STEP // 8 and sizes == [STEP, STEP, STEP]


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", " GZIP "])
def test_gzip_and_deflate_round_trip_and_identity_passes_through(encoding):
    text = b"hello " * 1000
    packed = zlib.compress(text) if encoding == "deflate" else gzip.compress(text)
    inflater = Inflater(encoding)
    assert b"".join(piece for part in (packed[:7], packed[7:]) for piece in inflater.feed(part)) == text
    inflater.close()
    assert list(Inflater("").feed(text)) == [text] == list(Inflater("identity").feed(text))


def test_unasked_encodings_corrupt_and_cut_bodies_are_inflate_errors():
    with pytest.raises(InflateError, match=r"^the server sent content-encoding 'br', which was not asked for$"):
        Inflater("br")
    with pytest.raises(InflateError, match=r"^the compressed body is corrupt \("):
        list(Inflater("gzip").feed(b"not gzip at all"))
    cut = Inflater("gzip")
    list(cut.feed(gzip.compress(b"hello" * 100)[:20]))
    with pytest.raises(InflateError, match=r"^the compressed body ends before its end$"):
        cut.close()
    Inflater("gzip").close()  # no body at all (a 304) is not cut short
