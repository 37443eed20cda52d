"""Live probes: a short real chat completion, plain and streamed, per configured pair.

Sent with the standard library (``urllib``), so the plugin's own interception never sees
them; bounded in concurrency, in total requests and in time; ``Retry-After`` is honoured.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from . import scrub
from ._clock import REAL
from .bodies import sse_data
from .live import REMOVED_PROVIDERS, Live, error_text

PROMPT = [{"role": "user", "content": "Reply with the single word OK."}]
#: the longest Retry-After a probe waits for before it reports the 429 instead
MAX_RETRY_AFTER = 30.0


@dataclass(frozen=True)
class Probe:
    provider: str | None
    model: str
    stream: bool

    @property
    def name(self) -> str:
        return f"{self.provider or 'auto'}:{self.model}:{'stream' if self.stream else 'plain'}"


def parse_probes(lines: tuple[str, ...]) -> list[Probe]:
    """``provider:model`` or ``model`` (auto route) per line → a plain and a streamed probe each."""
    probes = []
    for line in lines:
        provider, sep, model = line.partition(":")
        if not sep:
            provider, model = "", line
        if "/" in provider or not model:  # "Qwen/X" alone: no provider part
            provider, model = "", line
        for stream in (False, True):
            probes.append(Probe(provider or None, model, stream))
    return probes


@dataclass
class ProbeResult:
    provider: str | None
    model: str
    stream: bool
    outcome: str  # ok | failed | removed | over-budget
    status: int | None = None
    latency_ms: float | None = None
    request_id: str | None = None
    inference_provider: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Budget:
    """A total number of requests, shared by the threads of one process; and, given a ``folder``
    (xdist's spool), by the workers of the run: a request claims one of ``total`` numbered files there
    (created exclusively, so two workers never claim the same one), and the run spends ``total`` at
    most, wherever its probes happen to run."""

    def __init__(self, total: int, folder: str | None = None) -> None:
        self.total = total
        self._lock = threading.Lock()
        self._folder = folder
        # alone: the requests taken; with a folder: the next claim to try (those below it are taken,
        # by this worker or another; the files stay while the run lasts)
        self._taken = 0

    def take(self) -> bool:
        with self._lock:
            if self._folder is None:
                if self._taken >= self.total:
                    return False
                self._taken += 1
                return True
            while self._taken < self.total:
                claim = os.path.join(self._folder, f"probe-budget-{self._taken}")
                self._taken += 1
                try:
                    os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                except FileExistsError:
                    continue  # another worker's
                return True
            return False


def contract_problem(body: bytes, stream: bool) -> str | None:
    """Why an answer breaks the OpenAI-compatible contract (None: it keeps it)."""
    if not stream:
        try:
            data = json.loads(body)
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return f"not an OpenAI-compatible chat completion ({type(exc).__name__}: {exc})"
        return None if isinstance(content, str) else "choices[0].message.content is not a string"
    events, finished = 0, False
    payloads, done = sse_data(body)
    for data_text in payloads:
        try:
            event = json.loads(data_text)
        except ValueError:
            return f"stream event {events + 1} is not JSON: {scrub.text(data_text)[:60]!r}"  # scrubbed, then cut
        if event.get("error") is not None:
            return f"stream error event: {event['error']}"
        if not isinstance(event.get("choices"), list):
            return f"stream event {events + 1} has no choices list"
        finished = finished or any(c.get("finish_reason") for c in event["choices"] if isinstance(c, dict))
        events += 1
    if not events:
        return "the stream carried no event"
    return None if (done or finished) else "the stream ended without [DONE] or a finish_reason"


def run_probe(probe: Probe, live: Live, budget: Budget, timeout: float) -> ProbeResult:
    result = ProbeResult(probe.provider, probe.model, probe.stream, "failed")
    if probe.provider in REMOVED_PROVIDERS:
        result.outcome = "removed"
        result.error = f"{probe.provider} is no longer routed by the router (removed 2026-07, ROUTER-FACTS §1.2)"
        return result
    model = f"{probe.model}:{probe.provider}" if probe.provider else probe.model
    body = json.dumps({"model": model, "messages": PROMPT, "max_tokens": 8, "stream": probe.stream}).encode()
    for _attempt in range(2):
        if not budget.take():
            if _attempt:  # the 429 it got is its answer: a failure, not a probe that never ran
                result.error = f"{result.error} (not retried after its Retry-After: the probe request budget is spent)"
                return result
            result.outcome, result.error = "over-budget", "the probe request budget is spent"
            return result
        request = urllib.request.Request(
            f"{live.router_url}/v1/chat/completions",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {live.token}", "Content-Type": "application/json"},
        )
        started = REAL.perf_counter()
        try:
            with _OPENER.open(request, timeout=timeout) as response:
                status, headers = response.status, response.headers
                answer = _read_within(response, started + timeout)
        except urllib.error.HTTPError as exc:
            answer, status, headers = exc.read(), exc.code, exc.headers
        except (OSError, ValueError) as exc:  # timeouts, resets, refused connections
            result.latency_ms = round((REAL.perf_counter() - started) * 1000, 1)
            result.error = f"{type(exc).__name__}: {exc}"
            return result
        result.latency_ms = round((REAL.perf_counter() - started) * 1000, 1)
        result.status = status
        result.request_id = headers.get("x-request-id")
        result.inference_provider = headers.get("x-inference-provider")
        retry_after = _seconds(headers.get("retry-after"))
        if status == 429 and retry_after is not None and retry_after <= MAX_RETRY_AFTER and _attempt == 0:
            result.error = error_text(answer) or f"HTTP {status}"  # stands if the retry is not sent
            time.sleep(retry_after)
            continue
        if 300 <= status < 400:
            result.error = f"redirected to {headers.get('location')} (not followed: the token stays with the router)"
            return result
        if status >= 400:
            result.error = error_text(answer) or f"HTTP {status}"
            return result
        problem = contract_problem(answer, probe.stream)
        result.outcome, result.error = ("failed", problem) if problem else ("ok", None)
        return result
    return result


def _read_within(response: Any, deadline: float) -> bytes:
    """The whole answer, or ``TimeoutError`` past ``deadline``: the socket's timeout bounds each read,
    and a stream that trickles an event at a time would never trip it (an audit: 2.5 s under a 1 s
    --hfrouter-probe-timeout, reported "ok")."""
    parts = []
    while chunk := response.read1(65536) if hasattr(response, "read1") else response.read(65536):
        parts.append(chunk)
        if REAL.perf_counter() > deadline:
            raise TimeoutError("the answer took longer than --hfrouter-probe-timeout in all")
    return b"".join(parts)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is the probe's answer: urllib would resend the token to any host it names."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def run_all(
    probes: list[Probe], live: Live, concurrency: int, budget: Budget, timeout: float
) -> dict[Probe, ProbeResult]:
    shared = budget
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="hfrouter-probe") as pool:
        results = pool.map(lambda p: (p, run_probe(p, live, shared, timeout)), probes)
        return dict(results)
