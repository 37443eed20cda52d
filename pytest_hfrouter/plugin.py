"""pytest hooks and thin fixtures; the logic lives in the core modules."""

from __future__ import annotations

import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .errors import HFRouterWarning
from .markers import CASSETTE, EACH_OUTAGE, LIVE, MARKER_HELP, OUTAGE, SIGNATURES

if TYPE_CHECKING:
    from ._session import RunSession
    from ._settings import Settings
    from .engine import Engine, Exchange, Rule
    from .handle import HFRouter, HFRouterServer
    from .library import Library

_SCENARIO_PARAM = "hfrouter_scenario"

SETTINGS: pytest.StashKey[Settings] = pytest.StashKey()
ENGINE: pytest.StashKey[Engine] = pytest.StashKey()
RUN: pytest.StashKey[RunSession] = pytest.StashKey()
EXCHANGE: pytest.StashKey[Exchange] = pytest.StashKey()
EACH_RULE: pytest.StashKey[Rule] = pytest.StashKey()


def pytest_addoption(parser: pytest.Parser) -> None:
    from ._settings import add_options

    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    from ._settings import resolve

    for name, signature in SIGNATURES.items():
        config.addinivalue_line("markers", f"{signature}: {MARKER_HELP[name]}")
    settings = config.stash[SETTINGS] = resolve(config.getoption, config.getini, config.rootpath)
    if settings.live is not None or settings.report is not None or settings.baseline is not None:
        from ._session import RunSession

        run = config.stash[RUN] = RunSession(config, settings)
        config.pluginmanager.register(run, "hfrouter-run")


def pytest_report_header(config: pytest.Config) -> str | None:
    settings = config.stash[SETTINGS]
    return f"hfrouter: {settings.describe()}" if settings.mode != "replay" or config.option.verbose > 0 else None


def pytest_unconfigure(config: pytest.Config) -> None:
    engine = config.stash.get(ENGINE, None)
    if engine is not None:
        from . import intercept

        intercept.uninstall(engine)


