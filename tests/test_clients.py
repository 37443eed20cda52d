"""Real clients against the scenario library: what an app really gets for each recorded outage.

No client is mocked. Every scenario file in the shipped library (``cassettes/scenarios/``) is run
through every client kind below, under ``hfrouter.outage(scenario, provider="novita")``:

* huggingface_hub ``InferenceClient`` / ``AsyncInferenceClient`` with ``provider="novita"``,
  plain and ``stream=True`` (0.x's async client is built on aiohttp: its chat call goes through
  aiohttp, its mapping look-up through requests, and an HTTP error is aiohttp's
  ``ClientResponseError``, not ``HfHubHTTPError``);
* huggingface_hub ``InferenceClient`` without a provider: the server-side auto route
  (``/v1/chat/completions``) on huggingface_hub >= 1.0, the client-side "auto" of 0.x (mapping
  look-up, then the first provider's route: the seed incident's path) on 0.x;
* the openai SDK on ``https://router.huggingface.co/v1`` (auto route) and on novita's
  OpenAI-compatible base ``https://router.huggingface.co/novita/v3/openai`` (provider route);
* plain ``requests.post``, ``httpx.post``, ``httpx2.post`` and aiohttp's ``ClientSession.post``
  (read whole, ``content.iter_any()``, and line by line) to novita's route.

What each cell must produce is derived in one place, `expected_outcome`, from the scenario's
metadata (status, routes, stream, fault) and its recorded answers, so a new scenario file is
covered without touching this module. A cell the scenario does not reach (another route, the
other stream mode, a Hub look-up the client never makes) must get the healthy recorded answer.
How each client turns an answer into a result or an exception (docs/ROUTER-FACTS.md §2-3, and the
openai SDK's documented status -> exception table) lives in the ``check_*`` helpers.

Every client is given ``timeout=TIMEOUT``: without one a stalled provider hangs the app (and
the plugin fails the test with that diagnosis), which is not what this matrix is about.

The last tests replay real recordings from huggingface_hub's own suite (``tests/data/real/``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib
import importlib.util
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import huggingface_hub
import pytest
import yaml
from huggingface_hub import InferenceClient
from huggingface_hub.errors import (
    BadRequestError,
    GenerationError,
    HfHubHTTPError,
    IncompleteGenerationError,
    InferenceTimeoutError,
    OverloadedError,
    TextGenerationError,
    UnknownError,
    ValidationError,
)

from pytest_hfrouter.faces import FACES
from pytest_hfrouter.faults import FAULTS
from pytest_hfrouter.fitting import with_model
from pytest_hfrouter.library import MAPPING_PROVIDERS, Scenario, shipped_library
from pytest_hfrouter.routes import AUTO, MAPPING, PROVIDER

if TYPE_CHECKING:
    from pytest_hfrouter import HFRouter

# -- the test's constants ------------------------------------------------------------------
HFH_VERSION = tuple(int(part) for part in re.findall(r"\d+", huggingface_hub.__version__)[:2])
HFH_1X = HFH_VERSION >= (1, 0)
# The HTTP library under huggingface_hub (docs/ROUTER-FACTS.md §1.4).
HFH_HTTP = "httpx2" if HFH_VERSION >= (2, 0) else "httpx" if HFH_1X else "requests"
# AsyncInferenceClient's: the same on >= 1.0; aiohttp on 0.x.
HFH_ASYNC_HTTP = HFH_HTTP if HFH_1X else "aiohttp"
OPENAI_HTTP = "httpx2"  # openai 3.x (docs/ROUTER-FACTS.md addendum)
TARGET: Final = "novita"  # the provider every outage is injected on (the seed incident's provider)
# Who answers the server-side auto route, and whom a 0.x client's client-side "auto" picks:
# the first provider of the healthy mapping the plugin serves (documented in the README).
AUTO_PICK = MAPPING_PROVIDERS[0]
MODEL = "Qwen/Qwen2.5-7B-Instruct"
MESSAGES = [{"role": "user", "content": "hi"}]
API_KEY = "hf_fake"
TIMEOUT = 10.0  # seconds, connect and read, for every client
ROUTER = "https://router.huggingface.co"
NOVITA_BASE = f"{ROUTER}/novita/v3/openai"
NOVITA_URL = f"{NOVITA_BASE}/chat/completions"

LIBRARY = shipped_library()
# The scenarios of every provider (job-failed is replicate's answer: tests/test_tasks.py covers it).
SCENARIOS = sorted((s for s in LIBRARY.scenarios.values() if s.applies_to(TARGET)), key=lambda s: s.name)
SLOW_FAULTS = ("slow-first-token", "slow-stream")  # the faults whose outcome depends on the timeout
SLOW_SCENARIOS = [s for s in SCENARIOS if s.fault is not None and s.fault.type in SLOW_FAULTS]


def _missing(module: str) -> str | None:
    """A skip reason when ``module`` is not installed."""
    return None if importlib.util.find_spec(module) is not None else f"{module} is not installed"


HAS_OPENAI = _missing("openai") is None

# The client-side warnings huggingface_hub logs for a mapping entry's status (docs/ROUTER-FACTS.md §1.3).
MAPPING_WARNINGS = {
    "staging": "is in staging mode for provider",
    "error": "did not complete successfully",
}
# TGI stream error_type -> exception (docs/ROUTER-FACTS.md §2.10); anything else is UnknownError.
STREAM_ERRORS: dict[str, type[TextGenerationError]] = {
    "overloaded": OverloadedError,
    "generation": GenerationError,
    "validation": ValidationError,
    "incomplete_generation": IncompleteGenerationError,
}
# huggingface_hub >= 1.33 appends this to a non-streamed conversational 504 (docs/ROUTER-FACTS.md §2.7).
NOTE_504 = "pass `stream=True`"


# -- expected outcome per scenario ---------------------------------------------------------
OK = "ok"  # a completion (the healthy recording, or the scenario's own successful answer)
HTTP_ERROR = "http-error"  # the router's error status reaches the client
HUB_ERROR = "hub-error"  # the provider-mapping look-up on huggingface.co fails
MAPPING_VALUE_ERROR = "mapping-value-error"  # the client refuses before any router call
ERROR_IN_200 = "error-in-200"  # HTTP 200 whose JSON is an error object
STREAM_ERROR = "stream-error"  # HTTP 200 stream carrying an error event
STREAM_MALFORMED = "stream-malformed"  # HTTP 200 stream whose last event is not JSON
TRANSPORT = "transport"  # a timeout, a reset or a cut: no HTTP answer, or half of one

# What happens on the wire (the ``transport`` of an Expected).
CONNECT_TIMEOUT = "connect-timeout"
READ_TIMEOUT = "read-timeout"
RESET = "reset"
CUT = "cut"


@dataclass(frozen=True)
class Event:
    """One ``data:`` line of a server-sent-events body."""

    data: str
    #: Followed by the blank line that makes an SSE reader dispatch it.
    terminated: bool

    @property
    def json(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.data)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


def sse_events(body: bytes) -> list[Event]:
    """The events of a server-sent-events body, up to ``data: [DONE]`` (none for plain JSON)."""
    events: list[Event] = []
    frames = body.decode("utf-8", "replace").split("\n\n")
    for number, frame in enumerate(frames):
        for line in frame.splitlines():
            if line.startswith("data:"):
                payload = line[len("data:") :].strip()
                if payload == "[DONE]":
                    return events
                events.append(Event(payload, number < len(frames) - 1))
    return events


def sse_frames(body: bytes, headers: Iterable[tuple[str, str]]) -> list[bytes]:
    """The body as the network delivers it: one chunk per SSE event, a JSON body in one piece."""
    if not any(k.lower() == "content-type" and "event-stream" in v for k, v in headers):
        return [body] if body else []
    parts = body.split(b"\n\n")
    return [part + b"\n\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def stream_pieces(events: Iterable[Event]) -> list[str]:
    """The text deltas of a stream, up to its first error event or malformed event."""
    pieces = []
    for event in events:
        data = event.json
        if data is None or data.get("error") is not None:
            break
        for choice in data.get("choices") or []:
            if content := (choice.get("delta") or {}).get("content"):
                pieces.append(content)
    return pieces


@dataclass(frozen=True)
class Expected:
    """What the router (or the Hub) answers a client, and what the client must make of it."""

    outcome: str
    #: ``answered_by`` of the client's chat call in the call log; None: no chat call is made.
    answered_by: str | None
    #: The provider whose route answers the chat call.
    provider: str | None
    status: int = 200
    reason: str = "OK"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    #: A client-side warning huggingface_hub must log (from the mapping entry's status).
    warning: str | None = None
    #: The scenario's fault type as the call log shows it.
    fault_type: str | None = None
    #: CONNECT_TIMEOUT / READ_TIMEOUT / RESET / CUT when the transport fails.
    transport: str | None = None
    #: Network chunks that arrive before the transport fails (None: all of them).
    delivered: int | None = None
    #: The transport fails before the status line: the app gets no response at all.
    before_response: bool = False

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def is_html(self) -> bool:
        return "html" in (self.header("content-type") or "").lower()

    @property
    def delivered_body(self) -> bytes:
        if self.fault_type == "body-cut":  # the first half of the Content-Length body
            return self.body[: max(1, len(self.body) // 2)]
        if self.delivered is None:
            return self.body
        return b"".join(sse_frames(self.body, self.headers)[: self.delivered])

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def events(self) -> list[Event]:
        return sse_events(self.delivered_body)

    @property
    def error_event(self) -> dict[str, Any] | None:
        return next((d for e in self.events if (d := e.json) is not None and d.get("error") is not None), None)

    @property
    def malformed_event(self) -> Event | None:
        return next((e for e in self.events if e.json is None), None)

    @property
    def content(self) -> str:
        """The text a client shows: streamed pieces before any error, or the message content."""
        if self.events or self.delivered is not None:
            return "".join(stream_pieces(self.events))
        return str(self.json["choices"][0]["message"]["content"])

    @property
    def server_text(self) -> str | None:
        """What ``HfHubHTTPError.server_message`` must contain (hfh ``_format``, docs/ROUTER-FACTS.md §3.3).

        Sources in order: the ``X-Error-Message`` header, the JSON ``error`` (a dict is appended
        as ``str(dict)``, which contains its ``message``), a plain-text body; HTML gives None.
        """
        if header := self.header("x-error-message"):
            return header
        data = self.json
        if isinstance(data, dict) and data.get("error") is not None:
            error = data["error"]
            return str(error.get("message", error)) if isinstance(error, dict) else str(error)
        text = self.body.decode("utf-8", "replace").strip()
        return text if text and not self.is_html else None

    @property
    def openai_body(self) -> Any:
        """``APIStatusError.body``: the JSON's ``error`` (or the whole JSON), else the stripped text."""
        data = self.json
        if data is None:
            return self.body.decode("utf-8", "replace").strip()
        return data.get("error", data) if isinstance(data, dict) else data


