"""The markers' signatures, their parsing and validation (plain values, no pytest objects).

Where a test's cassettes are is `cassette_paths`."""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import HFRouterError, ScenarioError, closest
from .faults import FaultError
from .overrides import NAMES as OVERRIDE_NAMES
from .overrides import VARYING
from .tasks import STEPS

if TYPE_CHECKING:  # imported when a marker is parsed, so loading the plugin stays light
    from .library import Library, Scenario
    from .overrides import Overrides
    from .traffic import Rule

from ._names import CASSETTE, EACH_OUTAGE, OUTAGE, RESILIENT, SIGNATURES

# How a user wrote an outage: the marker, the fixture's context manager, the double's command line.
MARKER_API = "marker"
BLOCK_API = "block"
SERVER_BLOCK_API = "server block"
SERVE_API = "serve"
_OUTAGE_APIS = {
    MARKER_API: ("@pytest.mark.hfrouter_outage", "@pytest.mark." + SIGNATURES[OUTAGE]),
    BLOCK_API: (
        "hfrouter.outage(...)",
        "with hfrouter.outage(scenario, *, provider=None, model=None, times=None, delay=None, step=None, "
        "retry_after=..., status=None, body=None, headers=None, optional=False):",
    ),
    SERVER_BLOCK_API: (
        "hfrouter_server.outage(...)",
        "with hfrouter_server.outage(scenario, *, provider=None, model=None, times=None, delay=None, step=None, "
        "retry_after=..., status=None, body=None, headers=None, optional=False):",
    ),
    SERVE_API: (
        "serve --outage",
        "--outage SCENARIO[:key=value,...] with keys provider, model, times, delay, step, retry_after, status "
        "(e.g. --outage rate-limited-429:provider=novita,retry_after=1)",
    ),
}


class MarkerError(HFRouterError):
    """Wrong marker arguments: names the API the user called, the problem and its signature."""

    def __init__(self, marker: str, problem: str, api: str = MARKER_API) -> None:
        self.problem = problem
        if marker == OUTAGE:
            head, signature = _OUTAGE_APIS[api]
            super().__init__(f"{head}: {problem}\n  signature: {signature}")
        else:
            super().__init__(f"@pytest.mark.{marker}: {problem}\n  signature: @pytest.mark.{SIGNATURES[marker]}")


class UnknownScenarioError(MarkerError, ScenarioError):
    """A marker, block or ``serve --outage`` that names no scenario of the library: a `ScenarioError`
    too, as the README's API section says ``hfrouter.outage("bogus")`` raises (an audit: it was a
    `MarkerError` only, which the package does not export)."""


def _optional_str(marker: str, name: str, value: Any, api: str = MARKER_API) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise MarkerError(marker, f"{name} must be a non-empty string or None, got {value!r}", api)
    return value


def _provider(marker: str, value: Any, api: str = MARKER_API) -> tuple[str | None, str | None]:
    """A provider name or glob, checked against the router's providers → (provider, note for a removed one)."""
    from .providers import UnknownProvider, check_provider

    provider = _optional_str(marker, "provider", value, api)
    if provider is None:
        return None, None
    try:
        return provider, check_provider(provider)
    except UnknownProvider as exc:
        raise MarkerError(marker, f"provider={provider!r}: {exc}", api) from None


def _scenario(marker: str, library: Library, name: Any, api: str = MARKER_API) -> str:
    if not isinstance(name, str):
        raise MarkerError(marker, f"a scenario is a name (str), got {name!r}", api)
    try:
        return library.get(name).name
    except ScenarioError as exc:
        raise UnknownScenarioError(marker, str(exc), api) from None


def _overrides(marker: str, kwargs: Mapping[str, Any], scenario: Scenario, api: str = MARKER_API) -> Overrides | None:
    from .overrides import OverrideError, parse_overrides

    try:
        return parse_overrides(kwargs, sends_status=scenario.sends_status)
    except OverrideError as exc:
        raise MarkerError(marker, f"{scenario.name}: {exc}", api) from None


_OUTAGE_KEYS = {"scenario", "provider", "model", "times", "delay", "step", "optional", *OVERRIDE_NAMES}
#: what ``serve --outage`` takes: values a command line can spell (no body or headers; no optional)
_SERVE_KEYS = {"provider", "model", "times", "delay", "step", "retry_after", "status"}


