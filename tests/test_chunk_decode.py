"""templatelib.chunk_decode: round trips for every codec the library uses, refusals by name."""

import zlib

import numpy as np
import pytest
from numcodecs import GZip, Zlib, Blosc

from templatelib.chunk_decode import ChunkError, chunk_key, decode_chunk

pytestmark = pytest.mark.timeout(60)

CHUNK = (1, 24, 16)


def _meta(compressor, **extra):
    return {"zarr_format": 2, "shape": [3, 24, 16], "chunks": list(CHUNK), "dtype": "<f4", "order": "C",
            "fill_value": 0.0, "filters": None, "compressor": compressor, **extra}


def _live_meta(compressor):
    """A live-sized template chunk (240 x 384 float32 = 368640 bytes): a bomb's compressed
    form fits under the compressed-size limit, so the decoder itself must stop it."""
    return {**_meta(compressor), "shape": [3, 240, 384], "chunks": [1, 240, 384]}


def _template(seed=0):
    return np.random.default_rng(seed).normal(size=CHUNK).astype("<f4")


@pytest.mark.parametrize("codec", [None, Zlib(level=5), GZip(level=5), Blosc(cname="lz4", clevel=5, shuffle=Blosc.SHUFFLE)])
def test_round_trip(codec):
    template = _template()
    raw = template.tobytes() if codec is None else codec.encode(template)
    decoded = decode_chunk(raw, _meta(codec.get_config() if codec else None), "a/0.0.0")
    assert decoded.shape == CHUNK and np.array_equal(decoded, template)


def test_fortran_order():
    template = _template()
    decoded = decode_chunk(np.asfortranarray(template).tobytes(order="F"), _meta(None, order="F"), "k")
    assert np.array_equal(decoded, template)


@pytest.mark.parametrize("codec", [Zlib(level=5), GZip(level=5)])
def test_deflate_bomb_is_refused_after_at_most_one_extra_byte(codec):
    bomb = codec.encode(bytes(64 << 20))  # 64 MiB of zeros, ~64 KB deflated
    with pytest.raises(ChunkError, match=r"^k: inflates past the expected 368640 bytes"):
        decode_chunk(bomb, _live_meta(codec.get_config()), "k")


def test_blosc_header_announcing_another_size_is_refused():
    raw = Blosc().encode(np.zeros(1 << 20, "<f4"))
    with pytest.raises(ChunkError, match="announces 4194304 decoded bytes, expected 368640"):
        decode_chunk(raw, _live_meta(Blosc().get_config()), "k")


@pytest.mark.parametrize("codec", [None, Zlib(), GZip(), Blosc()])
def test_truncated_chunk_is_refused(codec):
    template = _template()
    raw = template.tobytes() if codec is None else codec.encode(template)
    with pytest.raises(ChunkError, match=r"^a/1\.0\.0: "):
        decode_chunk(raw[: len(raw) - 7], _meta(codec.get_config() if codec else None), "a/1.0.0")


@pytest.mark.parametrize("meta, message", [
    (_meta(None, filters=[{"id": "delta", "dtype": "<f4"}]), "filters"),
    (_meta({"id": "lzma"}), "compressor 'lzma' is not supported"),
    (_meta("zlib"), "compressor 'zlib' is not supported"),
    (_meta(None, dtype="|O"), "not a fixed-size number or string type"),
    (_meta(None, dtype="bogus"), "is not a numpy dtype"),
    (_meta(None, chunks=[0, 24, 16]), "is not a list of positive integers"),
    (_meta(None, chunks=[1, 24]), "differ in length"),
    (_meta(None, order="X"), "order 'X'"),
    ("not a dict", "array metadata is not an object"),
])
def test_unusable_metadata_is_refused(meta, message):
    with pytest.raises(ChunkError, match=message):
        decode_chunk(_template().tobytes(), meta, "k")


def test_oversized_input_and_decode_limit():
    with pytest.raises(ChunkError, match="stored object of .* bytes is too large"):
        decode_chunk(bytes(1 << 20), _meta(Zlib().get_config()), "k")
    with pytest.raises(ChunkError, match="exceeds the decode limit of 100 bytes"):
        decode_chunk(b"", _meta(None), "k", max_decoded=100)


def test_garbage_and_trailing_bytes():
    with pytest.raises(ChunkError, match="corrupt zlib stream"):
        decode_chunk(b"\x00" * 100, _meta(Zlib().get_config()), "k")
    with pytest.raises(ChunkError, match="unexpected bytes after"):
        decode_chunk(zlib.compress(_template().tobytes()) + b"junk", _meta(Zlib().get_config()), "k")
    with pytest.raises(ChunkError, match="shorter than a blosc header"):
        decode_chunk(b"\x02\x01", _meta(Blosc().get_config()), "k")


def test_chunk_key_honours_the_separator():
    assert chunk_key("templates_array", (3, 0, 0), {}) == "templates_array/3.0.0"
    assert chunk_key("templates_array", (3, 0, 0), {"dimension_separator": "/"}) == "templates_array/3/0/0"
    assert chunk_key("", (), {}) == "0"