@dataclass(frozen=True)
class ClientKind:
    """One way an app calls the router: which route its chat call takes and what it looks up first."""

    id: str
    family: str  # "hfh" | "openai" | "raw"
    #: The HTTP library underneath: it decides the exception of a transport fault.
    library: str
    route: str  # PROVIDER or AUTO
    stream: bool
    #: It names the provider itself (``provider="novita"``, novita's URL), not the router's pick.
    explicit_provider: bool
    #: It fetches ``GET huggingface.co/api/models/{id}?expand=inferenceProviderMapping`` first.
    looks_up_mapping: bool
    run: Callable[[], Run]
    skip: str | None = None


def expected_outcome(scenario: Scenario | None, client: ClientKind, delay: float | None = None) -> Expected:
    """The answer ``client`` gets under ``outage(scenario, provider=TARGET, delay=delay)``.

    ``scenario=None``: no outage.
    """
    provider = TARGET if client.explicit_provider else AUTO_PICK
    if scenario is not None and scenario.flags_unavailable and client.route == AUTO and provider == TARGET:
        # The router's failover: its own pick skips the flagged provider for the mapping's next.
        provider = next(p for p in MAPPING_PROVIDERS if p != TARGET)
    warning = None
    values = {"model": MODEL, "provider": provider, "provider_id": MODEL}
    if scenario is not None and client.looks_up_mapping and MAPPING in scenario.answers:
        mapping = scenario.answers[MAPPING][0].response
        if mapping.status != 200:  # the Hub look-up itself fails: no router call follows
            return Expected(
                HUB_ERROR,
                None,
                None,
                mapping.status,
                mapping.reason,
                fill_headers(mapping.headers, values),
                fill(mapping.body, values),
            )
        entry = json.loads(mapping.body)["inferenceProviderMapping"]["${provider}"]
        if entry is None:  # the overlay removes the target provider from the mapping
            if client.explicit_provider:
                return Expected(MAPPING_VALUE_ERROR, None, provider)
            # 0.x client-side "auto" takes the first provider still listed.
            provider = next(p for p in MAPPING_PROVIDERS if p != TARGET)
            values["provider"] = provider
        else:
            warning = MAPPING_WARNINGS.get(entry.get("status"))
    reached = (
        scenario is not None
        and provider == TARGET
        and client.route in scenario.answers
        and scenario.stream in (None, client.stream)
    )
    if not reached:
        _, healthy = LIBRARY.healthy.answer(provider, client.stream)
        body = with_model(healthy.body, MODEL)  # a healthy answer names the model the request named
        return Expected(OK, "healthy", provider, healthy.status, healthy.reason, healthy.headers, body, warning)
    assert scenario is not None
    choices = scenario.answers[client.route]
    recorded = next((i.response for i in choices if i.route.stream == client.stream), choices[0].response)
    if scenario.uses_healthy_body:  # body-cut: the call's own healthy answer, cut halfway
        _, recorded = LIBRARY.healthy.answer(provider, client.stream)
    answer = Expected(
        OK,
        f"scenario:{scenario.name}",
        provider,
        recorded.status,
        recorded.reason,
        fill_headers(recorded.headers, values),
        fill(recorded.body, values),
        warning,
        scenario.fault.type if scenario.fault else None,
    )
    # huggingface_hub 0.x's async client gives aiohttp ClientTimeout(total=timeout): a deadline for the whole answer
    transport = _transport(scenario, answer, delay, deadline=client.family == "hfh" and client.library == "aiohttp")
    if transport is not None:
        return dataclasses.replace(
            answer, outcome=TRANSPORT, transport=transport[0], delivered=transport[1], before_response=transport[2]
        )
    if answer.status >= 400:
        return dataclasses.replace(answer, outcome=HTTP_ERROR)
    if answer.events:
        if answer.error_event is not None:
            return dataclasses.replace(answer, outcome=STREAM_ERROR)
        if answer.malformed_event is not None:
            return dataclasses.replace(answer, outcome=STREAM_MALFORMED)
        return answer
    data = answer.json
    if isinstance(data, dict) and data.get("error") is not None:
        return dataclasses.replace(answer, outcome=ERROR_IN_200)
    if isinstance(data, dict) and data.get("choices") and not client.stream:
        return answer
    pytest.fail(
        f"scenario {scenario.name!r}: no client expectation for a {answer.status} answer of this shape "
        f"to a {'streamed' if client.stream else 'plain'} request; extend expected_outcome()",
        pytrace=False,
    )


