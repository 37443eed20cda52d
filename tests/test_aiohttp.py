"""The aiohttp face: aiohttp's own response, stream and exceptions for every answer; no socket.

The real-client matrix (``test_clients.py``) and the parity suite (``test_parity.py``) run
aiohttp kinds against every scenario; here are the parts of aiohttp they do not reach: the
stream readers, session options, request bodies, per-request timeouts, concurrency, the Hub
look-up, and that a replayed aiohttp call never reaches the socket guard.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from pytest_hfrouter.library import shipped_library

aiohttp = pytest.importorskip("aiohttp")

if TYPE_CHECKING:
    from pytest_hfrouter import HFRouter

T = TypeVar("T")

MODEL = "Qwen/Qwen2.5-7B-Instruct"
URL = "https://router.huggingface.co/novita/v3/openai/chat/completions"
MAPPING_URL = f"https://huggingface.co/api/models/{MODEL}?expand=inferenceProviderMapping"
AUTH = {"Authorization": "Bearer hf_fake"}
TIMEOUT = aiohttp.ClientTimeout(total=10)
LIBRARY = shipped_library()


def body(stream: bool = False) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


def healthy(stream: bool) -> bytes:
    """novita's recorded answer as the plugin serves it: naming the model the request named."""
    from pytest_hfrouter.fitting import with_model

    return with_model(LIBRARY.healthy.answer("novita", stream)[1].body, MODEL)


def run(make: Callable[[Any], Awaitable[T]], **session: Any) -> T:
    """``make(session)`` in a fresh loop, with a session of these options."""

    async def go() -> T:
        async with aiohttp.ClientSession(**{"timeout": TIMEOUT, "headers": AUTH, **session}) as client:
            return await make(client)

    return asyncio.run(go())


@pytest.mark.parametrize("reader", ["read", "text", "iter_any", "iter_chunked", "iter_chunks", "readline", "lines"])
def test_every_stream_reader_gets_the_whole_stream(hfrouter: HFRouter, reader: str) -> None:
    async def read(client: Any) -> bytes:
        async with client.post(URL, json=body(stream=True)) as response:
            content = response.content
            if reader == "read":
                return bytes(await response.read())
            if reader == "text":
                return str(await response.text()).encode()
            if reader == "iter_any":
                return b"".join([piece async for piece in content.iter_any()])
            if reader == "iter_chunked":
                return b"".join([piece async for piece in content.iter_chunked(7)])
            if reader == "iter_chunks":
                return b"".join([piece async for piece, _ in content.iter_chunks()])
            if reader == "readline":
                lines = []
                while line := await content.readline():
                    lines.append(line)
                return b"".join(lines)
            return b"".join([line async for line in content])

    assert run(read) == healthy(stream=True)
    (call,) = hfrouter.calls
    assert (call.provider, call.stream, call.answered_by) == ("novita", True, "healthy")


def test_events_arrive_one_at_a_time(hfrouter: HFRouter) -> None:
    """Each event is its own piece, as from a server that flushes per event."""

    async def pieces(client: Any) -> list[bytes]:
        async with client.post(URL, json=body(stream=True)) as response:
            return [piece async for piece in response.content.iter_any()]

    events = [event + b"\n\n" for event in healthy(stream=True).split(b"\n\n") if event]
    assert run(pieces) == events


def test_response_as_aiohttp_gives_it(hfrouter: HFRouter) -> None:
    async def answer(client: Any) -> tuple[Any, ...]:
        async with client.post(URL, json=body()) as response:
            response.raise_for_status()
            data = await response.json()
            return response.status, response.reason, response.ok, response.content_type, str(response.url), data

    status, reason, ok, content_type, url, data = run(answer)
    assert (status, reason, ok, content_type, url) == (200, "OK", True, "application/json", URL)
    assert data == json.loads(healthy(stream=False))


