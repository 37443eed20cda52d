"""Which tests the plugin acts in: installed is not active.

Loaded only by auto-load (its ``pytest11`` entry point), the plugin acts only in tests that
use one of its markers or fixtures; every other test makes its requests as if it were not
installed. Loaded on purpose (``-p hfrouter`` on the command line, in ``addopts`` or in
``PYTEST_ADDOPTS``; ``PYTEST_PLUGINS``) or with ini ``hfrouter_scope = all``, it acts in
every test. Plain values in, a decision out: the interception faces and the network guard
follow the same `Scope`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

ALL = "all"
MARKED = "marked"
SCOPES = (ALL, MARKED)

#: the names ``-p`` (or ``PYTEST_PLUGINS``) loads this plugin by
PLUGIN_NAMES = frozenset({"hfrouter", "pytest_hfrouter", "pytest_hfrouter.plugin"})
#: fixtures whose use opts a test in (markers: every ``hfrouter_*`` marker the plugin registers)
OPT_IN_FIXTURES = frozenset({"hfrouter", "hfrouter_server", "hfrouter_scenario"})


class Scope(NamedTuple):  # a named tuple: made at every start-up, where a dataclass costs more
    name: str
    #: why: what made it this scope, for the report header
    because: str

    @property
    def every_test(self) -> bool:
        return self.name == ALL

    def describe(self) -> str:
        return f"scope={self.name} ({self.because})"


class ScopeError(ValueError):
    pass


def loaded_on_purpose(plugins: Iterable[str], env_plugins: str = "") -> str | None:
    """How the plugin was asked for by name (``-p hfrouter``, ``PYTEST_PLUGINS``), or None (auto-load).

    ``plugins`` is pytest's ``-p`` list (``config.option.plugins``): the command line, ``addopts``
    and ``PYTEST_ADDOPTS`` all land there, each ``-p`` value as written.
    """
    for name in plugins:
        if name in PLUGIN_NAMES:
            return f"-p {name}"
    for name in env_plugins.split(","):
        if name.strip() in PLUGIN_NAMES:
            return f"PYTEST_PLUGINS={env_plugins}"
    return None


def decide(ini_value: str, plugins: Iterable[str], env_plugins: str = "", loaded_by: str | None = None) -> Scope:
    """The scope from ini ``hfrouter_scope`` (wins when set) and how the plugin was loaded (``loaded_by``:
    asked for other than by ``-p`` or ``PYTEST_PLUGINS``, e.g. a conftest's ``pytest_plugins``)."""
    given = ini_value.strip()
    if given:
        if given not in SCOPES:
            raise ScopeError(
                f"hfrouter_scope = {given!r} is not valid. Valid values: {', '.join(SCOPES)} "
                "(or leave it unset: 'all' with -p hfrouter, 'marked' when only auto-loaded)"
            )
        return Scope(given, "ini hfrouter_scope")
    how = loaded_on_purpose(plugins, env_plugins) or loaded_by
    if how is not None:
        return Scope(ALL, f"loaded with {how}")
    return Scope(
        MARKED,
        "auto-loaded: acts only in tests that use its markers or fixtures; "
        "-p hfrouter or ini hfrouter_scope = all for every test",
    )


def opted_in(marker_names: Iterable[str], fixture_names: Iterable[str], plugin_markers: Iterable[str]) -> bool:
    """A test asked for the plugin: one of its markers, or one of its fixtures (directly or not)."""
    markers = frozenset(plugin_markers)
    return any(name in markers for name in marker_names) or any(name in OPT_IN_FIXTURES for name in fixture_names)
