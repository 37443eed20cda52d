"""Seeded chaos: outages injected into unmarked tests, the same ones on every run of a seed.

Whether a router call is hit, and by which scenario, depends only on the seed, the test's node
id and the call's ordinal among the test's router calls (and on what can apply to that call's
route), never on the process or the order tests run in: ``-n 2`` and ``--lf`` see the same
outages as a plain run. A failing test gets marker lines that reproduce it without chaos.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .library import Library, Scenario
from .routes import AUTO, MAPPING, MODEL_INFO, PROVIDER, Route, RouteKind

#: the calls chaos counts and may hit: router calls and the Hub look-ups a client makes first
CHAOS_KINDS = frozenset({PROVIDER, AUTO, MAPPING, MODEL_INFO})
DEFAULT_RATE = 0.3
_SCALE = float(1 << 64)


def draw(seed: int, nodeid: str, ordinal: int) -> tuple[float, int]:
    """Two numbers from (seed, node id, ordinal) alone: a share in [0, 1) and a pick."""
    digest = hashlib.blake2b(f"{seed}\0{nodeid}\0{ordinal}".encode(), digest_size=16).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE, int.from_bytes(digest[8:], "big")


def applies(scenario: Scenario, route: Route) -> bool:
    """Can chaos inject this scenario into a call on this route on its own?

    On a mapping look-up only the Hub-side scenarios that need no routed call (the mapping
    without the provider, the Hub down), not a provider flagged unavailable (only the router's own
    pick on the auto route acts on that, and that route makes no look-up); elsewhere whatever
    answers the route and the request mode (stream-only scenarios on streamed calls only).
    """
    if route.kind == MAPPING:  # not one that pins a task: a call of that task (chat's) would see no change
        return scenario.mapping_only and not scenario.flags_unavailable and scenario.pins_task is None
    return scenario.answers_route(route) and route.kind != MODEL_INFO


@dataclass(frozen=True)
class ChaosPlan:
    seed: int
    rate: float
    #: the candidate scenarios, in the library's order (a subset when the user named some)
    scenarios: tuple[Scenario, ...]
    _choices: dict[tuple[str, bool, str | None], tuple[Scenario, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def build(cls, library: Library, seed: int, rate: float, names: Sequence[str] = ()) -> ChaosPlan:
        chosen = [library.get(name) for name in names] if names else list(library.scenarios.values())
        return cls(seed, rate, tuple({s.name: s for s in chosen}.values()))

    @property
    def truncates(self) -> bool:
        """Whether a scenario it may inject truncates a stream (the test body is then watched: verdicts)."""
        return any(s.truncates_stream for s in self.scenarios)

    def for_test(self, nodeid: str) -> TestChaos:
        return TestChaos(self, nodeid)

    def choices(self, route: Route, provider: str | None = None) -> tuple[Scenario, ...]:
        """The scenarios that can hit a call on this route, of this provider (a scenario of one
        provider's answers, as replicate's job-failed, hits no other's); worked out once per route
        kind, mode and provider."""
        target = None if route.kind == MAPPING else provider
        key = (route.kind, route.stream, target)
        found = self._choices.get(key)
        if found is None:
            found = self._choices[key] = tuple(
                s for s in self.scenarios if applies(s, route) and (route.kind == MAPPING or s.applies_to(target))
            )
        return found


@dataclass(frozen=True)
class Injection:
    """One outage chaos injected: which call (ordinal among router calls) and what."""

    ordinal: int
    call: int
    scenario: str
    provider: str | None
    model: str | None
    route: str
    stream: bool
    #: False when an earlier call that the reproducing marker would also hit was left alone
    exact: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "ordinal": self.ordinal,
            "call": self.call,
            "scenario": self.scenario,
            "provider": self.provider,
            "model": self.model,
            "route": self.route,
            "stream": self.stream,
            "exact": self.exact,
        }


@dataclass
class TestChaos:
    """The chaos of one test: counts its router calls and records what it injected."""

    plan: ChaosPlan
    nodeid: str
    ordinal: int = 0
    injected: list[Injection] = field(default_factory=list)
    #: (scenario, provider or model) of calls it left alone, to tell whether a marker reproduces exactly
    _spared: list[tuple[RouteKind, bool, str | None, str | None]] = field(default_factory=list)

    def pick(self, route: Route, provider: str | None = None) -> Scenario | None:
        """The scenario to inject into this call of ``provider``, or None (counts the call either way)."""
        ordinal = self.ordinal
        self.ordinal += 1
        share, pick = draw(self.plan.seed, self.nodeid, ordinal)
        if share >= self.plan.rate:
            return None
        choices = self.plan.choices(route, provider)
        return choices[pick % len(choices)] if choices else None

    def record(
        self, scenario: Scenario | None, route: Route, provider: str | None, model: str | None, call: int
    ) -> None:
        if scenario is None:
            self._spared.append((route.kind, route.stream, provider, model))
            return
        # a look-up: its model, and the provider whose call made it where that is known
        target = (provider, None) if route.kind != MAPPING else (provider, model)
        earlier = any(
            _would_hit(scenario, kind, stream, target, spared_provider, spared_model)
            for kind, stream, spared_provider, spared_model in self._spared
        )
        self.injected.append(
            Injection(
                self.ordinal - 1, call, scenario.name, target[0], target[1], route.kind, route.stream, exact=not earlier
            )
        )

    def reproduction(self) -> list[str]:
        """Marker lines that inject the same outages without chaos (consecutive repeats folded into times=), in the
        order to paste them above the test: the lowest is the closest marker, which wins a call two of them match,
        so it is the first call's (an audit: pasted in call order, a provider hit by three scenarios met them in
        reverse)."""
        lines: list[tuple[tuple[str, str | None, str | None], int]] = []
        for injection in self.injected:
            key = (injection.scenario, injection.provider, injection.model)
            if lines and lines[-1][0] == key:
                lines[-1] = (key, lines[-1][1] + 1)
            else:
                lines.append((key, 1))
        return [marker_line(scenario, provider, model, times) for (scenario, provider, model), times in lines[::-1]]


def _would_hit(
    scenario: Scenario,
    kind: RouteKind,
    stream: bool,
    target: tuple[str | None, str | None],
    provider: str | None,
    model: str | None,
) -> bool:
    """Would a marker for ``target`` have hit this earlier call (that chaos left alone)?"""
    if not scenario.answers_route(Route(kind, stream=stream)):
        return False
    if target[0] is not None and provider is not None and target[0].lower() != provider.lower():
        return False
    return not (target[1] is not None and model is not None and target[1].lower() != model.lower())


def marker_line(scenario: str, provider: str | None, model: str | None, times: int) -> str:
    parts = [f'"{scenario}"']
    if provider:
        parts.append(f'provider="{provider}"')
    if model:
        parts.append(f'model="{model}"')
    parts.append(f"times={times}")
    return f"@pytest.mark.hfrouter_outage({', '.join(parts)})"


def describe(injection: dict[str, Any]) -> str:
    """``call 3 (provider novita, stream): bad-gateway-502`` from a report's injection entry."""
    where = injection.get("provider") or injection.get("model") or "-"
    mode = ", stream" if injection.get("stream") else ""
    note = "" if injection.get("exact", True) else " (an earlier matching call was spared: the marker hits that one)"
    return f"call {injection['call'] + 1} ({injection['route']} {where}{mode}): {injection['scenario']}{note}"