def _library() -> Library:
    from .library import shipped_library

    return shipped_library()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Validate the markers at collection and parametrize ``hfrouter_each_outage``."""
    node = metafunc.definition
    if not any(node.get_closest_marker(name) for name in (OUTAGE, EACH_OUTAGE, CASSETTE)):
        return
    from .markers import MarkerError, parse_cassette_paths, parse_each_outage, parse_outage

    try:
        for marker in node.iter_markers(OUTAGE):
            parse_outage(marker.args, marker.kwargs, _library())
        for marker in node.iter_markers(CASSETTE):
            parse_cassette_paths(marker.args, marker.kwargs)
        each = node.get_closest_marker(EACH_OUTAGE)
        if each is not None:
            plan = parse_each_outage(each.args, each.kwargs, _library())
            if _SCENARIO_PARAM not in metafunc.fixturenames:
                metafunc.fixturenames.append(_SCENARIO_PARAM)
            metafunc.parametrize(_SCENARIO_PARAM, plan.scenarios, ids=plan.scenarios, indirect=True)
    except MarkerError as exc:
        raise pytest.Collector.CollectError(f"{node.nodeid}: {exc}") from None


def _engine(config: pytest.Config) -> Engine:
    engine = config.stash.get(ENGINE, None)
    if engine is None:
        from . import intercept
        from .engine import Engine

        engine = config.stash[ENGINE] = Engine(_library(), config.stash[SETTINGS].live)
        intercept.install(engine)
    return engine


def _cassettes(item: pytest.Item, settings: Settings) -> list[Path]:
    from .markers import default_cassette_name, parse_cassette_paths, resolve_cassette

    module_path = Path(str(item.path))
    root = settings.cassette_dir or module_path.parent / "cassettes"
    module_dir = root / module_path.stem
    paths: list[Path] = []
    for marker in item.iter_markers(CASSETTE):
        for given in parse_cassette_paths(marker.args, marker.kwargs):
            path, tried = resolve_cassette(given, module_path.parent, module_dir)
            if not path.is_file():
                pytest.fail(
                    f"pytest-hfrouter: @pytest.mark.{CASSETTE}({given!r}): no such cassette; looked at:\n"
                    + "\n".join(f"  - {p}" for p in tried),
                    pytrace=False,
                )
            paths.append(path)
    if not paths:
        cls = getattr(item, "cls", None)
        original = getattr(item, "originalname", item.name)
        for name in dict.fromkeys((item.name, original)):
            default = module_dir / f"{default_cassette_name(cls.__name__ if cls else None, name)}.yaml"
            if default.is_file():
                paths.append(default)
                break
    return paths


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash[SETTINGS].live is not None:
        return
    # A skip marker, not pytest.skip() in setup: the skip report then points at the test,
    # not at this file.
    skip = pytest.mark.skip(reason="needs the live router (hfrouter_live): run with --live and HF_TOKEN set")
    for item in items:
        if item.get_closest_marker(LIVE) is not None:
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker(LIVE) is not None and item.config.stash[SETTINGS].live is None:
        return  # skipped by its marker (pytest_collection_modifyitems)
    if not hasattr(item, "obj"):
        return  # not a test function (a generated probe)
    from .cassettes import load_cassette
    from .engine import Exchange
    from .errors import CassetteError
    from .intercept import reset_client_caches
    from .markers import parse_outage

    settings = item.config.stash[SETTINGS]
    engine = _engine(item.config)
    library = engine.library
    rules = [parse_outage(m.args, m.kwargs, library) for m in item.iter_markers(OUTAGE)]
    scenario = _scenario_param(item)
    each = item.get_closest_marker(EACH_OUTAGE)
    if scenario is not None and each is not None:
        from .markers import parse_each_outage

        each_rule = parse_each_outage(each.args, each.kwargs, library).rule(library, scenario)
        rules.insert(0, each_rule)
        item.stash[EACH_RULE] = each_rule
    try:
        cassettes = [load_cassette(path) for path in _cassettes(item, settings)]
    except CassetteError as exc:
        # ``from None``: the message says it all; no "During handling..." twin of it.
        raise pytest.fail.Exception(f"pytest-hfrouter: malformed cassette: {exc}", pytrace=False) from None
    reset_client_caches()
    item.stash[EXCHANGE] = engine.begin(
        Exchange(rules=rules, cassettes=cassettes, strict=settings.strict, allow_loopback=settings.allow_loopback)
    )


def _scenario_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(_SCENARIO_PARAM) if callspec is not None else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    try:
        result = yield
        each_rule = item.stash.get(EACH_RULE, None)
        if each_rule is not None and each_rule.used == 0:  # it passed without meeting its outage
            path, line, _ = item.location
            warnings.warn_explicit(_unexercised(each_rule), HFRouterWarning, path, (line or 0) + 1)
        return result
    finally:
        exchange = item.stash.get(EXCHANGE, None)
        if exchange is not None and exchange.misses:
            hint = _record_hint(item)
            failure = pytest.fail.Exception("\n\n".join(m.message(hint) for m in exchange.misses), pytrace=False)
            failure.__suppress_context__ = True  # the miss says it all; hide the app's traceback of it
            raise failure


def _unexercised(rule: Rule) -> str:
    scenario = rule.scenario
    only = "" if scenario.stream is None else ", streamed requests only" if scenario.stream else ", plain requests only"
    return (
        f"{rule.describe()} answered no call of this test, so this case passed without exercising it "
        f"(it answers {'/'.join(scenario.routes)} routes{only})"
    )


def _default_cassette(item: pytest.Item, settings: Settings) -> Path:
    from .markers import default_cassette_name

    module_path = Path(str(item.path))
    cls = getattr(item, "cls", None)
    root = settings.cassette_dir or module_path.parent / "cassettes"
    return root / module_path.stem / f"{default_cassette_name(cls.__name__ if cls else None, item.name)}.yaml"


def _record_hint(item: pytest.Item) -> str:
    target = _default_cassette(item, item.config.stash[SETTINGS])
    return (
        f"to answer it, record it into {target}: HF_TOKEN=hf_... pytest -p hfrouter --hfrouter-mode=record "
        f"'{item.nodeid}' — or mark the test with @pytest.mark.{SIGNATURES[OUTAGE]}"
    )


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    engine = item.config.stash.get(ENGINE, None)
    exchange = item.stash.get(EXCHANGE, None)
    if engine is None or exchange is None:
        return
    engine.end()
    run = item.config.stash.get(RUN, None)
    if run is not None:
        run.collect(item.nodeid, exchange)
    settings = item.config.stash[SETTINGS]
    if settings.records and exchange.recorded:
        _write_recording(item, settings, exchange)


def _write_recording(item: pytest.Item, settings: Settings, exchange: Exchange) -> None:
    from .recorder import interaction, write_cassette

    assert settings.live is not None
    secrets = (settings.live.token,)
    target = exchange.cassettes[0].path if exchange.cassettes else _default_cassette(item, settings)
    run_id = item.config.stash[RUN].run_id
    write_cassette(
        target,
        [interaction(request, observed, secrets) for request, observed in exchange.recorded],
        rewrite=settings.mode == "rewrite",
        run_id=run_id,
    )


@pytest.fixture
def hfrouter(request: pytest.FixtureRequest) -> HFRouter:
    """The router as this test sees it: ``calls``, ``outage(...)``, ``assert_tried(...)``."""
    from .handle import HFRouter

    item = request.node
    return HFRouter(item.stash[EXCHANGE], item.config.stash[ENGINE].library, _scenario_param(item))


@pytest.fixture
def hfrouter_server(hfrouter: HFRouter, request: pytest.FixtureRequest) -> Iterator[HFRouterServer]:
    """A router double on 127.0.0.1 (a port the OS picks), answering with this test's rules."""
    from .double import RouterDouble
    from .handle import HFRouterServer

    double = RouterDouble(request.config.stash[ENGINE]).start()
    try:
        yield HFRouterServer(double, hfrouter)
    finally:
        double.stop()


@pytest.fixture
def hfrouter_scenario(request: pytest.FixtureRequest) -> str | None:
    """The scenario of this ``hfrouter_each_outage`` case, or ``None``."""
    return getattr(request, "param", None)
