"""Recordings are byte-exact: every body kind through every face, recorded against the router
double on 127.0.0.1 and replayed, hands the client the very bytes and Content-Encoding the
server sent. The cassette keeps them as vcrpy does (text for UTF-8, ``!!binary`` otherwise)."""

from __future__ import annotations

import base64
import gzip
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import CassetteWriter

from pytest_hfrouter.double import RouterDouble
from pytest_hfrouter.engine import Engine
from pytest_hfrouter.library import shipped_library
from pytest_hfrouter.lint import main as lint_main
from pytest_hfrouter.traffic import Answer, Exchange, Request

TOKEN = "hf_" + "Fake" * 8 + "Tk"
CHAT = json.dumps(
    {
        "id": "rt-1",
        "object": "chat.completion",
        "model": "org/m",
        "note": "é ✓ \u2028 \r\n",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    }
).encode()


def png() -> bytes:
    """A real 2x2 RGB PNG (its signature starts with 0x89: not UTF-8)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes([255, 0, 0, 0, 255, 0]) for _ in range(2))
    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def wav() -> bytes:
    """A WAV file whose samples cover every byte value (invalid UTF-8 among them)."""
    samples = bytes(range(256)) * 4
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(samples))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 8000, 1, 8)
    )
    return header + b"data" + struct.pack("<I", len(samples)) + samples


#: kind -> (headers the server sends, the body's bytes on the wire, the content the client reads)
BODIES: dict[str, tuple[tuple[tuple[str, str], ...], bytes, bytes]] = {
    "json": ((("Content-Type", "application/json"),), CHAT, CHAT),
    "sse": (
        (("Content-Type", "text/event-stream"),),
        b'data: {"choices": [{"delta": {"content": "h\xc3\xa9"}}]}\n\ndata: [DONE]\n\n',
        b'data: {"choices": [{"delta": {"content": "h\xc3\xa9"}}]}\n\ndata: [DONE]\n\n',
    ),
    "gzip-json": (
        (("Content-Type", "application/json"), ("Content-Encoding", "gzip")),
        gzip.compress(CHAT, mtime=0),
        CHAT,
    ),
    "png": ((("Content-Type", "image/png"),), png(), png()),
    "audio": ((("Content-Type", "audio/wav"),), wav(), wav()),
}

APP = """
import base64
import json
import sys

KINDS = {kinds!r}


def url(kind):
    return f"https://router.huggingface.co/hf-inference/models/org/kind-{{kind}}"


def via_httpx(client, kind):
    with client.stream("POST", url(kind), json={{"inputs": "hi"}}) as response:
        raw = b"".join(response.iter_raw())
    response = client.post(url(kind), json={{"inputs": "hi"}})
    return raw, response.content, response.headers.get("content-encoding")


def via_requests(session, kind):
    response = session.post(url(kind), json={{"inputs": "hi"}}, stream=True)
    raw = response.raw.read(decode_content=False)
    again = session.post(url(kind), json={{"inputs": "hi"}})
    return raw, again.content, again.headers.get("content-encoding")


def via_aiohttp(_, kind):
    import asyncio

    import aiohttp

    async def fetch(decompress):
        async with aiohttp.ClientSession(auto_decompress=decompress) as session:
            async with session.post(url(kind), json={{"inputs": "hi"}}) as response:
                return await response.read(), response.headers.get("content-encoding")

    (raw, _), (content, encoding) = asyncio.run(fetch(False)), asyncio.run(fetch(True))
    return raw, content, encoding


def test_round_trip():
    face = {face!r}
    if face == "aiohttp":
        client, fetch = None, via_aiohttp
    elif face == "requests":
        import requests
        client, fetch = requests.Session(), via_requests
    elif face == "httpx2":
        import huggingface_hub
        client, fetch = huggingface_hub.get_session(), via_httpx  # huggingface_hub 2.x's own client
    else:
        import httpx
        client, fetch = httpx.Client(), via_httpx
    seen = {{}}
    for kind in KINDS:
        raw, content, encoding = fetch(client, kind)
        seen[kind] = {{"raw": base64.b64encode(raw).decode(), "content": base64.b64encode(content).decode(),
                      "encoding": encoding}}
    with open({out!r}, "w") as out:
        json.dump(seen, out)