def parse_outage(args: Sequence[Any], kwargs: Mapping[str, Any], library: Library, api: str = MARKER_API) -> Rule:
    """``hfrouter_outage(scenario, *, provider=None, model=None, times=None, delay=None, ...)`` → a `Rule`.

    ``api`` says how the user wrote it (the marker, ``hfrouter.outage()``, ``serve --outage``): errors name it.
    """
    _no_unknown_keywords(OUTAGE, kwargs, _SERVE_KEYS if api == SERVE_API else _OUTAGE_KEYS, api)
    given = list(args) + ([kwargs["scenario"]] if "scenario" in kwargs else [])
    if len(given) != 1:
        raise MarkerError(OUTAGE, f"takes exactly one scenario, got {len(given)} ({given!r})", api)
    times = kwargs.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        allowed = "a whole number from 1 (leave it out: every call)" if api == SERVE_API else "a positive int or None"
        raise MarkerError(OUTAGE, f"times must be {allowed}, got {times!r}", api)
    optional = kwargs.get("optional", False)
    if not isinstance(optional, bool):
        raise MarkerError(OUTAGE, f"optional must be True or False, got {optional!r}", api)
    scenario = library.get(_scenario(OUTAGE, library, given[0], api))
    delay = kwargs.get("delay")
    if delay is not None:
        try:
            if scenario.fault is None:
                raise FaultError(f"delay= applies to slow-first-token and slow-stream, not to {scenario.name}")
            scenario.fault.with_delay(delay)
        except FaultError as exc:
            raise MarkerError(OUTAGE, str(exc), api) from None
    step = kwargs.get("step")
    if step is not None and step not in STEPS:
        raise MarkerError(OUTAGE, f"step must be one of {', '.join(map(repr, STEPS))} or None, got {step!r}", api)
    provider, _ = _provider(OUTAGE, kwargs.get("provider"), api)
    if scenario.providers and provider is not None and not _any_provider(scenario.providers, provider):
        raise MarkerError(
            OUTAGE,
            f"scenario {scenario.name!r} is an answer of {', '.join(scenario.providers)} only, not of {provider!r}",
            api,
        )
    from .traffic import Rule

    return Rule(
        scenario,
        provider=provider,
        model=_optional_str(OUTAGE, "model", kwargs.get("model"), api),
        times=times,
        delay=delay,
        step=step,
        overrides=_overrides(OUTAGE, kwargs, scenario, api),
        optional=optional,
        api=api,
        written=given[0] if given[0] != scenario.name else None,
    )


def _any_provider(providers: Iterable[str], pattern: str) -> bool:
    return any(fnmatch.fnmatchcase(p, pattern.lower()) for p in providers)


def outage_note(kwargs: Mapping[str, Any]) -> str | None:
    """The note on an already-parsed outage's provider (a removed one), or None."""
    from .providers import UnknownProvider, check_provider

    provider = kwargs.get("provider")
    if not isinstance(provider, str):
        return None
    try:
        return check_provider(provider)
    except UnknownProvider:
        return None


class EachCase(NamedTuple):
    """One case of an ``hfrouter_each_outage`` matrix: a scenario and the parameters it runs with."""

    scenario: str
    overrides: Overrides | None = None
    #: the test id's part: the scenario, then the parameters that vary across cases
    id: str = ""

    def __str__(self) -> str:
        return self.id or self.scenario


class EachOutage(NamedTuple):
    cases: tuple[EachCase, ...]
    provider: str
    model: str | None

    @property
    def scenarios(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(case.scenario for case in self.cases))

    def rule(self, library: Library, case: EachCase) -> Rule:
        from .traffic import Rule

        return Rule(
            library.get(case.scenario), provider=self.provider, model=self.model, overrides=case.overrides, api="each"
        )


def _no_unknown_keywords(marker: str, kwargs: Mapping[str, Any], known: Collection[str], api: str = MARKER_API) -> None:
    """A keyword the marker does not take is an error, each named with the one it looks like a typo of."""
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        named = [f"{name} (did you mean {close!r}?)" if (close := closest(name, known)) else name for name in unknown]
        raise MarkerError(marker, f"unexpected keyword argument(s) {', '.join(named)}", api)


