"""Pure logic: route classification, the cassette reader, the library, the engine's decisions."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_hfrouter import CassetteError, ScenarioError
from pytest_hfrouter.cassette_paths import default_cassette_name
from pytest_hfrouter.cassettes import Cassette, load_cassette, match_key, parse_cassette
from pytest_hfrouter.engine import Engine
from pytest_hfrouter.library import Library, library_dir, load_library, shipped_library
from pytest_hfrouter.routes import AUTO, HARNESS, MAPPING, MODEL_INFO, OTHER, PROVIDER, classify, split_suffix
from pytest_hfrouter.traffic import Answer, Exchange, Request, Rule

MODEL = "Qwen/Qwen2.5-72B-Instruct"
ROUTER = "https://router.huggingface.co"
HUB = "https://huggingface.co"


def body(model: str = MODEL, stream: bool = False, **fields: Any) -> bytes:
    data = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream, **fields}
    return json.dumps(data).encode()


# -- routes ------------------------------------------------------------------------------
# docs/ROUTER-FACTS.md §1.2: the routed URL of every provider in huggingface_hub 2.4.0 (+ the removed ones).
PROVIDER_ROUTES = {
    "novita": "/novita/v3/openai/chat/completions",
    "together": "/together/v1/chat/completions",
    "fireworks-ai": "/fireworks-ai/inference/v1/chat/completions",
    "groq": "/groq/openai/v1/chat/completions",
    "cerebras": "/cerebras/v1/chat/completions",
    "featherless-ai": "/featherless-ai/v1/chat/completions",
    "nscale": "/nscale/v1/chat/completions",
    "cohere": "/cohere/compatibility/v1/chat/completions",
    "deepinfra": "/deepinfra/v1/openai/chat/completions",
    "zai-org": "/zai-org/api/paas/v4/chat/completions",
    "baseten": "/baseten/v1/chat/completions",
    "ovhcloud": "/ovhcloud/v1/chat/completions",
    "publicai": "/publicai/v1/chat/completions",
    "scaleway": "/scaleway/v1/chat/completions",
    "hyperbolic": "/hyperbolic/v1/chat/completions",
    "nebius": "/nebius/v1/chat/completions",
    "sambanova": "/sambanova/v1/chat/completions",
    "clarifai": "/clarifai/v2/ext/openai/v1/chat/completions",
}


@pytest.mark.parametrize(("provider", "path"), PROVIDER_ROUTES.items(), ids=list(PROVIDER_ROUTES))
def test_classify_provider_routes(provider: str, path: str) -> None:
    route = classify("POST", ROUTER + path, body("provider/own-id"))

    assert (route.kind, route.provider, route.model, route.stream) == (PROVIDER, provider, "provider/own-id", False)
    assert route.is_inference


def test_classify_hf_inference_takes_the_model_from_the_path() -> None:
    route = classify("POST", f"{ROUTER}/hf-inference/models/{MODEL}/v1/chat/completions", body("ignored"))

    assert (route.kind, route.provider, route.model) == (PROVIDER, "hf-inference", MODEL)


@pytest.mark.parametrize(
    ("url", "provider", "model"),
    [
        (f"{ROUTER}/novita/chat/completions", "novita", "from/body"),
        (f"{ROUTER}/hf-inference/models/google/gemma-2b", "hf-inference", "google/gemma-2b"),
        (f"{ROUTER}/hf-inference/models/{MODEL}/v1/chat/completions", "hf-inference", MODEL),
        (f"{ROUTER}/hf-inference/models/BAAI/bge-small/pipeline/feature-extraction", "hf-inference", "BAAI/bge-small"),
        (f"https://api-inference.huggingface.co/models/{MODEL}/v1/chat/completions", "hf-inference", MODEL),
        ("https://api-inference.huggingface.co/models/gpt2", "hf-inference", "gpt2"),
        (f"{HUB}/api/inference-proxy/together/v1/chat/completions", "together", "from/body"),
        (f"{HUB}/api/inference-proxy/hf-inference/models/{MODEL}", "hf-inference", MODEL),
    ],
    ids=[
        "novita-old",
        "hf-inference-models",
        "hf-inference-v1",
        "hf-inference-pipeline",
        "api-inference-v1",
        "api-inference",
        "inference-proxy",
        "inference-proxy-hf-inference",
    ],
)
def test_classify_old_route_shapes(url: str, provider: str, model: str) -> None:
    route = classify("POST", url, body("from/body"))

    assert (route.kind, route.provider, route.model) == (PROVIDER, provider, model)


@pytest.mark.parametrize(
    ("requested", "provider", "model"),
    [
        (MODEL, None, MODEL),
        (f"{MODEL}:fastest", None, MODEL),
        (f"{MODEL}:cheapest", None, MODEL),
        (f"{MODEL}:preferred", None, MODEL),
        (f"{MODEL}:novita", "novita", MODEL),
        ("openai/gpt-oss-120b:groq", "groq", "openai/gpt-oss-120b"),
    ],
)
def test_classify_auto_route_and_suffixes(requested: str, provider: str | None, model: str) -> None:
    route = classify("POST", f"{ROUTER}/v1/chat/completions", body(requested, stream=True))

    assert (route.kind, route.provider, route.model, route.requested) == (AUTO, provider, model, requested)
    assert route.stream is True


def test_split_suffix() -> None:
    assert split_suffix(MODEL) == (MODEL, None)
    assert split_suffix(f"{MODEL}:cheapest") == (MODEL, None)
    assert split_suffix(f"{MODEL}:together") == (MODEL, "together")
    assert split_suffix(":novita") == (":novita", None)


@pytest.mark.parametrize(
    ("method", "url", "kind", "model"),
    [
        ("GET", f"{HUB}/api/models/{MODEL}?expand=inferenceProviderMapping", MAPPING, MODEL),
        ("GET", f"{HUB}/api/models/{MODEL}?expand%5B%5D=inferenceProviderMapping", MAPPING, MODEL),
        ("GET", f"{HUB}/api/models/{MODEL}?expand=pipeline_tag&expand=inferenceProviderMapping", MAPPING, MODEL),
        ("GET", f"{HUB}/api/models/{MODEL}", MODEL_INFO, MODEL),
        ("GET", f"{HUB}/api/models/{MODEL}?expand=pipeline_tag", MODEL_INFO, MODEL),
        ("GET", f"{HUB}/api/agent-harnesses", HARNESS, None),
        ("POST", f"{HUB}/api/models/{MODEL}", OTHER, None),
        ("GET", f"{HUB}/{MODEL}", OTHER, None),
        ("GET", f"{HUB}/api/models", OTHER, None),
        ("GET", f"{ROUTER}/v1/models", OTHER, None),
        ("GET", f"{ROUTER}/", OTHER, None),
        ("GET", "https://example.com/api/models/x?expand=inferenceProviderMapping", OTHER, None),
    ],
)
def test_classify_hub_lookups(method: str, url: str, kind: str, model: str | None) -> None:
    route = classify(method, url)

    assert (route.kind, route.model) == (kind, model)
    assert not route.is_inference


def test_classify_reads_no_model_from_a_non_json_body() -> None:
    assert classify("POST", f"{ROUTER}/novita/v3/openai/chat/completions", b"model=x").model is None
    assert classify("POST", f"{ROUTER}/novita/v3/openai/chat/completions", b'["x"]').model is None
    assert classify("POST", f"{ROUTER}/v1/chat/completions", None).provider is None


def test_classify_reads_hyperbolics_model_name_where_the_route_names_no_model() -> None:
    """huggingface_hub 0.x's hyperbolic images send ``model_name``: read as no model, a recording
    answered any model's call (found by a new user's audit); fal-ai's path still names its model."""
    hyperbolic = classify("POST", f"{ROUTER}/hyperbolic/v1/images/generations", b'{"prompt": "x", "model_name": "SD2"}')
    assert (hyperbolic.provider, hyperbolic.model) == ("hyperbolic", "SD2")
    fal = classify("POST", f"{ROUTER}/fal-ai/fal-ai/flux-lora", b'{"prompt": "x", "model_name": "other"}')
    assert fal.model == "fal-ai/flux-lora"