def _transport(
    scenario: Scenario, answer: Expected, delay: float | None, deadline: bool = False
) -> tuple[str, int, bool] | None:
    """``(what fails, chunks delivered first, before the status line)`` for a fault, as a network does it.

    A stalled provider trips a client's read timeout only when the stall is longer than it; a client whose
    timeout is a ``deadline`` for the whole answer (aiohttp's ``total``) stops a slow stream when it runs out.
    """
    fault = scenario.fault
    if fault is None:
        return None
    stall = fault.delay if delay is None else delay
    chunks = len(sse_frames(answer.body, answer.headers))
    if fault.type == "connect-timeout":
        return CONNECT_TIMEOUT, 0, True
    if fault.type == "read-timeout":
        return READ_TIMEOUT, 0, True
    if fault.type == "connection-reset":
        return RESET, 0, True
    if fault.type == "stream-cut":
        return CUT, fault.after_chunks, False
    if fault.type == "body-cut":  # half the plain body (see Expected.delivered_body), then the cut
        return CUT, 0, False
    if fault.type == "slow-first-token":  # nothing arrives for ``stall`` seconds
        return (READ_TIMEOUT, 0, True) if stall > TIMEOUT else None
    if fault.type == "slow-stream":  # the first chunk at once, every later one ``stall`` apart
        if stall > TIMEOUT and chunks > 1:
            return READ_TIMEOUT, 1, False
        arrived = max(1, math.ceil(TIMEOUT / stall))  # chunk n arrives n x stall after the first
        return (READ_TIMEOUT, arrived, False) if deadline and chunks > arrived else None
    pytest.fail(
        f"scenario {scenario.name!r}: fault type {fault.type!r} has no client expectation; extend _transport()",
        pytrace=False,
    )


def fill(body: bytes, values: dict[str, str]) -> bytes:
    text = body.decode("utf-8")
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text.encode("utf-8")


def fill_headers(headers: Iterable[tuple[str, str]], values: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple((k, fill(v.encode(), values).decode()) for k, v in headers)


# -- the exception each library raises for a transport fault -------------------------------
def library_error(library: str, transport: str, before_response: bool) -> type[Exception]:
    """httpx / httpx2 / requests on a real socket (docs/ROUTER-FACTS.md §2.11, §3.2); aiohttp as observed
    against the router double, with the raw kinds' ``ClientTimeout(connect=..., sock_read=...)``."""
    if library == "aiohttp":
        import aiohttp

        return {
            CONNECT_TIMEOUT: aiohttp.ConnectionTimeoutError,
            READ_TIMEOUT: aiohttp.SocketTimeoutError,
            RESET: aiohttp.ClientOSError,
            CUT: aiohttp.ClientPayloadError,
        }[transport]
    if library == "requests":
        import requests

        return {
            CONNECT_TIMEOUT: requests.ConnectTimeout,
            # Once the body streams, requests turns urllib3's ReadTimeoutError into ConnectionError.
            READ_TIMEOUT: requests.ReadTimeout if before_response else requests.ConnectionError,
            RESET: requests.ConnectionError,
            CUT: requests.exceptions.ChunkedEncodingError,
        }[transport]
    module = importlib.import_module(library)
    errors: dict[str, type[Exception]] = {
        CONNECT_TIMEOUT: module.ConnectTimeout,
        READ_TIMEOUT: module.ReadTimeout,
        RESET: module.ReadError,
        CUT: module.RemoteProtocolError,
    }
    return errors[transport]


def hfh_transport_error(expected: Expected, client: ClientKind) -> type[Exception]:
    """huggingface_hub 2.x, and 0.x's async client, convert a timeout before the response to
    InferenceTimeoutError only. 0.x's async client gives aiohttp ``ClientTimeout(total=timeout)``:
    a stall mid-stream is aiohttp's total timeout, a bare ``TimeoutError``."""
    assert expected.transport is not None
    timeout = expected.transport in (CONNECT_TIMEOUT, READ_TIMEOUT)
    if (HFH_VERSION >= (2, 0) or client.library == "aiohttp") and timeout and expected.before_response:
        return InferenceTimeoutError
    if client.library == "aiohttp" and timeout:
        return asyncio.TimeoutError  # the builtin TimeoutError from Python 3.11
    return library_error(client.library, expected.transport, expected.before_response)


# -- running the real clients --------------------------------------------------------------
@dataclass
class Run:
    """What a client produced: its result, the text it showed, the exception that ended it."""

    result: Any = None
    pieces: list[str] = field(default_factory=list)
    chunks: int = 0
    error: Exception | None = None
    #: The raw body bytes that arrived (plain HTTP clients).
    data: bytearray = field(default_factory=bytearray)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True)
class RawResponse:
    status: int
    reason: str
    headers: dict[str, str]


def _take_chunk(run: Run, chunk: Any) -> None:
    run.chunks += 1
    choices = chunk.choices or []
    if choices and choices[0].delta is not None and choices[0].delta.content:
        run.pieces.append(choices[0].delta.content)


def _take_completion(run: Run, completion: Any) -> None:
    run.result = completion
    if completion.choices:
        run.pieces.append(completion.choices[0].message.content or "")


def run_hfh(provider: str | None, stream: bool) -> Run:
    run = Run()
    kwargs: dict[str, Any] = {"provider": provider} if provider else {}
    try:
        # Keep the client referenced while streaming: on huggingface_hub >= 1.0 the stream lives in
        # the client's ExitStack, and a collected client closes it (httpx StreamClosed).
        client = InferenceClient(api_key=API_KEY, timeout=TIMEOUT, **kwargs)
        output = client.chat_completion(MESSAGES, model=MODEL, stream=stream)
        if stream:
            for chunk in output:
                _take_chunk(run, chunk)
        else:
            _take_completion(run, output)
    except Exception as exc:
        run.error = exc
    return run


