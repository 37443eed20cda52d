"""Loaded at start-up by a Python process that a test started in a replay run (``subprocess``,
multiprocessing's ``spawn`` and ``forkserver``): pytest-hfrouter puts this folder first on the
``PYTHONPATH`` it hands down (`pytest_hfrouter._children`). Such a process is not replayed, so its
router and Hub look-ups are refused before a byte leaves, said on its stderr and in a log the test's
process reads (the test fails for it, as for a connection its own process made). Then the next
``sitecustomize`` on the path, if any, is loaded as it would have been.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _refuse(value: str) -> None:
    import socket
    import time

    names, _, log = value.partition(";")
    closed = frozenset(name for name in names.split(",") if name)
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = (host.decode() if isinstance(host, bytes) else str(host or "")).lower().rstrip(".")
        if name in closed and _detecting_agent():
            # huggingface_hub's fetch of its agent-harness registry (1.33 and 2.x, utils/_detect_agent.py, on its first
            # request of a process, wherever that request goes): refused, and not the app's request, so not
            # said. The client swallows the failure and detects no agent, as in the test's process, where
            # the plugin answers the registry empty. An audit: a child pointed at a local server with
            # base_url failed its test for it.
            raise socket.gaierror(socket.EAI_NONAME, f"pytest-hfrouter: {name} refused")
        if name in closed:
            message = (
                f"pytest-hfrouter: {name} refused in a process the test started (pid {os.getpid()}): in replay no "
                "router or Hub request leaves, and a process the test starts is not replayed. Make the call in "
                "the test's process, or point the process at the router double (the hfrouter_server fixture: "
                "its env() for HF_ENDPOINT and the openai SDK, base_url for InferenceClient)"
            )
            sys.stderr.write(message + "\n")
            if log:
                try:
                    with open(log, "a", encoding="utf-8") as out:
                        out.write(f"{time.time()} {os.getpid()} {name}\n")
                except OSError:
                    pass
            raise socket.gaierror(socket.EAI_NONAME, message)
        return resolve(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    # a proxy from the environment would look these names up itself: the clients that read it (requests,
    # httpx, urllib, aiohttp with trust_env) go to them directly instead, and meet the refusal above
    for variable in ("NO_PROXY", "no_proxy"):
        given = os.environ.get(variable, "")
        if given.strip() != "*":
            os.environ[variable] = ",".join(part for part in (given, *sorted(closed)) if part)


def _detecting_agent() -> bool:
    frame: Any = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.replace("\\", "/").endswith("huggingface_hub/utils/_detect_agent.py"):
            return True
        frame = frame.f_back
    return False


def _next_sitecustomize() -> None:
    """The ``sitecustomize`` this one stands before on the path (a virtualenv's, a distribution's)."""
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != here]
    mine = sys.modules.pop("sitecustomize", None)
    try:
        import sitecustomize  # type: ignore[import-not-found]  # noqa: F401
    except ImportError as exc:
        if exc.name != "sitecustomize":
            raise
        if mine is not None:
            sys.modules["sitecustomize"] = mine


if __name__ == "sitecustomize":  # not when a forked child of the test's process loads `_refuse` alone
    _value = os.environ.get("PYTEST_HFROUTER_CHILD")
    if _value:
        _refuse(_value)
    _next_sitecustomize()
