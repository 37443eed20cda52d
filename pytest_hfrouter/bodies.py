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


def decode(body: bytes, encoding: str) -> bytes | None:
    """The body without its Content-Encoding (gzip, deflate, br when brotli is installed); None if it is not."""
    try:
        if encoding in ("gzip", "x-gzip"):
            decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out = decompressor.decompress(body)
            while decompressor.unused_data:  # several gzip members, as a server may send
                rest = decompressor.unused_data
                decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out += decompressor.decompress(rest)
            return out if decompressor.eof else None
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)  # raw deflate, as some servers send it
        if encoding == "br":
            import brotli  # type: ignore[import-not-found,unused-ignore]

            return brotli.decompress(body)  # type: ignore[no-any-return,unused-ignore]
    except Exception:  # zlib.error, brotli.error (not importable without brotli), ImportError
        return None
    return None


def encode(body: bytes, encoding: str) -> bytes | None:
    if encoding in ("gzip", "x-gzip"):
        import gzip

        return gzip.compress(body, mtime=0)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "br":
        try:
            import brotli
        except ImportError:
            return None
        return brotli.compress(body)  # type: ignore[no-any-return,unused-ignore]
    return None


def content(body: bytes, headers: Iterable[tuple[str, str]]) -> bytes:
    """The body as the client reads it: decoded from its Content-Encoding when it can be."""
    encoding = content_encoding(headers)
    if not encoding:
        return body
    decoded = decode(body, encoding)
    return body if decoded is None else decoded