def test_classify_reads_a_text_generation_servers_info_page_as_no_inference_call() -> None:
    """llama-index asks ``InferenceClient.get_endpoint_info()`` (GET ``.../models/gpt2/info``) and
    swallows its error: read as an inference call of model ``gpt2/info``, it took an outage meant for
    the app's text generation, which then passed (found by an audit)."""
    for host in (ROUTER + "/hf-inference", "https://api-inference.huggingface.co"):
        assert classify("GET", f"{host}/models/gpt2/info").kind == OTHER
        assert classify("POST", f"{host}/models/gpt2", b'{"inputs": "hi"}').model == "gpt2"


# -- the cassette reader -----------------------------------------------------------------
GOOD = """\
interactions:
- request:
    body: '{"model": "Qwen/Qwen2.5-72B-Instruct", "messages": []}'
    headers: {Content-Type: [application/json]}
    method: post
    uri: https://router.huggingface.co/novita/v3/openai/chat/completions
  response:
    body: {string: '{"ok": true}'}
    headers:
      Content-Length: ['12']
      Content-Type: [application/json]
      Set-Cookie: [a=1, b=2]
    status: {code: 200, message: OK}
- request:
    body: null
    headers: {}
    method: GET
    uri: https://example.com/data
  response:
    body:
      string: !!binary |
        aGVsbG8=
    headers: {}
    status: {code: 404, message: Not Found}
metadata:
  hfrouter: {name: x}
version: 1
"""