"""


class BodyEngine(Engine):
    """The double's engine: each ``/kind-<kind>`` path gets that kind's body."""

    def answer(self, request: Request) -> Answer:
        kind = urlsplit(request.url).path.rpartition("/kind-")[2]
        if kind in BODIES:
            headers, wire, _ = BODIES[kind]
            return Answer(200, "OK", headers, wire, source="bodies")
        return super().answer(request)


@pytest.fixture(scope="module")
def body_double() -> Iterator[RouterDouble]:
    engine = BodyEngine(shipped_library())
    engine.begin(Exchange())
    double = RouterDouble(engine).start()
    try:
        yield double
    finally:
        double.stop()


def seen(path: Path) -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(path.read_text())
    return {
        kind: {**v, "raw": base64.b64decode(v["raw"]), "content": base64.b64decode(v["content"])}
        for kind, v in data.items()
    }


@pytest.mark.parametrize("face", ["httpx2", "httpx", "requests", "aiohttp"])
def test_every_body_kind_round_trips_byte_for_byte(
    pytester: pytest.Pytester, body_double: RouterDouble, monkeypatch: pytest.MonkeyPatch, face: str
) -> None:
    if face == "httpx2":
        import huggingface_hub

        if type(huggingface_hub.get_session()).__module__ != "httpx2":
            pytest.skip(f"huggingface_hub {huggingface_hub.__version__} does not use httpx2 (2.x does)")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    pytester.makepyfile(test_rt=APP.format(kinds=list(BODIES), face=face, out="recorded.json"))
    urls = [f"--hfrouter-router-url={body_double.base_url}", f"--hfrouter-hub-url={body_double.base_url}"]
    result = pytester.runpytest("-p", "hfrouter", "--hfrouter-mode=record", *urls)
    result.assert_outcomes(passed=1)
    cassette = pytester.path / "cassettes" / "test_rt" / "test_round_trip.yaml"
    interactions = yaml.load(cassette.read_bytes(), Loader=yaml.CSafeLoader)["interactions"]
    assert len(interactions) == 2 * len(BODIES)

    # what the cassette holds: the wire bytes, as text when they are UTF-8, else !!binary
    for number, kind in enumerate(BODIES):
        wire = BODIES[kind][1]
        for response in (interactions[2 * number]["response"], interactions[2 * number + 1]["response"]):
            stored = response["body"]["string"]
            assert (stored if isinstance(stored, bytes) else stored.encode()) == wire, kind
            assert isinstance(stored, bytes) == (kind in ("gzip-json", "png", "audio")), kind
            recorded_headers = {k.lower(): v for k, v in response["headers"].items()}
            assert recorded_headers.get("content-encoding") == (["gzip"] if kind == "gzip-json" else None)
    assert lint_main([str(cassette)]) == 0

    # replay, without the double or a token: the client gets what it got from the server
    monkeypatch.delenv("HF_TOKEN")
    pytester.makepyfile(test_rt=APP.format(kinds=list(BODIES), face=face, out="replayed.json"))
    result = pytester.runpytest("-p", "hfrouter", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    recorded, replayed = seen(pytester.path / "recorded.json"), seen(pytester.path / "replayed.json")
    for kind, (_, wire, content) in BODIES.items():
        encoding = "gzip" if kind == "gzip-json" else None
        assert recorded[kind] == {"raw": wire, "content": content, "encoding": encoding}, f"{face} {kind} recorded"
        assert replayed[kind] == recorded[kind], f"{face} {kind} replayed"


SHARED_DEFAULT = """
import pytest
from hfapp import chat

class TestA:
    class TestInner:
        def test_x(self, hfrouter):
            assert chat("novita").choices

class TestB:
    class TestInner:
        def test_x(self, hfrouter):
            assert chat("novita").choices

@pytest.mark.parametrize("prompt", ["a/b", "a-b"])
def test_prompt(hfrouter, prompt):
    assert chat("novita").choices
"""


def test_tests_that_share_a_default_cassette_are_named_and_never_recorded_over(
    hfapp: pytest.Pytester, write_cassette: CassetteWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: two nested classes of one name (pytest-recording's layout names the innermost class only),
    or ids one once a file name's unsafe characters are replaced, have one default cassette; a recording of
    one silently replaced the other's, and replay answered each with the other's calls. Replay says so; a
    recording run fails them before it records a byte."""
    hfapp.makepyfile(test_shared=SHARED_DEFAULT)
    inner = write_cassette("cassettes/test_shared/TestInner.test_x.yaml")
    write_cassette("cassettes/test_shared/test_prompt[a-b].yaml")
    before = inner.read_text()

    replayed = hfapp.runpytest("-p", "hfrouter", "-W", "always::pytest_hfrouter.HFRouterWarning")
    replayed.assert_outcomes(passed=4)
    replayed.stdout.fnmatch_lines(
        [
            "*these tests have one default cassette, *TestInner.test_x.yaml:",
            "*  - test_shared.py::TestA::TestInner::test_x",
            "*  - test_shared.py::TestB::TestInner::test_x",
        ]
    )
    replayed.stdout.fnmatch_lines(["*these tests have one default cassette, *test_prompt?a-b?.yaml:"])

    monkeypatch.setenv("HF_TOKEN", "hf_fakefakefakefakefakefakefakefake")
    recorded = hfapp.runpytest("-p", "hfrouter", "--hfrouter-mode=record")
    recorded.assert_outcomes(errors=4)
    recorded.stdout.fnmatch_lines(["*Give each a cassette of its own: @pytest.mark.hfrouter_cassette*"])
    # cases of one function: one marker above it would name one cassette for both (an audit), so not that
    recorded.stdout.fnmatch_lines(
        [
            "*Give each a cassette of its own: ids that stay apart once a file name's unsafe characters become '-' "
            "(ids=[[]...]), or a marker per case: "
            'pytest.param(..., marks=pytest.mark.hfrouter_cassette("<case>.yaml")).'
        ]
    )
    assert inner.read_text() == before
