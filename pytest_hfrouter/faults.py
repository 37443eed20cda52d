"""Transport faults: what a scenario's ``fault:`` block means, and how it plays out.

vcrpy cannot record a timeout, a reset or a stream that dies halfway; these scenarios
describe them as data. `FAULTS` is the one table of fault types: each is one of a few
`Play`s (what the network does). `plan` decides, for a client with given timeouts, how many
chunks arrive and which `Outcome` ends the exchange; each in-process face raises its client
library's own exception for that outcome without waiting; the router double (`double.py`)
plays the same `Play` on a real socket. The engine, the faces, the double and the library read
what a type does from `FAULTS` only. Outside this module a type is named for what a client
sees of it: `scenario_info.raised` (each huggingface_hub major's exception, observed),
`harvest._FAULTS` (the exception names a live failure is known by), the shipped scenario files,
and the tests' oracles (tests/test_clients.py, tests/test_double.py); docs/ARCHITECTURE.md lists them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple, cast

#: every fault type a scenario's ``fault.type`` may name (the keys of `FAULTS`)
FaultType = Literal[
    "connect-timeout", "read-timeout", "connection-reset", "stream-cut", "body-cut", "slow-first-token", "slow-stream"
]
#: How the network does it: the few behaviours every fault is one of. Each face turns the
#: `Plan` a play gives into its library's exception; the router double plays it on a socket.
#: ``stall-connect``: the connection never completes; ``stall-read``: the request is sent, no
#: byte ever comes back; ``reset``: the connection is reset (RST) before the status line;
#: ``cut``: the body stops after ``after_chunks`` chunks and the connection dies; ``slow-head``:
#: the answer starts ``delay`` seconds late; ``slow-chunks``: the first chunk at once, each
#: later one ``delay`` after the previous. (Literal strings: mypy's strict equality checks
#: every comparison with them.)
Play = Literal["stall-connect", "stall-read", "reset", "cut", "slow-head", "slow-chunks"]

#: What a face must produce (`Plan.outcome`).
Outcome = Literal["hang", "connect-timeout", "read-timeout", "reset", "cut"]
HANG: Final = "hang"  # the real client would wait forever: the test is told so instead
TIMEOUT_CONNECT: Final = "connect-timeout"
TIMEOUT_READ: Final = "read-timeout"
RESET: Final = "reset"
CUT: Final = "cut"


class FaultKind(NamedTuple):
    """One fault type: the fields its ``fault:`` block takes and how the network plays it."""

    play: Play
    #: field → its type (``after_chunks: int``, ``delay: float``)
    fields: Mapping[str, type] = MappingProxyType({})
    #: played on the call's own healthy answer (any task's body), split in two halves: the
    #: first arrives, then the cut (an image or audio download cut mid-body)
    on_healthy_body: bool = False

    @property
    def before_response(self) -> bool:
        """It strikes before the status line: the call has no status, the app no response."""
        return self.play in ("stall-connect", "stall-read", "reset")

    @property
    def on_stream(self) -> bool:
        """It plays on an event stream's events (a cut after some, slow ones): its scenario answers streams."""
        return self.play in ("cut", "slow-chunks") and not self.on_healthy_body

    @property
    def slow(self) -> bool:
        """A slow answer: a success when the client waits long enough."""
        return self.play in ("slow-head", "slow-chunks")


#: THE fault table: a new fault type is one entry here (plus a new `Play`, if the network does
#: something none of them does), and a row in cassettes/FORMAT.md.
FAULTS: Mapping[FaultType, FaultKind] = {
    "connect-timeout": FaultKind("stall-connect"),
    "read-timeout": FaultKind("stall-read"),
    "connection-reset": FaultKind("reset"),
    "stream-cut": FaultKind("cut", {"after_chunks": int}),
    # a plain (Content-Length) body that stops halfway: an image or audio download cut mid-body
    "body-cut": FaultKind("cut", on_healthy_body=True),
    "slow-first-token": FaultKind("slow-head", {"delay": float}),
    "slow-stream": FaultKind("slow-chunks", {"delay": float}),
}


class FaultError(ValueError):
    """A malformed ``fault:`` block; the message names the field."""


class Fault(NamedTuple):
    type: FaultType
    after_chunks: int = 0
    delay: float = 0.0

    @property
    def kind(self) -> FaultKind:
        return FAULTS[self.type]

    def with_delay(self, delay: float | None) -> Fault:
        if delay is None:
            return self
        if "delay" not in self.kind.fields:
            slow = " and ".join(name for name, kind in FAULTS.items() if "delay" in kind.fields)
            raise FaultError(f"delay= applies to {slow}, not to {self.type}")
        return Fault(self.type, self.after_chunks, _delay(delay, "delay"))


