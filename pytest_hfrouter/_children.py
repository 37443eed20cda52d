"""Router and Hub requests from the processes a test starts (an audit: a ``spawn`` or ``forkserver``
pool's calls, and a ``subprocess``'s, went to the real router in replay; a ``fork`` pool made in one
test answered later tests with that test's outages).

The plugin answers in the test's process only. In a replay run:

- a Python process the test starts loads ``_child_site/sitecustomize.py`` (its folder goes first on
  the ``PYTHONPATH`` it inherits): the router's and the Hub's names are refused there;
- a process forked while the plugin acts in a test refuses them too, through the faces it inherited
  (their answers would never reach the test's call log) and through the name look-up;

and each refusal is written to a log the test's process reads when the test's body ends: the test
fails for it, as for a connection its own process tried (`collect`). A process pointed at the router
double (loopback) is not refused.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

ENV = "PYTEST_HFROUTER_CHILD"
SITE = str(Path(__file__).with_name("_child_site"))


class _State:
    """One session's: a session run inside another (pytester's in-process runs) has its own, and gives
    the outer one back when it ends (`install`, `uninstall`)."""

    __slots__ = ("acting", "before", "closed", "forked", "log", "read")

    def __init__(self) -> None:
        #: whether the plugin acts right now (a fork then makes a refusing child); None: no session
        self.acting: Callable[[], bool] | None = None
        self.closed: frozenset[str] = frozenset()
        #: this process was forked from a test's: it answers no router or Hub request
        self.forked = False
        self.log: str | None = None
        #: how much of the log the test's process has read
        self.read = 0
        #: the environment before `enter`, given back by `leave`; empty: not entered
        self.before: dict[str, str | None] = {}


STATE = _State()
#: the sessions this one runs inside (their states, outermost first)
_OUTER: list[_State] = []


def refused_here(url: str) -> str | None:
    """In a forked child, why a router or Hub request is refused (told to the test's process through the
    log); None for other hosts."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if host not in STATE.closed:
        return None
    # huggingface_hub's agent-harness registry (1.33 and 2.x): refused, but no request of the app's, so the test
    # does not fail for it (the child site's `_detecting_agent`)
    if STATE.log and not parts.path.startswith("/api/agent-harnesses"):
        with contextlib.suppress(OSError), open(STATE.log, "a", encoding="utf-8") as out:
            out.write(f"{time.time()} {os.getpid()} {host}\n")
    return (
        f"pytest-hfrouter: {host} refused in a process forked from the test's (pid {os.getpid()}): a forked "
        "process's answers never reach the test's call log, and it holds the outages of the test it was forked "
        "in. Make the call in the test's process, or point the process at the router double (the hfrouter_server "
        "fixture: its env() for HF_ENDPOINT and the openai SDK, base_url for InferenceClient)"
    )


def install(closed: frozenset[str], acting: Callable[[], bool], run_id: str) -> None:
    """For a replay session: the hosts refused, whether the plugin acts (read at a fork), and the log."""
    global STATE
    _OUTER.append(STATE)
    STATE = _State()
    STATE.closed, STATE.acting = closed, acting
    STATE.log = os.path.join(tempfile.gettempdir(), f"pytest-hfrouter-children-{os.getpid()}-{run_id[:12]}.log")
    _hook_fork()


def uninstall() -> None:
    global STATE
    leave()
    if STATE.log is not None:
        with contextlib.suppress(OSError):
            os.unlink(STATE.log)
    STATE = _OUTER.pop() if _OUTER else _State()


def enter() -> None:
    """From now on a Python process started here is refused the router and the Hub (in scope "all" from
    the first test to the session's end; in scope "marked", the tests it acts in: `leave` at their end)."""
    if STATE.before or STATE.log is None:
        return
    STATE.before = {name: os.environ.get(name) for name in (ENV, "PYTHONPATH")}
    os.environ[ENV] = ",".join(sorted(STATE.closed)) + ";" + STATE.log
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = SITE + (os.pathsep + path if path else "")


def leave() -> None:
    """The environment as it was before `enter` (what the test set meanwhile is its own business)."""
    for name, value in STATE.before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    STATE.before = {}


def collect() -> list[tuple[str, str]]:
    """The refusals children wrote since the last look: (host, what it says), for the running test."""
    log = STATE.log
    if log is None or not os.path.exists(log):  # one stat a test: a child was refused in no test yet
        return []
    try:
        with open(log, "rb") as read:
            read.seek(STATE.read)
            data = read.read()
    except OSError:
        return []
    STATE.read += len(data)
    found = []
    for line in data.decode("utf-8", "replace").splitlines():
        _, pid, host = [*line.split(" "), "", "", ""][:3]
        found.append((host, f"the process {pid} the test started asked for {host}, and was refused"))
    return found


_hooked: list[bool] = []


def _hook_fork() -> None:
    if _hooked or not hasattr(os, "register_at_fork"):
        return
    _hooked.append(True)
    os.register_at_fork(after_in_child=_forked)


def _forked() -> None:
    acting = STATE.acting
    if acting is None or not acting():
        return  # no session, or a test the plugin does not act in: the child is left alone
    STATE.forked = True
    value = os.environ.get(ENV)
    if not value:
        return
    # libraries no face answers for: the name look-up refused, as in a started process
    import importlib.util

    spec = importlib.util.spec_from_file_location("_hfrouter_child_site", os.path.join(SITE, "sitecustomize.py"))
    if spec is not None and spec.loader is not None:
        site = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(site)
        site._refuse(value)
