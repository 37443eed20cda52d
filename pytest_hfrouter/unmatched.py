"""An outage that never happened: why a rule answered no call of its test.

A green test whose outage never fired exercised nothing. After the body, every rule that
answered nothing is diagnosed from the call log: no call matched its provider/model (a typo?),
the calls it met were of a kind it cannot answer (a stream-only scenario on plain calls, a
Hub-side scenario on the auto route), or a closer rule answered them first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple, cast

from .faces._patching import SAID
from .markers import BLOCK_API
from .providers import nearest
from .routes import AUTO, INFERENCE_KINDS, MAPPING, OTHER, PROVIDER, Route, RouteKind
from .tasks import DOWNLOAD, POLL, SUBMIT, Step
from .traffic import Call, Rule

#: no call of the test matched the rule's provider and model
UNMATCHED = "unmatched"
#: calls matched, but none of a route or request mode the scenario answers
NOT_APPLICABLE = "not-applicable"
#: calls it could answer were answered by a closer rule first
SHADOWED = "shadowed"


class Finding(NamedTuple):
    rule: Rule
    kind: str
    reason: str

    def message(self) -> str:
        return f"{self.rule.describe()} answered no call of this test: {self.reason}"


#: the follow-up steps of a task's job (a poll, the final download): provider calls, logged by step
FOLLOW_UPS = (POLL, DOWNLOAD)


def _route(call: Call) -> Route:
    kind = PROVIDER if call.route in FOLLOW_UPS else cast("RouteKind", call.route)
    return Route(kind, call.provider, call.model, requested=call.requested, stream=call.stream)


def _step(call: Call) -> Step | None:
    """The step of a task's job this call was: its poll or download, else the submit of an inference call."""
    if call.route in FOLLOW_UPS:
        return cast("Step", call.route)
    return SUBMIT if call.route in INFERENCE_KINDS else None


def filters_match(rule: Rule, call: Call) -> bool:
    """Whether ``call`` is one the rule's provider and model name (whatever its route)."""
    route = _route(call)
    if call.route == MAPPING:  # a mapping look-up names a model; it was made for a provider's call
        asking = call.looked_up_for  # None: not known, any provider's
        return (
            MAPPING in rule.scenario.routes
            and rule.matches_model(route, call.model)
            and (asking is None or rule.provider is None or rule.matches_provider(asking))
        )
    if call.route not in (PROVIDER, AUTO, *FOLLOW_UPS):
        return False
    return rule.matches_provider(call.provider) and rule.matches_model(route, call.model)


def diagnose(rule: Rule, calls: Sequence[Call], shared_setup: Sequence[int] = ()) -> Finding | None:
    """Why ``rule`` answered nothing (None when it answered or shaped at least one answer; ``shared_setup``:
    the call-log positions of the calls a fixture of wider scope made while it was set up)."""
    if rule.hits:
        return None
    scenario = rule.scenario
    matching = [c for c in calls if filters_match(rule, c)]
    unread = [c for c in matching if c.unread and scenario.name in c.scenarios]
    if unread:
        return Finding(
            rule,
            NOT_APPLICABLE,
            f"the app stopped reading {'the stream' if len(unread) == 1 else f'each of the {len(unread)} streams'} it "
            "answered before its fault came (at the stream's end), so the outage never reached the app; test the "
            "fault where the app reads a stream to its end",
        )
    if scenario.flags_unavailable and matching:
        return Finding(rule, NOT_APPLICABLE, _flag_unmet(rule, matching))
    answerable = [c for c in matching if scenario.answers_route(_route(c)) and rule.matches_step(_step(c))]
    if answerable and all(c.route == MAPPING and scenario.name in c.scenarios for c in answerable):
        if scenario.mapping_only and rule.used:  # it wrote each look-up the entry the mapping had already
            return Finding(
                rule,
                NOT_APPLICABLE,
                f"{scenario.name} wrote into each of the test's mapping look-ups the entry it already had for the "
                "task of the call behind it, so nothing changed for the app: a call of another task meets it",
            )
        return Finding(rule, NOT_APPLICABLE, _overlay_only(rule))
    if answerable:
        outside = _outside(rule, calls, answerable) or _in_shared_setup(calls, answerable, shared_setup)
        if outside:
            return Finding(rule, SHADOWED, outside)
        by = sorted({c.answered_by for c in answerable})
        return Finding(
            rule,
            SHADOWED,
            f"the {len(answerable)} call(s) it could answer were answered by "
            f"{', '.join(by)} first (a closer rule or an hfrouter.outage() block wins)",
        )
    if matching:
        return Finding(rule, NOT_APPLICABLE, _cannot_apply(rule, matching))
    return Finding(rule, UNMATCHED, _no_match(rule, calls))


