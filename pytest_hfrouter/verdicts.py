"""Resilience verdicts: how the app behaved while outages were injected, judged from its call log.

Falling back is not the whole contract: hammering a failing provider, retrying a 402 that can
never succeed, ignoring ``Retry-After``, retrying without backoff, showing half a stream as a
whole answer, or giving up while the chain had providers left all pass a naive fallback test.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .bodies import json_object
from .errors import did_you_mean
from .routes import INFERENCE_KINDS, MAPPING
from .traffic import Call, Exchange

RETRY_STORM = "retry-storm"
RETRIED_NON_RETRYABLE = "retried-non-retryable"
RETRY_AFTER_IGNORED = "retry-after-ignored"
NO_BACKOFF = "no-backoff"
TRUNCATED_STREAM_ACCEPTED = "truncated-stream-accepted"
GAVE_UP_EARLY = "gave-up-early"

#: answers that cannot change on retry (docs/ROUTER-FACTS.md §2.1-2.5)
NON_RETRYABLE = frozenset({400, 401, 402, 403, 404})
#: failures that hold for the whole account, so stopping the chain on them is right
ACCOUNT_WIDE = frozenset({401, 402, 403})
#: answers whose ``Retry-After`` asks the client to wait (RFC 9110 §10.2.3)
WAIT_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Verdict:
    """A resilience verdict on one test's calls (``from pytest_hfrouter import Verdict``).

    Frozen. You may rely on ``name`` (one of `NAMES`), ``explanation``, ``level`` (``"error"`` or
    ``"warning"``), the ``calls`` it was judged from, and ``describe()``.
    """

    name: str
    explanation: str
    calls: tuple[Call, ...] = field(default=())
    level: str = "error"

    def __post_init__(self) -> None:
        # a verdict that `NEEDS` does not declare would be judged only where another's facts let the look
        # through, and refused by allow= (a contributor's audit): it is none until it is declared there
        if self.name not in NEEDS:
            raise ValueError(
                f"verdict {self.name!r} is not declared in verdicts.NEEDS: add what a call log must hold for it"
            )

    def describe(self) -> str:
        lines = [f"{self.name}: {self.explanation}"]
        lines += [f"    {call.line()}" for call in self.calls]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "level": self.level,
            "explanation": self.explanation,
            "calls": [call.line() for call in self.calls],
        }


def check_names(names: Sequence[object]) -> list[str]:
    """Problems with verdict names given to ``allow=`` (with a "did you mean")."""
    problems = []
    for name in names:
        if name not in NAMES:
            hint = did_you_mean(name, NAMES)
            problems.append(f"unknown verdict {name!r}.{hint} Verdicts: {', '.join(NAMES)}")
    return problems


def _pair(call: Call) -> tuple[str | None, str | None]:
    return call.provider, (call.model or "").lower() or None


#: what a request asks, in the body fields of the router's tasks (chat, text generation and the
#: other tasks, images, audio, embeddings)
_QUESTION_FIELDS = ("messages", "inputs", "prompt", "input", "text")


def question(call: Call) -> object:
    """What ``call`` asked, whoever it asked: a retry and a fallback ask the same again, while the
    app's other requests (concurrent ones: ten prompts gathered) ask something else. None for a call
    without a body; the body itself where it is no JSON object."""
    body = call.body
    if not body:
        return None
    data = json_object(body)
    if data is None:
        return body
    for name in _QUESTION_FIELDS:
        if name in data:
            return json.dumps(data[name], sort_keys=True)
    return json.dumps({k: v for k, v in data.items() if k not in ("model", "stream")}, sort_keys=True)


def _who(call: Call) -> str:
    return f"{call.provider or '-'} {call.model or '-'}"


def judge(
    calls: Sequence[Call],
    *,
    passed: bool,
    chain: Sequence[str] = (),
    storm_limit: int = 3,
    removed: frozenset[tuple[str, str]] = frozenset(),
    caught_after: int = -1,
) -> list[Verdict]:
    """Every verdict the call log supports.

    ``passed``: the test body raised nothing; ``caught_after``: how many calls had been made
    when an exception last reached the test's own code (caught there by ``pytest.raises``, say).
    """
    inference = [c for c in calls if c.route in INFERENCE_KINDS]
    # One request's tries: the calls to one provider x model that ask the same (`question`), so that
    # the app's other requests to it (concurrent ones) are no retries of it.
    by_pair: dict[tuple[str | None, str | None, object], list[Call]] = {}
    for call in inference:
        by_pair.setdefault((*_pair(call), question(call)), []).append(call)
    verdicts: list[Verdict] = []
    for pair_calls in by_pair.values():
        who = _who(pair_calls[0])
        if len(pair_calls) > storm_limit and all(c.failed for c in pair_calls):
            explanation = f"{len(pair_calls)} calls to {who}, every one failed (more than {storm_limit})"
            verdicts.append(Verdict(RETRY_STORM, explanation, tuple(pair_calls)))
        pairs = list(itertools.pairwise(pair_calls))
        again = next(((a, b) for a, b in pairs if a.status in NON_RETRYABLE and a.fault is None), None)
        if again is not None:
            explanation = f"{who} was called again after a {again[0].status}, which cannot change on retry"
            verdicts.append(Verdict(RETRIED_NON_RETRYABLE, explanation, again))
        early = next(((a, b) for a, b in pairs if (wait := _asked_to_wait(a)) and b.at - a.at < wait), None)
        if early is not None:
            first, second = early
            explanation = (
                f"{who} was called again after {second.at - first.at:.1f} s; the answer asked for "
                f"{first.retry_after:g} s{_no_wait_hint([second.at - first.at])}"
            )
            verdicts.append(Verdict(RETRY_AFTER_IGNORED, explanation, early))
        verdicts += _no_backoff(pair_calls)
    for call in inference:
        if call.provider and call.model and (call.provider, call.model.lower()) in removed:
            verdicts.append(
                Verdict(
                    RETRIED_NON_RETRYABLE,
                    f"{_who(call)} was called although the mapping said the provider does not serve the model",
                    (call,),
                )
            )
    verdicts += _truncated(list(calls), passed, caught_after)
    verdicts += _gave_up_early(inference, chain, calls)
    return verdicts


def _asked_to_wait(call: Call) -> float:
    """The wait an answer asked for: a 429 or 503's ``Retry-After`` (or ``ratelimit`` ``t=``).

    Providers send ``retry-after`` on successful answers too (together's 200s carry ``2``): there
    it asks nothing of the next call.
    """
    if call.fault is None and call.status in WAIT_STATUSES and call.retry_after is not None:
        return call.retry_after
    return 0.0


def _server_failure(call: Call) -> bool:
    return call.fault is not None or (call.status is not None and call.status >= 500)


#: a gap "grows" only beyond the noise of measuring it: the time the calls themselves took. The waits the app
#: slept in ``hfrouter.virtual_time()`` are known exactly: there a jittered backoff's draws that differ by a
#: few per cent are told from one wait again (an audit: stamina's defaults, three tries, were judged no-backoff
#: one run in five)
_WALL_NOISE = (0.05, 1.1)
_EXACT = (1e-9, 1.0 + 1e-9)


def _grows(earlier: float, later: float, noise: tuple[float, float] = _WALL_NOISE) -> bool:
    """A real wall-clock gap carries the calls' own duration: equal waits must not look like growing ones."""
    absolute, ratio = noise
    return later > earlier * ratio + absolute


def _no_backoff(pair_calls: list[Call]) -> list[Verdict]:
    run: list[Call] = []
    for call in [*pair_calls, None]:
        if call is not None and _server_failure(call):
            run.append(call)
            continue
        retries = run + ([call] if call is not None and run else [])
        if len(retries) >= 3:
            gaps = [b.at - a.at for a, b in itertools.pairwise(retries)]
            waits = [b.slept - a.slept for a, b in itertools.pairwise(retries)]
            judged, noise = (waits, _EXACT) if any(waits) else (gaps, _WALL_NOISE)
            # Backoff with jitter (tenacity's wait_random_exponential, backoff.expo's default "full jitter")
            # may draw a shorter wait after a longer one, and now and then only shorter ones: 0.96 s, 0.28 s,
            # 0.10 s (an audit: backoff's defaults were judged no-backoff in about one run in twelve). No
            # backoff is the same wait each time: no gap outgrows the first, and none falls short of it.
            first, later = judged[0], judged[1:]
            if not _grows(first, max(later), noise) and not _grows(min(later), first, noise):
                shown = ", ".join(f"{gap:.3f} s" if gap < 0.01 else f"{gap:.2f} s" for gap in gaps)
                failures = ", ".join(dict.fromkeys(str(c.fault or c.status) for c in retries if _server_failure(c)))
                return [
                    Verdict(
                        NO_BACKOFF,
                        f"{_who(retries[0])} was retried after failures ({failures}) with gaps {shown}: the same "
                        f"wait each time, not growing{_no_wait_hint(gaps)}",
                        tuple(retries),
                    )
                ]
        run = []
    return []


def _no_wait_hint(gaps: Sequence[float]) -> str:
    """Gaps of nothing while stamina's test switch is on (``stamina.set_testing``): the test turned the app's
    waits off, not the app (an audit: the verdict blamed the app)."""
    stamina = sys.modules.get("stamina")
    testing = getattr(stamina, "is_testing", None)
    if max(gaps) >= 0.01 or testing is None or not testing():
        return ""
    return (
        " (no wait at all: stamina.set_testing() turned the app's waits off, so its backoff was not put to the "
        "test; wrap the calls in hfrouter.virtual_time() instead, which keeps the waits and takes no time)"
    )


def _truncated(calls: list[Call], passed: bool, caught_after: int) -> list[Verdict]:
    if not passed:
        return []
    for position, call in enumerate(calls):
        # the scenario's data says it truncates (``truncates_stream: true``, cassettes/FORMAT.md)
        if not call.truncates_stream or call.unread or caught_after > position:
            continue  # an exception reached the test after it: the app did not take it for whole
        # a fallback asks the same again; the app's other requests (a concurrent one) are no fallback
        asked = question(call)
        later = [c for c in calls[position + 1 :] if c.route in INFERENCE_KINDS and question(c) == asked]
        if not any(not c.failed for c in later):
            return [
                Verdict(
                    TRUNCATED_STREAM_ACCEPTED,
                    f"{_who(call)} sent a truncated stream ({call.scenario}) and no "
                    "exception reached the test nor did another provider answer afterwards: the app may "
                    "have shown half an answer as if it were whole (an app that tells its user the answer broke "
                    "off, such as a web handler that catches the error and says so, does right: allow it)",
                    (call,),
                    level="warning",
                )
            ]
    return []


def _gave_up_early(inference: list[Call], chain: Sequence[str], calls: Sequence[Call]) -> list[Verdict]:
    if not chain or not inference or not inference[-1].failed:
        return []
    last = inference[-1]
    if last.status in ACCOUNT_WIDE and last.fault is None:
        return []  # stopping on a 401/402/403 is right: every link would get it
    if last.stream and last.status == 200:
        # a stream that broke after it began: words the app showed cannot be taken back, so saying the
        # answer broke off is as right as starting it again elsewhere (an audit: the example app's
        # StreamInterrupted was judged gave-up-early, and accepting the half answer truncated-stream-accepted)
        return []
    # a link the Hub stopped (its mapping look-up failed, or left it out) was tried too: the look-up made
    # for its call says so (an audit: an app that met a removed novita, a together 503 and the Hub down
    # for cerebras was told novita and cerebras had never been tried)
    tried = {c.provider for c in inference} | {c.looked_up_for for c in calls if c.route == MAPPING}
    untried = [p for p in chain if p not in tried]
    if not untried:
        return []
    return [
        Verdict(
            GAVE_UP_EARLY,
            f"the chain ended with {last.fault or last.status} from {last.provider} while "
            f"{', '.join(untried)} had never been tried",
            (last,),
        )
    ]


#: The facts a call log can hold that some verdict needs (`NEEDS`), read in one pass (`_facts`):
#: some call failed (any route); some inference call failed; a provider x model was called more
#: than once; a call met a scenario that declares a truncated stream; the test names its fallback
#: chain; a mapping answered without a provider the app then called.
FAILED, INFERENCE_FAILED, REPEATED, TRUNCATED, CHAIN, REMOVED = (
    "failed", "inference_failed", "repeated", "truncated", "chain", "removed",
)  # fmt: skip
_RETRIED = frozenset({FAILED, REPEATED})


def _facts(calls: Sequence[Call], chain: Sequence[str], removed: bool) -> set[str]:
    held: set[str] = set()
    seen: set[tuple[str | None, str | None]] = set()
    for call in calls:
        failed = call.failed
        if failed:
            held.add(FAILED)
        if call.route not in INFERENCE_KINDS:
            continue
        if failed:
            held.add(INFERENCE_FAILED)
        if call.truncates_stream:
            held.add(TRUNCATED)
        pair = _pair(call)
        if pair in seen:
            held.add(REPEATED)
        seen.add(pair)
    if chain:
        held.add(CHAIN)
    if removed:
        held.add(REMOVED)
    return held


#: Every verdict, with what a call log must hold before it can be judged: a cheap look that spares
#: the full judgement for the tests that cannot have one. Each way a verdict can arise is a set of
#: facts that must all hold. A verdict is a name here or it is none (`NAMES` is these keys), so
#: none can be added that the look never lets through.
NEEDS: dict[str, tuple[frozenset[str], ...]] = {
    RETRY_STORM: (_RETRIED,),
    RETRIED_NON_RETRYABLE: (_RETRIED, frozenset({REMOVED})),
    RETRY_AFTER_IGNORED: (_RETRIED,),
    NO_BACKOFF: (_RETRIED,),
    TRUNCATED_STREAM_ACCEPTED: (frozenset({TRUNCATED}),),
    GAVE_UP_EARLY: (frozenset({INFERENCE_FAILED, CHAIN}),),
}
NAMES = tuple(NEEDS)
#: each set of facts once (verdicts share them): the look runs after every test
_NEEDED = tuple(dict.fromkeys(need for needs in NEEDS.values() for need in needs))


def _could_judge(calls: Sequence[Call], chain: Sequence[str], removed: bool = False) -> bool:
    """Whether any verdict is possible at all (`NEEDS`)."""
    return any(map(_facts(calls, chain, removed).issuperset, _NEEDED))


def verdicts_of(exchange: Exchange, *, passed: bool, chain: Sequence[str], storm_limit: int) -> list[Verdict]:
    """The verdicts of one test, from what the app sent while outage rules were active (the whole
    test for marker rules and cassettes, the ``hfrouter.outage()`` blocks otherwise), or when answers were
    live."""
    windows = exchange.outage_windows
    open_blocks = sum(1 for _, end in windows if end is None) if windows else 0  # their rules are in exchange.rules
    # Answers from the test's own cassettes (a recorded 429 with its Retry-After) count as much as
    # injected ones: with cassettes, as with marker rules or live answers, the whole test is judged.
    # So do a chaos run's injections (`Engine._from_chaos`): chaos is how unmarked tests meet outages —
    # where it injected one (an audit: a block test that chaos leaves alone was judged whole in every
    # chaos run, rate 0 included, and failed on a call made after its block).
    chaos = exchange.chaos
    if (
        exchange.live
        or exchange.cassettes
        or len(exchange.rules) > open_blocks
        or (chaos is not None and chaos.injected)
    ):
        calls, caught_after = list(exchange.calls), exchange.caught_after
    else:
        total = len(exchange.calls)
        inside = sorted({n for start, end in windows for n in range(start, total if end is None else end)})
        calls = [exchange.calls[n] for n in inside]
        # the same moment, counted in the calls judged
        caught_after = sum(1 for n in inside if n < exchange.caught_after) if exchange.caught_after >= 0 else -1
    if not _could_judge(calls, chain, bool(exchange.removed)):
        return []
    removed = frozenset(exchange.removed)
    if len(exchange.examples) > 1 and len(calls) == len(exchange.calls):
        # a Hypothesis test: each example is the app run afresh, not a retry of the one before (an audit: one
        # prompt in every example read as a retry storm without backoff); a verdict counts once
        bounds = [0, *exchange.examples[1:], len(calls)]  # the setup's calls with the first example
        found: dict[str, Verdict] = {}
        for start, end in itertools.pairwise(bounds):
            part = calls[start:end]
            if part:
                for verdict in judge(
                    part,
                    passed=passed,
                    chain=chain,
                    storm_limit=storm_limit,
                    removed=removed,
                    caught_after=caught_after - start if caught_after > start else -1,
                ):
                    found.setdefault(verdict.name, verdict)
        verdicts = list(found.values())
    else:
        verdicts = judge(
            calls,
            passed=passed,
            chain=chain,
            storm_limit=storm_limit,
            removed=removed,
            caught_after=caught_after,
        )
    if exchange.unwatched:  # whether the app's exception reached the test was not seen: not judged (`_checks`)
        verdicts = [v for v in verdicts if v.name != TRUNCATED_STREAM_ACCEPTED]
    if exchange.sleep_patched:
        return [_mocked_sleep(v) if v.name in WAITS_JUDGED else v for v in verdicts]
    return verdicts


#: the verdicts judged on the time between calls
WAITS_JUDGED = frozenset({RETRY_AFTER_IGNORED, NO_BACKOFF})


def _mocked_sleep(verdict: Verdict) -> Verdict:
    """A verdict on waits, in a test that patched ``time.sleep``: the app may have asked to wait (an audit:
    a mock recorded two sleeps of 55 s, and the test failed with "called again after 0.0 s")."""
    return dataclasses.replace(
        verdict,
        explanation=verdict.explanation
        + " (time.sleep was patched in this test, by a mock or monkeypatch: an app's wait on it takes no time, so "
        "it looks like none. Let the plugin's clock count it instead: with hfrouter.virtual_time(): <the calls>)",
    )