def parse_each_outage(args: Sequence[Any], kwargs: Mapping[str, Any], library: Library) -> EachOutage:
    _no_unknown_keywords(EACH_OUTAGE, kwargs, {"provider", "model", *OVERRIDE_NAMES})
    provider, _ = _provider(EACH_OUTAGE, kwargs.get("provider"))
    if provider is None:
        raise MarkerError(EACH_OUTAGE, "provider is required: the provider whose outages the test must survive")
    names = tuple(_scenario(EACH_OUTAGE, library, name) for name in args)
    twice = [(given, name) for given, name in zip(args, names, strict=True) if names.count(name) > 1]
    if twice:
        spelled = " and ".join(dict.fromkeys(repr(given) for given, _ in twice))
        raise MarkerError(
            EACH_OUTAGE, f"{spelled} name the scenario {twice[0][1]!r} twice (an alias is its scenario): name it once"
        )
    if not names:  # every HTTP scenario that can happen to this provider
        names = tuple(
            s.name for s in library.http_scenarios() if not s.providers or _any_provider(s.providers, provider)
        )
    # retry_after= and status= may be lists: one case per value (per combination), named in the test id.
    varying = {k: list(v) for k, v in kwargs.items() if k in VARYING and isinstance(v, (list, tuple))}
    for name, values in varying.items():
        if not values:
            raise MarkerError(EACH_OUTAGE, f"{name}= is an empty list: give one value or a list of values to vary")
    fixed = {k: v for k, v in kwargs.items() if k in OVERRIDE_NAMES and k not in varying}
    combos: list[dict[str, Any]] = [{}]
    for name, values in varying.items():
        combos = [{**combo, name: value} for combo in combos for value in values]
    cases = []
    for scenario_name in names:
        scenario = library.get(scenario_name)
        for combo in combos:
            params = {**fixed, **combo}
            overrides = _overrides(EACH_OUTAGE, params, scenario) if params else None
            shown = "-".join(f"{k}={_shown(v)}" for k, v in combo.items())
            cases.append(EachCase(scenario_name, overrides, f"{scenario_name}-{shown}" if shown else scenario_name))
    return EachOutage(tuple(cases), provider, _optional_str(EACH_OUTAGE, "model", kwargs.get("model")))


def _shown(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def parse_cassette_paths(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    if kwargs:
        raise MarkerError(CASSETTE, f"unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
    if not args:
        raise MarkerError(CASSETTE, "name at least one cassette path")
    for path in args:
        if not isinstance(path, (str, Path)) or not str(path):
            raise MarkerError(CASSETTE, f"a cassette path is a str or pathlib.Path, got {path!r}")
    return tuple(str(p) for p in args)


class Resilience(NamedTuple):
    allow: tuple[str, ...] = ()
    chain: tuple[str, ...] | None = None


def parse_resilient(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Resilience:
    """``hfrouter_resilient(allow=(), chain=None)``: the verdicts a test tolerates, the app's chain."""
    from .verdicts import check_names

    unknown = sorted(set(kwargs) - {"allow", "chain"})
    if args or unknown:
        raise MarkerError(RESILIENT, f"takes keyword arguments allow= and chain= only, got {args!r} {unknown}")
    allow, chain = kwargs.get("allow", ()), kwargs.get("chain")
    if isinstance(allow, str) or not isinstance(allow, (tuple, list)):
        raise MarkerError(RESILIENT, f"allow is a tuple of verdict names, got {allow!r}")
    problems = check_names(allow)
    if problems:
        raise MarkerError(RESILIENT, "; ".join(problems))
    if chain is not None and (isinstance(chain, str) or not all(isinstance(p, str) for p in chain)):
        raise MarkerError(RESILIENT, f"chain is a tuple of provider names, got {chain!r}")
    for provider in chain or ():
        _provider(RESILIENT, provider)
    return Resilience(tuple(allow), tuple(chain) if chain is not None else None)


def merge_resilient(marks: Sequence[tuple[Sequence[Any], Mapping[str, Any]]]) -> Resilience:
    """``hfrouter_resilient`` at test, class and module level (closest first): the closest wins per argument."""
    allow: tuple[str, ...] | None = None
    chain: tuple[str, ...] | None = None
    for args, kwargs in marks:
        parsed = parse_resilient(args, kwargs)
        if allow is None and "allow" in kwargs:
            allow = parsed.allow
        if chain is None and parsed.chain is not None:
            chain = parsed.chain
    return Resilience(allow or (), chain)
