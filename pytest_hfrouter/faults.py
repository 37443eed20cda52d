"""Transport faults: what a scenario's ``fault:`` block means, and how it plays out.

vcrpy cannot record a timeout, a reset or a stream that dies halfway; these scenarios
describe them as data. `plan` decides, for a client with a given read timeout, how many
chunks arrive and which fault ends the exchange. The in-process face raises the client
library's own exception for that fault without waiting; the router double (`double.py`)
plays the same fault on a real socket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CONNECT_TIMEOUT = "connect-timeout"
READ_TIMEOUT = "read-timeout"
CONNECTION_RESET = "connection-reset"
STREAM_CUT = "stream-cut"
#: a plain (Content-Length) body that stops halfway: an image or audio download cut mid-body
BODY_CUT = "body-cut"
SLOW_FIRST_TOKEN = "slow-first-token"
SLOW_STREAM = "slow-stream"

#: fault type → the fields it takes (and their types)
FIELDS: dict[str, dict[str, type]] = {
    CONNECT_TIMEOUT: {},
    READ_TIMEOUT: {},
    CONNECTION_RESET: {},
    STREAM_CUT: {"after_chunks": int},
    BODY_CUT: {},
    SLOW_FIRST_TOKEN: {"delay": float},
    SLOW_STREAM: {"delay": float},
}

# Outcomes a face must produce.
HANG = "hang"  # the real client would wait forever: the test is told so instead
TIMEOUT_CONNECT = "connect-timeout"
TIMEOUT_READ = "read-timeout"
RESET = "reset"
CUT = "cut"


class FaultError(ValueError):
    """A malformed ``fault:`` block; the message names the field."""


@dataclass(frozen=True)
class Fault:
    type: str
    after_chunks: int = 0
    delay: float = 0.0

    def with_delay(self, delay: float | None) -> Fault:
        if delay is None:
            return self
        if self.type not in (SLOW_FIRST_TOKEN, SLOW_STREAM):
            raise FaultError(f"delay= applies to {SLOW_FIRST_TOKEN} and {SLOW_STREAM}, not to {self.type}")
        return Fault(self.type, self.after_chunks, _delay(delay, "delay"))


def _delay(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise FaultError(f"{name} must be a number of seconds >= 0, got {value!r}")
    return float(value)


def parse_fault(raw: dict[str, Any], chunk_count: int | None) -> Fault:
    """Validate a scenario's ``fault:`` mapping; ``chunk_count`` is its stream's length."""
    kind = raw.get("type")
    if kind not in FIELDS:
        raise FaultError(f"fault.type must be one of {', '.join(FIELDS)}, got {kind!r}")
    allowed = FIELDS[kind]
    extra = sorted(set(raw) - {"type"} - set(allowed))
    if extra:
        raise FaultError(f"fault.{extra[0]} is not a field of {kind} (fields: {', '.join(allowed) or 'none'})")
    missing = sorted(set(allowed) - set(raw))
    if missing:
        raise FaultError(f"fault.{missing[0]} is required for {kind}")
    if kind == STREAM_CUT:
        after = raw["after_chunks"]
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise FaultError(f"fault.after_chunks must be an int >= 0, got {after!r}")
        if chunk_count is None or after >= chunk_count:
            raise FaultError(
                f"fault.after_chunks={after} is past the end of the stream ({chunk_count or 0} chunks): "
                "a cut must come before the last chunk"
            )
        return Fault(kind, after_chunks=after)
    if "delay" in allowed:
        return Fault(kind, delay=_delay(raw["delay"], "fault.delay"))
    return Fault(kind)


@dataclass(frozen=True)
class Plan:
    """How an answer with a fault plays out for one client."""

    #: chunks the app receives before the fault (all of them when ``outcome`` is None)
    chunks: int
    #: None (it all arrives), or HANG / TIMEOUT_CONNECT / TIMEOUT_READ / RESET / CUT
    outcome: str | None
    #: True when the fault strikes before the status line (the app gets no response)
    before_response: bool


def plan(fault: Fault | None, chunk_count: int, connect_timeout: float | None, read_timeout: float | None) -> Plan:
    """What really happens to a client with these timeouts (``None``: waits forever)."""
    if fault is None:
        return Plan(chunk_count, None, False)
    if fault.type == CONNECT_TIMEOUT:
        return Plan(0, HANG if connect_timeout is None else TIMEOUT_CONNECT, True)
    if fault.type == READ_TIMEOUT:
        return Plan(0, HANG if read_timeout is None else TIMEOUT_READ, True)
    if fault.type == CONNECTION_RESET:
        return Plan(0, RESET, True)
    if fault.type == STREAM_CUT:
        return Plan(fault.after_chunks, CUT, False)
    if fault.type == BODY_CUT:  # the body's first half arrives (see `body_chunks`)
        return Plan(min(1, chunk_count), CUT, False)
    too_slow = read_timeout is not None and read_timeout < fault.delay
    if fault.type == SLOW_FIRST_TOKEN:
        return Plan(0, TIMEOUT_READ, True) if too_slow else Plan(chunk_count, None, False)
    # SLOW_STREAM: the first chunk comes at once, every later one after ``delay``.
    return (
        Plan(min(1, chunk_count), TIMEOUT_READ, False)
        if too_slow and chunk_count > 1
        else Plan(chunk_count, None, False)
    )


def body_chunks(body: bytes, fault: Fault | None) -> list[bytes] | None:
    """A body-cut answer's chunks: its two halves (the first arrives, then the cut); else None."""
    if fault is None or fault.type != BODY_CUT:
        return None
    half = max(1, len(body) // 2)
    return [body[:half], body[half:]] if len(body) > 1 else [body]


def hang_message(fault: Fault) -> str:
    which = "connect" if fault.type == CONNECT_TIMEOUT else "read"
    return (
        f"{fault.type}: the client sets no {which} timeout, so against a provider that stalls this call "
        f"would wait forever (huggingface_hub's default is timeout=None). Give the client a timeout, "
        f"e.g. InferenceClient(..., timeout=30)"
    )
