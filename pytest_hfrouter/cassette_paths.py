"""Where a test's cassettes are: its ``hfrouter_cassette`` paths, else its default cassette.

Paths only (no YAML is read here, so finding cassettes costs no parsing). The default is
pytest-recording's layout: ``<cassette dir>/<module>/<Class>.<test>.yaml``, where the cassette
dir is ini ``hfrouter_cassette_dir`` or ``cassettes/`` beside the test module.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import scrub
from ._names import CASSETTE
from .markers import parse_cassette_paths

_UNSAFE = re.compile(r"[<>?%*:|\"'/\\]")

#: What a marker is to this module: its positional and keyword arguments.
MarkArgs = tuple[Sequence[Any], Mapping[str, Any]]


#: cassette files by name: vcrpy's yaml serializer; its json one is read only where the file holds a cassette
_YAML_SUFFIXES = (".yaml", ".yml")


def cassettes_under(root: Path) -> list[Path]:
    """The cassette files under ``root``, sorted: every ``.yaml``/``.yml`` file, and every ``.json`` file
    that holds a cassette (vcrpy's json serializer; pytest-recording's ``serializer: json``), not other JSON."""
    return sorted(
        path
        for path in root.rglob("*")
        if (path.suffix.lower() in _YAML_SUFFIXES or (path.suffix.lower() == ".json" and _json_cassette(path)))
        and path.is_file()
    )


def _json_cassette(path: Path) -> bool:
    """Whether a ``.json`` file holds a vcrpy cassette: an object with ``interactions``; also one written as
    YAML, with a top-level ``interactions:`` (this plugin's recordings into a ``.json`` were, until an audit found
    lint's walk skipping them in silence: lint says what is wrong with one)."""
    import json

    try:
        with open(path, "rb") as file:
            raw = file.read()
    except OSError:
        return False
    try:
        data = json.loads(raw)
    except ValueError:
        return b"\ninteractions:" in b"\n" + raw
    return isinstance(data, dict) and "interactions" in data


def default_cassette_name(class_name: str | None, test_name: str) -> str:
    """pytest-recording's naming: ``Class.test_name[params]`` with unsafe characters replaced, and a
    secret in a parameter's id scrubbed (a file name is committed with the cassette)."""
    name = _UNSAFE.sub("-", scrub.text(f"{class_name}.{test_name}" if class_name else test_name))
    if len(name.encode()) <= _LONGEST:
        return name
    # a file name holds 255 bytes (an audit: a prompt as a parameter's id could never be recorded): the start
    # of the name, and a digest of all of it
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    kept = name.encode()[: _LONGEST - len(digest) - 1].decode(errors="ignore")
    return f"{kept}-{digest}"


#: the bytes a default cassette's name may have (with its suffix, under the 255 a file name holds)
_LONGEST = 200


def cassette_root(module_path: Path, cassette_dir: Path | None) -> Path:
    """The cassette dir of a test module: the configured one, else ``cassettes/`` beside it."""
    return cassette_dir or module_path.parent / "cassettes"


@functools.lru_cache(maxsize=4096)
def module_cassette_dir(module_path: str, cassette_dir: Path | None) -> Path:
    """``<cassette dir>/<module>/``: worked out once per test module."""
    path = Path(module_path)
    return cassette_root(path, cassette_dir) / path.stem


def default_cassette(module_path: Path, class_name: str | None, test_name: str, cassette_dir: Path | None) -> Path:
    """A test's default cassette: ``<cassette dir>/<module>/<Class>.<test>.yaml`` (it may not exist)."""
    folder = module_cassette_dir(str(module_path), cassette_dir)
    return folder / f"{default_cassette_name(class_name, test_name)}.yaml"


def shared_defaults(items: Iterable[Any], cassette_dir: Path | None, every_module: bool) -> dict[Path, list[str]]:
    """The default cassettes that two or more collected tests would share: their names are one once
    unsafe characters are replaced (``[a/b]`` and ``[a-b]``), or differ in case only (one file on macOS
    and Windows), or come from two nested classes of one name (pytest-recording's layout names the
    innermost class only), or from same-named modules of two folders under one ``hfrouter_cassette_dir``.
    Only in modules with a cassette folder, unless ``every_module`` (a recording makes them)."""
    by_name: dict[tuple[Path, str], tuple[Path, list[str]]] = {}
    module, folder, listed = None, Path(), False
    for item in items:
        if item.path != module:
            module = item.path
            folder = module_cassette_dir(str(module), cassette_dir)
            listed = every_module or bool(cassette_listing(folder))
        if not listed or not hasattr(item, "obj") or item.get_closest_marker(CASSETTE) is not None:
            continue
        cls = getattr(item, "cls", None)
        path = folder / f"{default_cassette_name(cls.__name__ if cls else None, item.name)}.yaml"
        by_name.setdefault((folder, path.name.lower()), (path, []))[1].append(item.nodeid)
    return {path: nodeids for path, nodeids in by_name.values() if len(nodeids) > 1}


def shared_message(path: Path, nodeids: list[str]) -> str:
    tests = "\n".join(f"  - {nodeid}" for nodeid in nodeids)
    return (
        f"pytest-hfrouter: these tests have one default cassette, {path}:\n{tests}\n  (their names are one once "
        "the characters a file name cannot hold are replaced, or differ in case only, or come from nested classes "
        "or test modules of one name). A recording of one would replace the other's, and replay answers each "
        "with the other's calls. Give each a cassette of its own: "
        + (
            # one marker above a parametrized function names one cassette for all its cases (an audit: the advice,
            # followed, made the sharing it warned of, in silence)
            "ids that stay apart once a file name's unsafe characters become '-' (ids=[...]), or a marker per "
            "case: "
            'pytest.param(..., marks=pytest.mark.hfrouter_cassette("<case>.yaml"))'
            if len({nodeid.split("[", 1)[0] for nodeid in nodeids}) == 1
            else '@pytest.mark.hfrouter_cassette("<name>.yaml") on each test'
        )
        + "."
    )


def record_command(nodeid: str, mode: str = "record", config: Any = None) -> str:
    """The command that records (``record``) or re-records (``rewrite``) one test's cassette, to paste into a
    shell: the node id quoted (an id may hold a ``'``), and run from the rootdir, which the node id is relative
    to (``config``: the run's, when pytest was started elsewhere, from a subfolder say; an audit)."""
    where, options = "", ""
    if config is not None:
        if config.invocation_params.dir != config.rootpath:
            where = f"cd {_quoted(str(config.rootpath))} && "
        options = "".join(f" {flag} {_quoted(value)}" for flag, value in _placing_options(config))
    # no ``HF_TOKEN=hf_...`` before it: pasted, that placeholder replaced the token the user had exported, and a
    # rewrite stored the router's 401s over the cassette (an audit); without a token the mode says what it needs
    return f"{where}pytest -p hfrouter --hfrouter-mode={mode}{options} {_quoted(nodeid)}"


def _placing_options(config: Any) -> list[tuple[str, str]]:
    """The options of this run that say where cassettes go (an audit: a command without the run's
    ``--hfrouter-cassette-dir`` recorded into the default folder, and replay still found nothing)."""
    given = config.known_args_namespace
    found = []
    if getattr(given, "inifilename", None):
        found.append(("-c", str(config.inipath)))
    if getattr(given, "rootdir", None):
        found.append(("--rootdir", str(config.rootpath)))
    cassette_dir = getattr(config.option, "hfrouter_cassette_dir", None)
    if cassette_dir:
        found.append(("--hfrouter-cassette-dir", str(Path(os.path.expanduser(cassette_dir)).resolve())))
    # where it records from: without them the command recorded from the real router, not the run's proxy or
    # double (an audit); an ini's are read again by the command
    for flag in ("--hfrouter-router-url", "--hfrouter-hub-url"):
        url = getattr(config.option, flag.lstrip("-").replace("-", "_"), None)
        if url:
            found.append((flag, str(url)))
    # the same settings given as ini overrides (``-o hfrouter_cassette_dir=...``): the command carries the run's
    # (an audit: pasted, it recorded from the real router into the default folder)
    for override in getattr(config.option, "override_ini", None) or ():
        if str(override).startswith("hfrouter_"):
            found.append(("-o", str(override)))
    return found


def _quoted(text: str) -> str:
    """``text`` in single quotes for a POSIX shell, a ``'`` in it closed, escaped and reopened."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def find_cassettes(
    module_path: str,
    class_name: str | None,
    test_names: Iterable[str],
    marks: Iterable[MarkArgs],
    cassette_dir: Path | None,
) -> tuple[list[Path], list[tuple[str, list[Path]]]]:
    """A test's cassettes: its markers' paths (those found, and those missing with where we
    looked), else the first of its default cassettes (one per name in ``test_names``) that exists."""
    module_dir = module_cassette_dir(module_path, cassette_dir)
    found: list[Path] = []
    missing: list[tuple[str, list[Path]]] = []
    for args, kwargs in marks:
        for given in parse_cassette_paths(args, kwargs):
            path, tried = resolve_cassette(given, Path(module_path).parent, module_dir)
            if path.is_file():
                found.append(path)
            else:
                missing.append((given, tried))
    if not found and not missing:
        present = cassette_listing(module_dir)
        if not present:  # most test modules have no cassette folder: no name to build
            return found, missing
        for name in test_names:
            # pytest-recording's serializers: yaml (its default) and json (``vcr_config``'s serializer)
            stem = default_cassette_name(class_name, name)
            file_name = next((f for f in (f"{stem}.yaml", f"{stem}.json") if f in present), None)
            if file_name is not None:
                found.append(module_dir / file_name)
                break
    return found, missing


def item_cassettes(
    item: Any, cassette_dir: Path | None, marks: Iterable[Any] | None = None
) -> tuple[list[Path], list[tuple[str, list[Path]]]]:
    """`find_cassettes` for a pytest item (its path, class, name and ``hfrouter_cassette`` marks;
    ``marks`` when the caller already has them, closest first)."""
    given = list(item.iter_markers(CASSETTE) if marks is None else marks)
    module_path = str(item.path)
    if not given and not cassette_listing(module_cassette_dir(module_path, cassette_dir)):
        return [], []  # no marker, no cassette beside the module: the common case, no name to build
    cls = getattr(item, "cls", None)
    names = dict.fromkeys((item.name, getattr(item, "originalname", item.name)))
    return find_cassettes(
        module_path, cls.__name__ if cls else None, names, ((m.args, m.kwargs) for m in given), cassette_dir
    )


_KINDS = (".yaml", ".json")


def default_near_miss(item: Any, cassette_dir: Path | None) -> tuple[Path, Path] | None:
    """A file beside where the test's default cassette would be whose name is the cassette's but for case or
    suffix (``Test_X.yaml``, ``test_x.yml``, ``test_x.YAML`` for ``test_x.yaml``): meant as its cassette, and never
    read (an audit: the test passed on the healthy library, with no word of the file). That file and the default
    cassette's path, or None if there is none."""
    folder = module_cassette_dir(str(item.path), cassette_dir)
    present = cassette_listing(folder)
    if not present:
        return None
    cls = getattr(item, "cls", None)
    owner = cls.__name__ if cls else None
    original = getattr(item, "originalname", item.name)
    exact = {default_cassette_name(owner, name) for name in (item.name, original)}
    stems = {stem.lower() for stem in exact}
    near = sorted(
        name
        for name in present
        if os.path.splitext(name.lower()) in {(s, k) for s in stems for k in _NEAR_KINDS}
        and not _anothers(os.path.splitext(name)[0], exact, item, owner, original)
    )
    return (folder / near[0], folder / f"{default_cassette_name(owner, item.name)}.yaml") if near else None


def _anothers(stem: str, exact: set[str], item: Any, owner: str | None, original: str) -> bool:
    """Whether a file of ``stem`` (its name but for case) is another test's exact default cassette: a test of the
    module or class named so (``test_Refund`` beside ``test_refund``), or a case of the same test with an id that
    differs in case only (``[EN]`` beside ``[en]``), collected in this run or not (a regression audit)."""
    if stem in exact:
        return False  # this test's own name, with another suffix
    name = stem.split(".", 1)[1] if owner and stem.startswith(f"{owner}.") else stem
    holder = getattr(item, "cls", None) or getattr(item, "module", None)
    return name.startswith(f"{original}[") or callable(getattr(holder, name, None))


#: a default cassette's suffixes as a file may have them by mistake (read: ``.yaml``, ``.json``, in lower case)
_NEAR_KINDS = (".yaml", ".yml", ".json")


@functools.lru_cache(maxsize=1024)
def cassette_listing(folder: Path) -> frozenset[str]:
    """The cassette files in a folder, listed once (a recording clears this cache)."""
    try:
        # a folder with a cassette's name is listed too: its test is told, not answered by the library in silence
        return frozenset(entry.name for entry in os.scandir(folder) if entry.is_file() or entry.name.endswith(_KINDS))
    except OSError:
        return frozenset()


def resolve_cassette(path: str, module_dir: Path, cassette_dir: Path) -> tuple[Path, list[Path]]:
    """Absolute as given; else relative to ``<cassette dir>/<module>/``, ``<cassette dir>``, the module."""
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate, [candidate]
    tried = [cassette_dir / candidate, cassette_dir.parent / candidate, module_dir / candidate]
    return next((p for p in tried if p.is_file()), tried[0]), tried


def left_behind(
    items: Sequence[Any], deselected: Sequence[Any], cassette_dir: Path | None, named: set[Path], acts: Any
) -> list[tuple[Path, list[str]]]:
    """Replay, once the run is collected: the files of a collected module's cassette folder named for no test of
    that module, each with the tests of the run that have no cassette and may have been its test. A test renamed,
    moved to another module or given a new parametrize id leaves its default cassette behind, and runs on the
    healthy library with no word of the file (an audit); a file with no such test is an orphan only
    (``--hfrouter-check-orphans``), not said here.

    ``deselected``: the tests ``-k``, ``-m``, ``--lf`` left out, whose files are theirs still; ``named``: the
    modules the run named tests of by node id (their other tests are not collected: a file is theirs if its name
    is a function's of the module, whatever its parameters); ``acts``: whether the plugin acts in a test (scope
    "marked": a test that did not ask reads no cassette). Costs a listing per module, already made for its tests;
    the tests are walked only where a module has a file named for none of them."""
    # by cassette folder: same-named modules of two folders under one ``hfrouter_cassette_dir`` share one (the
    # regression audit: each module's tests were taken for all the folder's)
    by_folder: dict[Path, list[Any]] = {}
    folders: dict[Path, Path] = {}
    for item in items:
        folder = folders.get(item.path)
        if folder is None:
            folder = folders[item.path] = module_cassette_dir(str(item.path), cassette_dir)
        by_folder.setdefault(folder, []).append(item)
    for item in deselected:
        if item.path in folders:
            by_folder[folders[item.path]].append(item)
    unclaimed: dict[Path, list[Path]] = {}
    for folder, its in by_folder.items():
        present = cassette_listing(folder)
        # a folder where pytest-recording plays cassettes (``vcr`` tests) names them its own ways too
        # (``default_cassette``, a ``default_cassette_name`` fixture): not judged (the regression audit)
        if not present or any(item.get_closest_marker("vcr") is not None for item in its):
            continue
        claimed = _claimed(its)
        partial = [item for item in its if item.path.resolve() in named]
        defined = set().union(*(_defined(item) for item in {item.path: item for item in partial}.values()))
        stray = [
            folder / name
            for name in sorted(present)
            if os.path.splitext(name)[1].lower() in _NEAR_KINDS
            and (stem := os.path.splitext(name)[0].lower()) not in claimed
            and stem.split("[", 1)[0] not in defined
            and (folder / name).is_file()
            # a .json file is a cassette only where it holds one (as for the orphans; the regression audit)
            and (not name.lower().endswith(".json") or _json_cassette(folder / name))
        ]
        if stray:
            unclaimed[folder] = stray
    if not unclaimed:
        return []
    bare = [
        item
        for item in items
        if hasattr(item, "obj")
        and item.get_closest_marker("vcr") is None
        and acts(item)
        and not any(item_cassettes(item, cassette_dir))
    ]
    found = []
    for folder, stray in unclaimed.items():
        for path in stray:
            stem = os.path.splitext(path.name)[0].lower()
            here = [item for item in bare if folders.get(item.path) == folder]
            moved = [item for item in bare if folders.get(item.path) != folder and _stems(item) & {stem}]
            if moved:  # its very name, in another module
                found.append((path, [item.nodeid for item in moved]))
            elif here:
                import difflib

                here.sort(key=lambda item: -difflib.SequenceMatcher(None, stem, min(_stems(item))).ratio())
                found.append((path, [item.nodeid for item in here]))
    return found


def _stems(item: Any) -> set[str]:
    """A test's default cassette names (its own, and its function's, which serves every case), in lower case."""
    cls = getattr(item, "cls", None)
    owner = cls.__name__ if cls else None
    names = {item.name, getattr(item, "originalname", item.name)}
    return {default_cassette_name(owner, name).lower() for name in names}


def _claimed(items: list[Any]) -> set[str]:
    """The names (stems, lower case) in a cassette folder its tests read: their default cassettes, and what their
    ``hfrouter_cassette`` markers name."""
    claimed: set[str] = set()
    for item in items:
        claimed |= _stems(item)
        for mark in item.iter_markers(CASSETTE):
            for given in mark.args:
                if isinstance(given, (str, Path)) and str(given):
                    claimed.add(os.path.splitext(Path(given).name)[0].lower())
    return claimed


def _defined(item: Any) -> set[str]:
    """The test functions a module defines, as a default cassette names them (``name``, ``Class.name``; the
    innermost class of nested ones), in lower case: a run that named some of its tests by node id collected
    only those."""
    module = getattr(item, "module", None)
    names: set[str] = set()

    def walk(owner: Any, prefix: str, depth: int) -> None:
        # a class's own and inherited members (a test method of a base class is collected in each subclass)
        for name in vars(owner) if depth == 0 else dir(owner):
            if name.startswith("__"):  # ``__class__``, ``__base__``: no test's
                continue
            value = getattr(owner, name, None)
            if isinstance(value, type) and depth < 4:
                walk(value, f"{name}.", depth + 1)
            elif callable(value):
                names.add(f"{prefix}{name}".lower())

    if module is not None:
        walk(module, "", 0)
    return names
