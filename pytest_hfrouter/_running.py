"""One running test as the plugin's hooks share it: set up by ``pytest_runtest_setup``, read by
the call and teardown hooks and the fixtures, dropped at teardown (one stash entry per test)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

    from ._session import RunSession
    from ._settings import Settings
    from .engine import Engine
    from .traffic import Exchange, Rule


@dataclass(slots=True)
class Running:
    """The test's traffic, its markers and the run's objects, each looked up once per test."""

    exchange: Exchange
    #: its hfrouter markers (and ``vcr``) by name, closest first
    marks: dict[str, list[pytest.Mark]]
    settings: Settings
    engine: Engine
    run: RunSession | None
    #: the rule of its ``hfrouter_each_outage`` case
    each_rule: Rule | None = None

    def closest(self, name: str) -> pytest.Mark | None:
        found = self.marks.get(name)
        return found[0] if found else None
