"""The markers' signatures, their parsing and validation (plain values, no pytest objects)."""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import HFRouterError, ScenarioError
from .faults import FaultError
from .tasks import STEPS

if TYPE_CHECKING:  # imported when a marker is parsed, so loading the plugin stays light
    from .library import Library
    from .traffic import Rule

OUTAGE = "hfrouter_outage"
CASSETTE = "hfrouter_cassette"
EACH_OUTAGE = "hfrouter_each_outage"
LIVE = "hfrouter_live"
RESILIENT = "hfrouter_resilient"

SIGNATURES = {
    OUTAGE: "hfrouter_outage(scenario, *, provider=None, model=None, times=None, delay=None, step=None)",
    CASSETTE: "hfrouter_cassette(*paths)",
    EACH_OUTAGE: "hfrouter_each_outage(*scenarios, provider, model=None)",
    LIVE: "hfrouter_live",
    RESILIENT: "hfrouter_resilient(allow=(), chain=None)",
}

MARKER_HELP = {
    OUTAGE: "Router traffic matching provider (name or glob) and model (HF id or glob; on the auto "
    "route also model:provider) gets the scenario's response; after `times` matching calls the "
    "provider recovers; `delay` overrides a slow-* scenario's seconds; `step` (submit, poll, download) "
    "limits it to one step of a task's job. Stacks at test, class and module level; the closest wins.",
    CASSETTE: "Replay these vcrpy cassettes (vcrpy, pytest-recording or huggingface_hub recordings). "
    "Default: <cassette dir>/<module>/<test>.yaml when it exists.",
    EACH_OUTAGE: "Parametrize the test over these scenarios (every HTTP scenario when none is named), "
    "injected on `provider`; test ids name the scenario; a case that cannot happen to the test's calls "
    "is reported skipped with the reason.",
    LIVE: "The test needs the live router; skipped in replay.",
    RESILIENT: "After the test body, fail on any resilience verdict not in `allow` (retry-storm, "
    "retried-non-retryable, retry-after-ignored, no-backoff, truncated-stream-accepted, gave-up-early); "
    "`chain` names the app's fallback providers for gave-up-early.",
}


class MarkerError(HFRouterError):
    """Wrong marker arguments: names the marker, the problem and its signature."""

    def __init__(self, marker: str, problem: str) -> None:
        super().__init__(f"@pytest.mark.{marker}: {problem}\n  signature: @pytest.mark.{SIGNATURES[marker]}")