def run_hfh_async(provider: Any, stream: bool) -> Run:
    from huggingface_hub import AsyncInferenceClient

    async def go() -> Run:
        run = Run()
        try:
            async with AsyncInferenceClient(provider=provider, api_key=API_KEY, timeout=TIMEOUT) as client:
                output = await client.chat_completion(MESSAGES, model=MODEL, stream=stream)
                if stream:
                    async for chunk in output:
                        _take_chunk(run, chunk)
                else:
                    _take_completion(run, output)
        except Exception as exc:
            run.error = exc
        return run

    return asyncio.run(go())


def run_openai(base_url: str, stream: bool) -> Run:
    import openai

    run = Run()
    with openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, timeout=TIMEOUT) as client:
        try:
            if stream:
                for chunk in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):  # type: ignore[arg-type]
                    _take_chunk(run, chunk)
            else:
                _take_completion(run, client.chat.completions.create(model=MODEL, messages=MESSAGES))  # type: ignore[arg-type]
        except Exception as exc:
            run.error = exc
    return run


def _raw_json(stream: bool) -> dict[str, Any]:
    return {"model": MODEL, "messages": MESSAGES, "stream": stream}


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}"}


def run_requests(stream: bool) -> Run:
    """``requests.post``; a stream is read piece by piece so a cut keeps what arrived."""
    import requests

    run = Run()
    try:
        response = requests.post(NOVITA_URL, json=_raw_json(stream), headers=_auth(), stream=stream, timeout=TIMEOUT)
        run.result = RawResponse(response.status_code, response.reason, dict(response.headers))
        # chunk_size=None would spin forever under pytest-hfrouter (see the report): 1 KiB pieces.
        for piece in response.iter_content(chunk_size=1024):
            run.data += piece
    except Exception as exc:
        run.error = exc
    return run


def run_httpx(library: str, stream: bool) -> Run:
    """``httpx.post`` / ``httpx2.post``; a stream through ``.stream()`` so a cut keeps what arrived."""
    module = importlib.import_module(library)
    run = Run()
    try:
        if not stream:
            response = module.post(NOVITA_URL, json=_raw_json(stream), headers=_auth(), timeout=TIMEOUT)
            run.result = RawResponse(response.status_code, response.reason_phrase, dict(response.headers))
            run.data += response.content
            return run
        with module.stream("POST", NOVITA_URL, json=_raw_json(stream), headers=_auth(), timeout=TIMEOUT) as response:
            run.result = RawResponse(response.status_code, response.reason_phrase, dict(response.headers))
            for piece in response.iter_bytes():
                run.data += piece
    except Exception as exc:
        run.error = exc
    return run


def run_aiohttp(stream: bool, lines: bool) -> Run:
    """aiohttp's ``ClientSession.post``: the body read whole, or piece by piece (``iter_any()``), or
    line by line (``async for line in response.content``), so a cut keeps what arrived. Its own
    timeouts (``connect``, ``sock_read``), not ``total``: what aiohttp raises for each is its own class."""
    import aiohttp

    async def go() -> Run:
        run = Run()
        timeout = aiohttp.ClientTimeout(connect=TIMEOUT, sock_read=TIMEOUT)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(NOVITA_URL, json=_raw_json(stream), headers=_auth()) as response,
            ):
                run.result = RawResponse(response.status, response.reason or "", dict(response.headers))
                if lines:
                    async for line in response.content:
                        run.data += line
                elif stream:
                    async for piece in response.content.iter_any():
                        run.data += piece
                else:
                    run.data += await response.read()
        except Exception as exc:
            run.error = exc
        return run

    return asyncio.run(go())


def _clients() -> list[ClientKind]:
    async_skip = None if HFH_1X else _missing("aiohttp")
    kinds: list[ClientKind] = []
    for stream in (False, True):
        sfx = "-stream" if stream else ""
        kinds += [
            ClientKind(
                f"hfh-novita{sfx}",
                "hfh",
                HFH_HTTP,
                PROVIDER,
                stream,
                True,
                True,
                functools.partial(run_hfh, TARGET, stream),
            ),
            ClientKind(
                f"hfh-async-novita{sfx}",
                "hfh",
                HFH_ASYNC_HTTP,
                PROVIDER,
                stream,
                True,
                True,
                functools.partial(run_hfh_async, TARGET, stream),
                async_skip,
            ),
            # No provider: the server-side auto route on >= 1.0; on 0.x the client looks up the
            # mapping and calls the first provider's route itself.
            ClientKind(
                f"hfh-no-provider{sfx}",
                "hfh",
                HFH_HTTP,
                AUTO if HFH_1X else PROVIDER,
                stream,
                False,
                not HFH_1X,
                functools.partial(run_hfh, None, stream),
            ),
            ClientKind(
                f"openai-v1{sfx}",
                "openai",
                OPENAI_HTTP,
                AUTO,
                stream,
                False,
                False,
                functools.partial(run_openai, f"{ROUTER}/v1", stream),
                _missing("openai"),
            ),
            ClientKind(
                f"openai-novita{sfx}",
                "openai",
                OPENAI_HTTP,
                PROVIDER,
                stream,
                True,
                False,
                functools.partial(run_openai, NOVITA_BASE, stream),
                _missing("openai"),
            ),
            ClientKind(
                f"requests{sfx}",
                "raw",
                "requests",
                PROVIDER,
                stream,
                True,
                False,
                functools.partial(run_requests, stream),
                _missing("requests"),
            ),
            ClientKind(
                f"httpx{sfx}",
                "raw",
                "httpx",
                PROVIDER,
                stream,
                True,
                False,
                functools.partial(run_httpx, "httpx", stream),
                _missing("httpx"),
            ),
            ClientKind(
                f"httpx2{sfx}",
                "raw",
                "httpx2",
                PROVIDER,
                stream,
                True,
                False,
                functools.partial(run_httpx, "httpx2", stream),
                _missing("httpx2"),
            ),
            ClientKind(
                f"aiohttp{sfx}",
                "raw",
                "aiohttp",
                PROVIDER,
                stream,
                True,
                False,
                functools.partial(run_aiohttp, stream, False),
                _missing("aiohttp"),
            ),
            ClientKind(
                f"aiohttp-lines{sfx}",
                "raw",
                "aiohttp",
                PROVIDER,
                stream,
                True,
                False,
                functools.partial(run_aiohttp, stream, True),
                _missing("aiohttp"),
            ),
        ]
    return kinds


CLIENTS = _clients()


def _client_params() -> list[Any]:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.skip(reason=c.skip)] if c.skip else []) for c in CLIENTS]


