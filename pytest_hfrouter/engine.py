"""The one engine: a request in, an answer out.

In order: an outage rule's scenario, a cassette's recorded response, a healthy recorded
response, pass-through (loopback, when allowed) — or a miss that fails the test. Every face
(in-process interception, the router double) asks this engine; none knows about another.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import json
import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from . import threads
from ._names import HUB_HOSTS, LEGACY_INFERENCE_HOSTS, RECORD, REWRITE, ROUTER_HOSTS
from .bodies import content, header
from .cassettes import Recorded, match_key
from .fitting import (
    cut_point,
    fit_of,
    fitted_body,
    fitted_task_body,
    numbered_call,
    task_fit,
    with_defect,
    with_model,
)
from .hub import mapping_for, mapping_json, provider_ids, synthesised_model_info
from .library import MAPPING_PROVIDERS, Library
from .providers import CONVERSATIONAL, PROVIDERS, is_removed, serves
from .resets import MAPPING_CACHE
from .routes import (
    AUTO,
    HARNESS,
    HUB_LOOKUPS,
    INFERENCE_KINDS,
    MAPPING,
    MODEL_INFO,
    OTHER,
    PROVIDER,
    Route,
    classify,
    phone_home,
)
from .schema_instance import SchemaUnsupported
from .tasks import SUBMIT, Step, task_from_stack
from .traffic import PASSTHROUGH, Answer, Call, Exchange, Miss, Request, Rule, retry_after

if TYPE_CHECKING:  # live runs and non-chat tasks load these when they first need them
    from .live import Live, Observed
    from .task_library import FollowUp

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
#: the answer to the agent-harness registry that huggingface_hub (1.33, 2.x) fetches for its user-agent
#: (docs/ROUTER-FACTS.md §1.5, utils/_detect_agent.py): an error, as when the Hub is down, so the client falls back
#: to the registry it has (or none) and writes nothing into the user's HF_HOME (an audit: the empty registry the
#: plugin answered before replaced a real one there, for a day, outside the tests too)
_NO_HARNESS_REGISTRY = b'{"error": "pytest-hfrouter does not replay the agent-harness registry"}'
_JSON = (("Content-Type", "application/json; charset=utf-8"), ("X-Powered-By", "huggingface-moon"))


#: the bytes of sized task answers an engine keeps for the next request of the same size
FITTED_BYTES = 32 * 2**20


class Engine:
    def __init__(
        self,
        library: Library | Callable[[], Library],
        live: Live | None = None,
        *,
        every_test: bool = True,
        allow_hosts: tuple[str, ...] = (),
        doubles: set[str] | None = None,
    ) -> None:
        #: the scenario and healthy library, or a function that loads it when first needed
        self._library = library
        #: None in replay; the real router's address, token and mode otherwise
        self.live = live
        self.exchange: Exchange | None = None
        #: the node id of the test whose exchange that is (None outside a test, or not told)
        self.test: str | None = None
        #: traffic outside any test: at import or collection time, between tests, or from a
        #: thread the running test did not start (answered like a test with no markers)
        self.session = Exchange()
        #: the cassettes the run's tests used (latest first): a request made after its test ended (a
        #: library's logging thread) that nothing else answers at session level is answered from them
        self._late = Exchange()
        #: False (scope "marked"): outside the tests it acts in, the engine lets everything through
        self.every_test = every_test
        #: hosts let through in replay too (ini ``hfrouter_allow_hosts``, globs)
        self._allowed = _host_matcher(allow_hosts)
        #: ``host:port`` of router doubles this process serves: always let through
        self.doubles: set[str] = set() if doubles is None else doubles
        # The router double answers from its own threads; one request at a time keeps the
        # call log and the ``times`` counters exact (uncontended, it costs nothing).
        self._lock = threading.Lock()
        #: answers built once and shared (they are immutable), keyed by what they answer
        self._answers: dict[tuple[Any, ...], Answer] = {}
        #: task answers sized to their requests (`_task_fitted`): the oldest go past `FITTED_BYTES` (an
        #: audit: each batch size of an embeddings suite kept its ~100 MB answer for the whole run)
        self._fitted: dict[tuple[Any, ...], Answer] = {}
        self._fitted_bytes = 0
        self._bearer = f"Bearer {live.token}" if live is not None else None
        self._threads_before: tuple[str | None, int | None] = (None, None)
        #: how to report each forwarded stream of the running test that has not ended yet (`unfinished`)
        self._unfinished: list[Callable[[], None]] = []
        self._owns_threads = False
        #: whether the clients' caches of Hub answers may hold something a healthy look-up would
        #: not have answered (an outage rule's or a cassette's mapping): the next test clears them
        self.hub_answers_changed = True
        #: a test ran with the plugin acting in it (after a replay run, the router stays refused: `guard`)
        self.acted = False

    @property
    def library(self) -> Library:
        if not isinstance(self._library, Library):
            self._library = self._library()
        return self._library

    # -- the test's life ---------------------------------------------------------------
    def begin(self, exchange: Exchange, test: str | None = None) -> Exchange:
        """``test`` (a pytest node id) runs now: threads it starts work for it (`threads`)."""
        self.exchange, self.test = exchange, test
        self.acted = True
        if test is not None:
            self._threads_before = threads.begin(test)
            self._owns_threads = True
        return exchange

    def end(self) -> None:
        # Live streams the app left unread or unclosed report now, to this test: left to the app's
        # close (or the garbage collector's), their call would land in a later test or nowhere.
        if self._unfinished:  # replay forwards nothing: no lock taken
            with self._lock:
                unfinished, self._unfinished = self._unfinished, []
            for finish in unfinished:
                finish()
        if self.exchange is not None and not self.hub_answers_changed:
            changed = self.live is not None
            for call in self.exchange.calls:  # loops, not any() over a generator: after every test
                if call.route in HUB_LOOKUPS and call.answered_by != "healthy":
                    changed = True
                    break
            self.hub_answers_changed = changed
        if self.exchange is not None and self.exchange.cassettes:
            known = self._late.cassettes
            for cassette in reversed(self.exchange.cassettes):
                if cassette not in known:
                    known.insert(0, cassette)
            del known[_LATE_CASSETTES:]
        self.exchange = self.test = None
        if self._owns_threads:
            threads.end(self._threads_before)
            self._owns_threads = False

    def must_reset_client_caches(self, exchange: Exchange) -> bool:
        """Clear the clients' caches of Hub answers before this test? Only when that can change
        what it sees: the test before changed them, or this one has rules or cassettes that answer
        a Hub look-up. A suite whose tests agree on the mapping keeps the client's cache, as it
        would without the plugin."""
        # A chaos test counts its calls, Hub look-ups included: a cache warmed by the test before
        # would shift them, and the same seed would not give the same outages under -n 2 or --lf.
        if self.hub_answers_changed or self.live is not None or exchange.chaos is not None:
            return True
        for rule in exchange.rules:
            if not HUB_LOOKUPS.isdisjoint(rule.scenario.answers):
                return True
        for cassette in exchange.cassettes:
            for key in cassette.index:
                if key[1] in HUB_LOOKUPS:
                    return True
        return False

    def blocked(self, host: str, port: int | None, library: str, message: str) -> None:
        """The network guard refused a connection: the test that made it fails (or the session)."""
        with self._lock:
            exchange = self._current(threads.is_background())
            request = Request("CONNECT", f"{host}:{port}" if port is not None else host)
            exchange.misses.append(Miss(request, message, headline="blocked connection:"))

    def _current(self, background: bool = False) -> Exchange:
        if background or self.exchange is None:
            return self.session
        return self.exchange

    @property
    def records(self) -> bool:
        """A recording mode (``record``, ``rewrite``): live answers go into cassettes."""
        return self.live is not None and self.live.mode in (RECORD, REWRITE)

    def idle(self, background: bool = False) -> bool:
        """Scope "marked" and no test it acts in is running: requests go out as without the plugin.
        While one runs, a request from a thread that does not work for it is still looked at: a router
        or Hub call is answered at session level, any other goes out (`answer`)."""
        return not self.every_test and self.exchange is None

    # -- answering ---------------------------------------------------------------------
    def answer(self, request: Request, background: bool = False) -> Answer:
        """``background``: the request comes from a thread that does not work for the test
        running now; it is answered and logged at session level, never charged to the test."""
        with self._lock:
            exchange = self.exchange  # `_current` and `idle`, inlined: every request comes this way
            route = None
            if background or exchange is None:
                # scope "marked": nothing is answered outside the tests that asked; in one, a router or
                # Hub call from a thread no test started (a server started at import) is answered at
                # session level, as in scope "all", and never leaves the process
                if not self.every_test:
                    if exchange is None:
                        return PASSTHROUGH
                    route = classify(request.method, request.url, request.body)
                    if route.kind == OTHER:  # another host's or path's call: not the plugin's to read
                        return PASSTHROUGH
                if exchange is not None:  # said if the test's outages never happened: they may be why
                    exchange.beside = (*exchange.beside, threads.owner())  # type: ignore[misc]
                exchange = self.session
            if route is None:
                route = classify(request.method, request.url, request.body)
            # a fixture of wider scope set up for this test: the test's outages are not its (`threads`)
            if exchange is self.session or not threads.in_shared_setup():
                return self._answer(request, exchange, route)
            before = len(exchange.calls)
            answer = self._answer(request, exchange, route, outages=False)
            exchange.shared_setup += tuple(range(before, len(exchange.calls)))  # type: ignore[misc]
            return answer

    def _answer(self, request: Request, exchange: Exchange, route: Route, outages: bool = True) -> Answer:
        kind = route.kind
        follow_up = None
        if kind == OTHER:
            if self.doubles and urlsplit(request.url).netloc in self.doubles:
                return PASSTHROUGH
            if self._allowed is not None and not self.records and self._allowed(urlsplit(request.url).hostname or ""):
                # logged, as README says: the test sees that it went to the real network (a recording run
                # records it below instead, so that replay answers it offline)
                return _passed_on(exchange, request)
            if route_is_loopback(request.url):
                return (
                    PASSTHROUGH
                    if exchange.allow_loopback
                    else self._miss(
                        exchange,
                        request,
                        route,
                        "loopback traffic is blocked (ini hfrouter_allow_loopback = false)",
                        "let it through: ini hfrouter_allow_loopback = true (the default), or answer it from a "
                        'cassette: @pytest.mark.hfrouter_cassette("<file>.yaml")',
                    )
                )
            if self.live is None and not exchange.vcr:
                follow_up = self._follow_up(request.url)
        if exchange.vcr:
            return self._vcr_let_through(exchange, request, route)
        if kind == HARNESS:
            return Answer(503, "Service Unavailable", _JSON, _NO_HARNESS_REGISTRY, source="builtin")
        if exchange.cassettes:  # what the test asked for, against what its cassettes hold (`unplayed`)
            key = match_key(request.method, route, request.url)
            exchange.requested[key] = exchange.requested.get(key, 0) + 1
        # The step of a task's exchange: the inference call, or a poll or download after it.
        step: Step | None = SUBMIT if kind in INFERENCE_KINDS else None
        if follow_up is not None:
            step = follow_up.step
            submitted = exchange.submitted.get(follow_up.provider)
            logged = Route(PROVIDER, follow_up.provider, submitted, task=follow_up.task)
        else:
            logged = route
        looked_up_for = None
        if kind in HUB_LOOKUPS and self.live is None:
            looked_up_for = self._read_hub_task(exchange, route, request.url)
        # `_provider` and `_hf_model`, their common cases inlined: every request comes this way
        provider = (
            logged.provider
            if logged.kind != AUTO or logged.provider is not None
            else self._provider(exchange, logged, request)
        )
        hf_model = (
            exchange.provider_ids.get((provider, logged.model.lower()), logged.model)
            if logged.kind == PROVIDER and provider and logged.model
            else logged.model
        )
        answer: Answer | str | None
        if self.live is not None:  # hybrid: outage rules still inject; the rest goes to the router
            answer = (
                self._from_rules(exchange, request, route, provider, hf_model, step=step, asking=looked_up_for)
                or self._from_chaos(exchange, request, route, provider, hf_model, looked_up_for)
                if outages
                else None
            )
            if answer is None and self.live.mode == RECORD:
                answer = self._from_cassettes(exchange, request, route)
            if answer is None:
                # Every path of the router, the Hub and the legacy host goes where the run points
                # them, with the token; another host is the app's: recorded in the record modes,
                # else left alone, and never given the token.
                target = self.live.target(request.url)
                if target is not None and kind in HUB_LOOKUPS and route_is_loopback(target):
                    target = _task_for_double(target, route.model)
                if target is not None:
                    return Answer(passthrough=True, source="live", target_url=target, authorization=self._bearer)
                if not self.records:
                    return PASSTHROUGH
                return Answer(passthrough=True, source="live", target_url=request.url)
        else:
            answer = (
                (
                    self._from_rules(exchange, request, logged, provider, hf_model, step=step, asking=looked_up_for)
                    if exchange.rules and outages
                    else None
                )
                or (
                    self._from_chaos(exchange, request, route, provider, hf_model, looked_up_for)
                    if exchange.chaos is not None and outages
                    else None
                )
                or (self._from_cassettes(exchange, request, route) if exchange.cassettes else None)
                or self._healthy(exchange, request, logged, provider, hf_model, follow_up)
            )
        if (answer is None or isinstance(answer, str)) and exchange is self.session and self._late.cassettes:
            answer = self._from_cassettes(self._late, request, route) or answer  # a late request of a test's
        if isinstance(answer, str):  # no healthy answer for this task: the reason says which
            return self._miss(exchange, request, logged, answer, markable=not route.stream)
        if answer is None:
            parts = urlsplit(request.url)
            host = (parts.hostname or "").lower()
            router = host in ROUTER_HOSTS or host in LEGACY_INFERENCE_HOSTS
            if route.kind == OTHER and not router and follow_up is None:
                if exchange.mocks:  # the test's own mock library answers its other hosts (`mocks`)
                    return _passed_on(exchange, request)
                return self._miss(exchange, request, route, *_foreign_host(host, parts.path))
            if route.kind == OTHER and follow_up is None:  # on the router's host
                reason = (
                    "pytest-hfrouter does not read this route (it reads the chat completion routes, the provider "
                    "routes and the Hub's model look-ups: README, How the router is read), so no outage scenario "
                    "and no healthy answer applies to it; only a cassette can answer it (nothing leaves the process)"
                )
                return self._miss(exchange, request, route, reason, markable=False)
            reason = (
                "hfrouter_strict is on: router calls need an outage rule or a cassette"
                if exchange.strict
                else "no outage rule, cassette or healthy answer covers it (nothing leaves the process)"
            )
            return self._miss(exchange, request, route, reason)
        if answer.unanswered:
            return answer  # a miss, logged as one
        if route.kind == MAPPING and answer.status == 200:
            self._learn_provider_ids(exchange, content(answer.body, answer.headers))
        if step == SUBMIT and provider:
            exchange.submitted[provider] = hf_model
            if exchange.rules and _looks_up_per_provider(exchange.rules):
                # The client caches the mapping per model, so the next provider's call would read it from
                # this one's look-up: it looks up again, for itself, and meets the overlay made for it.
                MAPPING_CACHE.clear_cache()
        fault = answer.fault
        calls = exchange.calls  # `Exchange.log`, inlined
        calls.append(
            Call(
                provider,
                hf_model,
                step if follow_up is not None and step else route.kind,
                request.method,
                request.url,
                None if fault is not None and fault.kind.before_response else answer.status,
                fault.type if fault is not None else None,
                answer.source,
                route.stream,
                exchange.now(),
                retry_after=answer.retry_after,
                requested=route.requested,
                scenarios=answer.scenarios,
                truncates_stream=answer.truncates_stream and route.stream,  # of a streamed call only
                looked_up_for=looked_up_for,
                body=request.body,
                slept=exchange.virtual,
            )
        )
        # a faulted answer, and a stream a scenario breaks, know their call (`spared`, `unread` find it)
        return answer.for_call(len(calls) - 1) if fault is not None or (answer.scenarios and route.stream) else answer

    def unfinished(self, finish: Callable[[], None], background: bool = False) -> None:
        """A face forwarded a stream it reports when the app reads its end or closes it; ``finish``
        reports it as far as it was read, at the end of the test that made it (a thread's that does
        not work for the test reports whenever it ends, at session level)."""
        if not background and self.exchange is not None:
            with self._lock:
                self._unfinished.append(finish)

    def waited(self, seconds: float, background: bool = False) -> None:
        """A client slept between polls of a replayed job: the test's clock moves on, nothing waits."""
        with self._lock:
            self._current(background).virtual += max(0.0, seconds)

    def spared(self, answer: Answer, background: bool = False) -> None:
        """A fault did not strike (a slow answer within the client's timeout): the call succeeded."""
        with self._lock:
            calls = self._current(background).calls
            if 0 <= answer.call < len(calls):
                calls[answer.call] = dataclasses.replace(calls[answer.call], fault=None, spared=True)

    def unread(self, exchange: Exchange, answer: Answer) -> None:
        """The app closed a streamed answer of ``exchange`` (the test that asked) before its scenario's fault
        came: the call met no outage, and the rule that answered it met nothing by it (an audit: a title
        that reads two words passed every stream scenario, each "met" in the call log and the report)."""
        with self._lock:
            calls = exchange.calls
            if not 0 <= answer.call < len(calls) or calls[answer.call].unread:
                return
            call = calls[answer.call] = dataclasses.replace(calls[answer.call], fault=None, unread=True)
            for rule in (*exchange.rules, *exchange.ended_rules):
                if rule.hits and rule.scenario.name in call.scenarios and rule.matches_provider(call.provider):
                    rule.hits -= 1
                    break

    def observe(self, request: Request, observed: Observed, background: bool = False) -> None:
        """A face reports what the real router answered a forwarded request."""
        with self._lock:
            exchange = self._current(background)
            route = classify(request.method, request.url, request.body)
            # On the auto route the router says which provider it picked.
            picked = observed.header("x-inference-provider")
            provider = (route.provider or picked) if route.kind == AUTO else route.provider
            hf_model = self._hf_model(exchange, route, provider)
            if route.kind == MAPPING and observed.status == 200:
                self._learn_provider_ids(exchange, observed.content)
            exchange.log(
                Call(
                    provider,
                    hf_model,
                    route.kind,
                    request.method,
                    request.url,
                    observed.status,
                    "error" if observed.error else None,
                    "live",
                    route.stream,
                    exchange.now(),
                    retry_after=retry_after(observed.headers),
                    body=request.body,
                    slept=exchange.virtual,
                )
            )
            from .live import Drift, LiveCall, shape_differences

            exchange.live.append(LiveCall.of(request.method, request.url, route, provider, hf_model, observed))
            from .live import is_failure

            if route.kind != OTHER and is_failure(observed):
                exchange.failures.append((request, route, provider, hf_model, observed))
            if self.records:
                exchange.recorded.append((request, observed))
            if route.kind != OTHER and observed.error is None:
                succeeded = observed.status is not None and observed.status < 400
                recorded, where = self._recorded_counterpart(exchange, request, route, provider, succeeded)
                if recorded is not None:
                    differences = shape_differences(recorded, observed)
                    if differences:
                        exchange.drift.append(Drift(where, f"{request.method} {request.url}", differences))

    def _recorded_counterpart(
        self, exchange: Exchange, request: Request, route: Route, provider: str | None, succeeded: bool = True
    ) -> tuple[Recorded | None, str]:
        key = match_key(request.method, route, request.url)
        for cassette in exchange.cassettes:
            positions = cassette.index.get(key)
            if positions:
                return cassette.interactions[positions[0]].response, str(cassette.path)
        # The healthy library is the reference for answers that succeeded only: an error answer
        # there is an outage (a failing pair in the report), not a drift of the healthy shape.
        if route.is_inference and succeeded:
            task = route.task or task_from_stack(route.model)[0]
            if task == CONVERSATIONAL:
                name, recorded = self.library.healthy.answer(provider, route.stream)
                return recorded, f"healthy library ({self.library.healthy.sources[name].name})"
            exchange_of_task = self.library.tasks.exchanges.get((provider or "", task or ""))
            if exchange_of_task is not None:  # another task: its own recording, never chat's
                return exchange_of_task.answer, f"healthy library ({exchange_of_task.path.name})"
        return None, ""

    def would_hang(self, request: Request, reason: str, background: bool = False) -> None:
        """A face found that the real client would wait forever: the test fails saying so."""
        self._current(background).misses.append(Miss(request, reason, headline="would hang forever:"))

    def _provider(self, exchange: Exchange, route: Route, request: Request) -> str | None:
        if route.kind == AUTO and route.provider is None:
            # A cassette that answers the call recorded the router's pick (its x-inference-provider)
            recorded = self._from_cassettes(exchange, request, route, record=False) if exchange.cassettes else None
            picked = header(recorded.headers, "x-inference-provider") if recorded is not None else None
            if picked and picked.lower() in PROVIDERS:
                return picked.lower()
            # The router's own pick (documented in the README): the first provider of the mapping
            # that no `provider-unavailable`-like rule flags — the router's automatic failover.
            for provider in MAPPING_PROVIDERS:
                flagging = [r for r in exchange.rules if r.flags_unavailable(provider, route)]
                if not flagging:
                    return provider
                for rule in flagging:
                    rule.used += 1
                    rule.hits += 1
            return MAPPING_PROVIDERS[0]
        return route.provider

    def _follow_up(self, url: str) -> FollowUp | None:
        follow_ups = self.library.tasks.follow_ups
        return follow_ups.get(url) if follow_ups else None

    def _read_hub_task(self, exchange: Exchange, route: Route, url: str) -> str | None:
        """The task of the client call behind a Hub look-up (see tasks.py), kept for this test; the
        provider that call names, if the router routes it."""
        model = (route.model or "").lower()
        task, asked = task_from_stack(route.model)
        named = dict(parse_qsl(urlsplit(url).query)).get(DOUBLE_TASK, "") if task is None and DOUBLE_TASK in url else ""
        if task is None and re.fullmatch(r"[a-z][a-z-]*", named):  # by a live run's client (`_task_for_double`)
            task = named
        if task is None:  # read outside a client call: what this test's calls were told stands
            exchange.tasks.setdefault(model, None)
            return None
        exchange.tasks[model] = task
        if task != CONVERSATIONAL:
            # A mapping for another task than chat: the client caches it per model, not per task,
            # so the next test starts with the clients' caches cleared.
            self.hub_answers_changed = True
        if asked and asked in PROVIDERS:
            exchange.asked[model] = asked
            return asked
        return None

    def _task(self, exchange: Exchange, route: Route, hf_model: str | None) -> str | None:
        """The task an inference call performs: its route's, else the client's call's, else its mapping's."""
        if route.task is not None:
            return route.task
        task, _ = task_from_stack(hf_model)
        return task or exchange.tasks.get((hf_model or "").lower())

    def _hf_model(self, exchange: Exchange, route: Route, provider: str | None) -> str | None:
        if route.kind == PROVIDER and provider and route.model:
            return exchange.provider_ids.get((provider, route.model.lower()), route.model)
        return route.model

    def _from_chaos(
        self,
        exchange: Exchange,
        request: Request,
        route: Route,
        provider: str | None,
        hf_model: str | None,
        asking: str | None = None,
    ) -> Answer | None:
        """A chaos run's seeded outage for this call, played like a marker's ``times=1`` rule."""
        chaos = exchange.chaos
        # An hfrouter.outage() block makes the test one about a chosen outage: chaos stops there.
        if chaos is None or exchange.rules or exchange.outage_windows:
            return None
        from .chaos import CHAOS_KINDS  # a chaos run has it loaded already

        if route.kind not in CHAOS_KINDS:
            return None
        # A look-up is hit for the provider whose call made it, when huggingface_hub's call says so
        target = asking if route.kind == MAPPING else provider
        scenario = chaos.pick(route, provider)
        chaos.record(scenario, route, target, hf_model, len(exchange.calls))
        if scenario is None:
            return None
        rule = Rule(scenario, provider=target, times=1)
        return self._from_rules(exchange, request, route, provider, hf_model, [rule], asking=asking)

    def _from_rules(
        self,
        exchange: Exchange,
        request: Request,
        route: Route,
        provider: str | None,
        hf_model: str | None,
        rules: list[Rule] | None = None,
        step: Step | None = None,
        asking: str | None = None,
    ) -> Answer | None:
        rules = exchange.rules if rules is None else rules
        if route.kind == MAPPING:
            return self._mapping_from_rules(exchange, request, route, hf_model, rules, asking)
        for rule in rules:
            # `Rule.exhausted` and `Rule.matches_step`, inlined: every request asks every rule
            times, rule_step = rule.times, rule.step
            if (times is not None and rule.used >= times) or (rule_step is not None and rule_step != step):
                continue
            if not rule.scenario.answers_route(route):
                continue
            if route.stream and not self._stream_fits(exchange, rule, route, hf_model):
                continue
            if rule.matches_provider(provider) and rule.matches_model(route, hf_model):
                fitted = self._on_fitted(rule, route, request)
                if rule.scenario.uses_healthy_body or fitted or self._slow_off_chat(exchange, rule, route, hf_model):
                    healthy = self._healthy(exchange, request, route, provider, hf_model, self._follow_up(request.url))
                    if not isinstance(healthy, Answer):
                        continue  # nothing to cut: the call gets its miss
                    rule.used += 1
                    rule.hits += 1
                    if fitted and rule.fault is None:  # a broken stream: its defect, on the fitted stream
                        broken = self._scenario_answer(rule, route, hf_model, provider, route.model)
                        return dataclasses.replace(broken, body=with_defect(healthy.body, broken.body))
                    fault = rule.fault
                    if fitted and fault is not None and fault.kind.play == "cut":  # the cut comes mid-answer
                        fault = fault._replace(after_chunks=min(fault.after_chunks, cut_point(healthy.body)))
                    return dataclasses.replace(
                        healthy,
                        source=f"scenario:{rule.scenario.name}",
                        fault=fault,
                        scenarios=(rule.scenario.name,),
                        truncates_stream=rule.scenario.truncates_stream,
                    )
                rule.used += 1
                rule.hits += 1
                return self._scenario_answer(rule, route, hf_model, provider, route.model)
        return None

    @staticmethod
    def _on_fitted(rule: Rule, route: Route, request: Request) -> bool:
        """A success the scenario breaks (slow, cut, a stream without its end, half JSON, an error
        event), on a chat call that asks for a tool call or JSON: played on the call's fitted healthy
        answer, not on the scenario's recorded prose (an app's tool path would never run)."""
        body = request.body
        if route.task != CONVERSATIONAL or not body or (b'"tools"' not in body and b'"response_format"' not in body):
            return False
        fault = rule.scenario.fault
        if fault is not None and fault.kind.before_response:
            return False
        if fault is None:
            response = rule.scenario.response(route.kind, True)
            if not route.stream or response.status != 200 or not response.is_stream:
                # an error status, or an error in a 200 body (error-in-200: a streamed call reads no event from
                # it, an audit: it was played after half the fitted tool call): no answer the app could use
                return False
        try:
            return fit_of(body) is not None
        except SchemaUnsupported:
            return True  # the healthy answer says why it cannot be built

    def _slow_off_chat(self, exchange: Exchange, rule: Rule, route: Route, hf_model: str | None) -> bool:
        """A slow answer (slow-first-token) is a success whose recorded body is a chat completion: on
        a call of another task (an image, audio, embeddings) it is played on the call's own healthy
        answer instead, so the app gets its task's output, late, and not a chat body."""
        fault = rule.scenario.fault
        if fault is None or not fault.kind.slow or route.task == CONVERSATIONAL:
            return False
        return self._task(exchange, route, hf_model) != CONVERSATIONAL

    def _stream_fits(self, exchange: Exchange, rule: Rule, route: Route, hf_model: str | None) -> bool:
        """A streamed call of a task other than chat (text-generation's tokens) cannot be answered
        with a scenario's chat-completion events: the app would fail on the events' shape, not on
        the outage. An error status before any event fits every stream."""
        streamed = rule.scenario.response(route.kind, True)
        if not streamed.is_stream or route.task == CONVERSATIONAL:
            return True
        return self._task(exchange, route, hf_model) == CONVERSATIONAL

    def _mapping_from_rules(
        self,
        exchange: Exchange,
        request: Request,
        route: Route,
        model: str | None,
        candidates: list[Rule],
        asking: str | None,
    ) -> Answer | None:
        """A mapping look-up names a model, not a provider: a failing one (the Hub down) fails it for every
        provider. An overlay changes the entries of the providers its rule names; ``asking`` is the provider
        whose call made the look-up (huggingface_hub's call on the stack), None when that is not known
        (another client, the auto pick). The overlay is in every look-up's mapping, so the mapping is one, but
        it counts (toward ``times``, as happened, as the scenario the call met) only where it was asked for."""
        rules = [
            r
            for r in candidates
            if not r.exhausted and r.scenario.answers_route(route) and r.matches_model(route, model)
        ]
        if not rules:
            return None
        closest = rules[0]
        if closest.scenario.response(MAPPING).status != 200:  # the Hub down for every provider's look-up
            if _asked_by(closest, asking):  # but it happened only where it met the provider it names
                closest.hits += 1
            if closest.scenario.mapping_only:
                closest.used += 1
            return self._scenario_answer(closest, route, model, closest.provider, model)
        overlays = [r for r in rules if r.scenario.response(MAPPING).status == 200]
        base = self._from_cassettes(exchange, request, route, record=False)
        mapping = mapping_json(content(base.body, base.headers)) if base else None
        if mapping is None:
            mapping = self._synthesised_mapping(exchange, model or "")
        entries: dict[str, Any] = mapping.setdefault("inferenceProviderMapping", {})
        for rule in reversed(overlays):  # farthest first, so the closest rule has the last word
            overlay = mapping_json(rule.scenario.response(MAPPING).body) or {}
            template = (overlay.get("inferenceProviderMapping") or {}).get("${provider}", {})
            literal = rule.literal_provider
            targets = [literal] if literal else [p for p in entries if rule.matches_provider(p)]
            changed = template is None  # an entry made to be the one it replaces changes nothing for the app
            for target in targets:
                before = entries.pop(target, None)
                if template is None:
                    exchange.removed.add((target, (model or "").lower()))
                else:
                    task = exchange.tasks.get((model or "").lower()) or CONVERSATIONAL
                    values = {"model": model or "", "provider": target, "provider_id": model or "", "task": task}
                    entry = json.loads(_fill(json.dumps(template), values))
                    changed = changed or entry != before
                    entries = {target: entry, **entries}
            mapping["inferenceProviderMapping"] = entries
            # The overlay is the outage only for a scenario of the mapping alone; one that answers the provider
            # too (staging-auth's 401) happens when that answer is served, and a flag reaches the app only where
            # the router picks (`_provider`).
            if rule.scenario.mapping_only and _asked_by(rule, asking):
                rule.used += 1
                if changed and not rule.scenario.flags_unavailable:
                    rule.hits += 1
        applied = "+".join(r.scenario.name for r in overlays)
        met = tuple(r.scenario.name for r in overlays if _asked_by(r, asking))
        return Answer(200, "OK", _JSON, json.dumps(mapping).encode(), source=f"scenario:{applied}", scenarios=met)

    def _scenario_answer(
        self, rule: Rule, route: Route, model: str | None, provider: str | None, provider_id: str | None
    ) -> Answer:
        scenario = rule.scenario
        key = (scenario.name, route.kind, route.stream, model, provider, provider_id, rule.fault, rule.overrides)
        cached = self._answers.get(key)
        if cached is None:  # answers are immutable: one per distinct request meaning
            recorded = scenario.response(route.kind, route.stream)
            values = {"model": model or "", "provider": provider or "", "provider_id": provider_id or model or ""}
            status, reason, headers, body = recorded.status, recorded.reason, recorded.headers, recorded.body
            if rule.overrides is not None:
                status, reason, headers, body = rule.overrides.apply(status, reason, headers, body)
            cached = self._answers[key] = Answer(
                status,
                reason,
                tuple((k, _fill(v, values)) for k, v in headers),
                _fill(body.decode("utf-8", "replace"), values).encode("utf-8") if b"${" in body else body,
                source=f"scenario:{scenario.name}",
                fault=rule.fault,
                scenarios=(scenario.name,),
                truncates_stream=scenario.truncates_stream,
            )
        return cached

    def _from_cassettes(self, exchange: Exchange, request: Request, route: Route, record: bool = True) -> Answer | None:
        if not exchange.cassettes:
            return None
        key = match_key(request.method, route, request.url)
        for number, cassette in enumerate(exchange.cassettes):
            positions = cassette.index.get(key)
            if not positions:
                continue
            count = exchange.played.get((number, key), 0)
            if record:
                exchange.played[(number, key)] = count + 1
            # Each recorded interaction plays once, in order; then the last one repeats.
            recorded = cassette.interactions[positions[min(count, len(positions) - 1)]].response
            return _from_recorded(recorded, f"cassette:{cassette.path.name}")
        return None

    def _healthy(
        self,
        exchange: Exchange,
        request: Request,
        route: Route,
        provider: str | None,
        model: str | None,
        follow_up: FollowUp | None = None,
    ) -> Answer | str | None:
        """The healthy answer; a reason (str) when the call's task has none; None when nothing applies."""
        # Strict withholds healthy router answers only: the Hub look-ups a client makes before
        # it calls the router (mapping, task check) stay synthesised, or no outage rule on a
        # named provider could ever be reached in strict mode.
        if follow_up is not None:
            if exchange.strict:
                return None
            played = exchange.followed.get(request.url, 0)
            exchange.followed[request.url] = played + 1
            recorded = follow_up.answers[min(played, len(follow_up.answers) - 1)]
            return _from_recorded(recorded, "healthy")
        if route.kind == OTHER or (exchange.strict and route.is_inference):
            return None
        if route.kind == MAPPING:
            lower = (model or "").lower()
            # one answer per model, task and asked provider (the library's coverage never changes)
            cache_key = ("mapping", model, exchange.tasks.get(lower), exchange.asked.get(lower))
            return self._answers.get(cache_key) or self._answers_json(
                cache_key, self._synthesised_mapping(exchange, model or "")
            )
        if route.kind == MODEL_INFO:
            task = exchange.tasks.get((model or "").lower())
            return self._answers_json(("model-info", model, task), synthesised_model_info(model or "", task))
        if route.kind not in INFERENCE_KINDS:
            return None
        if provider is not None and provider not in PROVIDERS and provider.lower() not in PROVIDERS:
            return _unknown_provider(provider)
        task = route.task if route.task is not None else self._task(exchange, route, model)
        if task == CONVERSATIONAL and provider is not None and not serves(provider.lower(), CONVERSATIONAL):
            return _no_chat(provider.lower())
        if task != CONVERSATIONAL:
            if route.stream and task is not None:
                return (
                    f'no healthy answer: this {task} call asks for a stream ("stream": true), and pytest-hfrouter '
                    f"holds no recorded {task} stream: the shipped answers of tasks other than chat are single JSON "
                    "bodies (which would end the app's stream empty), and its stream scenarios play chat-completion "
                    "events"
                )
            answer = self._task_answer(provider, task)
            if not isinstance(answer, Answer) or task is None:
                return answer
            fit = task_fit(task, request.body)
            return answer if fit is None else self._task_fitted(answer, provider, task, fit)
        key: tuple[Any, ...] = ()
        try:
            fit = fit_of(request.body)
            key = ("healthy", route.kind, provider, route.stream, route.model, fit)
            cached = self._answers.get(key)
            if cached is None:  # built once per route kind, provider, stream, model and fit
                _, recorded = self.library.healthy.answer(provider, route.stream)
                body = fitted_body(recorded.body, route.stream, fit) if fit is not None else recorded.body
                # the router names its pick on the auto route (docs/ROUTER-FACTS.md §4.1); none of the real
                # provider-route recordings carries the header (an audit: it was added to every answer)
                extra = (("x-inference-provider", provider),) if provider and route.kind == AUTO else ()
                cached = self._answers[key] = Answer(
                    recorded.status,
                    recorded.reason,
                    recorded.headers + extra,
                    with_model(body, route.model),
                    source="healthy",
                )
        except (SchemaUnsupported, ValueError, LookupError, TypeError) as exc:
            reason = f"cannot build a healthy answer that fits this request: {exc}"
            hint = (
                getattr(exc, "hint", None) or 'answer it from a cassette: @pytest.mark.hfrouter_cassette("<file>.yaml")'
            )
            return self._miss(exchange, request, route, reason, hint)
        if fit is not None and fit.tool is not None:  # a new tool call id for each call, as providers mint them
            return dataclasses.replace(cached, body=numbered_call(cached.body, len(exchange.calls)))
        return cached

    def _task_answer(self, provider: str | None, task: str | None) -> Answer | str:
        """The recorded healthy answer of ``task`` on ``provider``, or why there is none."""
        key = ("task", provider, task)
        cached = self._answers.get(key)
        if cached is not None:
            return cached
        if task is None:
            return (
                f"no healthy answer: pytest-hfrouter cannot tell which task this call to {provider} performs "
                "(its route does not name one, and no huggingface_hub call is on the stack: the client runs "
                "in another process, or is not huggingface_hub)"
            )
        exchange = self.library.tasks.exchanges.get((provider or "", task))
        if exchange is None:
            covered = sorted(p for p, t in self.library.tasks.exchanges if t == task)
            elsewhere = f" (recorded for: {', '.join(covered)})" if covered else ""
            removed = f"; {provider} is no longer routed by the router" if is_removed(provider) else ""
            return (
                f"no healthy answer for task {task!r} on provider {provider!r} in the shipped library"
                f"{elsewhere}{removed} — a chat answer is never served to a {task} call"
            )
        recorded = exchange.answer  # a task's call is a provider route's: no x-inference-provider (see `_healthy`)
        cached = self._answers[key] = Answer(
            recorded.status, recorded.reason, recorded.headers, recorded.body, source="healthy"
        )
        return cached

    def _task_fitted(self, answer: Answer, provider: str | None, task: str, fit: tuple[Any, ...]) -> Answer | str:
        """A task's healthy answer in the size the request asked for (`fitting.task_fit`), built once per fit."""
        key = (provider, task, fit)
        fitted = self._fitted
        cached = fitted.get(key)
        if cached is None:
            try:
                body = fitted_task_body(answer.body, fit)
            except ValueError as exc:
                return f"cannot size the recorded {task} answer to this request: {exc}"
            cached = dataclasses.replace(answer, body=body)
            if len(body) <= FITTED_BYTES:
                fitted[key] = cached
                self._fitted_bytes += len(body)
                while self._fitted_bytes > FITTED_BYTES:
                    self._fitted_bytes -= len(fitted.pop(next(iter(fitted))).body)
        return cached

    def _answers_json(self, key: tuple[Any, ...], data: dict[str, Any]) -> Answer:
        cached = self._answers.get(key)
        if cached is None:
            cached = self._answers[key] = Answer(200, "OK", _JSON, json.dumps(data).encode(), source="healthy")
        return cached

    def _synthesised_mapping(self, exchange: Exchange, model: str) -> dict[str, Any]:
        key = model.lower()
        task = exchange.tasks.get(key)
        # the task library is read only for a task other than chat
        covered = self.library.tasks.exchanges.keys() if task not in (None, CONVERSATIONAL) else ()
        return mapping_for(model, task, exchange.asked.get(key), covered)

    def _learn_provider_ids(self, exchange: Exchange, body: bytes) -> None:
        exchange.provider_ids.update(provider_ids(body))

    def _vcr_let_through(self, exchange: Exchange, request: Request, route: Route) -> Answer:
        """A request vcrpy did not answer in a ``@pytest.mark.vcr`` test (it records, or passes it on).

        An answer from here would be written into the vcrpy cassette as if the router had sent it, so
        there is none: live modes send it on untouched, replay sends nothing out and fails the test.
        """
        if self.live is not None:
            return PASSTHROUGH
        reason = (
            "this test is marked @pytest.mark.vcr and vcrpy did not answer the request (a recording mode, or a "
            "client library the installed vcrpy does not patch): "
            "pytest-hfrouter answers nothing here, or its answer would be written into the vcrpy cassette, and "
            "in replay nothing leaves the process. To record with vcrpy, run with -p no:hfrouter; to record "
            "with pytest-hfrouter, use --hfrouter-mode=record and @pytest.mark.hfrouter_cassette"
        )
        return self._miss(exchange, request, route, reason, headline="not sent:")

    def _miss(
        self,
        exchange: Exchange,
        request: Request,
        route: Route,
        reason: str,
        hint: str | None = None,
        headline: str = "no answer for",
        markable: bool = True,
    ) -> Answer:
        searched = tuple(str(c.path) for c in exchange.cassettes)
        recorded = [f"{i.method} {i.uri}" for c in exchange.cassettes for i in c.interactions]
        closest = tuple(difflib.get_close_matches(f"{request.method} {request.url}", recorded, n=3, cutoff=0.3))
        miss = Miss(request, reason, searched, closest, headline=headline, hint=hint, markable=markable)
        exchange.misses.append(miss)
        exchange.log(
            Call(
                route.provider,
                route.model,
                route.kind,
                request.method,
                request.url,
                None,
                "unanswered",
                "nothing",
                route.stream,
                exchange.now(),
            )
        )
        return Answer(source="miss", unanswered=reason)