def _delay(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise FaultError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def parse_fault(raw: dict[str, Any], chunk_count: int | None) -> Fault:
    """Validate a scenario's ``fault:`` mapping; ``chunk_count`` is its stream's length."""
    given = raw.get("type")
    if given not in FAULTS:
        raise FaultError(f"fault.type must be one of {', '.join(FAULTS)}, got {given!r}")
    name = cast("FaultType", given)
    allowed = FAULTS[name].fields
    extra = sorted(set(raw) - {"type"} - set(allowed))
    if extra:
        raise FaultError(f"fault.{extra[0]} is not a field of {name} (fields: {', '.join(allowed) or 'none'})")
    missing = sorted(set(allowed) - set(raw))
    if missing:
        raise FaultError(f"fault.{missing[0]} is required for {name}")
    if "after_chunks" in allowed:
        after = raw["after_chunks"]
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise FaultError(f"fault.after_chunks must be an int >= 0, got {after!r}")
        if chunk_count is None or after >= chunk_count:
            raise FaultError(
                f"fault.after_chunks={after} is past the end of the stream ({chunk_count or 0} chunks): "
                "a cut must come before the last chunk"
            )
        return Fault(name, after_chunks=after)
    if "delay" in allowed:
        return Fault(name, delay=_delay(raw["delay"], "fault.delay"))
    return Fault(name, after_chunks=1) if FAULTS[name].on_healthy_body else Fault(name)


class Plan(NamedTuple):
    """How an answer with a fault plays out for one client."""

    #: chunks the app receives before the fault (all of them when ``outcome`` is None)
    chunks: int
    #: None (it all arrives), or what the face raises or feeds
    outcome: Outcome | None
    #: True when the fault strikes before the status line (the app gets no response)
    before_response: bool


def plan(
    fault: Fault | None,
    chunk_count: int,
    connect_timeout: float | None,
    read_timeout: float | None,
    deadline: float | None = None,
) -> Plan:
    """What really happens to a client with these timeouts (``None``: waits forever): ``read_timeout``
    bounds each read, ``deadline`` the whole answer from its start (aiohttp's ``ClientTimeout.total``)."""
    if fault is None:
        return Plan(chunk_count, None, False)
    play = FAULTS[fault.type].play
    if play == "stall-connect":
        return Plan(0, HANG if connect_timeout is None else TIMEOUT_CONNECT, True)
    if play == "stall-read":
        return Plan(0, HANG if read_timeout is None and deadline is None else TIMEOUT_READ, True)
    if play == "reset":
        return Plan(0, RESET, True)
    if play == "cut":  # a healthy body's cut: its first half arrives (see `body_chunks`)
        return Plan(min(fault.after_chunks, chunk_count), CUT, False)
    too_slow = read_timeout is not None and read_timeout < fault.delay
    if play == "slow-head":
        late = too_slow or (deadline is not None and deadline < fault.delay)
        return Plan(0, TIMEOUT_READ, True) if late else Plan(chunk_count, None, False)
    if play == "slow-chunks":  # the first chunk comes at once, every later one after ``delay``
        if too_slow and chunk_count > 1:
            return Plan(min(1, chunk_count), TIMEOUT_READ, False)
        if deadline is not None and fault.delay > 0:
            arrived = max(1, math.ceil(deadline / fault.delay))  # chunk n arrives n x delay after the first
            if arrived < chunk_count:
                return Plan(arrived, TIMEOUT_READ, False)
        return Plan(chunk_count, None, False)
    raise ValueError(f"fault {fault.type}: no plan for its play {play!r}")  # a new Play needs one here


def body_chunks(body: bytes, fault: Fault | None) -> list[bytes] | None:
    """A body-cut answer's chunks: its two halves (the first arrives, then the cut); else None."""
    if fault is None or not FAULTS[fault.type].on_healthy_body:
        return None
    half = max(1, len(body) // 2)
    return [body[:half], body[half:]] if len(body) > 1 else [body]


def hang_message(fault: Fault) -> str:
    which = "connect" if FAULTS[fault.type].play == "stall-connect" else "read"
    return (
        f"{fault.type}: the client sets no {which} timeout, so against a provider that stalls this call "
        "would wait forever (the default of huggingface_hub, requests and aiohttp's sock_read is none). Give the "
        "client a timeout: InferenceClient(..., timeout=30), requests.post(..., timeout=30), "
        "OpenAI(timeout=30), aiohttp.ClientTimeout(sock_read=30)"
    )