def _in_shared_setup(calls: Sequence[Call], answerable: Sequence[Call], shared_setup: Sequence[int]) -> str | None:
    """Why: all of them were made while a fixture of wider scope than the test was set up (an audit: the finding
    said a closer rule had answered them)."""
    if not shared_setup or not all(any(calls[i] is c for i in shared_setup if i < len(calls)) for c in answerable):
        return None
    return (
        f"the {len(answerable)} call(s) it could answer were made while a fixture of wider scope than the test "
        '(scope="module", "class", "package" or "session") was set up for it: such a fixture is set up once, for '
        "whichever test uses it first, so its calls meet none of a test's outages. Make the call in the test body or "
        "in a function-scoped fixture"
    )


def _outside(rule: Rule, calls: Sequence[Call], answerable: Sequence[Call]) -> str | None:
    """Why the calls the rule could answer were not its: all of them came before it applied (a block
    not yet begun, a marker a fixture added while setup's calls were made) or after its block ended."""
    window = calls[rule.since : rule.until]
    if any(any(c is w for w in window) for c in answerable):
        return None
    count = len(answerable)
    if rule.api == BLOCK_API:
        return (
            f"the {count} call(s) it could answer were made outside its with block (before it began or after it "
            "ended): a block's outage applies only to the calls inside it"
        )
    return (
        f"the {count} call(s) it could answer were made in the test's setup, before a fixture added this marker "
        "(request.applymarker): a marker added so applies from the test body on. To meet setup's calls, put the "
        "marker on the test, its class or its module"
    )


def _overlay_only(rule: Rule) -> str:
    """A scenario of the mapping and the provider (staging-auth) that shaped the look-up only."""
    scenario = rule.scenario
    provider = rule.literal_provider or "the provider"
    return (
        f"{scenario.name} shaped the Hub's provider-mapping look-up, but no call to {provider} followed that "
        f"pytest-hfrouter answered, so its outage (HTTP {scenario.status} from the provider) never reached the app. "
        f"Did the app call the provider through a client the plugin intercepts ({SAID}), or did "
        "another mock library (respx, pytest-httpx, responses, requests-mock, aioresponses) answer it first?"
    )


def _kinds(calls: Sequence[Call]) -> str:
    return ", ".join(sorted({"streamed " + c.route if c.stream else c.route for c in calls}))


def _flag_unmet(rule: Rule, matching: Sequence[Call]) -> str:
    """A provider flagged unavailable in the mapping, that no call of the test failed over from."""
    if all(c.route == MAPPING for c in matching):  # an app that reads the mapping itself (an audit: "named")
        return (
            f"{rule.scenario.name} flags the provider unavailable in the Hub's mapping, and the test's only calls "
            "it matched were mapping look-ups, with no inference call after them from huggingface_hub: an app that "
            "reads the mapping itself (HfApi().model_info(expand=...)) saw the flag, and what it did with it is the "
            "app's to show. Assert on that, and mark the outage optional=True; the router's own failover is met by "
            "a call on the auto route without a :provider suffix"
        )
    return (
        f"{rule.scenario.name} flags the provider unavailable in the Hub's mapping, and only the router's own pick "
        "acts on that: a call on the auto route without a :provider suffix (POST /v1/chat/completions) fails over "
        f"to the next provider. The test's calls ({_kinds(matching)}) named their provider, which the router still "
        "serves (a healthy answer): nothing changed for the app. Call the auto route without a suffix to meet it; "
        "for a provider that fails when named, use provider-500 or another outage"
    )


