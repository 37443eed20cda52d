"""The shipped library: outage scenarios and healthy recorded answers (data in ``cassettes/``).

A new scenario is one YAML file plus its provenance, no code (see ``cassettes/FORMAT.md``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.resources
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .cassettes import Cassette, Interaction, Recorded, load_cassette, split_chunks
from .errors import CassetteError, ScenarioError, did_you_mean
from .faults import FAULTS, Fault, FaultError, parse_fault
from .providers import CHAT_ORDER, UnknownProvider, check_provider
from .routes import AUTO, MAPPING, PROVIDER, SCENARIO_KINDS, Route

if TYPE_CHECKING:  # the non-chat tasks' library loads with the first such request
    from .task_library import TaskLibrary

# Providers the synthesised healthy mapping lists for a chat model, in this order (a 0.x
# client's client-side "auto" takes the first): see providers.py.
MAPPING_PROVIDERS = CHAT_ORDER


def library_dir() -> Path:
    """``cassettes/``: inside the installed wheel, or beside the package in a source tree."""
    packaged = importlib.resources.files("pytest_hfrouter") / "cassettes"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "cassettes"


class Scenario(NamedTuple):
    name: str
    aliases: tuple[str, ...]
    description: str
    status: int | None
    fault: Fault | None
    routes: tuple[str, ...]
    #: True: answers streamed requests only; False: plain only; None: both.
    stream: bool | None
    provenance: dict[str, Any]
    path: Path
    #: route kind → its interactions: one, or a plain and a streamed one
    answers: dict[str, tuple[Interaction, ...]]
    #: a user scenario that replaces the shipped one of the same name (``shadow: true``)
    shadow: bool = False
    #: from a folder of ini ``hfrouter_scenario_dirs`` rather than the shipped library
    user: bool = False
    #: the router's validation system flags the provider unavailable: the auto route fails over
    #: to the next provider of the mapping (``metadata.hfrouter.unavailable: true``)
    flags_unavailable: bool = False
    #: the providers whose answer this is (``metadata.hfrouter.providers``); empty: any provider
    providers: tuple[str, ...] = ()
    #: a stream that ends short of a whole answer, which an app may show as whole: the
    #: truncated-stream-accepted verdict watches for it (``metadata.hfrouter.truncates_stream: true``)
    truncates_stream: bool = False

    def applies_to(self, provider: str | None) -> bool:
        return not self.providers or provider in self.providers

    def answers_route(self, route: Route) -> bool:
        if route.kind not in self.answers:
            return False
        return self.stream is None or route.kind == MAPPING or self.stream == route.stream

    def response(self, kind: str, stream: bool = False) -> Recorded:
        """The recorded answer for this route kind, the streamed one for a streamed request."""
        choices = self.answers[kind]
        return next((i.response for i in choices if i.route.stream == stream), choices[0].response)

    @property
    def mapping_only(self) -> bool:
        return self.routes == (MAPPING,)

    @property
    def overlay(self) -> bool:
        """It changes the entries of the Hub's mapping (a 200), not the look-up's outcome (the Hub down)."""
        return MAPPING in self.answers and self.response(MAPPING).status == 200

    @property
    def pins_task(self) -> str | None:
        """The task an overlay writes into the provider's entry when it names one (``"conversational"``): a call
        of that task sees no change, one of another task is refused by the client (mapping-task-conversational)."""
        if not self.overlay:
            return None
        import json

        try:
            entries = json.loads(self.response(MAPPING).body).get("inferenceProviderMapping") or {}
        except (ValueError, AttributeError):
            return None
        task = entries.get("${provider}", {}).get("task") if isinstance(entries.get("${provider}"), dict) else None
        return task if isinstance(task, str) and "${" not in task else None

    @property
    def sends_status(self) -> bool:
        """Whether the app ever gets a status line (not for faults that strike before it)."""
        return self.fault is None or not self.fault.kind.before_response

    @property
    def is_http(self) -> bool:
        return self.fault is None

    @property
    def uses_healthy_body(self) -> bool:
        """A fault played on the call's own healthy answer (an image cut mid-body)."""
        return self.fault is not None and self.fault.kind.on_healthy_body