def test_parse_cassette_reads_vcrpy_format() -> None:
    cassette = parse_cassette(GOOD, Path("good.yaml"))

    first, second = cassette.interactions
    assert (first.method, first.route.kind, first.route.provider, first.route.model) == (
        "POST",
        PROVIDER,
        "novita",
        MODEL,
    )
    assert first.response.status == 200
    assert first.response.body == b'{"ok": true}'
    assert first.response.header("content-type") == "application/json"
    assert first.response.header("Content-Length") is None  # recomputed on replay
    assert [v for k, v in first.response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert (second.route.kind, second.response.status, second.response.body) == (OTHER, 404, b"hello")
    assert cassette.hfrouter == {"name": "x"}


#: the shape vcrpy's httpx stubs wrote before vcrpy 5, which vcrpy 9 still reads (``_deserialize_response``)
VCRPY4_HTTPX = """\
interactions:
- request:
    body: '{"model": "Qwen/Qwen2.5-72B-Instruct", "messages": []}'
    headers: {}
    method: POST
    uri: https://router.huggingface.co/novita/v3/openai/chat/completions
  response:
    status_code: 503
    http_version: HTTP/1.1
    headers:
      content-type: [application/json]
    content: '{"error": "busy"}'
version: 1
"""


def test_parse_cassette_reads_the_httpx_format_of_vcrpy_4() -> None:
    """An audit: a user's old httpx cassette was refused with "missing or malformed field ('status')"."""
    (interaction,) = parse_cassette(VCRPY4_HTTPX, Path("old.yaml")).interactions

    assert (interaction.route.kind, interaction.route.provider, interaction.route.model) == (PROVIDER, "novita", MODEL)
    assert (interaction.response.status, interaction.response.body) == (503, b'{"error": "busy"}')
    assert interaction.response.reason == "Service Unavailable"  # none kept: the code's own, as httpx derives it
    assert interaction.response.header("content-type") == "application/json"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("interactions: [\n  - {request: \n", "not valid YAML"),
        ("- just\n- a list\n", "not a vcrpy cassette: no top-level 'interactions' list"),
        ("version: 1\n", "not a vcrpy cassette: no top-level 'interactions' list"),
        ("version: 1\ninteractions: {}\n", "not a vcrpy cassette: no top-level 'interactions' list"),
        ("version: 2\ninteractions: []\n", "unsupported cassette format version 2 (expected 1)"),
        (
            "interactions:\n- request: {method: GET, uri: 'https://x/'}\n",
            "interactions[0] needs a 'request' and a 'response'",
        ),
        ("interactions:\n- just a string\n", "interactions[0] needs a 'request' and a 'response'"),
        (
            "interactions:\n- request: {method: GET, uri: 'https://x/'}\n  response: {body: {string: ''}}\n",
            "interactions[0]: missing field 'status' (a vcrpy interaction has request.method, request.uri, "
            "response.status.code and response.body.string)",
        ),
        (
            "interactions:\n- request: {method: GET, uri: 'https://x/'}\n  response: {status: {code: abc}}\n",
            "interactions[0]: malformed field (invalid literal for int() with base 10: 'abc')",
        ),
        (
            "interactions:\n- request: {uri: 'https://x/'}\n  response: {status: {code: 200}}\n",
            "interactions[0]: missing field 'method'",
        ),
        (  # a hand edit (an audit: "missing or malformed field ('int' object is not subscriptable)")
            "interactions:\n- request: {method: GET, uri: 'https://x/'}\n  response: {status: 503}\n",
            "interactions[0].response.status must be a mapping, as vcrpy writes it "
            "(status: {code: 503, message: Service Unavailable}), got 503",
        ),
        (
            "interactions:\n- request: {method: GET, uri: 'https://x/'}\n"
            "  response: {status: {code: 200}, headers: [a, b]}\n",
            "interactions[0].response.headers must be a mapping",
        ),
        (
            "interactions:\n- request: {method: GET, uri: 'https://x/'}\n  response: {status: {code: 200}}\n- {}\n",
            "interactions[1] needs a 'request' and a 'response'",
        ),
    ],
    ids=[
        "yaml",
        "list",
        "no-interactions",
        "interactions-mapping",
        "version",
        "no-response",
        "not-mapping",
        "no-status",
        "bad-code",
        "no-method",
        "bare-status",
        "bad-headers",
        "second",
    ],
)
def test_parse_cassette_errors_name_the_file_and_the_problem(text: str, problem: str) -> None:
    path = Path("/somewhere/cassettes/broken.yaml")

    with pytest.raises(CassetteError) as caught:
        parse_cassette(text, path)

    assert caught.value.path == path
    assert caught.value.problem.startswith(problem)
    assert str(caught.value).startswith(f"{path}: {problem}")


def test_load_cassette_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="no such cassette file") as caught:
        load_cassette(tmp_path / "nope.yaml")
    assert caught.value.path == tmp_path / "nope.yaml"


def test_load_cassette_is_parsed_once_and_rereads_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(GOOD)

    first = load_cassette(path)
    assert load_cassette(path) is first
    path.write_text(GOOD.replace("404, message: Not Found", "410, message: Gone"))
    again = load_cassette(path)

    assert again is not first
    assert again.interactions[1].response.status == 410


# -- the library -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def library() -> Library:
    return shipped_library()


def test_every_shipped_scenario_loads(library: Library) -> None:
    files = sorted((library_dir() / "scenarios").glob("*.yaml"))

    assert files, library_dir()
    assert sorted(library.scenarios) == sorted(f.stem for f in files)
    for scenario in library.scenarios.values():
        assert scenario.answers, scenario.name
        assert set(scenario.answers) == set(scenario.routes)
        assert scenario.description, scenario.name
        assert scenario.provenance.get("observed") in ("real", "partly-real", "inferred"), scenario.name
        assert scenario.provenance.get("source"), scenario.name


def test_scenario_names_and_aliases_are_unique(library: Library) -> None:
    every = [name for s in library.scenarios.values() for name in (s.name, *s.aliases)]

    assert len(every) == len(set(every)), sorted(n for n in every if every.count(n) > 1)


def test_aliases_resolve(library: Library) -> None:
    assert library.get("novita-500") is library.get("provider-500")
    assert library.get("hyperbolic-staging").name == "staging-auth"
    for scenario in library.scenarios.values():
        for alias in scenario.aliases:
            assert library.get(alias) is scenario


def test_unknown_scenario_message(library: Library) -> None:
    close = library.unknown_message("provider-50")
    far = library.unknown_message("zzzzzzzz")

    assert close.startswith("unknown scenario 'provider-50'. Did you mean 'provider-500'? Valid scenarios: ")
    assert "Did you mean" not in far
    valid = far.split("Valid scenarios: ", 1)[1].split(", ")
    assert valid == sorted(library.names)
    assert {"provider-500", "novita-500", "staging-auth"} <= set(valid)
    with pytest.raises(ScenarioError, match="Did you mean 'rate-limited-429'"):
        library.get("rate-limited-492")


def test_http_scenarios_have_no_transport_fault(library: Library) -> None:
    http = library.http_scenarios()

    assert "provider-500" in [s.name for s in http]
    assert all(s.fault is None for s in http)
    assert {s.name for s in http} | {s.name for s in library.scenarios.values() if s.fault} == set(library.scenarios)


def test_healthy_library_falls_back_to_novita(library: Library) -> None:
    provider, recorded = library.healthy.answer("no-such-provider", stream=False)
    streamed = library.healthy.answer("together", stream=True)

    assert (provider, recorded.status, recorded.header("content-type")) == ("novita", 200, "application/json")
    assert streamed[0] == "together"
    assert (streamed[1].header("content-type") or "").startswith("text/event-stream")


def test_a_broken_scenario_file_is_named(tmp_path: Path) -> None:
    shutil.copytree(library_dir() / "healthy", tmp_path / "healthy")
    (tmp_path / "scenarios").mkdir()
    text = (library_dir() / "scenarios" / "provider-500.yaml").read_text()
    (tmp_path / "scenarios" / "renamed.yaml").write_text(text)

    with pytest.raises(ScenarioError, match=r"renamed\.yaml: metadata\.hfrouter\.name must equal the file name"):
        load_library(tmp_path)