# -- what each client must make of the answer ----------------------------------------------
def check_hfh(run: Run, expected: Expected, client: ClientKind) -> None:
    error = run.error
    if expected.outcome == OK:
        assert error is None, f"expected a completion, got {error!r}"
        assert run.text, "the completion has no text"
        assert run.text == expected.content
    elif expected.outcome == HTTP_ERROR and client.library == "aiohttp":
        check_aiohttp_status(error, expected)
    elif expected.outcome in (HTTP_ERROR, HUB_ERROR):
        wanted = BadRequestError if expected.status == 400 else HfHubHTTPError
        assert isinstance(error, wanted), f"expected {wanted.__name__}, got {error!r}"
        if expected.status != 400:
            assert not isinstance(error, BadRequestError)
        assert error.response.status_code == expected.status
        if expected.server_text is None:
            assert error.server_message is None
        else:
            assert expected.server_text in (error.server_message or ""), error.server_message
        if request_id := expected.header("x-request-id"):
            assert error.request_id == request_id
        host = "huggingface.co/api/models/" if expected.outcome == HUB_ERROR else "router.huggingface.co/"
        assert host in str(error.response.url)
        note = expected.status == 504 and not client.stream and HFH_VERSION >= (1, 33)
        assert (NOTE_504 in str(error)) is note, str(error)
    elif expected.outcome == MAPPING_VALUE_ERROR:
        assert isinstance(error, ValueError) and not isinstance(error, HfHubHTTPError), repr(error)
        assert f"not supported by provider {expected.provider}" in str(error)
    elif expected.outcome == ERROR_IN_200:
        assert error is None, f"huggingface_hub does not raise on a 200 error body, got {error!r}"
        if client.stream:  # a JSON body is no event stream: the iterator ends at once, silently
            assert run.chunks == 0
        else:
            assert run.result.choices is None
            assert run.result.error == expected.json["error"]
    elif expected.outcome == STREAM_ERROR:
        event = expected.error_event
        assert event is not None
        wanted_stream = STREAM_ERRORS.get(event.get("error_type") or "", UnknownError)
        assert isinstance(error, wanted_stream), f"expected {wanted_stream.__name__}, got {error!r}"
        assert not isinstance(error, HfHubHTTPError)
        assert str(error) == event["error"]
        assert run.text == expected.content  # the chunks before the error event were delivered
    elif expected.outcome == STREAM_MALFORMED:
        # Every ``data:`` line is parsed, finished event or not (docs/ROUTER-FACTS.md §2.11).
        assert type(error) is json.JSONDecodeError, repr(error)
        assert run.text == expected.content
    elif expected.outcome == TRANSPORT:
        wanted_transport = hfh_transport_error(expected, client)
        assert type(error) is wanted_transport, f"expected {wanted_transport.__name__}, got {error!r}"
        if client.library == "requests":  # iter_lines reads 512-byte pieces: the unfinished one is lost
            assert expected.content.startswith(run.text), run.text
        else:
            assert run.text == expected.content
    else:  # pragma: no cover - a new outcome without a check
        pytest.fail(f"no huggingface_hub check for outcome {expected.outcome!r}")


def check_aiohttp_status(error: Exception | None, expected: Expected) -> None:
    """huggingface_hub 0.x's AsyncInferenceClient lets aiohttp's ``raise_for_status()`` through,
    with the error body it read first as ``response_error_payload`` (None when it is no JSON)."""
    import aiohttp

    assert type(error) is aiohttp.ClientResponseError, f"expected ClientResponseError, got {error!r}"
    assert error.status == expected.status
    assert error.message == expected.reason
    assert "router.huggingface.co/" in str(error.request_info.url)
    assert getattr(error, "response_error_payload", None) == expected.json
    if request_id := expected.header("x-request-id"):
        assert error.headers is not None and error.headers.get("x-request-id") == request_id


def check_openai(run: Run, expected: Expected, client: ClientKind) -> None:
    import openai

    error = run.error
    if expected.outcome == OK:
        assert error is None, f"expected a completion, got {error!r}"
        assert run.text and run.text == expected.content
    elif expected.outcome == HTTP_ERROR:
        # The SDK's documented status -> exception table (openai README, "Handling errors").
        by_status: dict[int, type[openai.APIStatusError]] = {
            400: openai.BadRequestError,
            401: openai.AuthenticationError,
            403: openai.PermissionDeniedError,
            404: openai.NotFoundError,
            409: openai.ConflictError,
            422: openai.UnprocessableEntityError,
            429: openai.RateLimitError,
        }
        default = openai.InternalServerError if expected.status >= 500 else openai.APIStatusError
        wanted = by_status.get(expected.status, default)
        assert type(error) is wanted, f"expected {wanted.__name__}, got {error!r}"
        assert isinstance(error, openai.APIStatusError)
        assert error.status_code == expected.status
        assert error.body == expected.openai_body
        if isinstance(expected.openai_body, dict) and "message" in expected.openai_body:
            assert expected.openai_body["message"] in str(error)
        if request_id := expected.header("x-request-id"):
            assert error.response.headers.get("x-request-id") == request_id
    elif expected.outcome == ERROR_IN_200:
        assert error is None, f"the openai SDK does not raise on a 200 error body, got {error!r}"
        if client.stream:
            assert run.chunks == 0
        else:
            assert run.result.choices is None
    elif expected.outcome == STREAM_ERROR:
        event = expected.error_event
        assert event is not None
        assert isinstance(error, openai.APIError) and not isinstance(error, openai.APIStatusError), repr(error)
        assert error.body == event["error"]
        assert run.text == expected.content
    elif expected.outcome == STREAM_MALFORMED:
        malformed = expected.malformed_event
        assert malformed is not None
        if malformed.terminated:
            assert type(error) is json.JSONDecodeError, repr(error)
        else:  # an SSE reader dispatches an event at its blank line: an unfinished one is dropped
            assert error is None, repr(error)
        assert run.text == expected.content
    elif expected.outcome == TRANSPORT:
        # The SDK wraps transport errors, timeouts as APITimeoutError (an APIConnectionError).
        wanted_transport = (
            openai.APITimeoutError
            if expected.transport in (CONNECT_TIMEOUT, READ_TIMEOUT)
            else openai.APIConnectionError
        )
        assert type(error) is wanted_transport, f"expected {wanted_transport.__name__}, got {error!r}"
        cause = library_error(OPENAI_HTTP, expected.transport or "", before_response=True)
        assert type(error.__cause__) is cause, f"expected it to wrap {cause.__name__}, got {error.__cause__!r}"
        assert run.text == expected.content
    else:
        pytest.fail(f"the openai SDK never meets outcome {expected.outcome!r}: it makes no Hub look-up")


def check_raw(run: Run, expected: Expected, client: ClientKind) -> None:
    response = run.result
    if expected.outcome == TRANSPORT:
        wanted = library_error(client.library, expected.transport or "", expected.before_response)
        assert type(run.error) is wanted, f"expected {wanted.__name__}, got {run.error!r}"
        if expected.before_response or (not client.stream and client.library != "aiohttp"):
            # Before the status line, or a plain body read whole inside the call: nothing reaches the app.
            # (aiohttp hands the response over at its head and reads a plain body afterwards.)
            assert response is None and run.data == b""
            return
    else:
        assert run.error is None, repr(run.error)
    assert isinstance(response, RawResponse)
    assert response.status == expected.status
    assert response.reason == expected.reason
    received = bytes(run.data)
    if expected.outcome == TRANSPORT and (client.library == "requests" or not client.stream):
        # urllib3 fills each iter_content piece before handing it over: the piece being filled
        # when the fault strikes is lost, so the app sees a prefix of what the wire delivered.
        # aiohttp's read() of a plain body cut short raises with nothing; its readline() gives the
        # lines that ended before the cut.
        assert expected.delivered_body.startswith(received)
    else:
        assert received == expected.delivered_body
    headers = {k.lower(): v for k, v in response.headers.items()}
    names = [k.lower() for k, _ in expected.headers]
    for name, value in expected.headers:
        if names.count(name.lower()) == 1:
            assert headers.get(name.lower()) == value, name
    if expected.answered_by == "healthy":  # a provider route's answer: the router names its pick on the auto route only
        assert "x-inference-provider" not in headers