def test_raise_for_status_on_an_outage(hfrouter: HFRouter) -> None:
    async def fail(client: Any) -> Any:
        async with client.post(URL, json=body()) as response:
            text = await response.text()
            try:
                response.raise_for_status()
            except aiohttp.ClientResponseError as exc:
                return exc, text
        raise AssertionError("raise_for_status() did not raise")

    with hfrouter.outage("provider-500", provider="novita"):
        error, text = run(fail)
    recorded = LIBRARY.scenarios["provider-500"].response("provider", stream=False)
    assert (error.status, error.message) == (500, recorded.reason)
    assert str(error.request_info.url) == URL
    assert text == recorded.body.decode()


def test_session_raise_for_status(hfrouter: HFRouter) -> None:
    async def fail(client: Any) -> Any:
        try:
            await client.post(URL, json=body())
        except aiohttp.ClientResponseError as exc:
            return exc.status
        raise AssertionError("the session's raise_for_status=True did not raise")

    with hfrouter.outage("rate-limited-429", provider="novita"):
        assert run(fail, raise_for_status=True) == 429


def test_the_hub_look_up_through_aiohttp(hfrouter: HFRouter) -> None:
    async def mapping(client: Any) -> Any:
        async with client.get(MAPPING_URL) as response:
            return await response.json()

    data = run(mapping)
    assert data["id"] == MODEL and "novita" in data["inferenceProviderMapping"]
    assert [(c.route, c.method, c.answered_by) for c in hfrouter.calls] == [("mapping", "GET", "healthy")]


HUB_SCENARIOS = sorted(  # not one that pins the chat task: these are chat calls (tests/test_tasks.py meets it)
    name for name, scenario in LIBRARY.scenarios.items() if "mapping" in scenario.answers and scenario.pins_task is None
)


@pytest.mark.parametrize("scenario", HUB_SCENARIOS)
def test_a_hub_outage_through_aiohttp_is_what_httpx_gets(hfrouter: HFRouter, scenario: str) -> None:
    """The Hub look-up under each Hub scenario: aiohttp's answer is the httpx face's, byte for byte."""
    import httpx

    framing = {"content-length", "transfer-encoding", "content-encoding", "connection"}

    def kept(headers: Any) -> list[tuple[str, str]]:
        return sorted((str(k).lower(), v) for k, v in headers.items() if str(k).lower() not in framing)

    async def get(client: Any) -> tuple[Any, ...]:
        async with client.get(MAPPING_URL) as response:
            return response.status, response.reason, kept(response.headers), await response.read()

    # the look-up alone is the outage of a scenario of the mapping only: a flag in it changes nothing a
    # client that reads it meets, and staging-auth's is the provider's 401 (optional: judged so otherwise)
    meets = LIBRARY.get(scenario).mapping_only and not LIBRARY.get(scenario).flags_unavailable
    with hfrouter.outage(scenario, provider="novita", optional=not meets):
        through_aiohttp = run(get)
        answer = httpx.get(MAPPING_URL, headers=AUTH, timeout=10)
    assert through_aiohttp == (answer.status_code, answer.reason_phrase, kept(answer.headers), answer.content)
    assert [c.answered_by for c in hfrouter.calls] == [f"scenario:{scenario}"] * 2, hfrouter.call_log()


async def _chunks() -> AsyncIterator[bytes]:
    yield json.dumps(body())[:20].encode()
    yield json.dumps(body())[20:].encode()


@pytest.mark.parametrize("kind", ["json", "bytes", "string", "file", "async-iterable"])
def test_every_request_body_reaches_the_engine(hfrouter: HFRouter, kind: str) -> None:
    raw = json.dumps(body()).encode()
    data: Any = {"bytes": raw, "string": raw.decode(), "file": io.BytesIO(raw), "async-iterable": _chunks()}.get(kind)

    async def post(client: Any) -> int:
        options = {"json": body()} if kind == "json" else {"data": data}
        async with client.post(URL, headers={"Content-Type": "application/json"}, **options) as response:
            await response.read()
            return int(response.status)

    assert run(post) == 200
    (call,) = hfrouter.calls  # the model came from the body
    assert (call.provider, call.model, call.answered_by) == ("novita", MODEL, "healthy")