@pytest.mark.parametrize(
    ("providers", "message"),
    [
        ("[replicat]", r"metadata\.hfrouter\.providers: unknown provider 'replicat'\. Did you mean 'replicate'\?"),
        ("replicate", r"metadata\.hfrouter\.providers must list provider names, got 'replicate'"),
    ],
)
def test_a_scenario_for_a_provider_the_router_lacks_is_refused(tmp_path: Path, providers: str, message: str) -> None:
    # It would apply to no call at all: every rule on it would be reported as never happening.
    shutil.copytree(library_dir() / "healthy", tmp_path / "healthy")
    (tmp_path / "scenarios").mkdir()
    text = (library_dir() / "scenarios" / "job-failed.yaml").read_text()
    assert "    providers: [replicate]\n" in text
    (tmp_path / "scenarios" / "job-failed.yaml").write_text(text.replace("[replicate]", providers, 1))

    with pytest.raises(ScenarioError, match=r"job-failed\.yaml: " + message):
        load_library(tmp_path)


def test_default_cassette_name_follows_pytest_recording() -> None:
    assert default_cassette_name(None, "test_chat") == "test_chat"
    assert default_cassette_name("TestChat", "test_chat[a/b:c]") == "TestChat.test_chat[a-b-c]"


# -- the engine --------------------------------------------------------------------------
def novita_cassette() -> Cassette:
    text = GOOD.replace("metadata:\n  hfrouter: {name: x}\n", "")
    return parse_cassette(text, Path("novita-ok.yaml"))


def ask(engine: Engine, method: str, url: str, data: bytes | None = None) -> Answer:
    return engine.answer(Request(method, url, (), data))


def chat(engine: Engine, provider: str = "novita") -> Answer:
    path = PROVIDER_ROUTES[provider]
    return ask(engine, "POST", ROUTER + path, body())


def mapping(engine: Engine, model: str = MODEL) -> dict[str, dict[str, str] | None]:
    answer = ask(engine, "GET", f"{HUB}/api/models/{model}?expand=inferenceProviderMapping")
    assert answer.status == 200, answer
    data = json.loads(answer.body)
    assert data["id"] == model
    entries: dict[str, dict[str, str] | None] = data["inferenceProviderMapping"]
    return entries


def engine_with(library: Library, *rules: Rule, cassettes: tuple[Cassette, ...] = (), **options: bool) -> Engine:
    engine = Engine(library)
    engine.begin(Exchange(rules=list(rules), cassettes=list(cassettes), **options))
    return engine


def exchange_of(engine: Engine) -> Exchange:
    assert engine.exchange is not None
    return engine.exchange


def test_outage_beats_cassette_beats_healthy(library: Library) -> None:
    engine = engine_with(library, Rule(library.get("provider-500"), provider="novita"), cassettes=(novita_cassette(),))

    outage = chat(engine)
    healthy = chat(engine, "together")
    exchange_of(engine).rules.clear()
    recorded = chat(engine)

    assert (outage.status, outage.source) == (500, "scenario:provider-500")
    assert (recorded.status, recorded.body, recorded.source) == (200, b'{"ok": true}', "cassette:novita-ok.yaml")
    assert (healthy.status, healthy.source) == (200, "healthy")
    assert [c.answered_by for c in exchange_of(engine).calls] == [
        "scenario:provider-500",
        "healthy",
        "cassette:novita-ok.yaml",
    ]


def test_closest_rule_wins_until_exhausted(library: Library) -> None:
    engine = engine_with(
        library,
        Rule(library.get("invalid-token-401"), provider="novita", times=1),
        Rule(library.get("rate-limited-429"), provider="nov*"),
        Rule(library.get("provider-500")),
    )

    assert [chat(engine).status for _ in range(3)] == [401, 429, 429]
    assert chat(engine, "together").status == 500


def test_model_provider_rule_targets_the_auto_route_only(library: Library) -> None:
    engine = engine_with(library, Rule(library.get("provider-500"), model=f"{MODEL}:novita"))

    auto = ask(engine, "POST", f"{ROUTER}/v1/chat/completions", body(f"{MODEL}:novita"))
    other = ask(engine, "POST", f"{ROUTER}/v1/chat/completions", body(f"{MODEL}:together"))
    routed = chat(engine)

    assert (auto.status, other.status, routed.status) == (500, 200, 200)


def test_strict_misses_inference_but_still_synthesises_hub_lookups(library: Library) -> None:
    engine = engine_with(library, strict=True)

    answer = chat(engine)

    assert answer.unanswered is not None
    assert "hfrouter_strict is on" in answer.unanswered
    assert "novita" in mapping(engine)
    assert ask(engine, "GET", f"{HUB}/api/models/{MODEL}").status == 200
    assert ask(engine, "GET", f"{HUB}/api/agent-harnesses").status == 503  # the client keeps its own registry
    assert len(exchange_of(engine).misses) == 1


def test_other_hosts_miss_and_loopback_passes(library: Library) -> None:
    engine = engine_with(library)

    assert ask(engine, "GET", "https://example.com/").unanswered is not None
    assert ask(engine, "GET", "http://127.0.0.1:8080/x").passthrough
    assert ask(engine, "GET", "http://localhost/x").passthrough
    blocked = engine_with(library, allow_loopback=False)
    reason = ask(blocked, "GET", "http://127.0.0.1:8080/x").unanswered
    assert reason is not None and "hfrouter_allow_loopback = false" in reason