CHECKS: dict[str, Callable[[Run, Expected, ClientKind], None]] = {
    "hfh": check_hfh,
    "openai": check_openai,
    "raw": check_raw,
}


def check_call_log(hfrouter: HFRouter, expected: Expected, client: ClientKind) -> None:
    """The plugin's log agrees: the look-up happened or not, and who answered the chat call."""
    looked_up = [c for c in hfrouter.calls if c.route == MAPPING]
    assert bool(looked_up) is client.looks_up_mapping, hfrouter.call_log()
    if expected.answered_by is None:
        assert hfrouter.inference_calls == [], hfrouter.call_log()
        assert hfrouter.answered is None
        return
    last = hfrouter.inference_calls[-1]
    # A slow answer within the client's timeout is a success: its call carries no fault.
    fault = None if expected.outcome == OK else expected.fault_type
    assert (last.route, last.provider, last.answered_by, last.stream, last.fault) == (
        client.route,
        expected.provider,
        expected.answered_by,
        client.stream,
        fault,
    ), hfrouter.call_log()
    # Answered: a healthy answer, or a slow one that came within the timeout. An outage that
    # returns 200 (an error body or event, a stream cut or ended early) is no answer.
    if expected.outcome == OK and (expected.answered_by == "healthy" or expected.fault_type is not None):
        hfrouter.assert_answered_by(expected.provider or "")
    else:
        assert hfrouter.answered is None, hfrouter.call_log()


def check_warning(caplog: pytest.LogCaptureFixture, expected: Expected, client: ClientKind) -> None:
    if client.family == "hfh" and expected.warning is not None:
        messages = [r.getMessage() for r in caplog.records]
        assert any(expected.warning in m for m in messages), messages


def run_and_check(
    hfrouter: HFRouter,
    caplog: pytest.LogCaptureFixture,
    scenario: Scenario,
    client: ClientKind,
    delay: float | None = None,
) -> None:
    expected = expected_outcome(scenario, client, delay)
    # Where the scenario cannot apply to this client's request (a stream-only one on a plain call, a
    # Hub-side one on the auto route), the check is that the client gets its healthy answer: the
    # outage is optional there, and required everywhere else.
    unaffected = expected.answered_by == "healthy"
    with hfrouter.outage(scenario.name, provider=TARGET, delay=delay, optional=unaffected):
        run = client.run()
    CHECKS[client.family](run, expected, client)
    check_call_log(hfrouter, expected, client)
    check_warning(caplog, expected, client)


# -- the matrix ----------------------------------------------------------------------------
@pytest.mark.parametrize("client", _client_params())
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(hfrouter: HFRouter, caplog: pytest.LogCaptureFixture, scenario: Scenario, client: ClientKind) -> None:
    run_and_check(hfrouter, caplog, scenario, client)


@pytest.mark.parametrize("client", _client_params())
@pytest.mark.parametrize("stall", ["shorter", "longer"])
@pytest.mark.parametrize("scenario", SLOW_SCENARIOS, ids=[s.name for s in SLOW_SCENARIOS])
def test_slow_scenario_either_side_of_the_timeout(
    hfrouter: HFRouter, caplog: pytest.LogCaptureFixture, scenario: Scenario, stall: str, client: ClientKind
) -> None:
    """A stall shorter than the client's read timeout is a slow success; a longer one, a timeout."""
    run_and_check(hfrouter, caplog, scenario, client, delay=TIMEOUT / 2 if stall == "shorter" else TIMEOUT * 2)


@pytest.mark.parametrize("client", _client_params())
def test_healthy(hfrouter: HFRouter, client: ClientKind) -> None:
    expected = expected_outcome(None, client)
    assert expected.outcome == OK and expected.answered_by == "healthy"
    run = client.run()
    CHECKS[client.family](run, expected, client)
    check_call_log(hfrouter, expected, client)
    hfrouter.assert_answered_by(expected.provider or "")


def test_every_scenario_reaches_some_client() -> None:
    """Each scenario changes what at least one client kind gets (else it tests nothing here)."""
    runnable = [c for c in CLIENTS if c.skip is None]
    for scenario in SCENARIOS:
        if scenario.pins_task == "conversational":  # only a call of another task meets it (tests/test_tasks.py)
            continue
        affected = [c.id for c in runnable if expected_outcome(scenario, c) != expected_outcome(None, c)]
        assert affected, f"{scenario.name}: no client kind is affected by it"


def test_every_fault_in_the_table_is_played_through_every_face() -> None:
    """``faults.FAULTS`` is the one table every face reads. Each fault type in it has a shipped
    scenario that `test_scenario` plays through a client of every face module (and
    tests/test_parity.py through the router double): a new entry without one fails here."""
    face_of = {library.split(".")[0]: face for library, face in FACES}
    runnable = [c for c in CLIENTS if c.skip is None]
    faces = {face_of[c.library] for c in runnable}
    assert faces == set(face_of.values()), "a face module has no runnable client here"
    for name in FAULTS:
        scenarios = [s for s in SCENARIOS if s.fault is not None and s.fault.type == name]
        assert scenarios, f"fault type {name!r} has no shipped scenario: no face plays it in this matrix"
        played = {
            face_of[c.library]
            for c in runnable
            for s in scenarios
            if expected_outcome(s, c) != expected_outcome(None, c)
        }
        assert played == faces, f"fault type {name!r} reaches only {sorted(played)}"


@pytest.mark.parametrize("scenario", ["stream-cut", "slow-first-token"])
def test_answered_is_none_when_the_transport_failed(hfrouter: HFRouter, scenario: str) -> None:
    with hfrouter.outage(scenario, provider=TARGET):
        run = run_hfh(TARGET, stream=True)
    assert run.error is not None  # the app got no completion
    assert hfrouter.answered is None, hfrouter.call_log()


# -- real recordings -----------------------------------------------------------------------
REAL = Path(__file__).parent / "data" / "real"
NOVITA_NO_STREAM = "TestInferenceClient.test_chat_completion_no_stream[novita,conversational].yaml"
NOVITA_STREAM = "TestInferenceClient.test_chat_completion_with_stream[novita,conversational].yaml"
OLD_NO_STREAM = REAL / "huggingface_hub-2025-02" / NOVITA_NO_STREAM
OLD_STREAM = REAL / "huggingface_hub-2025-02" / NOVITA_STREAM
NEW_NO_STREAM = REAL / "huggingface_hub" / NOVITA_NO_STREAM
# What the recorded huggingface_hub tests sent (the model's HF id, and novita's id in the body).
REAL_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
REAL_NOVITA_ID = "meta-llama/llama-3.1-8b-instruct"
REAL_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is deep learning?"},
]
OLD_ROUTE = f"{ROUTER}/novita/chat/completions"


