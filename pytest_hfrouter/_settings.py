"""Options and ini values → one validated `Settings` (CLI > ini > default).

Every mistake is a `pytest.UsageError` at start-up, before any test runs, that names the
option (``--hfrouter-x``) or the ini key (``hfrouter_x``) the value came from, the problem
and the fix.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar
from urllib.parse import urlsplit

import pytest

from ._names import HUB_URL, LIVE, MODES, RECORD, REPLAY, REWRITE, ROUTER_URL, Mode
from .errors import did_you_mean
from .scope import ALL, Scope, ScopeError, decide

if TYPE_CHECKING:  # imported where used: loading the plugin reads only the names above
    from .live import Live
    from .resets import Reset

_Choice = TypeVar("_Choice", bound=str)

#: the scope of Settings built without options (unit tests, the router double alone)
EVERY_TEST = Scope(ALL, "default")

#: what the run does on a finding: the ini policies hfrouter_verdicts, hfrouter_on_expiry,
#: hfrouter_on_unplayed, hfrouter_on_unmatched (Literal: mypy checks every comparison with them)
VerdictPolicy = Literal["off", "report", "fail"]
FindingPolicy = Literal["ignore", "warn", "fail"]
VERDICT_MODES: tuple[VerdictPolicy, ...] = ("off", "report", "fail")
EXPIRY_MODES: tuple[FindingPolicy, ...] = ("warn", "fail")
UNPLAYED_MODES: tuple[FindingPolicy, ...] = ("ignore", "warn", "fail")
UNMATCHED_MODES: tuple[FindingPolicy, ...] = ("fail", "warn", "ignore")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")

TOKEN_HELP = (
    "set it in the environment, never on the command line: export HF_TOKEN=hf_... "
    "(a token with the 'Make calls to Inference Providers' permission)"
)


class Settings(NamedTuple):
    """The run's settings, resolved once at start-up (`resolve`). A named tuple: immutable like a
    frozen dataclass, and defined in a fifth of the time at every start-up (pytest --collect-only
    included)."""

    cassette_dir: Path | None = None
    strict: bool = False
    allow_loopback: bool = True
    #: glob patterns of hosts that may be reached (besides loopback; in live modes the router and Hub)
    allow_hosts: tuple[str, ...] = ()
    mode: Mode = REPLAY
    live: Live | None = None
    report: Path | None = None
    baseline: Path | None = None
    summary: Path | None = None
    fail_on_drift: bool = False
    probes: tuple[str, ...] = ()
    probe_concurrency: int = 4
    probe_budget: int = 100
    probe_timeout: float = 30.0
    verdicts: VerdictPolicy = "report"
    retry_storm: int = 3
    chain: tuple[str, ...] = ()
    max_age: float | None = None
    on_expiry: FindingPolicy = "warn"
    check_orphans: bool = False
    on_unplayed: FindingPolicy = "warn"
    #: live modes: where failures of a shape the scenario library does not know are kept
    harvest_dir: Path | None = None
    on_unmatched: FindingPolicy = "fail"
    #: folders of the user's own scenarios (ini hfrouter_scenario_dirs), resolved
    scenario_dirs: tuple[Path, ...] = ()
    html: Path | None = None
    #: seeded chaos: on, the seed given (None: the controller draws one), the share of calls hit,
    #: the scenarios it may inject (empty: every one that can apply to the call)
    chaos: bool = False
    chaos_seed: int | None = None
    chaos_rate: float = 0.3
    chaos_scenarios: tuple[str, ...] = ()
    #: the user's caches to clear before each test (ini ``hfrouter_reset``), after the built-in ones
    resets: tuple[Reset, ...] = ()
    #: which tests the plugin acts in (`scope.decide`); the faces and the network guard follow it
    scope: Scope = EVERY_TEST

    @property
    def records(self) -> bool:
        return self.mode in (RECORD, REWRITE)

    def judges(self, resilient: bool) -> bool:
        """Whether a test's resilience verdicts are judged: ini ``hfrouter_verdicts`` is not
        ``off``, or the test is marked ``hfrouter_resilient`` (``resilient``)."""
        return resilient or self.verdicts != "off"

    def reachable_hosts(self) -> tuple[str, ...]:
        """Hosts the network guard lets through: ini hfrouter_allow_hosts; in live modes also where
        router and Hub traffic goes — the real router, Hub and legacy inference host, or the
        ``--hfrouter-*-url`` overrides *instead* (pointed elsewhere, nothing reaches the real ones)
        — and the proxy that reaches them (HTTPS_PROXY and the like)."""
        if self.live is None:
            return self.allow_hosts
        from urllib.parse import urlsplit

        from ._names import LEGACY_INFERENCE_HOSTS

        urls = [self.live.router_url, self.live.hub_url]
        urls += [
            os.environ[name]
            for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
            if os.environ.get(name)
        ]
        hosts = {urlsplit(url if "://" in url else f"http://{url}").hostname or "" for url in urls}
        if self.live.router_url == ROUTER_URL:  # the legacy host keeps its own address only then
            hosts |= LEGACY_INFERENCE_HOSTS
        return (*self.allow_hosts, *sorted(hosts - {""}))

    def describe(self, chaos_seed: int | None = None) -> str:
        chaos = ""
        if self.chaos:
            names = ",".join(self.chaos_scenarios) or "every scenario that applies"
            chaos = f" chaos: seed={chaos_seed} rate={self.chaos_rate:g} scenarios={names}"
        if self.live is None:
            return f"mode={self.mode} {self.scope.describe()}{chaos}"
        return f"mode={self.mode} router={self.live.router_url} hub={self.live.hub_url} {self.scope.describe()}{chaos}"


#: what ``--live`` sets (not ``live``: a project's own ``--live`` may set that)
LIVE_DEST = "hfrouter_live"


def add_live_option(parser: pytest.Parser) -> bool:
    """``--live``, once the project's conftests have added their options: a conftest that has its
    own ``--live`` (a common name) keeps it, and ``--hfrouter-mode=live`` is the plugin's. (Added
    with the other options, it would stop pytest at start-up: pytest refuses an option twice.)"""
    # pytest 8 keeps a conftest's ``parser.addoption`` options in ``_anonymous``, outside ``_groups`` (9 lists
    # it there too): an audit found a conftest's own --live stopping pytest 8.0 to 8.4 at start-up
    groups = [parser._anonymous, *parser._groups]
    if any("--live" in option.names() for group in groups for option in group.options):
        return False
    parser.getgroup("hfrouter").addoption(
        "--live",
        dest=LIVE_DEST,
        action="store_true",
        default=False,
        help="Run against the live router (the same as --hfrouter-mode=live); needs HF_TOKEN. Where the "
        "project's conftest defines its own --live, that one stays: use --hfrouter-mode=live",
    )
    return True


#: ini keys whose value is a number: pytest 9's native TOML (``[tool.pytest]``) gives an int or a float
NUMBER_KEYS = {
    "hfrouter_chaos_rate": float,
    "hfrouter_probe_concurrency": int,
    "hfrouter_probe_budget": int,
    "hfrouter_probe_timeout": float,
    "hfrouter_retry_storm": int,
}


def add_ini(parser: pytest.Parser, name: str, help: str, default: str) -> None:
    """An ini key of text, or for `NUMBER_KEYS` of a number or text: ``hfrouter_probe_budget = 5`` in
    ``[tool.pytest]`` was refused as "expects a string" (an audit). pytest before 9.2 knows no such
    type: there the key is text (quoted in TOML), as before."""
    kind = NUMBER_KEYS.get(name)
    if kind is not None:
        try:
            parser.addini(name, help, default=default, type=kind | str)  # type: ignore[arg-type]
            return
        except (AssertionError, TypeError, ValueError):  # pytest 8 asserts the type is one of its names
            pass
    parser.addini(name, help, default=default)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("hfrouter", "pytest-hfrouter: upstream-outage tests for the Hugging Face router")

    def option(name: str, help: str, ini: str | None = None, **kwargs: Any) -> None:
        dest = name.lstrip("-").replace("-", "_")
        group.addoption(name, dest=dest, help=help, **kwargs)
        if ini is not None:
            add_ini(parser, dest, f"Default for {name}", ini)

    option(
        "--hfrouter-cassette-dir",
        "Where test cassettes live: <DIR>/<module>/<test>.yaml (default: cassettes/ beside each module)",
        ini="",
        metavar="DIR",
        default=None,
    )
    option(
        "--hfrouter-mode",
        "replay (default): recorded answers only; live: the real router, outages still "
        "injected; record: add new interactions to the test's cassette; rewrite: record it afresh",
        ini=REPLAY,
        choices=MODES,
        default=None,
    )
    option(
        "--hfrouter-router-url",
        f"Router base for live modes (default {ROUTER_URL})",
        ini="",
        default=None,
        metavar="URL",
    )
    option(
        "--hfrouter-hub-url", f"Hub endpoint for live modes (default {HUB_URL})", ini="", default=None, metavar="URL"
    )
    option(
        "--hfrouter-report",
        "Write the run's JSON report here (schema in the README)",
        ini="",
        default=None,
        metavar="PATH",
    )
    option(
        "--hfrouter-baseline",
        "Compare with an earlier report: regressions fail the session",
        ini="",
        default=None,
        metavar="PATH",
    )
    option(
        "--hfrouter-summary",
        "Write the Markdown summary here too ($GITHUB_STEP_SUMMARY is appended to when set and a test called "
        "the router)",
        ini="",
        default=None,
        metavar="PATH",
    )
    option(
        "--hfrouter-html",
        "Write the outage coverage report as one self-contained HTML page here",
        ini="",
        default=None,
        metavar="PATH",
    )
    option(
        "--hfrouter-chaos",
        "Inject seeded outages into tests that have no outage marker (seed in the header)",
        action="store_true",
        default=False,
    )
    option(
        "--hfrouter-chaos-seed", "Replay the chaos of this seed (implies --hfrouter-chaos)", default=None, metavar="N"
    )
    option(
        "--hfrouter-chaos-rate",
        "Share of router calls chaos hits, 0 to 1 (default 0.3; implies --hfrouter-chaos)",
        ini="0.3",
        default=None,
        metavar="RATE",
    )
    option(
        "--hfrouter-chaos-scenarios",
        "Comma-separated scenarios chaos may inject (default: every scenario that can apply to the call; implies "
        "--hfrouter-chaos)",
        ini="",
        default=None,
        metavar="NAMES",
    )
    option(
        "--hfrouter-fail-on-drift",
        "Fail the session when a live answer's shape drifted from its recording",
        action="store_true",
        default=False,
    )
    option("--hfrouter-probe-concurrency", "Probes in flight at once (default 4)", ini="4", default=None, metavar="N")
    option(
        "--hfrouter-probe-budget",
        "Most probe requests a run may send, retries included (default 100)",
        ini="100",
        default=None,
        metavar="N",
    )
    option(
        "--hfrouter-probe-timeout",
        "Seconds a probe request may take (default 30)",
        ini="30",
        default=None,
        metavar="SECONDS",
    )
    parser.addini(
        "hfrouter_probes",
        "Live probes: 'provider:model' (or 'model' for the auto route), one a line or separated by commas",
        type="linelist",
        default=[],
    )
    option(
        "--hfrouter-check-orphans",
        "List cassettes under the cassette dirs that no collected test uses, and fail the run if there are any",
        action="store_true",
        default=False,
    )
    parser.addini(
        "hfrouter_verdicts", "Resilience verdicts: off, report (in the summary) or fail (the test)", default="report"
    )
    add_ini(
        parser,
        "hfrouter_retry_storm",
        "Calls to one failing provider x model that make a retry storm (more than this)",
        "3",
    )
    parser.addini(
        "hfrouter_chain",
        "The app's fallback chain in order, providers one a line or separated by commas (gave-up-early verdict)",
        type="linelist",
        default=[],
    )
    parser.addini("hfrouter_max_age", "Recordings older than this (e.g. 90d) are expired", default="")
    parser.addini(
        "hfrouter_on_expiry", "An expired recording: warn (in the summary) or fail (the test)", default="warn"
    )
    parser.addini(
        "hfrouter_on_unplayed",
        "Interactions a test's cassette holds but the test never requested: ignore, warn or fail",
        default="warn",
    )
    parser.addini(
        "hfrouter_on_unmatched",
        "An outage rule that answered no call of its test, or in replay a cassette that answered none: "
        "fail (default), warn or ignore; optional=True on a marker opts one rule out",
        default="fail",
    )
    parser.addini(
        "hfrouter_scenario_dirs",
        "Folders of your own scenario files (the shipped library's format), relative to rootdir, one a line",
        type="linelist",
        default=[],
    )
    parser.addini(
        "hfrouter_strict",
        "Fail router calls no outage rule or cassette answers (no healthy library)",
        type="bool",
        default=False,
    )
    parser.addini(
        "hfrouter_reset",
        "Caches holding Hub answers to clear before each test, besides the built-in "
        "ones: 'module:callable', one a line or separated by commas (an lru_cache'd function's cache_clear is called)",
        type="linelist",
        default=[],
    )
    parser.addini(
        "hfrouter_allow_loopback", "Let requests to 127.0.0.1/localhost through in replay", type="bool", default=True
    )
    parser.addini(
        "hfrouter_harvest_dir",
        "Live modes: where unknown failure shapes are kept as candidate scenarios (default: <cassette dir>/harvested)",
        default="",
    )
    parser.addini(
        "hfrouter_allow_hosts",
        "Hosts (globs, one a line or separated by commas) that tests may reach, in replay too; every "
        "other connection is refused (e.g. *.gradio.app)",
        type="linelist",
        default=[],
    )
    parser.addini(
        "hfrouter_scope",
        "Tests the plugin acts in: all, or marked (only tests using its markers or "
        "fixtures). Unset: all with -p hfrouter, marked when only auto-loaded",
        default="",
    )


def _number(label: str, raw: str, kind: Callable[[str], Any], minimum: float) -> Any:
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value < minimum:
        example = "a whole number" if kind is int else "a number"
        raise pytest.UsageError(f"{label}: expected {example} >= {minimum:g}, got {raw!r}")
    return value


def _url(label: str, raw: str) -> str:
    try:  # an unclosed or bad IPv6 bracket (http://[::1) is a ValueError of urlsplit's own (an audit)
        parts = urlsplit(raw)
        port_ok = parts.port is None or parts.port > 0
        host = parts.hostname
    except ValueError:
        parts, port_ok, host = urlsplit(""), False, None
    if parts.scheme not in ("http", "https") or not host or not port_ok or parts.query or parts.fragment:
        raise pytest.UsageError(
            f"{label}: expected an http(s) URL with a host, such as http://127.0.0.1:8765, got {raw!r}"
        )
    return raw.rstrip("/")


def _placed(raw: str, label: str, rootpath: Path) -> str:
    """A path as the user gave it, placed: ``~`` expanded (as pytest expands ``--junitxml``'s), and a relative
    one from the ini (``label`` not an option's ``--...``) under rootdir, as every ini path is, one from the
    command line under the folder pytest was started in (an audit: the ini's report went to ``tests/reports/``
    from ``tests/``, and ``~/x`` was a folder named ``~``)."""
    path = os.path.expanduser(str(raw))
    if not label.startswith("--") and not os.path.isabs(path):
        path = str(rootpath / path)
    return path


def output_path(label: str, raw: str, example: str, placed: str | None = None) -> Path:
    """A file the run will write (report, summary): refused now if it never could be (``placed``: ``raw``
    where it is, `_placed`; the messages say it as the user wrote it)."""
    path = Path(placed or raw)
    if path.is_dir():
        raise pytest.UsageError(f"{label}={raw}: is a folder; name a file in it, e.g. {label}={Path(raw) / example}")
    if path.exists() and not path.is_file():  # a pipe, /dev/stdout: written to as it is
        if not os.access(path, os.W_OK):
            raise pytest.UsageError(f"{label}={raw}: is not writable; pick a path you can write to")
        return path
    written = Path(os.path.realpath(path)) if path.is_symlink() else path  # a link's target is written
    # A missing folder is created when the file is written; what exists of it must allow that.
    folder = next(parent for parent in written.absolute().parents if parent.exists())
    if not folder.is_dir():
        raise pytest.UsageError(
            f"{label}={raw}: {folder} is a file, so no folder can be made there; name a file in a folder"
        )
    if not os.access(folder, os.W_OK) or (written.exists() and not os.access(written, os.W_OK)):
        raise pytest.UsageError(f"{label}={raw}: {folder} is not writable; pick a path you can write to")
    return path


def _check_distinct(outputs: list[tuple[str, Path]]) -> None:
    """Two outputs on one file: the later write would replace (or append to) the other's (an audit:
    one path for the report and the HTML page kept the page, and the JSON was lost)."""
    seen: dict[Path, str] = {}
    for label, path in outputs:
        key = Path(os.path.abspath(path))
        if key in seen:
            raise pytest.UsageError(
                f"{seen[key]} and {label} both name {path}: each output needs a file of its own "
                "(e.g. hfrouter-report.json, hfrouter-summary.md, hfrouter-coverage.html)"
            )
        seen[key] = label


def _token(environ: Mapping[str, str], said: str) -> str:
    """``said``: the mode as the user asked for it (``--live``, ``--hfrouter-mode=record``, the ini key)."""
    token = environ.get("HF_TOKEN", "")
    if not token:
        raise pytest.UsageError(f"{said} talks to the live router and needs HF_TOKEN: {TOKEN_HELP}")
    if not token.strip():
        raise pytest.UsageError(f"HF_TOKEN is set but blank (only whitespace): {TOKEN_HELP}")
    if token.endswith("...") or token in ("hf_xxx", "<token>", "$HF_TOKEN"):  # a docs example pasted as it was
        raise pytest.UsageError(
            f"HF_TOKEN is {token!r}, a placeholder from the docs or a printed command, not a token: {TOKEN_HELP}; "
            "and drop HF_TOKEN=... from the command, which replaces the one you exported"
        )
    if token != token.strip():  # a newline from a file, say: no HTTP client sends it in a header
        raise pytest.UsageError(
            "HF_TOKEN has whitespace around it (a newline read from a file?): "
            'set it without, e.g. export HF_TOKEN="$(tr -d "[:space:]" < token-file)"'
        )
    return token


def resolve(
    read_option: Callable[[str], Any],
    ini: Callable[[str], Any],
    rootpath: Path,
    environ: Mapping[str, str] = os.environ,
    loaded_by: str | None = None,
) -> Settings:
    """Settings from the command line (``read_option``) over the ini file (``ini``) over defaults
    (``loaded_by``: how the plugin was asked for other than by ``-p``, `scope.decide`)."""

    def option(name: str) -> Any:
        value = read_option(name)
        if value == "":  # an audit: `--hfrouter-chaos-seed=$SEED` with SEED unset ran a chaos job with no chaos
            raise pytest.UsageError(
                f"--{name.replace('_', '-')}= is given with no value (a variable unset in a CI script?): give it one, "
                "or leave the option out"
            )
        return value

    def given(name: str) -> tuple[Any, str]:
        """The value and where it came from, as the user wrote it: ``--hfrouter-x`` or ``hfrouter_x``."""
        value = option(name)
        if value not in (None, ""):
            return value, "--" + name.replace("_", "-")
        return ini_value(name), name

    def ini_value(name: str) -> Any:
        try:
            return ini(name)
        except (ValueError, TypeError, pytest.UsageError) as exc:  # pytest's parse of a typed key names no key
            hint = (
                f'expected a number (a pytest before 9.2 reads it as text only: in TOML, quote it, {name} = "5")'
                if name in NUMBER_KEYS
                else "expected true or false (pytest also reads yes/no, on/off, 1/0)"
            )
            raise pytest.UsageError(f"{name} (ini): {exc}; {hint}") from None

    def number(name: str, kind: Callable[[str], Any], minimum: float, ini_only: bool = False) -> Any:
        value, label = (ini_value(name), name) if ini_only else given(name)
        return _number(label, str(value).strip(), kind, minimum)

    mode = option("hfrouter_mode")
    # where the mode came from, as the user wrote it (an audit: an ini's mode was named --hfrouter-mode)
    said = f"--hfrouter-mode={mode}" if mode else ""
    if option(LIVE_DEST):
        if mode not in (None, LIVE):
            raise pytest.UsageError(
                f"--live and --hfrouter-mode={mode} contradict each other: --live means --hfrouter-mode=live. "
                "Keep one of them."
            )
        mode, said = LIVE, "--live"
    mode = mode or ini("hfrouter_mode") or REPLAY
    said = said or f"hfrouter_mode = {mode} (ini)"
    if mode not in MODES:
        raise pytest.UsageError(f"hfrouter_mode = {mode!r} is not a mode. Valid modes: {', '.join(MODES)}")
    # Checked in every mode: a mistake in the ini should not wait for the first live run.
    router, router_label = given("hfrouter_router_url")
    hub, hub_label = given("hfrouter_hub_url")
    router_url = _url(router_label, router) if router else ROUTER_URL
    hub_url = _url(hub_label, hub) if hub else HUB_URL
    live = None
    if mode != REPLAY:
        from .live import Live

        live = Live(mode, _token(environ, said), router_url, hub_url)
    cassette_option = option("hfrouter_cassette_dir")
    cassette_ini = ini("hfrouter_cassette_dir")
    cassette_dir = (
        Path(_placed(cassette_option, "--", rootpath)).resolve()
        if cassette_option
        else (Path(_placed(cassette_ini, "", rootpath)) if cassette_ini else None)
    )
    if cassette_dir is not None and not cassette_dir.is_dir():
        label, raw = (
            ("--hfrouter-cassette-dir", cassette_option) if cassette_option else ("hfrouter_cassette_dir", cassette_ini)
        )
        if cassette_dir.exists():
            raise pytest.UsageError(f"{label}={raw}: is a file, not a folder; name the folder that holds the cassettes")
        typo = _nearest_folder(cassette_dir)
        if typo is not None and mode not in (RECORD, REWRITE):  # a recording run makes the folder
            raise pytest.UsageError(
                f"{label}={raw}: no such folder, so no test would find its cassettes; did you mean "
                f"{Path(raw).parent / typo.name}? "
                "(a recording run, --hfrouter-mode=record, makes the folder it names)"
            )
    baseline, baseline_label = given("hfrouter_baseline")
    if baseline:
        baseline = _placed(baseline, baseline_label, rootpath)
        _check_report(Path(baseline), baseline_label)
    paths: dict[str, Path | None] = {}
    labels: dict[str, str] = {}
    for name, example in (
        ("hfrouter_report", "hfrouter-report.json"),
        ("hfrouter_summary", "hfrouter-summary.md"),
        ("hfrouter_html", "hfrouter-coverage.html"),
    ):
        raw, label = given(name)
        paths[name] = output_path(label, raw, example, _placed(raw, label, rootpath)) if raw else None
        labels[name] = label
    step_summary = environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:  # every run that calls the router writes its outage coverage there
        output_path("GITHUB_STEP_SUMMARY", step_summary, "summary.md")
    _check_distinct(
        [(labels[name], path) for name, path in paths.items() if path is not None]
        + ([("GITHUB_STEP_SUMMARY", Path(step_summary))] if step_summary else [])
    )
    if baseline and live is None:  # a live run may write tonight's report where it read last night's; replay not
        for name, path in paths.items():
            if path is not None and Path(os.path.abspath(path)) == Path(os.path.abspath(baseline)):
                raise pytest.UsageError(
                    f"{labels[name]} and {baseline_label} both name {path}: a replay run would write its report over "
                    "the live report it names as the baseline (it compares nothing with it). Write this run's "
                    "report elsewhere, or leave the baseline to the live runs"
                )
    verdicts = _choice("hfrouter_verdicts", ini("hfrouter_verdicts"), VERDICT_MODES)
    on_expiry = _choice("hfrouter_on_expiry", ini("hfrouter_on_expiry"), EXPIRY_MODES)
    on_unplayed = _choice("hfrouter_on_unplayed", ini("hfrouter_on_unplayed"), UNPLAYED_MODES)
    on_unmatched = _choice("hfrouter_on_unmatched", ini("hfrouter_on_unmatched"), UNMATCHED_MODES)
    max_age = None
    if ini("hfrouter_max_age"):
        try:
            max_age = parse_age(ini("hfrouter_max_age"))
        except ValueError as exc:
            raise pytest.UsageError(f"hfrouter_max_age: {exc}") from None
    harvest_ini = ini("hfrouter_harvest_dir")
    harvest_dir = (
        Path(_placed(harvest_ini, "", rootpath))
        if harvest_ini
        else (cassette_dir or rootpath / "cassettes") / "harvested"
    )
    if harvest_ini and harvest_dir.exists() and not harvest_dir.is_dir():
        raise pytest.UsageError(
            f"hfrouter_harvest_dir={harvest_ini}: is a file, not a folder; name a folder for the candidate scenarios"
        )
    resets: tuple[Reset, ...] = ()
    reset_items = _items(ini("hfrouter_reset"))
    if reset_items:
        from .resets import parse

        try:
            resets = parse(reset_items)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
    try:
        scope = decide(
            str(ini("hfrouter_scope") or ""), option("plugins") or (), environ.get("PYTEST_PLUGINS", ""), loaded_by
        )
    except ScopeError as exc:
        raise pytest.UsageError(str(exc)) from None
    chaos_asked = any(
        option(name) not in (None, "", False)
        for name in ("hfrouter_chaos", "hfrouter_chaos_seed", "hfrouter_chaos_rate", "hfrouter_chaos_scenarios")
    )
    if chaos_asked and not scope.every_test and not str(ini("hfrouter_scope") or "").strip():
        scope = Scope(ALL, "a chaos run (--hfrouter-chaos) is explicit")
    chaos = _chaos(option, given)
    if chaos["chaos"] and mode in (RECORD, REWRITE):
        raise pytest.UsageError(
            f"a chaos run and {said} contradict each other: the cassettes would hold the path the "
            "app took around the injected outages, not its healthy one. Record without chaos, then replay with it."
        )
    return Settings(
        scope=scope,
        harvest_dir=harvest_dir,
        cassette_dir=cassette_dir,
        strict=bool(ini_value("hfrouter_strict")),
        allow_loopback=bool(ini_value("hfrouter_allow_loopback")),
        allow_hosts=_hosts(_items(ini("hfrouter_allow_hosts"))),
        mode=mode,
        live=live,
        report=paths["hfrouter_report"],
        baseline=Path(baseline) if baseline else None,
        summary=paths["hfrouter_summary"],
        fail_on_drift=bool(option("hfrouter_fail_on_drift")),
        probes=_probes(ini("hfrouter_probes")),
        probe_concurrency=number("hfrouter_probe_concurrency", int, 1),
        probe_budget=number("hfrouter_probe_budget", int, 0),
        probe_timeout=number("hfrouter_probe_timeout", float, 0.1),
        verdicts=verdicts,
        retry_storm=number("hfrouter_retry_storm", int, 1, ini_only=True),
        chain=_known_providers("hfrouter_chain", _items(ini("hfrouter_chain"))),
        max_age=max_age,
        on_expiry=on_expiry,
        check_orphans=bool(option("hfrouter_check_orphans")),
        on_unplayed=on_unplayed,
        on_unmatched=on_unmatched,
        scenario_dirs=tuple(
            Path(_placed(line.strip(), "", rootpath)) for line in ini("hfrouter_scenario_dirs") if line.strip()
        ),
        html=paths["hfrouter_html"],
        **chaos,
        resets=resets,
    )


def _items(lines: list[str]) -> tuple[str, ...]:
    """An ini list of names (providers, host globs, ``module:callable``) as users write it:
    one a line, or several on a line between commas or spaces, which no such name holds; a line
    that starts with ``#`` is a comment. ``hfrouter_chain = novita, together`` names two providers,
    not one that does not exist (nor a host glob that can never match)."""
    return tuple(item for line in lines if not line.lstrip().startswith("#") for item in line.replace(",", " ").split())


def _known_providers(name: str, providers: tuple[str, ...]) -> tuple[str, ...]:
    """``providers``, each checked: an unknown one is a usage error naming the ini ``name``."""
    if not providers:
        return providers
    from .providers import UnknownProvider, check_provider

    for provider in providers:
        try:
            check_provider(provider)
        except UnknownProvider as exc:
            raise pytest.UsageError(f"{name}: {exc}") from None
    return providers


#: a model id as a probe names it: ``owner/name`` (or a bare legacy name), with a policy or provider
#: suffix on the auto route (``:fastest``); no spaces, no separators
_PROBE_MODEL = re.compile(r"^[\w.-]+(/[\w.-]+)?(:[\w.-]+)?$")


def _probes(lines: list[str]) -> tuple[str, ...]:
    """The probes, one a line or between commas, each checked now: a typo in a provider would probe one
    the router does not have, on every nightly run; ``novita Qwen/X`` (a space for the colon) would
    probe two auto-route models and never novita; ``novita:`` the auto route with model ``novita:``."""
    items = tuple(
        item.strip() for line in lines if not line.lstrip().startswith("#") for item in line.split(",") if item.strip()
    )
    if not items:
        return items
    from .probes import parse_probes

    for item in items:
        [probe, _] = parse_probes((item,))
        if any(ch.isspace() for ch in item) or not _PROBE_MODEL.match(probe.model):
            raise pytest.UsageError(
                f"hfrouter_probes: {item!r} is not a probe: write provider:model (novita:Qwen/Qwen2.5-72B-Instruct) "
                "or a model alone for the auto route, one a line or between commas"
            )
    twice = sorted({item for item in items if items.count(item) > 1})
    if twice:
        raise pytest.UsageError(f"hfrouter_probes: {', '.join(twice)} named twice: name each probe once")
    _known_providers("hfrouter_probes", tuple(dict.fromkeys(p.provider for p in parse_probes(items) if p.provider)))
    return items


def _hosts(globs: tuple[str, ...]) -> tuple[str, ...]:
    """The allowed-host globs. Each is matched against a request's host name alone, so a URL, a
    path or a port in one could never match: a usage error that names the host to write instead."""
    from urllib.parse import urlsplit

    hosts = []
    for glob in globs:
        if glob.startswith("[") and "]" in glob:  # an IPv6 literal as a URL writes it: [::1], [::1]:8080
            literal, _, rest = glob[1:].partition("]")
            if ":" in literal and rest[:1] == ":" and rest[1:].isdigit():
                raise pytest.UsageError(
                    f"hfrouter_allow_hosts: {glob!r}: globs match the host alone, on any port; "
                    f"write: hfrouter_allow_hosts = {literal}"
                )
            if ":" in literal and not rest:
                glob = literal  # the host name a request has is the address, without brackets
        if "/" in glob:
            host = urlsplit(glob if "://" in glob else f"//{glob}").hostname or glob.split("/", 1)[0]
            raise pytest.UsageError(
                f"hfrouter_allow_hosts: {glob!r} is not a host name (globs match the host alone); "
                f"write: hfrouter_allow_hosts = {host}"
            )
        host, colon, port = glob.rpartition(":")
        if colon and port.isdigit() and ":" not in host:  # host:port (an IPv6 address has more colons)
            raise pytest.UsageError(
                f"hfrouter_allow_hosts: {glob!r}: globs match the host alone, on any port; "
                f"write: hfrouter_allow_hosts = {host}"
            )
        hosts.append(glob)
    return tuple(hosts)


def _nearest_folder(missing: Path) -> Path | None:
    """A folder beside ``missing`` whose name looks like a typo of its name (``casettes``)."""
    import difflib

    try:
        beside = [entry.name for entry in missing.parent.iterdir() if entry.is_dir()]
    except OSError:
        return None
    found = difflib.get_close_matches(missing.name, beside, n=1, cutoff=0.75)
    return missing.parent / found[0] if found else None


def _chaos(option: Callable[[str], Any], given: Callable[[str], tuple[Any, str]]) -> dict[str, Any]:
    raw_seed = option("hfrouter_chaos_seed")
    seed = None
    if raw_seed not in (None, ""):
        try:
            seed = int(str(raw_seed), 0)
        except ValueError:
            raise pytest.UsageError(
                f"--hfrouter-chaos-seed: expected an integer (the seed a chaos run printed), got {raw_seed!r}"
            ) from None
    raw_rate, rate_label = given("hfrouter_chaos_rate")
    rate = _number(rate_label, str(raw_rate).strip(), float, 0.0)
    if not rate <= 1.0:
        raise pytest.UsageError(f"{rate_label}: expected a share between 0 and 1, got {rate!r}")
    raw_names, names_label = given("hfrouter_chaos_scenarios")
    names = tuple(n.strip() for n in str(raw_names or "").split(",") if n.strip())
    # an audit: --hfrouter-chaos-scenarios= (an unset shell variable, say) ran no chaos at all, in silence.
    # On the command line an empty value is a mistake; in the ini, an empty key is the default.
    for label, written in (
        ("--hfrouter-chaos-scenarios", option("hfrouter_chaos_scenarios")),
        ("hfrouter_chaos_scenarios", None if names_label.startswith("--") else raw_names or None),
    ):
        if written is not None and not str(written).replace(",", "").strip():
            raise pytest.UsageError(
                f"{label}={written!r} names no scenario: give one or more, comma-separated "
                "(e.g. provider-500,rate-limited-429), or leave it out for every scenario that applies"
            )
    if names:
        from .errors import ScenarioError
        from .library import shipped_library

        library = shipped_library()
        for name in names:
            try:
                library.get(name)
            except ScenarioError as exc:
                raise pytest.UsageError(f"{names_label}: {exc}") from None
    # A chaos option on the command line asks for a chaos run (in an ini file it is a default for one)
    chaos = bool(option("hfrouter_chaos")) or seed is not None or rate_label.startswith("--")
    return {
        "chaos": chaos or names_label.startswith("--"),
        "chaos_seed": seed,
        "chaos_rate": rate,
        "chaos_scenarios": names,
    }


def parse_age(text: str) -> float:
    """``"90d"`` → seconds; units s, m, h, d, w."""
    match = _AGE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an age: a number and a unit, e.g. 90d, 12h, 6w (units s, m, h, d, w)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _choice(name: str, given: str, allowed: tuple[_Choice, ...]) -> _Choice:
    if given not in allowed:
        hint = did_you_mean(given, allowed)
        raise pytest.UsageError(f"{name} = {given!r} is not valid.{hint} Valid values: {', '.join(allowed)}")
    return allowed[allowed.index(given)]  # typed as the choice it is


def _check_report(path: Path, label: str = "--hfrouter-baseline") -> None:
    if path.is_dir():
        raise pytest.UsageError(
            f"{label}={path}: is a folder; pass the JSON file an earlier run wrote with --hfrouter-report"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise pytest.UsageError(
            f"{label} {path}: no such file. Pass a report written by --hfrouter-report on an earlier run."
        ) from None
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"{label} {path}: not a JSON report ({exc})") from None
    from .report import report_problem

    problem = report_problem(data)
    if problem is not None:
        raise pytest.UsageError(f"{label} {path}: {problem}")
