"""Where the plugin keeps its objects: the stash keys, and the keys of the xdist hand-off.

Every module that reads the plugin's state imports its key from here, so none needs to
import ``plugin.py`` (core never does) and no hook module imports another. Nothing heavy is
imported: ``pytest`` only; the stashed types are named for the type checker alone. One key lives
with its only reader: ``_notes.NOTED`` (``_running``, named here, imports ``_notes``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._running import Running
    from ._session import RunSession
    from ._settings import Settings
    from .engine import Engine
    from .guard import Policy
    from .library import Library
    from .traffic import Rule

# -- on the config: one per run ----------------------------------------------------------
SETTINGS: pytest.StashKey[Settings] = pytest.StashKey()
ENGINE: pytest.StashKey[Engine] = pytest.StashKey()
RUN: pytest.StashKey[RunSession] = pytest.StashKey()
LIBRARY: pytest.StashKey[Library] = pytest.StashKey()
POLICY: pytest.StashKey[Policy] = pytest.StashKey()
#: builds the engine on first use (a client library patched, a test run, a connection refused)
MAKE_ENGINE: pytest.StashKey[Callable[[], Engine]] = pytest.StashKey()
#: an ``hfrouter_outage`` marker's rule, parsed once per distinct marker
PARSED_OUTAGES: pytest.StashKey[dict[tuple[object, ...], Rule]] = pytest.StashKey()
#: the same rules by marker object (its id, and the marker kept alive so the id stays its own):
#: a test's setup finds the rule its collection parsed without building the key again
MARKED_OUTAGES: pytest.StashKey[dict[int, tuple[pytest.Mark, Rule]]] = pytest.StashKey()
#: whether a passing test's output is shown or written anywhere (``-rP``/``-rA``, JUnit XML)

# -- on an item: one per test ------------------------------------------------------------
#: the running test (its exchange, markers, ...), from its setup to its teardown
RUNNING: pytest.StashKey[Running] = pytest.StashKey()
ACTS: pytest.StashKey[bool] = pytest.StashKey()