def recorded_chat(path: Path) -> tuple[str, bytes]:
    """The recorded chat call of a cassette: its URI and response body."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    chat = [i for i in data["interactions"] if i["request"]["method"] == "POST"]
    assert len(chat) == 1, path
    return chat[0]["request"]["uri"], chat[0]["response"]["body"]["string"].encode("utf-8")


def recorded_text(body: bytes) -> str:
    events = sse_events(body)
    return "".join(stream_pieces(events)) if events else str(json.loads(body)["choices"][0]["message"]["content"])


def check_from_cassette(hfrouter: HFRouter, path: Path) -> None:
    last = hfrouter.calls[-1]
    assert last.answered_by.startswith("cassette:"), hfrouter.call_log()
    assert last.answered_by == f"cassette:{path.name}", hfrouter.call_log()
    assert last.url == NOVITA_URL  # what today's clients call, whatever the recording's route
    assert (last.provider, last.model, last.status) == (TARGET, REAL_MODEL, 200), hfrouter.call_log()


@pytest.mark.hfrouter_cassette(OLD_NO_STREAM)
def test_real_old_route_answers_current_client(hfrouter: HFRouter, caplog: pytest.LogCaptureFixture) -> None:
    """2025-02 recording of ``/novita/chat/completions`` answers today's ``/novita/v3/openai`` call."""
    recorded_uri, recorded_body = recorded_chat(OLD_NO_STREAM)
    assert recorded_uri == OLD_ROUTE  # the drift the match must absorb
    client = InferenceClient(provider=TARGET, api_key=API_KEY, timeout=TIMEOUT)
    completion = client.chat_completion(REAL_MESSAGES, model=REAL_MODEL)
    check_from_cassette(hfrouter, OLD_NO_STREAM)
    # The mapping came from the recording too: novita was "staging" then, with its own model id.
    first = hfrouter.calls[0]
    assert (first.route, first.answered_by) == (MAPPING, f"cassette:{OLD_NO_STREAM.name}"), hfrouter.call_log()
    assert any(MAPPING_WARNINGS["staging"] in r.getMessage() for r in caplog.records)
    assert completion.id == json.loads(recorded_body)["id"]
    assert completion.model == REAL_NOVITA_ID
    assert completion.choices[0].message.content == recorded_text(recorded_body)


@pytest.mark.hfrouter_cassette(OLD_STREAM)
def test_real_old_route_stream(hfrouter: HFRouter) -> None:
    """The 2025-02 stream (the file holds no mapping: the healthy mapping answers the look-up)."""
    recorded_uri, recorded_body = recorded_chat(OLD_STREAM)
    assert recorded_uri == OLD_ROUTE
    client = InferenceClient(provider=TARGET, api_key=API_KEY, timeout=TIMEOUT)
    run = Run()
    for chunk in client.chat_completion(REAL_MESSAGES, model=REAL_MODEL, stream=True, max_tokens=20):
        _take_chunk(run, chunk)
    check_from_cassette(hfrouter, OLD_STREAM)
    assert (hfrouter.calls[0].route, hfrouter.calls[0].answered_by) == (MAPPING, "healthy"), hfrouter.call_log()
    assert run.text == recorded_text(recorded_body)
    # Not the healthy library's novita stream: the recording, and only it, answered.
    _, healthy = LIBRARY.healthy.answer(TARGET, True)
    assert run.text != recorded_text(healthy.body)


@pytest.mark.skipif(not HAS_OPENAI, reason="the openai SDK is not installed")
# The SDK never looks up the provider mapping the recording also holds; the plugin says so.
@pytest.mark.filterwarnings("ignore:.*the test never requested 1 of its interactions:pytest_hfrouter.HFRouterWarning")
@pytest.mark.hfrouter_cassette(OLD_NO_STREAM)
def test_real_old_route_answers_openai_sdk(hfrouter: HFRouter) -> None:
    """The openai SDK on novita's ``/v3/openai`` base, answered by the old-route recording."""
    import openai

    _, recorded_body = recorded_chat(OLD_NO_STREAM)
    with openai.OpenAI(base_url=NOVITA_BASE, api_key=API_KEY, max_retries=0, timeout=TIMEOUT) as client:
        completion = client.chat.completions.create(model=REAL_NOVITA_ID, messages=REAL_MESSAGES)  # type: ignore[arg-type]
    last = hfrouter.calls[-1]
    assert last.answered_by == f"cassette:{OLD_NO_STREAM.name}" and last.url == NOVITA_URL, hfrouter.call_log()
    assert [c.route for c in hfrouter.calls] == [PROVIDER]  # the SDK makes no Hub look-up
    assert completion.id == json.loads(recorded_body)["id"]
    assert completion.choices[0].message.content == recorded_text(recorded_body)


@pytest.mark.hfrouter_cassette(NEW_NO_STREAM)
def test_real_current_route(hfrouter: HFRouter) -> None:
    """The same exchange re-committed on ``/novita/v3/openai``: the route today's client calls."""
    recorded_uri, recorded_body = recorded_chat(NEW_NO_STREAM)
    assert recorded_uri == NOVITA_URL
    client = InferenceClient(provider=TARGET, api_key=API_KEY, timeout=TIMEOUT)
    completion = client.chat_completion(REAL_MESSAGES, model=REAL_MODEL)
    check_from_cassette(hfrouter, NEW_NO_STREAM)
    assert [c.answered_by for c in hfrouter.calls] == [f"cassette:{NEW_NO_STREAM.name}"] * 2, hfrouter.call_log()
    assert completion.choices[0].message.content == recorded_text(recorded_body)


ASYNC_STREAM = REAL / "huggingface_hub" / "test_async_chat_completion_with_stream.yaml"


