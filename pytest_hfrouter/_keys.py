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
    from ._session import RunSession
    from ._settings import Settings
    from .engine import Engine
    from .guard import Policy
    from .library import Library

# -- on the config: one per run ----------------------------------------------------------
SETTINGS: pytest.StashKey[Settings] = pytest.StashKey()
ENGINE: pytest.StashKey[Engine] = pytest.StashKey()
RUN: pytest.StashKey[RunSession] = pytest.StashKey()
LIBRARY: pytest.StashKey[Library] = pytest.StashKey()
POLICY: pytest.StashKey[Policy] = pytest.StashKey()
#: builds the engine on first use (a client library patched, a test run, a connection refused)
MAKE_ENGINE: pytest.StashKey[Callable[[], Engine]] = pytest.StashKey()
#: the project's conftest has its own ``--live`` (`_settings.add_live_option`): the plugin's is its mode option
OWN_LIVE: pytest.StashKey[bool] = pytest.StashKey()
#: the host of ``HF_ENDPOINT`` (a Hub mirror) this replay run reads as the Hub (`routes.read_as_hub`)
HUB_MIRROR: pytest.StashKey[str] = pytest.StashKey()

#: a recording run's tests that share a default cassette with another: node id → what is said (`shared_defaults`)
SHARED_DEFAULTS: pytest.StashKey[dict[str, str]] = pytest.StashKey()

# -- on an item: one per test ------------------------------------------------------------
ACTS: pytest.StashKey[bool] = pytest.StashKey()
#: how many markers the test itself carried when it was first set up: those a fixture or its body added
#: later are that attempt's, gone when a plugin runs the test again (pytest-rerunfailures, flaky)
OWN_MARKERS: pytest.StashKey[int] = pytest.StashKey()