#: the fields of a scenario's ``metadata.hfrouter`` (cassettes/FORMAT.md); ``harvest``: a harvested candidate's
_META_KEYS = frozenset(
    {
        "name", "aliases", "description", "status", "fault", "routes", "stream", "shadow", "truncates_stream",
        "providers", "provenance", "unavailable", "harvest",
    }
)  # fmt: skip
#: how a scenario's answer is known (``provenance.observed``)
_OBSERVED = ("real", "partly-real", "inferred", "harvested")


def scenario_from_cassette(cassette: Cassette) -> Scenario:
    meta = cassette.hfrouter
    path = cassette.path

    def bad(problem: str) -> ScenarioError:
        return ScenarioError(f"{path}: {problem}")

    unknown_keys = [key for key in meta if key not in _META_KEYS]
    if unknown_keys:  # a typo (truncate_stream) would quietly drop what the field says
        key = unknown_keys[0]
        raise bad(
            f"metadata.hfrouter.{key} is not a scenario field.{did_you_mean(key, _META_KEYS)} "
            f"The fields: {', '.join(sorted(_META_KEYS))} (cassettes/FORMAT.md)"
        )
    name = meta.get("name")
    if not isinstance(name, str) or name != path.stem:
        raise bad(f"metadata.hfrouter.name must equal the file name {path.stem!r}, got {name!r}")
    routes = tuple(meta.get("routes") or ())
    unknown = [r for r in routes if r not in SCENARIO_KINDS]
    if not routes or unknown:
        raise bad(f"metadata.hfrouter.routes must list route kinds from {list(SCENARIO_KINDS)}, got {routes!r}")
    by_kind: dict[str, dict[bool, Interaction]] = {}
    for interaction in cassette.interactions:
        by_kind.setdefault(interaction.route.kind, {}).setdefault(interaction.route.stream, interaction)
    answers: dict[str, tuple[Interaction, ...]] = {}
    for kind in routes:
        found = by_kind.get(kind) or (by_kind.get(PROVIDER) if kind == AUTO else None)
        if not found:
            raise bad(f"lists route {kind!r} but has no interaction whose request URI is of that kind")
        answers[kind] = tuple(found.values())
    stream = meta.get("stream")
    if stream not in (True, False, None):
        raise bad(f"metadata.hfrouter.stream must be true, false or null, got {stream!r}")
    shadow = meta.get("shadow", False)
    if shadow not in (True, False):
        raise bad(f"metadata.hfrouter.shadow must be true or false, got {shadow!r}")
    declared = meta.get("truncates_stream")
    truncates = False if declared is None else declared
    if not isinstance(truncates, bool):
        raise bad(f"metadata.hfrouter.truncates_stream must be true or false, got {truncates!r}")
    if truncates and stream is False:
        raise bad("metadata.hfrouter.truncates_stream is true but stream is false: it never answers a stream")
    providers = meta.get("providers") or []
    if not isinstance(providers, list) or not all(isinstance(p, str) for p in providers):
        raise bad(f"metadata.hfrouter.providers must list provider names, got {providers!r}")
    for provider in providers:  # a typo would make the scenario apply to no call at all
        try:
            check_provider(provider)
        except UnknownProvider as exc:
            raise bad(f"metadata.hfrouter.providers: {exc}") from None
    status = meta.get("status")
    answered = sorted({i.response.status for found in answers.values() for i in found})
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or status not in answered):
        raise bad(
            f"metadata.hfrouter.status must be the HTTP status the app sees, one of its answers' {answered}, or null "
            f"for a transport fault, got {status!r}"
        )
    observed = (meta.get("provenance") or {}).get("observed") if isinstance(meta.get("provenance"), dict) else None
    if observed is not None and observed not in _OBSERVED:
        raise bad(f"metadata.hfrouter.provenance.observed must be one of {', '.join(_OBSERVED)}, got {observed!r}")
    raw_fault = meta.get("fault")
    fault: Fault | None = None
    if raw_fault is not None:
        if not isinstance(raw_fault, dict):
            raise bad(f"metadata.hfrouter.fault must be null or a mapping, got {raw_fault!r}")
        longest = max(
            len(split_chunks(i.response.body, i.response.headers)) for found in answers.values() for i in found
        )
        try:
            fault = parse_fault(raw_fault, longest)
        except FaultError as exc:
            raise bad(f"metadata.hfrouter.{exc}") from None
        if FAULTS[fault.type].on_stream and stream is not True:  # a plain call would get an event stream, cut
            raise bad(
                f"metadata.hfrouter.fault {fault.type} plays on an event stream, so stream must be true, got {stream!r}"
                " (body-cut cuts a plain body)"
            )
    if stream is True and declared is None:  # a contributor's audit: left out, the verdict was never judged
        bodies = [i.response.body for found in answers.values() for i in found]
        cut = fault is not None and FAULTS[fault.type].play == "cut"
        if cut or not all(b"data: [DONE]" in body for body in bodies):
            why = "its fault cuts the stream" if cut else "its stream ends with no data: [DONE]"
            raise bad(
                f"{why}, so an app may take half an answer for a whole one: declare it with "
                "metadata.hfrouter.truncates_stream: true (the truncated-stream-accepted verdict watches for it), "
                "or false where half an answer is no fault"
            )
    return Scenario(
        name=name,
        aliases=tuple(meta.get("aliases") or ()),
        description=str(meta.get("description") or ""),
        status=status,
        fault=fault,
        routes=routes,
        stream=stream,
        provenance=dict(meta.get("provenance") or {}),
        path=path,
        answers=answers,
        flags_unavailable=meta.get("unavailable") is True,
        providers=tuple(providers),
        shadow=shadow,
        truncates_stream=truncates,
    )