def test_allowed_hosts_pass_and_other_hosts_miss_with_the_fix(library: Library) -> None:
    engine = Engine(library, allow_hosts=("*.gradio.app", "huggingface.co"))
    engine.begin(Exchange())

    assert ask(engine, "GET", "https://api.gradio.app/pkg-version").passthrough
    assert ask(engine, "HEAD", f"{HUB}/api/telemetry/gradio/initiated").passthrough
    assert ask(engine, "GET", f"{HUB}/api/models/{MODEL}?expand=inferenceProviderMapping").status == 200  # answered
    assert ask(engine, "GET", "https://gradio.app.example.org/").unanswered is not None
    [miss] = exchange_of(engine).misses
    assert "ini hfrouter_allow_hosts = gradio.app.example.org (globs, e.g. *.app.example.org)" in miss.message("-")
    assert "HF_TOKEN" not in miss.message("record with HF_TOKEN")  # its own fix, not the record hint


def test_an_engine_for_marked_tests_passes_everything_between_them(library: Library) -> None:
    engine = Engine(library, every_test=False)

    assert engine.idle()
    assert ask(engine, "POST", ROUTER + PROVIDER_ROUTES["novita"], body()).passthrough
    engine.begin(Exchange())
    assert not engine.idle()
    # a thread that does not work for the test: its router calls are answered at session level, never sent
    # out; its requests to other hosts go out as without the plugin
    assert not engine.idle(background=True)
    assert engine.answer(Request("POST", ROUTER + PROVIDER_ROUTES["novita"], body()), background=True).source == (
        "healthy"
    )
    assert engine.answer(Request("GET", "https://example.com/"), background=True).passthrough
    assert engine.exchange is not None and engine.exchange.calls == []  # not the test's
    assert chat(engine).source == "healthy"
    engine.end()
    assert engine.idle() and ask(engine, "GET", "https://example.com/").passthrough
    # scope all: outside a test nothing leaves the process
    everywhere = Engine(library)
    assert not everywhere.idle() and not everywhere.idle(background=True)
    assert everywhere.answer(Request("GET", "https://example.com/")).unanswered is not None


def test_healthy_answers_carry_the_requested_model_and_fit(library: Library) -> None:
    engine = engine_with(library)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "parameters": {
                    "type": "object",
                    "properties": {"n": {"type": "integer", "minimum": 3}},
                    "required": ["n"],
                },
            },
        }
    ]

    plain = ask(engine, "POST", ROUTER + "/v1/chat/completions", body(model="Org/Model:novita"))
    again = ask(engine, "POST", ROUTER + "/v1/chat/completions", body(model="Org/Model:novita"))
    called = ask(
        engine,
        "POST",
        ROUTER + "/v1/chat/completions",
        body(model="Org/Model:novita", tools=tools, tool_choice="required"),
    )
    bad = ask(
        engine,
        "POST",
        ROUTER + "/v1/chat/completions",
        body(response_format={"type": "json_schema", "json_schema": {"schema": {"type": "string", "pattern": "^a$"}}}),
    )

    assert json.loads(plain.body)["model"] == "Org/Model"
    assert again is plain  # built once
    [call] = json.loads(called.body)["choices"][0]["message"]["tool_calls"]
    assert call["function"] == {"name": "f", "arguments": '{"n":3}'}
    assert bad.unanswered is not None and "'pattern' is not supported" in bad.unanswered
    assert [c.answered_by for c in exchange_of(engine).calls] == ["healthy", "healthy", "healthy", "nothing"]


def test_staging_overlay_marks_the_provider_staging_and_first(library: Library) -> None:
    engine = engine_with(library, Rule(library.get("staging-auth"), provider="together", model=MODEL))

    entries = mapping(engine)
    other_model = mapping(engine, "other/model")
    routed = chat(engine, "together")

    assert next(iter(entries)) == "together"
    assert entries["together"] == {"status": "staging", "providerId": MODEL, "task": "conversational"}
    assert entries["novita"] is not None and entries["novita"]["status"] == "live"
    assert other_model["together"] is not None and other_model["together"]["status"] == "live"
    assert routed.status == 401


def test_missing_provider_overlay_removes_it(library: Library) -> None:
    engine = engine_with(library, Rule(library.get("mapping-missing-provider"), provider="novita"))

    entries = mapping(engine)

    assert "novita" not in entries
    assert "together" in entries
    assert exchange_of(engine).calls[-1].answered_by == "scenario:mapping-missing-provider"


def test_overlays_stack_and_globs_reach_every_matching_provider(library: Library) -> None:
    engine = engine_with(
        library,
        Rule(library.get("staging-auth"), provider="together"),
        Rule(library.get("mapping-missing-provider"), provider="n*"),
    )

    entries = mapping(engine)

    assert "novita" not in entries and "nscale" not in entries
    assert next(iter(entries)) == "together"
    assert entries["together"] is not None and entries["together"]["status"] == "staging"
    assert "cerebras" in entries


def test_overlay_applies_to_a_recorded_mapping(library: Library) -> None:
    recorded = parse_cassette(
        """\
interactions:
- request: {method: GET, uri: 'https://huggingface.co/api/models/Qwen/Qwen2.5-72B-Instruct?expand=inferenceProviderMapping'}
  response:
    status: {code: 200, message: OK}
    body: {string: '{"id": "Qwen/Qwen2.5-72B-Instruct", "inferenceProviderMapping": {"novita": {"status": "live",
      "providerId": "qwen/qwen-72b", "task": "conversational"}, "sambanova": {"status": "live",
      "providerId": "Qwen2.5-72B", "task": "conversational"}}}'}
version: 1
""",
        Path("mapping.yaml"),
    )
    rule = Rule(library.get("mapping-missing-provider"), provider="novita")
    engine = engine_with(library, rule, cassettes=(recorded,))

    assert list(mapping(engine)) == ["sambanova"]


def test_hub_unavailable_answers_the_mapping_with_its_status(library: Library) -> None:
    engine = engine_with(library, Rule(library.get("hub-unavailable")))

    answer = ask(engine, "GET", f"{HUB}/api/models/{MODEL}?expand=inferenceProviderMapping")

    assert (answer.status, answer.source) == (503, "scenario:hub-unavailable")
    assert chat(engine).status == 200