def _optional_str(marker: str, name: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise MarkerError(marker, f"{name} must be a non-empty string or None, got {value!r}")
    return value


def _scenario(marker: str, library: Library, name: Any) -> str:
    if not isinstance(name, str):
        raise MarkerError(marker, f"a scenario is a name (str), got {name!r}")
    try:
        return library.get(name).name
    except ScenarioError as exc:
        raise MarkerError(marker, str(exc)) from None


def parse_outage(args: Sequence[Any], kwargs: Mapping[str, Any], library: Library) -> Rule:
    """``hfrouter_outage(scenario, *, provider=None, model=None, times=None, delay=None)`` → a `Rule`."""
    unknown = sorted(set(kwargs) - {"scenario", "provider", "model", "times", "delay", "step"})
    if unknown:
        raise MarkerError(OUTAGE, f"unexpected keyword argument(s) {', '.join(unknown)}")
    given = list(args) + ([kwargs["scenario"]] if "scenario" in kwargs else [])
    if len(given) != 1:
        raise MarkerError(OUTAGE, f"takes exactly one scenario, got {len(given)} ({given!r})")
    times = kwargs.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise MarkerError(OUTAGE, f"times must be a positive int or None, got {times!r}")
    scenario = library.get(_scenario(OUTAGE, library, given[0]))
    delay = kwargs.get("delay")
    if delay is not None:
        try:
            if scenario.fault is None:
                raise FaultError(f"delay= applies to slow-first-token and slow-stream, not to {scenario.name}")
            scenario.fault.with_delay(delay)
        except FaultError as exc:
            raise MarkerError(OUTAGE, str(exc)) from None
    step = kwargs.get("step")
    if step is not None and step not in STEPS:
        raise MarkerError(OUTAGE, f"step must be one of {', '.join(map(repr, STEPS))} or None, got {step!r}")
    provider = _optional_str(OUTAGE, "provider", kwargs.get("provider"))
    if scenario.providers and provider is not None and not _any_provider(scenario.providers, provider):
        raise MarkerError(
            OUTAGE,
            f"scenario {scenario.name!r} is an answer of {', '.join(scenario.providers)} only, not of {provider!r}",
        )
    from .traffic import Rule

    return Rule(
        scenario,
        provider=provider,
        model=_optional_str(OUTAGE, "model", kwargs.get("model")),
        times=times,
        delay=delay,
        step=step,
    )


def _any_provider(providers: Iterable[str], pattern: str) -> bool:
    return any(fnmatch.fnmatchcase(p, pattern.lower()) for p in providers)


@dataclass(frozen=True)
class EachOutage:
    scenarios: tuple[str, ...]
    provider: str
    model: str | None

    def rule(self, library: Library, scenario: str) -> Rule:
        from .traffic import Rule

        return Rule(library.get(scenario), provider=self.provider, model=self.model)


def parse_each_outage(args: Sequence[Any], kwargs: Mapping[str, Any], library: Library) -> EachOutage:
    unknown = sorted(set(kwargs) - {"provider", "model"})
    if unknown:
        raise MarkerError(EACH_OUTAGE, f"unexpected keyword argument(s) {', '.join(unknown)}")
    provider = _optional_str(EACH_OUTAGE, "provider", kwargs.get("provider"))
    if provider is None:
        raise MarkerError(EACH_OUTAGE, "provider is required: the provider whose outages the test must survive")
    names = tuple(_scenario(EACH_OUTAGE, library, name) for name in args)
    if not names:  # every HTTP scenario that can happen to this provider
        names = tuple(
            s.name for s in library.http_scenarios() if not s.providers or _any_provider(s.providers, provider)
        )
    return EachOutage(names, provider, _optional_str(EACH_OUTAGE, "model", kwargs.get("model")))


def parse_cassette_paths(args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    if kwargs:
        raise MarkerError(CASSETTE, f"unexpected keyword argument(s) {', '.join(sorted(kwargs))}")
    if not args:
        raise MarkerError(CASSETTE, "name at least one cassette path")
    for path in args:
        if not isinstance(path, (str, Path)) or not str(path):
            raise MarkerError(CASSETTE, f"a cassette path is a str or pathlib.Path, got {path!r}")
    return tuple(str(p) for p in args)


@dataclass(frozen=True)
class Resilience:
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
    return Resilience(tuple(allow), tuple(chain) if chain is not None else None)


_UNSAFE = re.compile(r"[<>?%*:|\"'/\\]")


def default_cassette_name(class_name: str | None, test_name: str) -> str:
    """pytest-recording's naming: ``Class.test_name[params]`` with unsafe characters replaced."""
    name = f"{class_name}.{test_name}" if class_name else test_name
    return _UNSAFE.sub("-", name)


def cassette_root(module_path: Path, cassette_dir: Path | None) -> Path:
    """The cassette dir of a test module: the configured one, else ``cassettes/`` beside it."""
    return cassette_dir or module_path.parent / "cassettes"


def test_cassettes(
    item: Any, cassette_dir: Path | None, marks: Iterable[Any] | None = None
) -> tuple[list[Path], list[tuple[str, list[Path]]]]:
    """A test's cassettes: its markers' paths (those found, and those missing with where we
    looked), else its default ``<cassette dir>/<module>/<test>.yaml`` when that exists."""
    module_path = Path(str(item.path))
    module_dir = cassette_root(module_path, cassette_dir) / module_path.stem
    found: list[Path] = []
    missing: list[tuple[str, list[Path]]] = []
    for marker in item.iter_markers(CASSETTE) if marks is None else marks:
        for given in parse_cassette_paths(marker.args, marker.kwargs):
            path, tried = resolve_cassette(given, module_path.parent, module_dir)
            if path.is_file():
                found.append(path)
            else:
                missing.append((given, tried))
    if not found and not missing:
        present = cassette_listing(module_dir)
        cls = getattr(item, "cls", None)
        for name in dict.fromkeys((item.name, getattr(item, "originalname", item.name))):
            file_name = f"{default_cassette_name(cls.__name__ if cls else None, name)}.yaml"
            if file_name in present:
                found.append(module_dir / file_name)
                break
    return found, missing


@functools.lru_cache(maxsize=1024)
def cassette_listing(folder: Path) -> frozenset[str]:
    """The cassette files in a folder, listed once (a recording clears this cache)."""
    try:
        return frozenset(entry.name for entry in os.scandir(folder) if entry.is_file())
    except OSError:
        return frozenset()


def resolve_cassette(path: str, module_dir: Path, cassette_dir: Path) -> tuple[Path, list[Path]]:
    """Absolute as given; else relative to ``<cassette dir>/<module>/``, ``<cassette dir>``, the module."""
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate, [candidate]
    tried = [cassette_dir / candidate, cassette_dir.parent / candidate, module_dir / candidate]
    return next((p for p in tried if p.is_file()), tried[0]), tried
