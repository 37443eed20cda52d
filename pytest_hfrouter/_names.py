"""The names users write and the addresses the plugin knows, with no imports: what loading
the plugin needs before anything else (markers, modes, the router's and the Hub's URLs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Literal, cast

if TYPE_CHECKING:
    import pytest

#: ``--hfrouter-mode``: replay answers in process; the others send traffic to the real router
Mode = Literal["replay", "live", "record", "rewrite"]
REPLAY: Final = "replay"
LIVE: Final = "live"
RECORD: Final = "record"
REWRITE: Final = "rewrite"
MODES: tuple[Mode, ...] = (REPLAY, LIVE, RECORD, REWRITE)
ROUTER_URL = "https://router.huggingface.co"
HUB_URL = "https://huggingface.co"
#: the hosts of the router, the Hub and the pre-router serverless API (routes.py reads requests by them)
ROUTER_HOST, HUB_HOST, LEGACY_INFERENCE_HOST = "router.huggingface.co", "huggingface.co", "api-inference.huggingface.co"
ROUTER_HOSTS = frozenset({ROUTER_HOST})
#: the Hub's hosts: huggingface.co and, in a replay run, the host huggingface_hub's ``HF_ENDPOINT`` names
#: instead (a mirror such as hf-mirror.com; `routes.read_as_hub`). A set the run adds to and takes back
#: from: every reader sees the same one
HUB_HOSTS: set[str] = {HUB_HOST}
#: the pre-router serverless API, still present in older recordings (docs/ROUTER-FACTS.md §1.1)
LEGACY_INFERENCE_HOSTS = frozenset({LEGACY_INFERENCE_HOST})

OUTAGE = "hfrouter_outage"
CASSETTE = "hfrouter_cassette"
EACH_OUTAGE = "hfrouter_each_outage"
LIVE_MARKER = "hfrouter_live"
RESILIENT = "hfrouter_resilient"
NO_CHAOS = "hfrouter_no_chaos"
#: the fixture ``hfrouter_each_outage`` parametrizes (indirectly: its param is the case)
SCENARIO_PARAM = "hfrouter_scenario"

SIGNATURES = {
    OUTAGE: "hfrouter_outage(scenario, *, provider=None, model=None, times=None, delay=None, step=None, "
    "retry_after=..., status=None, body=None, headers=None, optional=False)",
    CASSETTE: "hfrouter_cassette(*paths)",
    EACH_OUTAGE: "hfrouter_each_outage(*scenarios, provider, model=None, retry_after=..., status=None, body=None, "
    "headers=None)",
    LIVE_MARKER: "hfrouter_live",
    RESILIENT: "hfrouter_resilient(allow=(), chain=None)",
    NO_CHAOS: "hfrouter_no_chaos",
}

MARKER_HELP = {
    OUTAGE: "Router traffic matching provider (name or glob) and model (HF id or glob; on the auto "
    "route also model:provider) gets the scenario's response; after `times` matching calls the "
    "provider recovers; `delay` overrides a slow-* scenario's seconds; `step` (submit, poll, download) "
    "limits it to one step of a task's job; retry_after/status/body/headers change the answer. Stacks at "
    "test, class and module level; the closest wins. A rule that answers no call of its test fails it "
    "(ini hfrouter_on_unmatched) unless optional=True.",
    CASSETTE: "Replay these vcrpy cassettes (vcrpy, pytest-recording or huggingface_hub recordings). "
    "Default: <cassette dir>/<module>/<test>.yaml when it exists.",
    EACH_OUTAGE: "Parametrize the test over these scenarios (every HTTP scenario that can happen to `provider` "
    "when none is named), injected on `provider`; test ids name the scenario (and a retry_after or status given "
    "as a list); a case whose scenario cannot apply to the test's calls is skipped.",
    LIVE_MARKER: "The test needs the live router; skipped in replay.",
    RESILIENT: "After the test body, fail on any resilience verdict not in `allow` (retry-storm, "
    "retried-non-retryable, retry-after-ignored, no-backoff, truncated-stream-accepted, gave-up-early); "
    "`chain` names the app's fallback providers for gave-up-early. Markers at test, class and module level "
    "merge: the closest wins per argument.",
    NO_CHAOS: "A --hfrouter-chaos run leaves this test alone (a test about the healthy router); tests with "
    "outage markers are always left alone.",
}


def marks_of(item: pytest.Item) -> dict[str, list[pytest.Mark]]:
    """The test's hfrouter markers (and ``vcr``) by name, closest first (read at setup: a running
    test's are in its `Running`; read again when a fixture or the body added some)."""
    marks: dict[str, list[pytest.Mark]] = {}
    for mark in item.iter_markers():
        if mark.name.startswith("hfrouter_") or mark.name == "vcr":
            marks.setdefault(mark.name, []).append(mark)
    return marks


def marker_count(item: pytest.Item) -> int:
    """How many markers the test and its parents carry: more at the call than at setup means a
    fixture added some (``request.applymarker``), after the plugin read them."""
    count, node = 0, cast("pytest.Item | None", item)  # then its parents (pytest exports no name for a Node)
    while node is not None:
        count += len(node.own_markers)
        node = node.parent  # type: ignore[assignment]
    return count
