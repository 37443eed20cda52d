"""pytest-hfrouter: upstream-outage contract tests for apps that call the Hugging Face router.

Load it with ``pytest -p hfrouter``. The public names are the markers and fixtures (see the
README); this module exports the types a test may want to annotate with.
"""

from __future__ import annotations

from .errors import CassetteError, HFRouterError, HFRouterWarning, ScenarioError, UnansweredRequest

__version__ = "0.1.0"
__all__ = [
    "CassetteError",
    "HFRouterError",
    "HFRouterWarning",
    "ScenarioError",
    "UnansweredRequest",
    "__version__",
]
