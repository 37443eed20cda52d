"""pytest-hfrouter: upstream-outage contract tests for apps that call the Hugging Face router.

Load it with ``pytest -p hfrouter``. The markers, fixtures, options and ini keys are described
in the README; this module is the one import path of the names a test may use in code, for
annotations, ``isinstance`` checks and ``pytest.raises``:

- `HFRouter`: the ``hfrouter`` fixture's object (the call log, ``outage(...)``, the assertions).
- `HFRouterServer`: the ``hfrouter_server`` fixture's object (a router double on 127.0.0.1).
- `Call`: one request of the call log (``hfrouter.calls``), read-only.
- `Verdict`: one resilience verdict (``hfrouter.verdicts``), read-only.
- `HFRouterError` and its subclasses `CassetteError`, `ScenarioError`, `UnansweredRequest`;
  `HFRouterWarning` (a ``pytest.PytestWarning``).

What you may rely on across versions is what the README's API section and these names'
docstrings say; the modules they are defined in (``pytest_hfrouter.handle``, ...) are internal
and may move. The names load on first use, so loading the plugin imports none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import CassetteError, HFRouterError, HFRouterWarning, ScenarioError, UnansweredRequest
    from .handle import HFRouter, HFRouterServer
    from .plugin import acts_on
    from .resets import reset_client_caches
    from .traffic import Call
    from .verdicts import Verdict

__version__ = "0.1.0"

#: public name -> the internal module that defines it
_HOMES = {
    "HFRouter": "handle",
    "HFRouterServer": "handle",
    "Call": "traffic",
    "Verdict": "verdicts",
    "HFRouterError": "errors",
    "CassetteError": "errors",
    "ScenarioError": "errors",
    "UnansweredRequest": "errors",
    "HFRouterWarning": "errors",
    "acts_on": "plugin",
    "reset_client_caches": "resets",
}

__all__ = [
    "Call",
    "CassetteError",
    "HFRouter",
    "HFRouterError",
    "HFRouterServer",
    "HFRouterWarning",
    "ScenarioError",
    "UnansweredRequest",
    "Verdict",
    "acts_on",
    "reset_client_caches",
]


def __getattr__(name: str) -> Any:  # PEP 562: import a public name's module when it is first used
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