@pytest.mark.hfrouter_cassette(ASYNC_STREAM)
def test_real_stream_recorded_without_its_request_body(hfrouter: HFRouter) -> None:
    """vcrpy's aiohttp stubs recorded the POST with ``body: null``: only the answer's content type says
    the call was streamed. Read as a plain call, it matched no streamed call, and the healthy library
    answered the app's stream, green (found by a new user's audit)."""
    from huggingface_hub import AsyncInferenceClient

    data = yaml.safe_load(ASYNC_STREAM.read_text(encoding="utf-8"))
    (chat,) = [i for i in data["interactions"] if i["request"]["method"] == "POST"]
    assert chat["request"]["body"] is None  # the shape this test is about
    model = "HuggingFaceH4/zephyr-7b-beta"

    async def stream() -> str:
        client = AsyncInferenceClient(provider="hf-inference", api_key=API_KEY, timeout=TIMEOUT)
        pieces = []
        async for chunk in await client.chat_completion(REAL_MESSAGES, model=model, max_tokens=10, stream=True):
            if chunk.choices:
                pieces.append(chunk.choices[0].delta.content or "")
        return "".join(pieces)

    text = asyncio.run(stream())
    assert hfrouter.calls[-1].answered_by == f"cassette:{ASYNC_STREAM.name}", hfrouter.call_log()
    assert text == recorded_text(chat["response"]["body"]["string"].encode("utf-8"))


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
def test_each_response_has_its_own_headers(hfrouter: HFRouter, library: str) -> None:
    """The httpx face hands every response the headers it keeps per answer: the app may change one
    response's headers without the next answer's changing."""
    if importlib.util.find_spec(library) is None:
        pytest.skip(f"{library} is not installed")
    http = importlib.import_module(library)
    url = "https://router.huggingface.co/novita/v3/openai/chat/completions"
    body = {"model": "meta-llama/llama-3.1-8b-instruct", "messages": [{"role": "user", "content": "hi"}]}
    first = http.post(url, json=body)
    sent = list(first.headers.multi_items())
    assert dict(sent)["content-length"] == str(len(first.content))
    first.headers["content-length"] = "0"
    first.headers["x-changed-by-the-app"] = "yes"
    second = http.post(url, json=body)
    assert [c.answered_by for c in hfrouter.calls] == ["healthy", "healthy"], hfrouter.call_log()
    assert list(second.headers.multi_items()) == sent


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
def test_gathered_async_calls_are_in_flight_together_as_on_the_network(hfrouter: HFRouter, library: str) -> None:
    """A request on the network lets the event loop run the app's other tasks before its answer
    comes. Replayed, each async call ran to its end before the next began: an app that stops calling
    a provider after two failures made two calls in replay and ten in production (found by an audit)."""
    if importlib.util.find_spec(library) is None:
        pytest.skip(f"{library} is not installed")
    http = importlib.import_module(library)
    url = "https://router.huggingface.co/novita/v3/openai/chat/completions"
    order: list[str] = []

    async def ask(client: Any, number: int) -> int:
        order.append(f"start{number}")
        body = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": f"q{number}"}]}
        response = await client.post(url, json=body)
        order.append(f"end{number}")
        return int(response.status_code)

    async def burst() -> list[int]:
        async with http.AsyncClient() as client:
            return list(await asyncio.gather(*(ask(client, n) for n in range(3))))

    with hfrouter.outage("provider-500", provider="novita"):
        assert asyncio.run(burst()) == [500, 500, 500]
    assert order == ["start0", "start1", "start2", "end0", "end1", "end2"]


URLLIB3_RETRY = """
import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

URL = "https://router.huggingface.co/v1/chat/completions"
BODY = {"model": "Qwen/Qwen2.5-72B-Instruct:novita", "messages": [{"role": "user", "content": "hi"}]}


def session():
    retry = Retry(total=3, backoff_factor=0, status_forcelist=[500, 502, 503, 504], allowed_methods=["POST"])
    with_retries = requests.Session()
    with_retries.mount("https://", HTTPAdapter(max_retries=retry))
    return with_retries


@pytest.mark.hfrouter_outage("provider-500", provider="novita", times=1)
def test_one_500_is_retried(hfrouter):
    response = session().post(URL, json=BODY, timeout=10)
    assert response.status_code == 200
    assert hfrouter.tried == ["novita", "novita"]


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
@pytest.mark.hfrouter_resilient(allow=["retry-storm", "no-backoff"])
def test_a_lasting_500_is_a_retry_error(hfrouter):
    with pytest.raises(requests.exceptions.RetryError, match="too many 500 error responses"):
        session().post(URL, json=BODY, timeout=10)
    assert hfrouter.tried == ["novita"] * 4


@pytest.mark.hfrouter_outage("connect-timeout", provider="novita", times=1)
def test_a_connect_timeout_is_retried(hfrouter):
    assert session().post(URL, json=BODY, timeout=10).status_code == 200
    assert [c.status for c in hfrouter.inference_calls] == [None, 200]


@pytest.mark.hfrouter_outage("connect-timeout", provider="novita")
def test_requests_default_retries_nothing_and_says_max_retries(hfrouter):
    with pytest.raises(requests.ConnectTimeout) as raised:
        requests.post(URL, json=BODY, timeout=(1, 10))
    assert "Max retries exceeded with url: /v1/chat/completions (Caused by ConnectTimeoutError(" in str(raised.value)
    assert "timed out. (connect timeout=1)" in str(raised.value)
    assert type(raised.value.args[0]).__name__ == "MaxRetryError"
    assert len(hfrouter.inference_calls) == 1
"""


def test_a_requests_adapters_urllib3_retry_runs(pytester: pytest.Pytester) -> None:
    """``HTTPAdapter(max_retries=Retry(...))`` retries as urllib3's pool does: a status in its forcelist,
    a connect timeout, then ``RetryError``; requests' default retries nothing, and its connect timeout reads
    as a real one (an audit: the plugin answered above urllib3, so no Retry ever ran, and a replayed
    ConnectTimeout had no MaxRetryError in it)."""
    pytester.makepyfile(test_retry=URLLIB3_RETRY)
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=4)


TRANSPORT_RETRIES = """
import asyncio
import importlib

import pytest

URL = "https://router.huggingface.co/v1/chat/completions"
BODY = {"model": "Qwen/Qwen2.5-72B-Instruct:novita", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
@pytest.mark.hfrouter_outage("connect-timeout", provider="novita", times=1)
def test_one_connect_timeout_is_retried(library, hfrouter):
    http = importlib.import_module(library)
    with http.Client(transport=http.HTTPTransport(retries=1), timeout=5) as client:
        assert client.post(URL, json=BODY).status_code == 200
    assert [c.status for c in hfrouter.inference_calls] == [None, 200]


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
@pytest.mark.hfrouter_outage("connect-timeout", provider="novita")
def test_retries_run_out(library, hfrouter):
    http = importlib.import_module(library)

    async def post():
        async with http.AsyncClient(transport=http.AsyncHTTPTransport(retries=1), timeout=5) as client:
            await client.post(URL, json=BODY)

    with hfrouter.virtual_time(), pytest.raises(http.ConnectTimeout):
        asyncio.run(post())
    assert len(hfrouter.inference_calls) == 2


@pytest.mark.parametrize("library", ["httpx", "httpx2"])
@pytest.mark.hfrouter_outage("connect-timeout", provider="novita")
def test_no_retries_by_default(library, hfrouter):
    http = importlib.import_module(library)
    with pytest.raises(http.ConnectTimeout):
        http.post(URL, json=BODY, timeout=5)
    assert len(hfrouter.inference_calls) == 1
"""


def test_an_httpx_transports_retries_run(pytester: pytest.Pytester) -> None:
    """``HTTPTransport(retries=N)`` retries a connect error as httpcore's pool does (an audit: replay
    raised ConnectTimeout at once, where the real transport's second connect would have answered)."""
    pytester.makepyfile(test_transport=TRANSPORT_RETRIES)
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=6)
