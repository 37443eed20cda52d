"""Parity: in-process replay and the router double give a client the same outcome.

For every scenario of the shipped library (iterated at collection, so a new scenario file is a
new row) and every client kind below, the *same* client code runs twice under one outage rule,
``outage(scenario, provider="novita")``: once against in-process replay (the transports of
httpx / httpx2 / requests answered by the engine, faults raised without waiting) and once
against the router double (a real HTTP/1.1 server on 127.0.0.1: real resets, stalls, cut
chunked bodies). The double's real socket is the reference for what a client library raises.

Compared per cell (`Observation`), and required equal:

* the exception class, or ``ok`` — for huggingface_hub's and openai's own exceptions also the
  class of the ``__cause__`` they wrap (``InferenceTimeoutError`` from ``httpx2.ReadTimeout``);
* the HTTP status code, when the client got a response;
* the server message: huggingface_hub's ``server_message`` and ``request_id``, the openai
  SDK's ``message`` and error ``body``;
* the chunks received before the outcome (how many, and each one's content), or the completion;
* the exception's text, with the double's URLs read back as the real ones;
* the requests the client made, as the call log shows them (route, provider, model, status or
  fault, who answered): neither face retried or skipped a look-up the other made.

Client kinds: huggingface_hub ``InferenceClient`` and ``AsyncInferenceClient`` (``asyncio.run``; on
huggingface_hub 0.x its chat call goes through aiohttp, its mapping look-up through requests),
plain and streamed, with ``provider="novita"`` (provider route, mapping look-up first) and
without a provider (the server-side auto route, huggingface_hub >= 1.0); the openai SDK, plain
and streamed, on the auto route (``/v1``). Where the timeout decides the outcome (read-timeout,
connect-timeout, slow-*) every client has a 1.0 s timeout, so a stall in the double costs at
most a second, and slow-* scenarios run twice, with ``delay=`` above the timeout (a read
timeout) and below it (a slow success); elsewhere it is a relaxed 10 s, which a loaded machine
cannot turn into a spurious timeout of the double.

A cell that does not simply assert equality says why, from one table each: `CANNOT_EXPRESS`
(the client cannot make the request the scenario answers: skipped), `BUDGET` (it would wait
real time in the double for a socket behaviour that a run cell on the same transport already
proves: skipped), `DIVERGENCE` (known non-parity, asserted as exactly that) and
`KNOWN_REPLAY_BUGS` (replay differs from the real socket: strict xfail, so the fix shows up as
an XPASS failure that removes the entry). ``test_parity_matrix`` prints the matrix and its
counts (visible without ``-n``); ``python tests/test_parity.py`` prints it without running.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import huggingface_hub
import pytest

from pytest_hfrouter.cassettes import split_chunks
from pytest_hfrouter.library import Scenario, shipped_library
from pytest_hfrouter.routes import AUTO, HARNESS, PROVIDER

if TYPE_CHECKING:
    from pytest_hfrouter import Call, HFRouter, HFRouterServer

HFH_VERSION = tuple(int(part) for part in re.findall(r"\d+", huggingface_hub.__version__)[:2])
HFH_1X = HFH_VERSION >= (1, 0)
HAS_OPENAI = importlib.util.find_spec("openai") is not None
HAS_AIOHTTP = importlib.util.find_spec("aiohttp") is not None
TARGET = "novita"
MODEL = "Qwen/Qwen2.5-7B-Instruct"
MESSAGES = [{"role": "user", "content": "hi"}]
API_KEY = "hf_fake"
ROUTER = "https://router.huggingface.co"
HUB = "https://huggingface.co"
REPLAY_OPENAI_BASE = f"{ROUTER}/v1"
#: the clients' timeout (connect and read) where it decides the outcome (read-timeout,
#: connect-timeout, slow-*): a stall in the double ends after this long
TIMEOUT = 1.0
#: the timeout where it takes no part in the outcome (HTTP answers, resets, cuts): a loaded
#: machine can take more than a second to schedule the double's thread
RELAXED_TIMEOUT = 10.0
TIMED_FAULTS = frozenset({"read-timeout", "connect-timeout", "slow-first-token", "slow-stream"})
#: slow-* scenarios run with these ``delay=`` overrides: (above the timeout, below it).
#: slow-stream waits its delay before each of its ~20 chunks, hence its smaller slow success.
DELAYS: dict[str, tuple[float, float]] = {"slow-first-token": (2.0, 0.2), "slow-stream": (2.0, 0.01)}
#: a cell whose double face waits longer than this is a real-time cell (see `BUDGET`)
REAL_TIME = 0.05

LIBRARY = shipped_library()
# The scenarios of every provider (job-failed is replicate's answer: tests/test_tasks.py covers it).
#: a scenario that pins the chat task changes nothing for these chat calls (tests/test_tasks.py meets it)
SCENARIOS = sorted(
    (s for s in LIBRARY.scenarios.values() if not s.providers and s.pins_task is None), key=lambda s: s.name
)


# -- client kinds --------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientKind:
    id: str
    family: str  # "hfh" | "openai"
    asynchronous: bool
    route: str  # PROVIDER (provider="novita", mapping look-up first) or AUTO (/v1/chat/completions)
    stream: bool

    @property
    def on_requests(self) -> bool:
        """huggingface_hub 0.x: its requests go through requests / urllib3."""
        return self.family == "hfh" and not HFH_1X


def _kinds() -> list[ClientKind]:
    kinds = [
        ClientKind(
            f"hfh-{'async' if asynchronous else 'sync'}-{name}{'-stream' if stream else ''}",
            "hfh",
            asynchronous,
            route,
            stream,
        )
        for route, name in ((PROVIDER, "novita"), (AUTO, "auto"))
        for asynchronous in (False, True)
        for stream in (False, True)
    ]
    return [
        *kinds,
        ClientKind("openai-auto", "openai", False, AUTO, False),
        ClientKind("openai-auto-stream", "openai", False, AUTO, True),
    ]


CLIENT_KINDS = _kinds()
KINDS_BY_ID = {kind.id: kind for kind in CLIENT_KINDS}


# -- why a cell is not a plain "equal": one table each -------------------------------------
CANNOT_EXPRESS: dict[str, str] = {
    "async-before-1.0": (
        f"huggingface_hub {huggingface_hub.__version__}: AsyncInferenceClient is built on aiohttp before 1.0, "
        "which is not installed here"
    ),
    "auto-before-1.0": (
        f"huggingface_hub {huggingface_hub.__version__} has no server-side auto route: InferenceClient without a "
        "provider resolves 'auto' client-side (mapping look-up, then the first mapped provider's route), which is "
        "the provider route the -novita kinds already run"
    ),
    "no-openai": "the openai SDK is not installed in this environment",
    "stream-only": (
        "the scenario answers streamed requests only (metadata stream: true); a non-streamed request gets the "
        "healthy answer, so there is no outage to compare"
    ),
    "plain-only": "the scenario answers non-streamed requests only (metadata stream: false)",
    "no-auto-answer": (
        "the scenario does not answer the auto route (/v1/chat/completions): it answers the Hub mapping "
        "look-up and/or the provider route, and an auto-route client (the openai SDK on /v1, InferenceClient "
        "without a provider) makes no mapping look-up and never calls a provider route"
    ),
    "auto-only": (
        "the scenario answers the auto route only (routes: [auto], the auto-router's own verdict); a client "
        "with provider='novita' calls the provider route and never reaches it"
    ),
}

DIVERGENCE: dict[str, str] = {
    "connect-timeout": (
        "known non-parity: the double cannot time out a connect. The kernel accepts the TCP connection "
        "(listen backlog) before the engine decides anything, so the double stalls the open socket instead, "
        "and the client sees a READ timeout where in-process replay raises the library's CONNECT timeout "
        "(the cell asserts exactly this difference and that all else is equal)"
    ),
}

KNOWN_REPLAY_BUGS: dict[str, str] = {}  # none known: a new entry is a strict xfail until fixed

#: (fault type, too slow for the client's timeout) → the real-time cells that run: one per
#: transport path and socket behaviour — a stall before the status line (read-timeout,
#: connect-timeout, slow-first-token above the timeout: the same bytes on the wire), a stall
#: between chunks (slow-stream above the timeout), and the slow successes. Each slot is a
#: client kind, or alternatives: the first one this environment can run.
REAL_TIME_SLOTS: dict[tuple[str, bool], tuple[tuple[str, ...], ...]] = {
    ("read-timeout", True): (("hfh-async-novita", "hfh-sync-novita"), ("openai-auto",)),
    ("connect-timeout", True): (("hfh-sync-novita",),),
    ("slow-first-token", True): (("hfh-sync-novita-stream",),),
    ("slow-first-token", False): (("hfh-sync-novita",), ("openai-auto-stream",)),
    ("slow-stream", True): (("hfh-sync-novita-stream",), ("hfh-async-novita-stream", "openai-auto-stream")),
    ("slow-stream", False): (("hfh-sync-novita-stream",), ("openai-auto-stream",)),
}

BUDGET: dict[str, str] = {
    "stall": (
        "real-time budget: over the double this cell stalls until the client's {timeout:g} s timeout; that "
        "socket behaviour is proven on each transport by the run cells: {covered}"
    ),
    "slow": (
        "real-time budget: over the double this cell waits ~{cost:.1f} s of real time; that socket behaviour "
        "is proven by the run cells: {covered}"
    ),
}


# -- the matrix ----------------------------------------------------------------------------
EQUAL = "equal"
DIVERGES = "known divergence"
BUG = "known replay bug"
CANNOT = "cannot express"
SKIPPED_BUDGET = "real-time budget"
VERDICTS = (EQUAL, DIVERGES, BUG, CANNOT, SKIPPED_BUDGET)


@dataclass(frozen=True)
class Cell:
    scenario: Scenario
    delay: float | None
    client: ClientKind
    verdict: str
    reason_key: str = ""
    reason: str = ""

    @property
    def row(self) -> str:
        return self.scenario.name + ("" if self.delay is None else f"@delay={self.delay:g}")

    @property
    def id(self) -> str:
        return f"{self.row}-{self.client.id}"

    @property
    def runs(self) -> bool:
        return self.verdict in (EQUAL, DIVERGES, BUG)

    @property
    def timeout(self) -> float:
        fault = self.scenario.fault
        return TIMEOUT if fault is not None and fault.type in TIMED_FAULTS else RELAXED_TIMEOUT


def _variants(scenario: Scenario) -> list[float | None]:
    if scenario.fault is not None and scenario.fault.type in DELAYS:
        return list(DELAYS[scenario.fault.type])
    return [None]


def _unavailable(client: ClientKind) -> str | None:
    """Why this environment cannot run the client kind at all."""
    if client.family == "hfh" and client.asynchronous and not HFH_1X and not HAS_AIOHTTP:
        return "async-before-1.0"
    if client.family == "hfh" and client.route == AUTO and not HFH_1X:
        return "auto-before-1.0"
    if client.family == "openai" and not HAS_OPENAI:
        return "no-openai"
    return None


def _cannot_express(scenario: Scenario, client: ClientKind) -> str | None:
    if unavailable := _unavailable(client):
        return unavailable
    if scenario.stream is True and not client.stream:
        return "stream-only"
    if scenario.stream is False and client.stream:
        return "plain-only"
    if client.route == AUTO and AUTO not in scenario.routes:
        return "no-auto-answer"
    if client.route == PROVIDER and PROVIDER not in scenario.routes and AUTO in scenario.routes:
        return "auto-only"
    return None


def _chunk_count(scenario: Scenario, client: ClientKind) -> int:
    if client.route not in scenario.answers:
        return 0
    recorded = scenario.response(client.route, stream=client.stream)
    return len(split_chunks(recorded.body, recorded.headers))


def _double_cost(scenario: Scenario, delay: float | None, client: ClientKind) -> tuple[float, bool]:
    """Real seconds the double spends on this cell, and whether the fault outlasts the timeout."""
    fault = scenario.fault
    if fault is None:
        return 0.0, False
    if fault.type in ("read-timeout", "connect-timeout"):
        return TIMEOUT, True
    seconds = fault.delay if delay is None else delay
    if fault.type == "slow-first-token":
        return min(seconds, TIMEOUT), seconds > TIMEOUT
    if fault.type == "slow-stream":
        gaps = max(_chunk_count(scenario, client) - 1, 0)
        return (TIMEOUT, True) if seconds > TIMEOUT else (seconds * gaps, False)
    return 0.0, False


def _replay_bug(scenario: Scenario, delay: float | None, client: ClientKind) -> str | None:
    """The KNOWN_REPLAY_BUGS entry this cell meets, if any (none are known)."""
    return None


REAL_TIME_CELLS: dict[tuple[str, bool], tuple[str, ...]] = {
    key: tuple(
        chosen
        for slot in slots
        for chosen in [next((k for k in slot if _unavailable(KINDS_BY_ID[k]) is None), None)]
        if chosen is not None
    )
    for key, slots in REAL_TIME_SLOTS.items()
}


def _covered(stall: bool, key: tuple[str, bool]) -> str:
    keys = [k for k in REAL_TIME_CELLS if (k[1] if stall else k == key)]
    return "; ".join(f"{k[0]}{'' if k[1] else ' (slow success)'} x {', '.join(REAL_TIME_CELLS[k])}" for k in keys)


def _cell(scenario: Scenario, delay: float | None, client: ClientKind) -> Cell:
    key = _cannot_express(scenario, client)
    if key is not None:
        return Cell(scenario, delay, client, CANNOT, key, CANNOT_EXPRESS[key])
    fault_type = scenario.fault.type if scenario.fault else ""
    cost, too_slow = _double_cost(scenario, delay, client)
    if cost > REAL_TIME and client.id not in REAL_TIME_CELLS.get((fault_type, too_slow), ()):
        kind = "stall" if too_slow else "slow"
        text = BUDGET[kind].format(timeout=TIMEOUT, cost=cost, covered=_covered(too_slow, (fault_type, too_slow)))
        if fault_type in DIVERGENCE:
            text += f". Also {DIVERGENCE[fault_type]}"
        return Cell(scenario, delay, client, SKIPPED_BUDGET, kind, text)
    if fault_type in DIVERGENCE:
        return Cell(scenario, delay, client, DIVERGES, fault_type, DIVERGENCE[fault_type])
    bug = _replay_bug(scenario, delay, client)
    if bug is not None:
        return Cell(scenario, delay, client, BUG, bug, KNOWN_REPLAY_BUGS[bug])
    return Cell(scenario, delay, client, EQUAL)


CELLS = [
    _cell(scenario, delay, client) for scenario in SCENARIOS for delay in _variants(scenario) for client in CLIENT_KINDS
]


def _marks(cell: Cell) -> list[pytest.MarkDecorator]:
    if cell.verdict == BUG:
        return [pytest.mark.xfail(strict=True, reason=f"[{cell.verdict}: {cell.reason_key}] {cell.reason}")]
    if not cell.runs:
        return [pytest.mark.skip(reason=f"[{cell.verdict}: {cell.reason_key}] {cell.reason}")]
    return []


# -- running a client ----------------------------------------------------------------------
@dataclass
class Run:
    """What the client code produced before it ended."""

    chunks: list[str] = field(default_factory=list)
    result: str | None = None
    error: BaseException | None = None


def _chunk_text(chunk: Any) -> str:
    choices = getattr(chunk, "choices", None)
    if not choices:
        return "<no choices>"
    delta = choices[0].delta
    return (delta.content if delta is not None else None) or ""


def _completion_text(completion: Any) -> str:
    if not completion.choices:
        return f"<choices={completion.choices!r}>"
    return f"{completion.id}: {completion.choices[0].message.content}"


def _hfh_kwargs(client: ClientKind, timeout: float) -> dict[str, Any]:
    return {"api_key": API_KEY, "timeout": timeout, **({"provider": TARGET} if client.route == PROVIDER else {})}


def run_hfh_sync(client: ClientKind, timeout: float) -> Run:
    run = Run()
    try:
        inference = huggingface_hub.InferenceClient(**_hfh_kwargs(client, timeout))
        output = inference.chat_completion(MESSAGES, model=MODEL, stream=client.stream)
        if client.stream:
            for chunk in output:
                run.chunks.append(_chunk_text(chunk))
        else:
            run.result = _completion_text(output)
    except Exception as exc:
        run.error = exc
    return run


def run_hfh_async(client: ClientKind, timeout: float) -> Run:
    async def go() -> Run:
        run = Run()
        try:
            async with huggingface_hub.AsyncInferenceClient(**_hfh_kwargs(client, timeout)) as inference:
                output = await inference.chat_completion(MESSAGES, model=MODEL, stream=client.stream)
                if client.stream:
                    async for chunk in output:
                        run.chunks.append(_chunk_text(chunk))
                else:
                    run.result = _completion_text(output)
        except Exception as exc:
            run.error = exc
        return run

    return asyncio.run(go())


def run_openai(client: ClientKind, base_url: str, timeout: float) -> Run:
    import openai

    run = Run()
    with openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, timeout=timeout) as sdk:
        try:
            if client.stream:
                for chunk in sdk.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):  # type: ignore[arg-type]
                    run.chunks.append(_chunk_text(chunk))
            else:
                run.result = _completion_text(sdk.chat.completions.create(model=MODEL, messages=MESSAGES))  # type: ignore[arg-type]
        except Exception as exc:
            run.error = exc
    return run


def run_client(client: ClientKind, openai_base: str, timeout: float) -> Run:
    if client.family == "openai":
        return run_openai(client, openai_base, timeout)
    return run_hfh_async(client, timeout) if client.asynchronous else run_hfh_sync(client, timeout)


# -- what is compared ----------------------------------------------------------------------
_WRAPPERS = ("huggingface_hub", "openai")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _class(error: BaseException) -> str:
    return f"{type(error).__module__}.{type(error).__qualname__}"


def _message(error: BaseException, double_url: str | None) -> str:
    """``str(error)`` with random request ids masked and the double read back as the real hosts."""
    text = str(error)
    if double_url:
        host, port = double_url.removeprefix("http://").split(":")
        # urllib3 names the connection pool; every transport fault here is on a router call.
        pool = f"HTTPConnectionPool(host='{host}', port={port})"
        text = text.replace(pool, "HTTPSConnectionPool(host='router.huggingface.co', port=443)")
        text = text.replace(f"{double_url}/api/", f"{HUB}/api/").replace(double_url, ROUTER)
    return _UUID.sub("<uuid>", text)


@dataclass(frozen=True)
class Observation:
    #: "ok", or the exception's class (with the class a huggingface_hub / openai exception wraps)
    error: str
    status: int | None
    server_message: str | None
    request_id: str | None
    #: the content of every chunk received, in order (streams)
    chunks: tuple[str, ...]
    #: the completion (plain calls that succeed)
    result: str | None
    message: str | None

    @classmethod
    def of(cls, run: Run, double_url: str | None) -> Observation:
        error = run.error
        if error is None:
            return cls("ok", None, None, None, tuple(run.chunks), run.result, None)
        name = _class(error)
        if type(error).__module__.startswith(_WRAPPERS) and error.__cause__ is not None:
            name += f" <- {_class(error.__cause__)}"
        status = getattr(getattr(error, "response", None), "status_code", None)
        if status is None:
            status = getattr(error, "status_code", None)
        if status is None and isinstance(getattr(error, "status", None), int):  # aiohttp's ClientResponseError
            status = error.status  # type: ignore[attr-defined]
        server_message = getattr(error, "server_message", None)
        if hasattr(error, "response_error_payload"):  # huggingface_hub 0.x async: the error body it read
            server_message = repr(error.response_error_payload)
        if type(error).__module__.startswith("openai"):  # the SDK's message and its parsed error body
            server_message = f"{getattr(error, 'message', None)} | body={getattr(error, 'body', None)!r}"
        request_id = getattr(error, "request_id", None)
        message = _message(error, double_url)
        return cls(name, status, server_message, request_id, tuple(run.chunks), run.result, message)


def _comparable(calls: list[Call]) -> list[tuple[Any, ...]]:
    """The call log without the once-per-process agent-harness registry fetch (hfh 2.x)."""
    return [
        (c.route, c.provider, c.model, c.method, c.url, c.status, c.fault, c.answered_by, c.stream)
        for c in calls
        if c.route != HARNESS
    ]


@dataclass(frozen=True)
class Face:
    name: str
    openai_base: str
    pointing: Callable[[], AbstractContextManager[None]]
    #: the double's base URL, read back as the real hosts in messages (None: replay)
    double_url: str | None = None


def observe(cell: Cell, face: Face, hfrouter: HFRouter) -> tuple[Observation, list[tuple[Any, ...]]]:
    before = len(hfrouter.calls)
    with face.pointing():
        run = run_client(cell.client, face.openai_base, cell.timeout)
    # A stream the client abandoned (its error's traceback keeps the generator alive) is finalized by
    # the cyclic garbage collector: collected inside httpcore's next request on the double, while that
    # thread holds the pool's lock, its close takes the same lock and the run hangs (httpcore's
    # non-reentrant pool lock: https://github.com/encode/httpcore/issues/996, seen here on 1.33).
    # Collected here, between requests, it closes at once.
    gc.collect()
    calls = _comparable(hfrouter.calls[before:])
    answered = {c[7] for c in calls}
    assert f"scenario:{cell.scenario.name}" in answered, (
        f"{face.name}: the scenario answered none of the client's requests\n{hfrouter.call_log()}"
    )
    return Observation.of(run, face.double_url), calls


@pytest.mark.parametrize("cell", [pytest.param(c, id=c.id, marks=_marks(c)) for c in CELLS])
def test_parity(cell: Cell, hfrouter: HFRouter, hfrouter_server: HFRouterServer) -> None:
    replay_face = Face("replay", REPLAY_OPENAI_BASE, nullcontext)
    double_face = Face(
        "double", hfrouter_server.openai_base_url, hfrouter_server.huggingface_hub, hfrouter_server.base_url
    )
    # A provider flagged unavailable reaches an app only through the router's pick on the auto route;
    # these clients name novita: they read the flag in the mapping (compared here), and are served.
    optional = cell.scenario.flags_unavailable
    with hfrouter.outage(cell.scenario.name, provider=TARGET, delay=cell.delay, optional=optional):
        replay, replay_calls = observe(cell, replay_face, hfrouter)
        double, double_calls = observe(cell, double_face, hfrouter)
    if cell.verdict == DIVERGES:
        check_divergence(cell, replay, double)
    else:
        assert replay == double, f"replay and the double differ:\n  replay: {replay}\n  double: {double}"
    assert replay_calls == double_calls, hfrouter.call_log()


def check_divergence(cell: Cell, replay: Observation, double: Observation) -> None:
    """connect-timeout: replay raises the connect timeout, the double's stall a read timeout."""
    assert cell.reason_key == "connect-timeout"
    assert "ConnectTimeout" in replay.error, replay
    assert "ReadTimeout" in double.error and "ConnectTimeout" not in double.error, double
    assert replace(replay, error="", message="") == replace(double, error="", message="")


