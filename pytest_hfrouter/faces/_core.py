"""What every face shares: the engine stack, asking the engine, reporting live answers.

Faces are installed once per process; a pytest run inside a pytest run (pytester) pushes its
own engine, which answers until that run ends and hands the faces back to the outer one.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .. import threads
from ..errors import UnansweredRequest
from ..faults import HANG, Plan, hang_message, plan
from ..live import Observed
from ..traffic import Answer, Request

if TYPE_CHECKING:
    from ..engine import Engine

#: Replace ``owner.attribute`` with a wrapper, remembering the original; returns the original.
Replace = Callable[[Any, str, Callable[..., Any]], Any]

_engines: list[Engine] = []
_originals: list[tuple[Any, str, Any]] = []
_patched: list[ModuleType] = []
_hook: _PatchOnImport | None = None
_lock = threading.Lock()

NO_FAULT = Plan(0, None, False)
#: Headers that belong to the connection, not the request: rebuilt for a forwarded one.
HOP_HEADERS = frozenset({"host", "authorization", "content-length", "connection", "transfer-encoding"})


def install(engine: Engine) -> None:
    """Route every HTTP request of the process through ``engine`` until `uninstall`."""
    global _hook
    _engines.append(engine)
    if _hook is not None:
        return
    from . import FACES

    _hook = _PatchOnImport(FACES)
    sys.meta_path.insert(0, _hook)
    for library in FACES:
        module = sys.modules.get(library[0])
        if module is not None:
            _hook.patch(library[0], module)


def uninstall(engine: Engine) -> None:
    global _hook
    if engine in _engines:
        _engines.remove(engine)
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
    global _polling_virtual
    _polling_virtual = False


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


# huggingface_hub's provider helpers that poll a job sleep between polls (``time.sleep`` in
# black_forest_labs (0.x), fal_ai's queue, together's and wavespeed's videos, zai_org's images).
# In replay their ``time`` is this stand-in: a sleep advances the test's clock
# (``Exchange.virtual``, as ``hfrouter.virtual_time()`` does) instead of waiting, so a replayed
# job with its polls takes no real time; in the live modes it waits for real.
_POLLING_MODULES = tuple(
    f"huggingface_hub.inference._providers.{name}"
    for name in ("black_forest_labs", "fal_ai", "together", "wavespeed", "zai_org")
)
_polling_virtual = False


class _PollingClock:
    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        engine = _engines[-1] if _engines else None
        background = threads.is_background()
        # live modes, and a test the plugin does not act in (hfrouter_scope): the polls are real
        if engine is None or engine.live is not None or engine.idle(background):
            time.sleep(seconds)
        else:
            engine.waited(seconds, background)


def _virtualise_polling() -> None:
    """Once huggingface_hub's provider helpers are imported (by its first task call), swap their clock."""
    global _polling_virtual
    if "huggingface_hub.inference._providers" not in sys.modules:
        return
    clock = _PollingClock()
    for name in _POLLING_MODULES:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "time", None) is time:
            replace(module, "time", clock)  # type: ignore[arg-type]
    _polling_virtual = True


def ask(request: Request, connect_timeout: float | None, read_timeout: float | None) -> tuple[Answer, Plan]:
    """The engine's answer and how it plays out for a client with these timeouts."""
    if not _engines:  # uninstalled while a client still held a patched method
        raise UnansweredRequest(f"pytest-hfrouter is not active: {request.method} {request.url}")
    engine = _engines[-1]
    if not _polling_virtual:
        _virtualise_polling()
    background = threads.is_background()
    answer = engine.answer(request, background)
    if answer.unanswered:
        raise UnansweredRequest(
            f"pytest-hfrouter: no answer for {request.method} {request.url}: {answer.unanswered} (the test will fail)"
        )
    if answer.passthrough:
        return answer, NO_FAULT
    outcome = plan(answer.fault, len(answer.chunks()), connect_timeout, read_timeout)
    if outcome.outcome == HANG and answer.fault is not None:
        message = hang_message(answer.fault)
        engine.would_hang(request, message, background)
        raise UnansweredRequest(f"pytest-hfrouter: {request.method} {request.url}: {message}")
    if answer.fault is not None and outcome.outcome is None:
        engine.spared(answer, background)  # slow, but within the client's timeout: a success after all
    return answer, outcome


def idle() -> bool:
    """Scope "marked" outside the tests the plugin acts in: hand the request on untouched."""
    return bool(_engines) and _engines[-1].idle(threads.is_background())


def recording() -> bool:
    """Only the live modes keep request headers (to record them): replay skips copying them."""
    return bool(_engines) and _engines[-1].live is not None


def observe(request: Request, observed: Observed) -> None:
    if _engines:
        _engines[-1].observe(request, observed, threads.is_background())


def failed(exc: BaseException, started: float) -> Observed:
    return Observed(None, "", (), b"", time.perf_counter() - started, f"{type(exc).__name__}: {exc}")


def seconds(value: Any) -> float | None:
    return None if value is None else float(value)


def played(answer: Answer, outcome: Plan) -> list[bytes]:
    """The chunks that reach the app: all of them, or those before the fault."""
    chunks = answer.chunks()
    return chunks[: outcome.chunks] if outcome.outcome else chunks