def _unknown_provider(provider: str) -> str:
    """Why a call to a provider the router does not route gets no healthy answer (a typo in a URL or in a
    ``model:provider`` suffix would otherwise be answered 200 here, and fail in production)."""
    from .errors import did_you_mean

    return (
        f"the router routes no provider {provider!r}.{did_you_mean(provider.lower(), PROVIDERS)} Its answer to "
        "a provider it does not route is an error that was never recorded, so pytest-hfrouter serves no healthy "
        "answer for it (the providers it knows: huggingface_hub's table, pytest_hfrouter/providers.py). A "
        "provider the router added since: answer the call from a cassette"
    )


def _no_chat(provider: str) -> str:
    """Why a chat call to a provider that serves no chat gets no healthy answer (an audit: ``model:fal-ai``
    and ``/replicate/v1/chat/completions`` were answered with novita's chat, and fail in production)."""
    tasks = ", ".join(PROVIDERS[provider].tasks)
    return (
        f"{provider} serves no chat on the router (its tasks: {tasks}; huggingface_hub's table, "
        "pytest_hfrouter/providers.py), so the router's answer to a chat call there is an error that was never "
        "recorded, and pytest-hfrouter serves no healthy answer for it. Call a provider that serves chat"
    )


#: how many of the run's cassettes answer late requests (`Engine._late`)
_LATE_CASSETTES = 32