def test_a_request_timeout_overrides_the_sessions(hfrouter: HFRouter) -> None:
    """aiohttp's ``timeout=`` per request replaces the session's: the stall meets its sock_read."""

    async def stalled(client: Any) -> BaseException:
        try:
            await client.post(URL, json=body(), timeout=aiohttp.ClientTimeout(sock_read=2))
        except Exception as exc:
            return exc
        raise AssertionError("no timeout")

    with hfrouter.outage("read-timeout", provider="novita"):
        error = run(stalled, timeout=aiohttp.ClientTimeout(total=None))
    assert type(error) is aiohttp.SocketTimeoutError
    assert str(error) == "Timeout on reading data from socket"


def test_slow_stream_within_sock_read_is_a_success(hfrouter: HFRouter) -> None:
    async def read(client: Any) -> bytes:
        async with client.post(URL, json=body(stream=True)) as response:
            return bytes(await response.read())

    with hfrouter.outage("slow-stream", provider="novita", delay=0.5):
        data = run(read, timeout=aiohttp.ClientTimeout(sock_read=1))
    assert data.count(b"data: ") > 2 and data.endswith(b"data: [DONE]\n\n")
    (call,) = hfrouter.calls
    assert (call.answered_by, call.fault, call.failed) == ("scenario:slow-stream", None, False)


def test_a_slow_reader_never_meets_sock_read(hfrouter: HFRouter) -> None:
    """sock_read measures the server; a replayed server always has the next byte ready."""

    async def slowly(client: Any) -> bytes:
        async with client.post(URL, json=body(stream=True)) as response:
            first = await response.content.readline()
            await asyncio.sleep(0.3)
            return bytes(first + await response.read())

    assert run(slowly, timeout=aiohttp.ClientTimeout(sock_read=0.1)) == healthy(stream=True)


def test_concurrent_requests_each_get_their_own_answer(hfrouter: HFRouter) -> None:
    providers = ["novita", "together", "sambanova", "fireworks-ai"] * 3

    async def many(client: Any) -> list[str]:
        async def one(provider: str) -> str:
            url = f"https://router.huggingface.co/{provider}/v1/chat/completions"
            if provider == "novita":
                url = URL
            elif provider == "fireworks-ai":
                url = "https://router.huggingface.co/fireworks-ai/inference/v1/chat/completions"
            async with client.post(url, json=body()) as response:
                return str((await response.json())["id"])

        return list(await asyncio.gather(*(one(p) for p in providers)))

    recorded = {p: json.loads(LIBRARY.healthy.answer(p, False)[1].body)["id"] for p in set(providers)}
    assert len(set(recorded.values())) == len(recorded)  # each provider's own recording
    assert run(many) == [recorded[p] for p in providers]
    assert sorted(c.provider or "" for c in hfrouter.calls) == sorted(providers)


def test_a_stream_left_early_ends_quietly(hfrouter: HFRouter) -> None:
    async def first_line(client: Any) -> bytes:
        async with client.post(URL, json=body(stream=True)) as response:
            return bytes(await response.content.readline())

    assert run(first_line).startswith(b"data: {")
    assert run(first_line).startswith(b"data: {")  # and the session after it still answers


