"""Patching the client libraries: the engine stack, and the import hook that patches a face's
library as soon as it is imported. Loading the plugin imports only this (no face, no engine).

Faces are installed once per process; a pytest run inside a pytest run (pytester) pushes its
own engine, which answers until that run ends and hands the faces back to the outer one.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import Engine

#: library module → the face module (in this package) that patches it
FACES: tuple[tuple[str, str], ...] = (
    ("httpx", "httpx_face"),  # huggingface_hub 1.x, the openai SDK, plain httpx
    ("httpx2", "httpx_face"),  # huggingface_hub 2.x
    ("requests.adapters", "requests_face"),  # huggingface_hub 0.x, plain requests
    ("aiohttp.connector", "aiohttp_face"),  # huggingface_hub 0.x async, plain aiohttp
)
#: the client libraries the faces answer for (what the guard and the findings name)
LIBRARIES = tuple(dict.fromkeys(library.split(".")[0] for library, _ in FACES))
#: the same as a user reads them (httpx2 is httpx's successor)
SAID = ", ".join(dict.fromkeys(library.rstrip("0123456789") for library in LIBRARIES))

#: Replace ``owner.attribute`` with a wrapper, remembering the original; returns the original.
Replace = Callable[[Any, str, Callable[..., Any]], Any]

#: the engines, innermost run last; while no library is patched an entry may still be the
#: function that makes it (`install`): a run that imports no HTTP client never builds one
_engines: list[Any] = []
#: what each entry of `_engines` was installed as (the engine, or the function that makes it)
_installed: list[Engine | Callable[[], Engine]] = []
_originals: list[tuple[Any, str, Any]] = []
_patched: list[ModuleType] = []
_hook: _PatchOnImport | None = None
_lock = threading.Lock()
#: whether huggingface_hub's polling helpers sleep on the test's clock yet (`_core`)
polling_virtual = False


def install(engine: Engine | Callable[[], Engine]) -> None:
    """Route every HTTP request of the process through ``engine`` until `uninstall`.

    ``engine`` may be a function that makes it: it is called when a client library is first
    patched (at once, if one already is), so the engine costs nothing before a client exists."""
    global _hook
    _engines.append(engine)
    _installed.append(engine)
    if _patched:
        _make_engines()
    if _hook is not None:
        return
    _hook = _PatchOnImport(FACES)
    sys.meta_path.insert(0, _hook)
    for library in FACES:
        module = sys.modules.get(library[0])
        if module is not None:
            _hook.patch(library[0], module)


def _make_engines() -> None:
    from ..engine import Engine

    for index, entry in enumerate(_engines):
        if not isinstance(entry, Engine):
            _engines[index] = entry()


def uninstall(engine: Engine | Callable[[], Engine]) -> None:
    """Undo `install` (given what was installed: the engine, or the function that makes it)."""
    global _hook
    if engine in _installed:
        index = _installed.index(engine)
        del _installed[index], _engines[index]
    if _engines:
        return
    if _hook is not None:
        if _hook in sys.meta_path:
            sys.meta_path.remove(_hook)
        _hook = None
    for owner, attribute, original in reversed(_originals):
        setattr(owner, attribute, original)
    _originals.clear()
    for module in _patched:
        del module._hfrouter_patched
    _patched.clear()
    global polling_virtual
    polling_virtual = False


def replace(owner: Any, attribute: str, wrapper: Callable[..., Any]) -> Any:
    original = getattr(owner, attribute)
    _originals.append((owner, attribute, original))
    setattr(owner, attribute, wrapper)
    return original


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches each face's library as soon as it is imported (or at once, if it already is)."""

    def __init__(self, faces: Sequence[tuple[str, str]]) -> None:
        self.faces = dict(faces)

    def patch(self, name: str, module: ModuleType) -> None:
        # Marked on the module object: a library imported again (pytester drops the modules an
        # inner run imported) is a new module with unpatched classes.
        with _lock:
            if getattr(module, "_hfrouter_patched", False):
                return
            module._hfrouter_patched = True  # type: ignore[attr-defined]
            _patched.append(module)
            _make_engines()  # a patched client may ask at once
        face = importlib.import_module(f"{__package__}.{self.faces[name]}")
        face.patch(module, replace)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.faces:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader, self, fullname)
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    def __init__(self, inner: Any, hook: _PatchOnImport, name: str) -> None:
        self.inner, self.hook, self.name = inner, hook, name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        if self.hook is _hook:  # still installed
            self.hook.patch(self.name, module)

    def __getattr__(self, name: str) -> Any:  # get_data, get_filename, ... for tools that ask
        return getattr(self.inner, name)