# -- the matrix, countable -----------------------------------------------------------------
MARK = {EQUAL: "=", DIVERGES: "~", BUG: "!", CANNOT: "x", SKIPPED_BUDGET: "b"}


def matrix_lines() -> Iterator[str]:
    counts = Counter(c.verdict for c in CELLS)
    rows = list(dict.fromkeys(c.row for c in CELLS))
    yield (
        f"parity matrix, huggingface_hub {huggingface_hub.__version__}: {len(SCENARIOS)} scenarios "
        f"({len(rows)} rows with the delay variants) x {len(CLIENT_KINDS)} client kinds = {len(CELLS)} cells"
    )
    yield (
        f"  run: {sum(counts[v] for v in (EQUAL, DIVERGES, BUG))} = {counts[EQUAL]} asserted equal"
        f" + {counts[DIVERGES]} asserted as a known divergence + {counts[BUG]} known replay bug (strict xfail)"
    )
    for verdict, table in ((CANNOT, CANNOT_EXPRESS), (SKIPPED_BUDGET, None), (BUG, KNOWN_REPLAY_BUGS)):
        keys = Counter(c.reason_key for c in CELLS if c.verdict == verdict)
        yield f"  {verdict}: {counts[verdict]}" + (" (not run)" if verdict != BUG else "")
        for key, n in sorted(keys.items()):
            yield f"    {n:3d} x {key}" + (f": {table[key]}" if table else "")
    for key, text in DIVERGENCE.items():
        yield f"  known divergence {key}: {text}"
    width = max(map(len, rows)) + 2
    yield ""
    yield " " * width + " ".join(f"{i:>2}" for i in range(1, len(CLIENT_KINDS) + 1))
    for row in rows:
        yield f"{row:<{width}}" + " ".join(f"{MARK[c.verdict]:>2}" for c in CELLS if c.row == row)
    yield "  columns: " + ", ".join(f"{i}={k.id}" for i, k in enumerate(CLIENT_KINDS, 1))
    yield "  = equal, ~ known divergence, ! known replay bug, x cannot express, b real-time budget"


def test_parity_matrix(capsys: pytest.CaptureFixture[str]) -> None:
    """Every cell has a verdict and a reason when it is not plain equality; every scenario runs somewhere."""
    assert len(CELLS) == sum(len(_variants(s)) for s in SCENARIOS) * len(CLIENT_KINDS)
    assert len({c.id for c in CELLS}) == len(CELLS)
    assert {c.verdict for c in CELLS} <= set(VERDICTS)
    assert all(c.reason for c in CELLS if c.verdict != EQUAL)
    for scenario in SCENARIOS:
        assert any(c.runs for c in CELLS if c.scenario is scenario), f"no cell of {scenario.name} runs"
    for key, slots in REAL_TIME_SLOTS.items():
        assert {k for slot in slots for k in slot} <= set(KINDS_BY_ID), key
    with capsys.disabled():
        sys.stdout.write("\n" + "\n".join(matrix_lines()) + "\n")


if __name__ == "__main__":
    print("\n".join(matrix_lines()))