class Healthy(NamedTuple):
    """Real recorded successful chat completions, per provider, plain and streamed."""

    plain: dict[str, Recorded]
    streamed: dict[str, Recorded]
    sources: dict[str, Path]

    def answer(self, provider: str | None, stream: bool) -> tuple[str, Recorded]:
        """The recording for this provider, else the default one (novita's)."""
        table = self.streamed if stream else self.plain
        if provider in table:
            return provider, table[provider]
        return "novita", table["novita"]


class Library:
    """Scenario registry plus the healthy library, loaded once per process."""

    def __init__(self, scenarios: Iterable[Scenario], healthy: Healthy, tasks_root: Path | None = None) -> None:
        self.tasks_root = tasks_root
        self.scenarios = {s.name: s for s in scenarios}
        self.names = {s.name: s for s in self.scenarios.values()}
        for scenario in self.scenarios.values():
            for alias in scenario.aliases:
                self.names[alias] = scenario
        self.healthy = healthy

    def get(self, name: str) -> Scenario:
        try:
            return self.names[name]
        except KeyError:
            raise ScenarioError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        hint = did_you_mean(name, self.names)
        return f"unknown scenario {name!r}.{hint} Valid scenarios: {', '.join(sorted(self.names))}"

    def http_scenarios(self) -> list[Scenario]:
        return [s for s in self.scenarios.values() if s.is_http]

    @functools.cached_property
    def tasks(self) -> TaskLibrary:
        """The non-chat healthy exchanges (``cassettes/tasks/``), read on first use."""
        from .task_library import TaskLibrary, load_task_library

        return load_task_library(self.tasks_root) if self.tasks_root is not None else TaskLibrary()


def load_library(root: Path) -> Library:
    scenario_files = sorted((root / "scenarios").glob("*.yaml"))
    scenarios = [scenario_from_cassette(load_cassette(path)) for path in scenario_files]
    plain: dict[str, Recorded] = {}
    streamed: dict[str, Recorded] = {}
    sources: dict[str, Path] = {}
    for path in sorted((root / "healthy").glob("*.yaml")):
        cassette = load_cassette(path)
        for interaction in cassette.interactions:
            route = interaction.route
            if not route.is_inference or interaction.response.status != 200:
                raise CassetteError("the healthy library holds only successful inference calls", path)
            provider = route.provider or str(cassette.hfrouter.get("provider"))
            (streamed if route.stream else plain).setdefault(provider, interaction.response)
            sources[provider] = path
    if "novita" not in plain or "novita" not in streamed:
        raise CassetteError("the healthy library needs novita's plain and streamed answers", root / "healthy")
    return Library(scenarios, Healthy(plain, streamed, sources), root / "tasks")