def _asked_by(rule: Rule, asking: str | None) -> bool:
    """Whether a look-up made for ``asking``'s call (None: not known) is one ``rule`` is for."""
    return asking is None or rule.provider is None or rule.matches_provider(asking)


def _looks_up_per_provider(rules: list[Rule]) -> bool:
    """A rule that reshapes the Hub's mapping for one provider (an overlay: `_mapping_from_rules`). One that
    ran out (``times=``) too: the client still holds the mapping it made, and the provider must recover
    at the next look-up (an audit: after ``times=1`` it never did, for the rest of the test)."""
    return any(rule.provider is not None and rule.scenario.overlay for rule in rules)


def _passed_on(exchange: Exchange, request: Request) -> Answer:
    """A request to another host handed on untouched (an allowed host, a test's own mock library), logged:
    its status is not read, the answer goes to the app as it comes."""
    exchange.calls.append(
        Call(None, None, OTHER, request.method, request.url, None, None, "passthrough", False, exchange.now())
    )
    return PASSTHROUGH


def _from_recorded(recorded: Recorded, source: str) -> Answer:
    return Answer(recorded.status, recorded.reason, recorded.headers, recorded.body, source=source)


def _fill(text: str, values: dict[str, str]) -> str:
    if "${" not in text:
        return text
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


