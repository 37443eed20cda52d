"""The plugin's own clocks: the real ones, whatever a test does to ``time``.

freezegun replaces ``time.monotonic``, ``time.perf_counter`` and ``time.time`` while a test runs,
and with them every module attribute that holds one of them (it scans ``sys.modules``). Read
through them, the plugin's call log stood still under ``@freeze_time`` (an app that waited
the Retry-After was judged ``retry-after-ignored``), jumped by minutes under
``auto_tick_seconds`` (an app that did not wait passed), and the router double's slow answers
never came. So the plugin reads the clocks it captured when it was loaded, kept in a tuple,
where freezegun's scan does not look. Loaded with the plugin (``plugin.py``), before a test can
freeze anything; loaded later, while time is frozen, it takes freezegun's own copies of the real
ones (``freezegun.api.real_*``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import NamedTuple


class Clocks(NamedTuple):
    monotonic: Callable[[], float]
    perf_counter: Callable[[], float]
    #: seconds since the epoch (``time.time``)
    wall: Callable[[], float]
    sleep: Callable[[float], None]


def _real(name: str) -> Callable[..., float]:
    found = getattr(time, name)
    if str(getattr(found, "__module__", "")).startswith("freezegun"):
        found = getattr(sys.modules.get("freezegun.api"), f"real_{name}", found)
    return found  # type: ignore[no-any-return]


#: the attribute that marks ``hfrouter.virtual_time()``'s sleep (which the call log reads) from a mock's
VIRTUAL_SLEEP = "_hfrouter_virtual_sleep"

#: the real clocks (``REAL.monotonic()``)
REAL = Clocks(_real("monotonic"), _real("perf_counter"), _real("time"), time.sleep)