def _cannot_apply(rule: Rule, matching: Sequence[Call]) -> str:
    """The reason a scenario could not apply to the calls that matched its provider and model."""
    scenario = rule.scenario
    name = scenario.name
    kinds = {_route(c).kind for c in matching}  # a poll or download is a provider call
    if MAPPING in scenario.routes and MAPPING not in kinds and kinds <= {AUTO}:
        return (
            f"{name} changes the Hub's provider-mapping look-up, and the test's calls went to the auto route "
            "(POST /v1/chat/completions), which makes no mapping look-up (the router picks the provider server "
            "side): it cannot apply to this app's route. Call a provider route (InferenceClient(provider=...)) "
            "to meet it, or choose a scenario that answers the auto route"
        )
    if MAPPING in scenario.routes and MAPPING not in kinds and {c.provider for c in matching} == {"hf-inference"}:
        return (
            f"{name} changes the Hub's provider-mapping look-up, and the test made none: huggingface_hub asks the "
            "Hub nothing but the model's task for provider='hf-inference' (a model-info request, GET /api/models/{id}, "
            f"which {name} does not answer); the matching calls were: {_kinds(matching)}. It can happen to providers "
            "whose calls begin with the look-up (fal-ai, together, novita...)"
        )
    if scenario.routes == (AUTO,) and kinds <= {PROVIDER, MAPPING}:
        return (
            f"{name} happens only on the auto route (POST /v1/chat/completions, no enabled provider serves the "
            "model); the test's calls named their provider (provider routes), where the router never answers it"
        )
    if rule.step is not None and not any(rule.matches_step(_step(c)) for c in matching):
        steps = ", ".join(sorted({s for s in map(_step, matching) if s}))
        return (
            f"{name} with step={rule.step!r} answers only the {rule.step} of a task's job; the matching calls "
            f"were: {steps or _kinds(matching)} (a provider that answers at once has no poll or download)"
        )
    inference = [c for c in matching if c.route in (PROVIDER, AUTO, *FOLLOW_UPS)]
    if scenario.stream is True and inference and not any(c.stream for c in inference):
        return f'{name} happens only to streamed requests ("stream": true); the matching calls were plain'
    if scenario.stream is False and inference and all(c.stream for c in inference):
        return f"{name} happens only to plain requests; the matching calls were streamed"
    return f"{name} answers {'/'.join(scenario.routes)} routes; the matching calls were: {_kinds(matching)}"


def _no_match(rule: Rule, calls: Sequence[Call]) -> str:
    inference = [c for c in calls if c.route in (PROVIDER, AUTO, *FOLLOW_UPS)]
    if not calls:
        offline = ""
        if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE"):  # an audit
            offline = (
                "; HF_HUB_OFFLINE is set, and huggingface_hub then refuses its calls before any request is made: "
                "unset it for the run (a replay needs no network)"
            )
        return (
            "the test made no router or Hub call in its setup or body (did the app run, and through an intercepted "
            "client, or did an answer cache of the app's answer it: dspy.LM's cache, litellm's caching, langchain's "
            "set_llm_cache? A call a fixture makes in its teardown comes after this judgment and does not count; "
            "one to a server on loopback, such as a local TGI, is no router call, and no outage applies to it)"
            f"{offline}"
        )
    what = []
    if rule.provider:
        what.append(f"provider {rule.provider!r}")
    if rule.model:
        what.append(f"model {rule.model!r}")
    hints = []
    if rule.literal_provider:
        close = nearest(rule.literal_provider, sorted({c.provider for c in inference if c.provider}))
        if close and close.lower() != rule.literal_provider.lower():
            hints.append(f"did you mean provider={close!r}?")
    if rule.model and not any(ch in rule.model for ch in "*?["):
        models = sorted({c.model for c in calls if c.model})
        close = nearest(rule.model.split(":")[0], models)
        if close and close.lower() != rule.model.lower():
            hints.append(f"did you mean model={close!r}?")
    failed_lookups = sorted(
        {c.scenario or str(c.status) for c in calls if c.route == MAPPING and (c.status or 0) >= 400}
    )
    if failed_lookups and not inference:  # the client stops at a failed look-up: no call to any provider follows
        hints.append(
            f"the test's Hub look-ups failed ({', '.join(failed_lookups)}), and huggingface_hub makes no inference "
            "call after a failed look-up (hub-unavailable fails every provider's look-up of the model)"
        )
    elif not inference and any(c.route == OTHER for c in calls):  # a route or host no outage applies to
        others = sorted({f"{c.method} {c.url.split('?', 1)[0]}" for c in calls if c.route == OTHER})
        hints.append(
            f"the test's calls went where no outage applies ({', '.join(others[:3])}): a route of the router "
            "pytest-hfrouter does not read (/v1/responses, /v1/models, /v1/completions), or another host (a "
            "dedicated Inference Endpoint, a local server). Only a cassette answers those: record the failure into "
            "one, or write its interaction by hand (cassettes/FORMAT.md)"
        )
    elif not inference:  # look-ups but no call: an answer cache of the app's may have answered it
        hints.append(
            "an answer cache of the app's answers a prompt it has seen without a call (dspy.LM's cache, litellm's "
            "caching, langchain's set_llm_cache): turn it off in outage tests, or give each test its own prompt"
        )
    reason = f"no call went to {' with '.join(what) or 'a route it answers'}; the test called: {called(calls)}"
    return reason + (f" — {' '.join(hints)}" if hints else "")


def called(calls: Sequence[Call]) -> str:
    """The providers and models a test's inference calls went to, for a finding's message."""
    inference = [c for c in calls if c.route in (PROVIDER, AUTO, *FOLLOW_UPS)]
    return "; ".join(sorted({f"{c.provider or '-'} {c.model or '-'}" for c in inference}) or ["(no inference call)"])