def _host_matcher(globs: tuple[str, ...]) -> Callable[[str], bool] | None:
    """One compiled test for all the allowed-host globs (None when there are none)."""
    if not globs:
        return None
    pattern = re.compile("|".join(fnmatch.translate(g.lower()) for g in globs))
    return lambda host: pattern.match(host.lower()) is not None


def _foreign_host(host: str, path: str) -> tuple[str, str]:
    """The miss reason and the fix for a request to a host that is not the router."""
    parent = host.split(".", 1)[1] if host.count(".") >= 2 else host
    what = "a Hub request pytest-hfrouter does not synthesise" if host in HUB_HOSTS else "not the router"
    fix = (
        'answer it from a cassette (offline, the same every run): @pytest.mark.hfrouter_cassette("<file>.yaml"), '
        f"or let it go to the real network: ini hfrouter_allow_hosts = {host} (globs, e.g. *.{parent})"
    )
    switch = phone_home(host, path)
    return f"{host} is {what}; in replay nothing leaves the process unless you let it", (
        f"{switch}; else {fix}" if switch else fix
    )


#: the query parameter that tells the router double the task of a Hub look-up's client call
DOUBLE_TASK = "hfrouter_task"


def _task_for_double(target: str, model: str | None) -> str:
    """A Hub look-up a live run sends to the router double on loopback, with its client call's task: the
    double runs in another process and cannot read the call (an audit: recording text_to_image against
    ``hfrouter serve`` got a chat model's mapping, the client refused it, and the cassette kept it)."""
    task, _ = task_from_stack(model)
    if task is None or task == CONVERSATIONAL:
        return target
    return f"{target}{'&' if '?' in target else '?'}{DOUBLE_TASK}={task}"


def route_is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")