def test_did_you_mean_names_the_close_choice_only() -> None:
    from pytest_hfrouter.errors import closest, did_you_mean

    assert did_you_mean("novtia", ["novita", "together"]) == " Did you mean 'novita'?"
    assert did_you_mean("zzz", ["novita", "together"]) == ""
    assert closest("retry-strom", ["retry-storm", "no-backoff"]) == "retry-storm"
    assert closest("x", []) is None


def test_default_cassette_path_and_discovery(tmp_path: Path) -> None:
    from pytest_hfrouter.cassette_paths import cassette_listing, default_cassette, find_cassettes, record_command

    module = tmp_path / "tests" / "test_app.py"
    beside = tmp_path / "tests" / "cassettes" / "test_app" / "TestChat.test_one[a-b].yaml"
    assert default_cassette(module, "TestChat", "test_one[a/b]", None) == beside
    elsewhere = tmp_path / "recordings"
    assert default_cassette(module, None, "test_two", elsewhere) == elsewhere / "test_app" / "test_two.yaml"
    assert find_cassettes(str(module), "TestChat", ["test_one[a/b]"], [], None) == ([], [])  # no file yet
    beside.parent.mkdir(parents=True)
    beside.write_text("interactions: []\n")
    cassette_listing.cache_clear()
    assert find_cassettes(str(module), "TestChat", ["test_one[a/b]"], [], None) == ([beside], [])
    found, missing = find_cassettes(str(module), None, ["test_one"], [(("gone.yaml",), {})], None)
    assert found == [] and [given for given, _ in missing] == ["gone.yaml"]
    assert record_command("t.py::test", "rewrite") == "pytest -p hfrouter --hfrouter-mode=rewrite 't.py::test'"


def test_the_record_command_pastes_into_a_shell_from_anywhere(tmp_path: Path) -> None:
    from pytest_hfrouter.cassette_paths import record_command

    """An audit: an id with a ``'`` broke the printed command's quoting, and a run started in a subfolder
    printed a node id relative to the rootdir, which pytest run there could not find."""
    nodeid = "t.py::test_q[it's broken]"
    command = record_command(nodeid, "rewrite")
    quoted = command.split("--hfrouter-mode=rewrite ", 1)[1]
    said = subprocess.run(["sh", "-c", f"printf %s {quoted}"], capture_output=True, text=True)
    assert said.stdout == nodeid

    class Config:
        rootpath = tmp_path
        inipath = tmp_path / "ci" / "pytest.ini"
        invocation_params = type("Params", (), {"dir": tmp_path / "tests"})()
        known_args_namespace = SimpleNamespace()
        option = SimpleNamespace()

    assert record_command("t.py::test", config=Config()).startswith(f"cd '{tmp_path}' && pytest ")
    Config.invocation_params.dir = tmp_path
    # no HF_TOKEN=hf_... before it: pasted, it replaced the token the user had exported (an audit)
    assert record_command("t.py::test", config=Config()).startswith("pytest -p hfrouter ")
    # the options that say where cassettes go (a paths audit: without them, the command recorded elsewhere)
    Config.known_args_namespace = SimpleNamespace(inifilename="ci/pytest.ini", rootdir=str(tmp_path))
    Config.option = SimpleNamespace(hfrouter_cassette_dir=str(tmp_path / "cassettes"))
    assert record_command("t.py::test", config=Config()) == (
        f"pytest -p hfrouter --hfrouter-mode=record -c '{tmp_path}/ci/pytest.ini' "
        f"--rootdir '{tmp_path}' --hfrouter-cassette-dir '{tmp_path}/cassettes' 't.py::test'"
    )
    # and where it records from (an audit: without them the command recorded from the real router)
    Config.known_args_namespace = SimpleNamespace()
    Config.option = SimpleNamespace(hfrouter_router_url="http://127.0.0.1:9", hfrouter_hub_url="http://127.0.0.1:8")
    assert record_command("t.py::test", "rewrite", config=Config()) == (
        "pytest -p hfrouter --hfrouter-mode=rewrite --hfrouter-router-url 'http://127.0.0.1:9' "
        "--hfrouter-hub-url 'http://127.0.0.1:8' 't.py::test'"
    )
    # the same settings as ini overrides (an audit: dropped, the pasted command recorded from the real router)
    Config.option = SimpleNamespace(override_ini=["hfrouter_router_url=http://127.0.0.1:9", "xfail_strict=true"])
    assert record_command("t.py::test", "rewrite", config=Config()) == (
        "pytest -p hfrouter --hfrouter-mode=rewrite -o 'hfrouter_router_url=http://127.0.0.1:9' 't.py::test'"
    )


def test_the_spool_carries_whole_lines_only(tmp_path: Path) -> None:
    from pytest_hfrouter._xdist import SPOOL_KEY, Spool

    controller = Spool()
    workerinput: dict[str, Any] = {}
    controller.hand_to(workerinput)
    worker = Spool(workerinput[SPOOL_KEY], "gw0")
    worker.append({"calls": [{"test": "a"}]})
    worker.append({"calls": [{"test": "b"}]})
    assert worker.file is not None
    with worker.file.open("a") as out:
        out.write('{"calls": [{"test": "c"')  # a worker killed mid-line
    assert list(worker.parts()) == []  # a worker reads nothing back
    assert list(controller.parts()) == [{"calls": [{"test": "a"}]}, {"calls": [{"test": "b"}]}]
    folder = Path(workerinput[SPOOL_KEY])
    worker.remove()  # only the controller removes the folder
    assert folder.is_dir()
    controller.remove()
    assert not folder.exists()