@functools.lru_cache(maxsize=1)
def shipped_library() -> Library:
    """The shipped library, parsed once per version of its files: later processes (xdist workers, the next
    run) unpickle it in about a millisecond instead of parsing its YAML again."""
    return cached_library(library_dir())


#: the modules whose classes a pickled library holds: a change to them is a change of format
_FORMAT_MODULES = ("library.py", "cassettes.py", "faults.py", "routes.py", "tasks.py", "providers.py")


def cached_library(root: Path, cache_dir: Path | None = None) -> Library:
    """`load_library`, through a pickle keyed by the files of the data and of its format: each
    one's path, size and modification time (an edit changes them; reading and hashing every file
    instead cost more than the unpickling itself)."""
    import hashlib
    import os
    import sys

    try:  # the C pickler alone: importing pickle.py as well costs more instructions than the load itself
        import _pickle as pickle
    except ImportError:  # an interpreter without it
        import pickle  # type: ignore[no-redef]

    # the interpreter too: a pickle names classes where its Python keeps them (3.13's pathlib._local),
    # so several Pythons sharing one checkout would each throw the others' cache away
    digest = hashlib.sha256(f"{sys.version_info[0]}.{sys.version_info[1]}\0".encode())
    here = os.path.dirname(os.path.realpath(__file__))
    files = [os.path.join(here, name) for name in _FORMAT_MODULES]
    for walked, subfolders, names in os.walk(root):  # os's walk and stat: pathlib's cost twice theirs here
        subfolders.sort()
        files += sorted(os.path.join(walked, name) for name in names if name.endswith(".yaml"))
    for file in files:
        stat = os.stat(file)
        shown = os.path.join(os.path.basename(os.path.dirname(file)), os.path.basename(file))
        digest.update(f"{shown}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    folder = cache_dir or _cache_home()
    target = folder / f"library-{digest.hexdigest()[:20]}.pickle"
    with contextlib.suppress(OSError):  # a file where the folder should be, a read-only place: checked below
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private(folder):  # unpickling runs code: only from a folder no one else can write to
        return load_library(root)
    try:
        with target.open("rb") as cached:
            if _owner(os.fstat(cached.fileno())) != _owner(None):
                raise OSError("not this user's file")
            library = pickle.load(cached)
        if isinstance(library, Library):
            return library
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        pass  # no cache yet, or one this version cannot read: parse, and write it anew
    library = load_library(root)
    from ._files import write_atomically

    try:  # atomic: xdist workers starting together never read half a file
        write_atomically(target, pickle.dumps(library, protocol=-1))  # -1: the highest protocol
    except OSError:  # a read-only home, a full disk: parse every time, as before
        return library
    _prune(folder, target)
    return library


#: how many versions of the library a cache folder keeps (each about 230 KB; every edit of the data or
#: upgrade is one): writing a new one removes the oldest beyond these
KEPT_VERSIONS = 8


def _prune(folder: Path, kept: Path) -> None:
    """Remove the pickled libraries beyond the `KEPT_VERSIONS` newest (by modification time). Another
    process may prune or read at the same time: a file gone meanwhile is skipped, and a reader that
    loses its file parses the data again."""
    dated = []
    for path in folder.glob("library-*.pickle"):
        try:
            dated.append((path.stat().st_mtime_ns, path))
        except OSError:
            continue
    dated.sort(reverse=True)
    for _, path in dated[KEPT_VERSIONS:]:
        if path != kept:
            try:
                path.unlink(missing_ok=True)
            except OSError:  # a shared folder's file this user may not remove: kept, and the run goes on
                continue


def _cache_home() -> Path:
    """``$XDG_CACHE_HOME/pytest-hfrouter`` or ``~/.cache/pytest-hfrouter``; where neither can be
    written, a folder of this user's own in the temporary folder (an audit: a shared
    ``/tmp/pytest-hfrouter`` was read by whoever ran next, and a pickle runs code)."""
    import os
    import tempfile

    configured = os.environ.get("XDG_CACHE_HOME")
    if configured:
        return Path(configured) / "pytest-hfrouter"
    home = Path.home() / ".cache"
    if os.access(home.parent, os.W_OK):
        return home / "pytest-hfrouter"
    return Path(tempfile.gettempdir()) / f"pytest-hfrouter-{_owner(None)}"


def _owner(stat: os.stat_result | None) -> int:
    """The owner of a file (``stat``), or this process's user (``None``); 0 where there are no users."""
    if not hasattr(os, "getuid"):
        return 0
    return os.getuid() if stat is None else stat.st_uid


def _private(folder: Path) -> bool:
    """A folder (not a link to one) of this user's that no one else may write to."""
    import stat

    try:
        found = os.lstat(folder)
    except OSError:
        return False
    if not hasattr(os, "getuid"):
        return stat.S_ISDIR(found.st_mode)
    return stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid() and not found.st_mode & 0o022


def scenario_files(folder: Path) -> list[Path]:
    """A user folder's scenario files: its YAML files, whatever the suffix's case, and those of its sub-folders
    (not hidden ones) that declare a scenario (``metadata.hfrouter``): a sub-folder may hold cassettes or a CI
    workflow, which are no scenarios (an audit: ``provider-500.YAML`` and ``novita/provider-500.yaml`` were
    skipped in silence; a regression audit: read whole, a sub-folder of cassettes stopped the run)."""
    found = []
    for path in folder.rglob("*"):
        if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
            continue
        inner = path.relative_to(folder).parts[:-1]
        if not inner or (not any(part.startswith(".") for part in inner) and _declares_scenario(path)):
            found.append(path)
    return sorted(found)


def _declares_scenario(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            head = file.read(1 << 16)
    except OSError:
        return False
    return b"hfrouter:" in head and b"metadata:" in head


def load_user_scenarios(folder: Path) -> list[Scenario]:
    """The scenario files of one user folder (the shipped library's format, ``cassettes/FORMAT.md``)."""
    if not folder.is_dir():
        raise ScenarioError(f"{folder}: no such folder of scenarios")
    return [scenario_from_cassette(load_cassette(p))._replace(user=True) for p in scenario_files(folder)]


def with_user_scenarios(folders: tuple[Path, ...]) -> Library:
    """The shipped library plus the scenarios of ``folders``.

    A user scenario whose name or alias is a shipped one replaces it only with ``shadow: true`` in
    its ``metadata.hfrouter``; otherwise, and for two user files claiming one name, a `ScenarioError`.
    Kept per process while the folders' files stay as they are: a second run in one process (a
    notebook's, a watcher's) after a file was edited or deleted reads them again.
    """
    if not folders:
        return shipped_library()
    return _with_user_scenarios(folders, _stamp(folders))


def _stamp(folders: tuple[Path, ...]) -> tuple[tuple[str, int, int], ...]:
    """Each scenario file's path, size and modification time (a missing folder: its path alone)."""
    stamp: list[tuple[str, int, int]] = []
    for folder in folders:
        try:
            files = scenario_files(folder)
        except OSError:
            stamp.append((str(folder), -1, -1))
            continue
        for file in files:
            found = file.stat()
            stamp.append((str(file), found.st_size, found.st_mtime_ns))
    return tuple(stamp)


@functools.lru_cache(maxsize=8)
def _with_user_scenarios(folders: tuple[Path, ...], stamp: tuple[tuple[str, int, int], ...]) -> Library:
    shipped = shipped_library()
    scenarios = dict(shipped.scenarios)
    claimed: dict[str, Path] = {}
    for folder in folders:
        for scenario in load_user_scenarios(folder):
            for name in (scenario.name, *scenario.aliases):
                if name in claimed:
                    raise ScenarioError(f"{scenario.path}: scenario name {name!r} is already taken by {claimed[name]}")
                claimed[name] = scenario.path
                owner = shipped.names.get(name)
                if owner is None:
                    continue
                if not scenario.shadow:
                    raise ScenarioError(
                        f"{scenario.path}: {name!r} is a shipped scenario ({owner.path.name}); rename yours, or set "
                        "`shadow: true` in its metadata.hfrouter to replace the shipped one on purpose"
                    )
                scenarios.pop(owner.name, None)
            scenarios[scenario.name] = scenario
    return Library(scenarios.values(), shipped.healthy)


__all__ = ["MAPPING_PROVIDERS", "Library", "Scenario", "library_dir", "shipped_library"]
