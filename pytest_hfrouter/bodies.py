"""Bodies and their Content-Encoding: what the client reads from what the server sent.

Recordings keep the bytes as sent; whatever reads a body's meaning (error texts, drift,
provider ids, lint) reads it through `content`.
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Iterable
from typing import Any


def json_object(body: bytes | None) -> dict[str, Any] | None:
    """A request or answer body that is a JSON object, parsed; None for any other body."""
    if not body or body[:1] not in (b"{", b" ", b"\n", b"\r", b"\t"):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (any case), or None."""
    name = name.lower()
    return next((v for k, v in headers if k.lower() == name), None)


def is_event_stream(content_type: str | None) -> bool:
    """A ``text/event-stream`` body: the router's streamed answers (one chunk per SSE event)."""
    return content_type is not None and "event-stream" in content_type


class Message:
    """What every response record (recorded, answered, observed live) reads off its ``headers``
    and ``body`` (both as sent). A mixin for frozen dataclasses that declare the two fields."""

    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        return header(self.headers, name)

    @functools.cached_property
    def is_stream(self) -> bool:
        return is_event_stream(header(self.headers, "content-type"))

    @functools.cached_property
    def content(self) -> bytes:
        """The body as the client reads it (``body`` is as sent: maybe compressed)."""
        return content(self.body, self.headers)


def content_encoding(headers: Iterable[tuple[str, str]]) -> str:
    """The body's Content-Encoding, lower case ('' when it has none or ``identity``)."""
    for name, value in headers:
        if name.lower() == "content-encoding":
            value = value.strip().lower()
            return "" if value == "identity" else value
    return ""


def _codings(encoding: str) -> list[str]:
    """``"gzip, br"`` → ``["gzip", "br"]``: the codings in the order the server applied them."""
    return [part.strip() for part in encoding.split(",") if part.strip() and part.strip() != "identity"]


#: the codings a client undoes (httpx, requests, aiohttp): a body under any other is read as it is
_COMPRESSED = frozenset({"gzip", "x-gzip", "deflate", "br", "zstd", "compress", "x-compress"})


def compressed(encoding: str) -> bool:
    """Whether a body under this Content-Encoding is compressed the way clients undo (not ``chunked``, say)."""
    return not _COMPRESSED.isdisjoint(_codings(encoding))


def _zstd() -> Any:
    """A module with zstd's ``compress`` and ``decompress`` (Python 3.14's, else the zstandard package's), or None."""
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]

        return zstd
    except ImportError:
        pass
    try:
        import zstandard  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return zstandard


def decode(body: bytes, encoding: str, *, partial: bool = False) -> bytes | None:
    """The body without its Content-Encoding (gzip, deflate, br when brotli is installed, zstd when
    Python or the zstandard package reads it, and several of them in a row); None if it is not.
    ``partial``: a gzip or deflate body cut short (a stream the app closed early) gives what it holds."""
    for coding in reversed(_codings(encoding)):
        decoded = _decode_one(body, coding, partial)
        if decoded is None:
            return None
        body = decoded
    return body


def _decode_one(body: bytes, coding: str, partial: bool) -> bytes | None:
    try:
        if coding in ("gzip", "x-gzip"):
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = decompressor.decompress(body)
            while decompressor.unused_data:  # several gzip members, as a server may send
                rest = decompressor.unused_data
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out += decompressor.decompress(rest)
            return out if decompressor.eof or (partial and out) else None
        if coding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                try:
                    return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send it
                except zlib.error:
                    if not partial:
                        raise
                    return zlib.decompressobj().decompress(body) or None
        if coding == "br":
            import brotli  # type: ignore[import-not-found,unused-ignore]

            return brotli.decompress(body)  # type: ignore[no-any-return,unused-ignore]
        if coding == "zstd":
            zstd = _zstd()
            if zstd is None:
                return None
            if zstd.__name__ == "zstandard":  # a frame may not say its size: read it as a stream
                return zstd.ZstdDecompressor().decompressobj().decompress(body)  # type: ignore[no-any-return]
            return zstd.decompress(body)  # type: ignore[no-any-return]
    except Exception:  # zlib.error, brotli.error, zstd's errors, ImportError
        return None
    return None


def encode(body: bytes, encoding: str) -> bytes | None:
    """``body`` under ``encoding`` (each coding in turn); None where a coding cannot be written here."""
    for coding in _codings(encoding):
        encoded = _encode_one(body, coding)
        if encoded is None:
            return None
        body = encoded
    return body


def _encode_one(body: bytes, coding: str) -> bytes | None:
    if coding in ("gzip", "x-gzip"):
        import gzip

        return gzip.compress(body, mtime=0)
    if coding == "deflate":
        return zlib.compress(body)
    if coding == "br":
        try:
            import brotli
        except ImportError:
            return None
        return brotli.compress(body)  # type: ignore[no-any-return,unused-ignore]
    if coding == "zstd":
        zstd = _zstd()
        return None if zstd is None else zstd.compress(body)
    return None


def content(body: bytes, headers: Iterable[tuple[str, str]]) -> bytes:
    """The body as the client reads it: decoded from its Content-Encoding when it can be."""
    encoding = content_encoding(headers)
    if not encoding:
        return body
    decoded = decode(body, encoding)
    return body if decoded is None else decoded


def sse_data(body: bytes) -> tuple[list[str], bool]:
    """The ``data:`` payloads of a server-sent-event body, and whether it ended with ``[DONE]``."""
    data, done = [], False
    for line in body.decode("utf-8", "replace").splitlines():
        if line.startswith("data:"):
            text = line[5:].strip()
            if text == "[DONE]":
                done = True
            else:
                data.append(text)
    return data, done