GUARDED = """
import asyncio
import socket

import aiohttp
import pytest

MODEL = "Qwen/Qwen2.5-7B-Instruct"
URL = "https://router.huggingface.co/novita/v3/openai/chat/completions"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def sockets(monkeypatch):
    \"\"\"Every name look-up and connection below the guard's own wrappers.\"\"\"
    touched = []
    getaddrinfo, connect = socket.getaddrinfo, socket.socket.connect

    def looked_up(host, *args, **kwargs):
        touched.append(("getaddrinfo", host))
        return getaddrinfo(host, *args, **kwargs)

    def connected(self, address):
        touched.append(("connect", address))
        return connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", looked_up)
    monkeypatch.setattr(socket.socket, "connect", connected)
    return touched


async def calls():
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer hf_fake"},
                                     timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.post(URL, json=BODY) as r:
            assert r.status == 500
        async with session.get(f"https://huggingface.co/api/models/{MODEL}?expand=inferenceProviderMapping") as r:
            assert (await r.json())["id"] == MODEL
        async with session.post(URL, json=BODY) as r:
            assert (await r.json())["choices"]
        async with session.post(URL, json={**BODY, "stream": True}) as r:
            assert [line async for line in r.content][-2] == b"data: [DONE]\\n"


def test_router_calls(hfrouter, sockets):
    with hfrouter.outage("provider-500", provider="novita", times=1):
        asyncio.run(calls())
    assert [c.answered_by for c in hfrouter.calls] == ["scenario:provider-500"] + ["healthy"] * 3
    assert sockets == []


def test_the_guard_is_on(sockets):
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 443)
"""


def test_replayed_aiohttp_calls_never_reach_the_guard(pytester: pytest.Pytester) -> None:
    """A replayed aiohttp call is answered before aiohttp resolves a name: the socket guard,
    which is on (the second test meets it), never sees one."""
    pytester.makepyfile(test_guarded=GUARDED)

    result = pytester.runpytest("-p", "hfrouter", "-p", "no:randomly")

    result.assert_outcomes(passed=1, failed=1)
    output = result.stdout.str()
    blocked = [line for line in output.splitlines() if "blocked a connection to" in line]
    assert blocked and all("example.com:443" in line for line in blocked)  # (CI=true: the summary repeats it)
    result.stdout.fnmatch_lines(["*_ test_the_guard_is_on _*", "*blocked a connection to example.com:443*"])
    assert "test_router_calls" not in "".join(line for line in output.splitlines() if "blocked" in line)


NO_TIMEOUT = """
import asyncio

import aiohttp
import pytest

URL = "https://router.huggingface.co/novita/v3/openai/chat/completions"
BODY = {"model": "Qwen/Qwen2.5-7B-Instruct", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.hfrouter_outage("read-timeout", provider="novita")
def test_stalled_without_a_timeout():
    async def main():
        # huggingface_hub 0.x's AsyncInferenceClient(timeout=None) builds exactly this
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(None)) as session:
            async with session.post(URL, json=BODY) as response:
                return response.status

    try:
        asyncio.run(main())
    except Exception:
        pass  # the app swallows it: only the plugin can still fail the test
"""


def test_a_stall_with_no_aiohttp_timeout_fails_the_test_as_a_hang(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_no_timeout=NO_TIMEOUT)

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-hfrouter: would hang forever: POST https://router.huggingface.co/novita/v3/openai/chat/completions",
            "  read-timeout: the client sets no read timeout*",
        ]
    )
    # in an event loop the app may bound the call itself (an audit: asyncio.timeout around a client without
    # one was told to give its client a timeout): the message says replay cannot play that, and where it can
    result.stdout.fnmatch_lines(
        ["*If the app bounds the call itself (asyncio.timeout, asyncio.wait_for, anyio.fail_after), replay cannot*"]
    )


# -- timeouts against a real socket: which ClientTimeout field fires, and what aiohttp raises ----
SHORT = 0.3  # seconds: every reference cell below waits it out for real
LONG = 5.0
TIMEOUTS = {
    "total": {"total": SHORT},
    "connect": {"total": None, "connect": SHORT},
    "sock_connect": {"total": None, "sock_connect": SHORT},
    "sock_connect-under-total": {"total": LONG, "sock_connect": SHORT},
    "total-under-connect": {"total": SHORT, "connect": LONG},
    "sock_read": {"total": None, "sock_read": SHORT},
    "sock_read-under-total": {"total": LONG, "sock_read": SHORT},
    "total-under-sock_read": {"total": SHORT, "sock_read": LONG},
}