def test_the_spool_writes_a_shared_rest_once_and_the_controller_shares_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records that share their rest (the same outcome and traffic objects, as `coverage.traffic_record`
    makes them) cost one rest line and a test id each; read back, they share one rest again. A worker
    killed as it wrote loses that line only; xdist's replacement, under the same name, starts a line of its
    own and names its rests apart. A write that fails writes its rest again with the next record that names it."""
    from pytest_hfrouter._xdist import SPOOL_KEY, Spool

    controller = Spool()
    workerinput: dict[str, Any] = {}
    controller.hand_to(workerinput)
    calls = ({"provider": "novita", "status": 500}, {"provider": "together", "status": 200})
    met = (("novita", "provider-500"),)
    worker = Spool(workerinput[SPOOL_KEY], "gw0")
    for n in range(3):
        worker.append({"tests": [{"test": f"t.py::a{n}", "outcome": "passed", "met": met, "calls": calls}]})
    failed = {"outcome": "failed", "met": (), "calls": ({"provider": "novita", "status": 401},)}
    worker.append({"tests": [{"test": "t.py::b", **failed}], "drift": [{"x": 1}]})
    worker.close()
    assert worker.file is not None
    lines = worker.file.read_text().splitlines()
    assert len(lines) == 6 and sum("provider-500" in line for line in lines) == 1  # the shared rest, once
    with worker.file.open("a") as out:  # a line no worker writes, then one killed while it wrote its next test
        out.write('{"hfrouter_rest":5}\n[1, 2]\n{"hfrouter_rest":["x.3",{"outcome":"pas')
    restarted = Spool(workerinput[SPOOL_KEY], "gw0")

    def full_disk(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr("os.write", full_disk)
        restarted.append({"tests": [{"test": "t.py::lost", "outcome": "skipped", "met": (), "calls": calls}]})
    restarted.append({"tests": [{"test": "t.py::c", "outcome": "skipped", "met": (), "calls": calls}]})
    restarted.close()

    parts = list(controller.parts())
    records = [record for part in parts for record in part.get("tests", ())]
    assert [r["test"] for r in records] == ["t.py::a0", "t.py::a1", "t.py::a2", "t.py::b", "t.py::c"]
    whole = {"outcome": "passed", "met": [["novita", "provider-500"]], "calls": [dict(call) for call in calls]}
    assert records[0] == {"test": "t.py::a0", **whole}
    assert records[1]["calls"] is records[0]["calls"] and records[2]["met"] is records[0]["met"]
    assert records[3] == {
        "test": "t.py::b",
        "outcome": "failed",
        "met": [],
        "calls": [{"provider": "novita", "status": 401}],
    }
    assert records[4] == {"test": "t.py::c", "outcome": "skipped", "met": [], "calls": whole["calls"]}
    assert [part["drift"] for part in parts if "drift" in part] == [[{"x": 1}]]
    controller.remove()


def test_an_answer_for_a_call_is_the_same_answer_with_its_position() -> None:
    """`Answer.for_call` (the faulted request's hot path) equals `dataclasses.replace` and keeps
    the chunks already split, so the face does not split them again."""
    import dataclasses

    from pytest_hfrouter.faults import Fault

    events = b'data: {"a": 1}\n\ndata: {"a": 2}\n\ndata: [DONE]\n\n'
    answer = Answer(200, "OK", (("Content-Type", "text/event-stream"),), events, fault=Fault("stream-cut", 1))
    placed = answer.for_call(7)
    split = answer.chunks()
    assert placed == dataclasses.replace(answer, call=7)
    assert (placed.call, answer.call) == (7, -1)
    assert placed.chunks() == split and placed._chunks is answer._chunks
    assert placed.is_stream and placed.wire_headers == answer.wire_headers


def test_a_call_is_made_with_exactly_its_fields() -> None:
    """`Call.__init__` is written by hand (a dict update: it runs once per request); its
    parameters are the dataclass fields, in order, with the same types and defaults."""
    import dataclasses
    import inspect

    from pytest_hfrouter import Call

    parameters = list(inspect.signature(Call.__init__).parameters.values())[1:]
    fields = dataclasses.fields(Call)
    assert [p.name for p in parameters] == [f.name for f in fields]
    assert [p.annotation for p in parameters] == [f.type for f in fields]
    assert [p.default for p in parameters] == [
        inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default for f in fields
    ]
    call = Call(
        "novita", "m", "provider", "POST", "https://router.huggingface.co/novita", 500, None, "healthy", False, 1.5
    )
    assert (call.status, call.at, call.scenarios, call.spared) == (500, 1.5, (), False)
    assert dataclasses.replace(call, spared=True) == Call(*dataclasses.astuple(call)[:-4], spared=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        call.status = 200  # type: ignore[misc]


# -- the report's outputs ---------------------------------------------------------------------------
def test_versions_name_the_loaded_clients_as_installed() -> None:
    import importlib.metadata

    import huggingface_hub

    from pytest_hfrouter.report import versions

    found = versions()
    assert found["huggingface_hub"] == huggingface_hub.__version__ == importlib.metadata.version("huggingface_hub")
    assert found["pytest-hfrouter"] == importlib.metadata.version("pytest-hfrouter")
    assert found["python"]


@pytest.mark.parametrize("enabled", [True, False], ids=["gc-on", "gc-off"])
def test_the_outputs_are_written_with_the_collector_paused_then_left_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    import gc

    from pytest_hfrouter import report

    seen: list[bool] = []
    write_json = report.write_json
    monkeypatch.setattr(report, "write_json", lambda *args: seen.append(gc.isenabled()) or write_json(*args))
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        target = tmp_path / "r.json"
        outputs = {"baseline": None, "json_path": target, "summary": None, "step_summary": None, "html": None}
        report.write_outputs(report.Report(), False, live=False, **outputs)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert seen == [False] and json.loads(target.read_text())["schema"] == report.SCHEMA


def test_an_ini_list_reads_one_a_line_or_between_commas_and_spaces() -> None:
    from pytest_hfrouter._settings import _items

    lines = _items(["", "novita", "together"])
    assert lines == ("novita", "together")
    assert _items(["novita, together"]) == _items(["novita together"]) == _items(["novita,together"]) == lines
    assert _items(["# the hosts, in order", "*.gradio.app,  huggingface.co", "  127.0.0.*"]) == (
        "*.gradio.app",
        "huggingface.co",
        "127.0.0.*",
    )
    assert _items([]) == ()


def test_an_allowed_ipv6_host_is_matched_without_its_brackets() -> None:
    # A request's host name is the bare address: "[::1]" as a glob would be a character class.
    from pytest_hfrouter._settings import _hosts

    assert _hosts(("[::1]", "::1", "*.gradio.app", "[ab]pi.example.com")) == (
        "::1",
        "::1",
        "*.gradio.app",
        "[ab]pi.example.com",
    )
    with pytest.raises(pytest.UsageError, match=r"'\[::1\]:8080': globs match the host alone.*= ::1$"):
        _hosts(("[::1]:8080",))


# -- drift of an answer the app stopped reading ------------------------------------------------
SSE = (("Content-Type", "text/event-stream"),)


def _events(*contents: str, done: bool = True) -> bytes:
    events = [f'data: {{"choices": [{{"delta": {{"content": "{c}"}}}}]}}\n\n' for c in contents]
    return ("".join(events) + ("data: [DONE]\n\n" if done else "")).encode()


def test_drift_compares_what_the_app_read_of_a_stream_it_left_but_not_its_end() -> None:
    from pytest_hfrouter.cassettes import Recorded
    from pytest_hfrouter.live import Observed, shape_differences

    recorded = Recorded(200, "OK", SSE, _events("a", "b"))
    # a stream the router cut: its end is gone, and that is drift
    cut = Observed(200, "OK", SSE, _events("a", done=False), 0.1)
    assert shape_differences(recorded, cut) == ("stream no longer ends with [DONE]",)
    # the app read one event and left: no end to compare; what it read still is compared
    left = Observed(200, "OK", SSE, _events("a", done=False), 0.1, read_to_end=False)
    assert left.cut_short
    assert shape_differences(recorded, left) == ()
    changed = Observed(200, "OK", SSE, b'data: {"choices": [{"delta": {"text": "a"}}]}\n\n', 0.1, read_to_end=False)
    assert shape_differences(recorded, changed) != ()
    # left after [DONE] (huggingface_hub 1.x closes late): whole
    assert not Observed(200, "OK", SSE, _events("a"), 0.1, read_to_end=False).cut_short
    # half a JSON body: nothing to compare but the status class
    json_headers = (("Content-Type", "application/json"),)
    half = Observed(200, "OK", json_headers, b'{"choices": [', 0.1, read_to_end=False)
    assert shape_differences(Recorded(200, "OK", json_headers, b'{"choices": []}'), half) == ()
    assert shape_differences(Recorded(500, "Internal Server Error", json_headers, b"{}"), half) == (
        "status 500 became 200",
    )


def test_two_tasks_of_one_model_are_two_requests_to_a_cassette() -> None:
    """hf-inference names the task in its path: a recording of sentence-similarity must not answer
    feature-extraction on the same model (it served the similarity scores as an embedding)."""
    base = "https://router.huggingface.co/hf-inference/models/sentence-transformers/all-MiniLM-L6-v2/pipeline/"
    tasks = ("feature-extraction", "sentence-similarity")
    keys = {task: match_key("POST", classify("POST", base + task, b'{"inputs": "x"}'), base + task) for task in tasks}
    assert keys["feature-extraction"] != keys["sentence-similarity"]
    # a route that names no task still matches on provider, model and stream alone, as before
    plain = "https://router.huggingface.co/hf-inference/models/acme/m"
    assert match_key("POST", classify("POST", plain, b'{"inputs": "x"}'), plain)[:5] == (
        "POST",
        "provider",
        "hf-inference",
        "acme/m",
        "",
    )


def test_a_long_test_id_has_a_default_cassette_a_file_system_can_hold() -> None:
    """An audit: a prompt as a parameter's id (364 characters) gave a default cassette name too long for a
    file, and the test could never be recorded. Past 200 bytes the name keeps its start and a digest."""
    from pytest_hfrouter.cassette_paths import default_cassette_name

    prompt = "Summarise this: " + "é" * 300
    one, other = default_cassette_name(None, f"test_x[{prompt}a]"), default_cassette_name(None, f"test_x[{prompt}b]")
    assert one != other and one == default_cassette_name(None, f"test_x[{prompt}a]")
    assert len(f"{one}.yaml".encode()) <= 255 and one.startswith("test_x[Summarise this- é")
    assert default_cassette_name("TestA", "test_x[short]") == "TestA.test_x[short]"


def test_a_cassette_owner_recorded_under_another_rootdir_is_the_same_test(tmp_path: Path) -> None:
    """An audit: a suite moved one folder down (its node ids now ``sub/...``) warned, on a rewrite, of a clash with
    the test's own earlier recording. Its regression audit: a module of the same path under another folder of
    this rootdir (a monorepo's ``tests/`` and ``svc/tests/``) is another test."""
    from pytest_hfrouter.recorder import _same

    assert _same("test_mod.py::test_a", "sub/test_mod.py::test_a", tmp_path)
    assert _same("test_mod.py::TestX::test_a[x]", "test_mod.py::TestX::test_a[x]", None)
    assert not _same("test_mod.py::test_a", "sub/test_mod.py::test_a", None)
    assert not _same("test_mod.py::test_a", "sub/test_mod.py::test_b", tmp_path)
    assert not _same("other_test_mod.py::test_a", "sub/test_mod.py::test_a", tmp_path)
    assert not _same("a/test_mod.py::test_a", "b/test_mod.py::test_a", tmp_path)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_api.py").write_text("")
    assert not _same("tests/test_api.py::test_chat", "svc/tests/test_api.py::test_chat", tmp_path)