async def _outcome(url: str, fields: dict[str, Any]) -> tuple[str, str]:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(**fields)) as client,
            client.post(url, json=body(), headers=AUTH) as response,
        ):
            await response.read()
    except Exception as exc:
        return type(exc).__qualname__, str(exc)
    return "ok", ""


@pytest.fixture
def unaccepting() -> Any:
    """A loopback port whose accept queue is full: the kernel drops further SYNs, so a connect
    hangs as towards a provider that never answers (the reference for connect timeouts)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield f"http://127.0.0.1:{port}"
    for sock in [*fillers, server]:
        sock.close()


CONNECT_CASES = ["total", "connect", "sock_connect", "sock_connect-under-total", "total-under-connect"]
#: the cases that limit a read (connect-only ones would hang: a test of its own covers that)
READ_CASES = ["total", "sock_read", "sock_read-under-total", "total-under-sock_read"]


@pytest.mark.parametrize("case", CONNECT_CASES)
def test_connect_timeout_is_what_a_connect_that_hangs_gives(hfrouter: HFRouter, unaccepting: str, case: str) -> None:
    fields = TIMEOUTS[case]
    path = URL.removeprefix("https://router.huggingface.co")
    real = asyncio.run(_outcome(unaccepting + path, fields))
    with hfrouter.outage("connect-timeout", provider="novita"):
        replayed = asyncio.run(_outcome(URL, fields))
    assert real[0] in ("ConnectionTimeoutError", "TimeoutError"), real
    assert replayed == (real[0], real[1].replace(unaccepting, "https://router.huggingface.co"))


@pytest.mark.parametrize("case", READ_CASES)
def test_read_timeout_is_what_the_doubles_stall_gives(hfrouter: HFRouter, hfrouter_server: Any, case: str) -> None:
    """The router double stalls on an open socket; replay gives the same, without waiting."""
    fields = TIMEOUTS[case]
    path = URL.removeprefix("https://router.huggingface.co")
    with hfrouter.outage("read-timeout", provider="novita"):
        real = asyncio.run(_outcome(hfrouter_server.base_url + path, fields))
        replayed = asyncio.run(_outcome(URL, fields))
    assert real[0] in ("SocketTimeoutError", "TimeoutError"), real
    assert replayed == real


AIOHTTP_DEADLINE = """
import asyncio, time

import aiohttp
import pytest

BODY = {"model": "Qwen/Qwen2.5-72B-Instruct:novita", "messages": [{"role": "user", "content": "hi"}], "stream": True}


async def consume(url):
    events = 0
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
            async with session.post(url, json=BODY, headers={"Authorization": "Bearer hf_fake"}) as response:
                async for line in response.content:
                    events += line.startswith(b"data:")
        return f"ok after {events} events"
    except Exception as exc:
        return f"{type(exc).__name__} after {events} events"


# events at 0, 1.2 and 2.4 s: two arrive within total=2, with margins a loaded machine keeps
@pytest.mark.hfrouter_outage("slow-stream", provider="novita", delay=1.2)
def test_replayed(hfrouter):
    assert asyncio.run(consume("https://router.huggingface.co/v1/chat/completions")) == "TimeoutError after 2 events"


@pytest.mark.hfrouter_outage("slow-stream", provider="novita", delay=1.2)
def test_served(hfrouter_server):
    assert asyncio.run(consume(hfrouter_server.base_url + "/v1/chat/completions")) == "TimeoutError after 2 events"
"""


def test_aiohttp_total_bounds_the_whole_stream_as_on_a_real_socket(pytester: pytest.Pytester) -> None:
    """``ClientTimeout(total=2)`` is a deadline for the whole answer: a stream with an event every 1.2 s
    times out after its second event, replayed in-process as served by the router double over a socket
    (an audit: replay compared total with each gap and delivered all of it, green)."""
    pytester.makepyfile(test_deadline=AIOHTTP_DEADLINE)
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=2)
