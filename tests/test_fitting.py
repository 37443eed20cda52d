"""Healthy answers that fit the request: the schema-instance generator and the fitted bodies (unit tests)."""

from __future__ import annotations

import contextlib
import json
import re
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest

from pytest_hfrouter.fitting import Fit, fit_of, fitted_body, with_model
from pytest_hfrouter.library import shipped_library
from pytest_hfrouter.schema_instance import SchemaUnsupported, instance

if TYPE_CHECKING:
    from pytest_hfrouter import HFRouter

SCHEMAS: dict[str, dict[str, Any]] = {
    "types": {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "b": {"type": "boolean"},
            "z": {"type": "null"},
            "o": {"type": "object"},
        },
        "required": ["s", "i", "n", "b", "z", "o"],
        "additionalProperties": False,
    },
    "required_without_properties": {"type": "object", "required": ["x"]},
    "enum_and_const": {
        "type": "object",
        "properties": {"level": {"enum": ["low", "high"]}, "kind": {"const": "report"}},
        "required": ["level", "kind"],
    },
    "arrays": {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 3, "uniqueItems": True},
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "minItems": 2},
            "none": {"type": "array", "items": {"type": "integer"}},
            "ids": {"type": "array", "items": {"type": "integer", "minimum": 5}, "minItems": 2, "uniqueItems": True},
        },
        "required": ["tags", "pair", "none", "ids"],
    },
    "any_and_one_of": {
        "type": "object",
        "properties": {
            "maybe": {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 4}]},
            "either": {"oneOf": [{"type": "integer", "minimum": 10}, {"type": "boolean"}]},
            "nullable": {"type": ["null", "number"], "exclusiveMinimum": 2.5},
        },
        "required": ["maybe", "either", "nullable"],
    },
    "refs_to_defs": {
        "$defs": {
            "Step": {
                "type": "object",
                "properties": {"explanation": {"type": "string"}, "output": {"type": "string"}},
                "required": ["explanation", "output"],
                "additionalProperties": False,
            },
            "Leaf": {"type": "integer", "multipleOf": 7, "minimum": 1},
        },
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}, "minItems": 1},
            "final_answer": {"type": "string"},
            "leaf": {"$ref": "#/$defs/Leaf"},
        },
        "required": ["steps", "final_answer", "leaf"],
        "additionalProperties": False,
    },
    "pydantic_style": {  # what pydantic's model_json_schema() writes (definitions, allOf around a $ref)
        "definitions": {"Color": {"title": "Color", "enum": ["red", "green"], "type": "string"}},
        "title": "Car",
        "type": "object",
        "properties": {
            "color": {"allOf": [{"$ref": "#/definitions/Color"}], "description": "paint"},
            "doors": {"title": "Doors", "type": "integer", "minimum": 2, "maximum": 5},
            "price": {"type": "number", "minimum": 1000.5},
        },
        "required": ["color", "doors"],
    },
    "number_bounds": {
        "type": "object",
        "properties": {
            "open": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "negative": {"type": "integer", "exclusiveMaximum": -3},
            "capped": {"type": "number", "maximum": -0.5},
            "stepped": {"type": "integer", "minimum": 1, "multipleOf": 5},
            "ratio": {"type": "number", "minimum": 0.25, "maximum": 0.75},
        },
        "required": ["open", "negative", "capped", "stepped", "ratio"],
    },
    "formats_and_lengths": {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "mail": {"type": "string", "format": "email"},
            "short": {"type": "string", "maxLength": 2},
            "long": {"type": "string", "minLength": 10},
        },
        "required": ["when", "mail", "short", "long"],
    },
    # what an audit of pydantic models and JSON Schema keywords found answered outside the schema
    "pydantic_timedelta_and_mapping": {  # timedelta; dict[str, int] = Field(min_length=1)
        "type": "object",
        "properties": {
            "wait": {"type": "string", "format": "duration"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 2},
        },
        "required": ["wait", "counts"],
    },
    "all_of_one_property": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            {"properties": {"a": {"minimum": 3, "maximum": 9}}},
        ]
    },
    "contains": {"type": "array", "items": {"type": "integer"}, "contains": {"minimum": 5}, "minContains": 2},
    "float_multiple": {"type": "number", "minimum": 0.25, "multipleOf": 0.1},
    "forbidden_optional": {"type": "object", "properties": {"x": False, "y": {"type": "integer"}}},
}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_instance_is_valid_against_its_schema(name: str) -> None:
    schema = SCHEMAS[name]

    value = instance(schema)

    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
    assert json.loads(json.dumps(value)) == value


def test_the_instance_picks_the_first_enum_value_and_the_const() -> None:
    assert instance(SCHEMAS["enum_and_const"]) == {"level": "low", "kind": "report"}


def test_a_ref_to_defs_is_followed() -> None:
    value = instance(SCHEMAS["refs_to_defs"])

    assert value["steps"] == [{"explanation": "text", "output": "text"}]
    assert value["leaf"] == 7


def test_a_nullable_field_gets_a_value_not_null() -> None:
    value = instance(SCHEMAS["any_and_one_of"])

    assert value["maybe"] == "text" and value["either"] == 10 and value["nullable"] == 3.5


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ({"type": "string", "pattern": "^[a-z]+$"}, "'pattern' is not supported"),
        ({"not": {"type": "string"}}, "'not' is not supported"),
        ({"$ref": "https://example.com/schema.json"}, "points outside the schema"),
        ({"$ref": "#/$defs/Missing"}, "does not resolve"),
        ({"enum": []}, "empty enum"),
        ({"type": "integer", "minimum": 3, "maximum": 2}, "no integer fits its bounds"),
        ({"type": "array", "items": {"type": "boolean"}, "minItems": 3, "uniqueItems": True}, "two distinct booleans"),
        ({"$defs": {"A": {"$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"}, "nested deeper"),
    ],
)
def test_what_it_cannot_satisfy_is_an_error_naming_it(schema: dict[str, Any], says: str) -> None:
    with pytest.raises(SchemaUnsupported, match=says.replace("(", r"\(").replace("$", r"\$")):
        instance(schema)


# -- what a request asks for -------------------------------------------------------------------
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["location", "unit"],
        },
    },
}
SEARCH = {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {}}}}


def body(**fields: Any) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}).encode()


def test_a_plain_request_asks_for_nothing() -> None:
    assert fit_of(body()) is None
    assert fit_of(None) is None
    assert fit_of(body(response_format={"type": "text"})) is None


def test_json_object_asks_for_an_empty_object() -> None:
    assert fit_of(body(response_format={"type": "json_object"})) == Fit(content="{}")


def test_json_object_with_a_schema_asks_for_an_instance_of_it() -> None:
    """langchain-huggingface's ``with_structured_output(method="json_schema")`` sends the schema beside
    ``json_object``: it got ``{}``, and the app's parse failed on a missing field (an audit's finding)."""
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    fit = fit_of(body(response_format={"type": "json_object", "schema": schema}))
    assert fit is not None and fit.content is not None
    jsonschema.validate(json.loads(fit.content), schema)


def test_json_object_with_a_schema_in_the_prompt_asks_for_an_instance_of_it() -> None:
    """instructor's JSON mode quotes its model's schema in the system message and asks for ``json_object``:
    it got ``{}``, which its own validation refused in a healthy test (an audit). Text parts count too."""
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
              "required": ["name", "age"]}  # fmt: skip
    system = (
        "As a genius expert, your task is to understand the content and provide the parsed objects in json that "
        f"match the following json_schema:\n\n{json.dumps(schema, indent=2)}\n\nMake sure to return an instance "
        "of the JSON, not the schema itself"
    )
    for content in (system, [{"type": "text", "text": system}]):
        request = json.dumps(
            {"model": "m", "messages": [{"role": "system", "content": content}, {"role": "user", "content": "Jo, 9"}],
             "response_format": {"type": "json_object"}}
        ).encode()  # fmt: skip
        fit = fit_of(request)
        assert fit is not None and fit.content is not None
        jsonschema.validate(json.loads(fit.content), schema)
    prose = body(response_format={"type": "json_object"}, messages=[{"role": "user", "content": 'say {"a": 1}'}])
    assert fit_of(prose) == Fit(content="{}")  # a JSON object that is no schema: nothing to fill


def test_json_schema_asks_for_an_instance_of_it() -> None:
    schema = SCHEMAS["refs_to_defs"]
    fit = fit_of(body(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}))

    assert fit is not None and fit.content is not None
    jsonschema.validate(json.loads(fit.content), schema)


def test_the_rewrites_huggingface_hub_sends_to_together_and_hf_inference_are_read() -> None:
    """huggingface_hub rewrites a ``json_schema`` request for two providers: together gets the schema flattened
    beside the type, hf-inference gets ``json_object`` with the schema as ``value``. Both got ``{}``, which the
    app's own schema refused, on a healthy answer (an audit)."""
    schema = SCHEMAS["enum_and_const"]
    flattened = fit_of(body(response_format={"type": "json_schema", "schema": schema}))
    as_value = fit_of(body(response_format={"type": "json_object", "value": schema}))

    assert flattened == as_value == Fit(content='{"level":"low","kind":"report"}')


@pytest.mark.parametrize("provider", ["together", "hf-inference", "novita"])
def test_a_json_schema_request_gets_an_instance_on_every_provider(hfrouter: HFRouter, provider: str) -> None:
    """Through the real client, whatever shape its version sends to the provider."""
    from huggingface_hub import InferenceClient

    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    client = InferenceClient(provider=provider, api_key="hf_fake", timeout=10)
    reply = client.chat_completion(
        [{"role": "user", "content": "weather?"}],
        model="Qwen/Qwen2.5-72B-Instruct" if provider != "hf-inference" else "meta-llama/Llama-3.1-8B-Instruct",
        response_format={"type": "json_schema", "json_schema": {"name": "w", "schema": schema}},
    )

    jsonschema.validate(json.loads(reply.choices[0].message.content), schema)


def test_the_tgi_grammar_of_older_clients_is_read_too() -> None:
    fit = fit_of(body(response_format={"type": "json", "value": SCHEMAS["enum_and_const"]}))

    assert fit == Fit(content='{"level":"low","kind":"report"}')


@pytest.mark.parametrize("choice", [None, "auto", "none"])
def test_tools_without_a_required_call_get_a_plain_message(choice: str | None) -> None:
    fields: dict[str, Any] = {"tools": [WEATHER]}
    if choice is not None:
        fields["tool_choice"] = choice

    assert fit_of(body(**fields)) is None


def test_tool_choice_required_calls_the_first_tool() -> None:
    fit = fit_of(body(tools=[WEATHER, SEARCH], tool_choice="required"))

    assert fit is not None and fit.tool == "get_weather" and fit.arguments is not None
    jsonschema.validate(json.loads(fit.arguments), WEATHER["function"]["parameters"])  # type: ignore[index]


def test_a_named_tool_choice_calls_that_tool() -> None:
    fit = fit_of(body(tools=[WEATHER, SEARCH], tool_choice={"type": "function", "function": {"name": "search"}}))

    assert fit == Fit(tool="search", arguments="{}")


def test_a_named_tool_that_was_not_offered_is_an_error() -> None:
    with pytest.raises(SchemaUnsupported, match=r"tool_choice names 'nope'.*\['get_weather'\]"):
        fit_of(body(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}}))


def test_a_misspelt_tool_choice_is_the_apps_to_fix(hfrouter: HFRouter) -> None:
    """The miss said "answer it from a cassette", for a request whose mistake is the app's."""
    from huggingface_hub import InferenceClient

    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
    with pytest.raises(Exception, match="no answer"):
        client.chat_completion(
            [{"role": "user", "content": "weather?"}],
            model="Qwen/Qwen2.5-72B-Instruct",
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "get_wheather"}},
        )
    (miss,) = hfrouter._exchange.misses
    assert (
        miss.hint
        == "fix the app's tool_choice: it must name one of the tools the request offers. Did you mean 'get_weather'?"
    )
    hfrouter._exchange.misses.clear()  # the miss was the point


# -- the answers, built on every recorded healthy answer -------------------------------------------
HEALTHY = shipped_library().healthy


def sse_payloads(data: bytes) -> list[Any]:
    payloads = []
    for event in data.split(b"\n\n"):
        line = event.strip()
        if line.startswith(b"data:") and line[5:].strip() != b"[DONE]":
            payloads.append(json.loads(line[5:].strip()))
    return payloads


@pytest.mark.parametrize("provider", sorted(HEALTHY.plain))
def test_plain_answers_carry_the_json_or_the_tool_call(provider: str) -> None:
    recorded = HEALTHY.plain[provider].body

    as_json = json.loads(fitted_body(recorded, False, Fit(content='{"a":1}')))
    as_tool = json.loads(fitted_body(recorded, False, Fit(tool="search", arguments='{"q":"x"}')))

    assert as_json["choices"][0]["message"]["content"] == '{"a":1}'
    message = as_tool["choices"][0]["message"]
    assert message["content"] is None
    assert [(c["type"], c["function"]["name"], c["function"]["arguments"]) for c in message["tool_calls"]] == [
        ("function", "search", '{"q":"x"}')
    ]
    assert as_tool["choices"][0]["finish_reason"] == "tool_calls"
    assert as_tool["id"] == json.loads(recorded)["id"]  # the rest is the recording's


@pytest.mark.parametrize("provider", sorted(HEALTHY.streamed))
def test_streamed_answers_carry_the_json_or_the_tool_call_in_deltas(provider: str) -> None:
    recorded = HEALTHY.streamed[provider].body
    content = '{"steps":[{"explanation":"text"}],"final_answer":"text"}'

    as_json = sse_payloads(fitted_body(recorded, True, Fit(content=content)))
    as_tool = sse_payloads(fitted_body(recorded, True, Fit(tool="search", arguments=content)))

    with_choices = [p for p in as_json if p.get("choices")]
    assert "".join(p["choices"][0]["delta"].get("content") or "" for p in with_choices) == content
    assert len(with_choices) > 2  # split across deltas, as a model streams it
    assert with_choices[-1]["choices"][0]["finish_reason"] == "stop"
    calls = [c for p in as_tool if p.get("choices") for c in p["choices"][0]["delta"].get("tool_calls") or []]
    assert calls[0]["function"]["name"] == "search"
    assert "".join(c["function"]["arguments"] for c in calls) == content
    assert {c["index"] for c in calls} == {0}
    # the id, type and name in the first delta only: the openai SDK's stream helper joins every string sent again
    assert calls[0]["id"].startswith("call_") and calls[0]["type"] == "function"
    assert [(c.get("id"), c.get("type"), c["function"].get("name")) for c in calls[1:]] == [(None, None, None)] * (
        len(calls) - 1
    )
    finishing = [p["choices"][0]["finish_reason"] for p in as_tool if p.get("choices")]
    assert finishing[-1] == "tool_calls" and set(finishing[:-1]) == {None}
    assert recorded.rstrip().endswith(b"[DONE]") == fitted_body(recorded, True, Fit(content="{}")).rstrip().endswith(
        b"[DONE]"
    )


def test_with_model_replaces_every_model_value_and_nothing_else() -> None:
    recorded = HEALTHY.streamed["hyperbolic"].body  # JSON with spaces: "model": "..."

    replaced = with_model(recorded, "Qwen/Qwen2.5-7B-Instruct")

    models = {p.get("model") for p in sse_payloads(replaced)}
    assert models == {"Qwen/Qwen2.5-7B-Instruct"}
    original = sse_payloads(recorded)
    assert [{**p, "model": None} for p in sse_payloads(replaced)] == [{**p, "model": None} for p in original]
    assert with_model(recorded, None) is recorded


# -- an outage that breaks a success breaks the fitted answer, not the recorded prose -------------------
#: (scenario, its parameters, whether the app gets the whole tool call, the error the stream ends in)
BREAKING = [
    ("slow-first-token", {"delay": 0.01}, True, None),
    ("slow-stream", {"delay": 0.01}, True, None),
    ("stream-cut", {}, False, "RemoteProtocolError|ChunkedEncodingError"),
    ("stream-no-done", {}, False, None),
    ("stream-half-json", {}, False, "JSONDecodeError"),
    ("stream-error-event", {}, False, "OverloadedError|HfHubHTTPError|TextGenerationError"),
]


def _streamed_tool_call() -> tuple[str | None, str, str | None]:
    """(the tool's name, its arguments as far as they came, the error the stream ended in)."""
    from huggingface_hub import InferenceClient

    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
    name, arguments, error = None, "", None
    try:
        stream = client.chat_completion(
            [{"role": "user", "content": "weather?"}],
            model="Qwen/Qwen2.5-72B-Instruct",
            tools=[WEATHER],
            tool_choice="required",
            stream=True,
        )
        for chunk in stream:
            for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                name = call.function.name or name
                arguments += call.function.arguments or ""
    except Exception as exc:  # the stream's own end, whatever the client raises
        error = type(exc).__name__
    return name, arguments, error


@pytest.mark.parametrize(("scenario", "parameters", "whole", "error"), BREAKING, ids=[b[0] for b in BREAKING])
def test_an_outage_of_a_streamed_tool_call_breaks_the_tool_call(
    hfrouter: HFRouter, scenario: str, parameters: dict[str, Any], whole: bool, error: str | None
) -> None:
    """The scenarios' recorded prose deltas reached an app that forced a tool call: its tool path never
    met the outage, and an app that took "no tool call" for an answer passed (an audit's finding)."""
    healthy = _streamed_tool_call()
    assert healthy[0] == "get_weather" and healthy[2] is None
    full = healthy[1]
    assert json.loads(full)  # whole JSON

    with hfrouter.outage(scenario, provider="novita", **parameters):
        name, arguments, raised = _streamed_tool_call()

    assert name == "get_weather"
    if whole:
        assert (arguments, raised) == (full, None)
    else:
        assert arguments and arguments != full and full.startswith(arguments)  # cut in its arguments
        assert (raised is None) if error is None else re.fullmatch(error, raised or ""), raised
    assert hfrouter.calls[-1].scenarios == (scenario,)


@pytest.mark.parametrize("scenario", ["stream-cut", "stream-no-done"])
def test_a_broken_stream_of_a_short_tool_call_carries_part_of_its_arguments(hfrouter: HFRouter, scenario: str) -> None:
    """Arguments that fit in one delta: the cut came before any of them (an audit). Split in two, the app gets
    the first half."""
    from huggingface_hub import InferenceClient

    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
        "q": {"type": "string"}}, "required": ["q"]}}}  # fmt: skip
    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
    arguments = ""
    with hfrouter.outage(scenario, provider="novita"), contextlib.suppress(Exception):
        for chunk in client.chat_completion(
            [{"role": "user", "content": "x"}],
            model="Qwen/Qwen2.5-72B-Instruct",
            tools=[tool],
            tool_choice="required",
            stream=True,
        ):
            for call in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                arguments += call.function.arguments or ""

    assert arguments and '{"q":"text"}'.startswith(arguments) and arguments != '{"q":"text"}', arguments


@pytest.mark.parametrize("stream", [False, True])
def test_an_error_in_a_200_on_a_tool_request_is_the_error_body(hfrouter: HFRouter, stream: bool) -> None:
    """A streamed tool request under error-in-200 got half the fitted tool call before the error JSON: the
    test named a 200 with an error body and played a stream without its end (an audit)."""
    from huggingface_hub import InferenceClient

    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
    seen: list[Any] = []
    with hfrouter.outage("error-in-200", provider="novita"):
        reply = client.chat_completion(
            [{"role": "user", "content": "weather?"}],
            model="Qwen/Qwen2.5-72B-Instruct",
            tools=[WEATHER],
            tool_choice="required",
            stream=stream,
        )
        for chunk in list(reply) if stream else [reply]:
            for choice in chunk.choices or []:  # None: the error object parsed as a completion
                seen += (choice.delta if stream else choice.message).tool_calls or []

    assert seen == []  # streamed: no event at all, the stream ends empty
    assert [(c.status, c.scenarios) for c in hfrouter.calls[-1:]] == [(200, ("error-in-200",))]


def test_each_tool_call_gets_an_id_of_its_own(hfrouter: HFRouter) -> None:
    """Every step of an agent loop got the same tool call id (the answer is built once per fit): apps and agent
    frameworks key tool results by it (an audit)."""
    from huggingface_hub import InferenceClient

    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
    messages: list[Any] = [{"role": "user", "content": "weather?"}]
    ids = []
    for _ in range(3):
        message = (
            client.chat_completion(messages, model="Qwen/Qwen2.5-72B-Instruct", tools=[WEATHER], tool_choice="required")
            .choices[0]
            .message
        )
        ids.append(message.tool_calls[0].id)
        called = {"id": ids[-1], "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
        messages += [
            {"role": "assistant", "tool_calls": [called]},
            {"role": "tool", "tool_call_id": ids[-1], "content": "9"},
        ]

    assert len(set(ids)) == 3 and all(i.startswith("call_") for i in ids), ids


def test_a_slow_answer_to_a_json_request_is_the_json_late(hfrouter: HFRouter) -> None:
    from huggingface_hub import InferenceClient

    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
    with hfrouter.outage("slow-first-token", provider="novita", delay=0.01):
        reply = client.chat_completion(
            [{"role": "user", "content": "x"}],
            model="Qwen/Qwen2.5-72B-Instruct",
            response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
        )
    jsonschema.validate(json.loads(reply.choices[0].message.content), schema)


@pytest.mark.parametrize("size", [0, 1, 300])
def test_a_batch_of_embeddings_is_the_recorded_one_repeated(size: int) -> None:
    """Encoded once and repeated (a speed audit: a batch of 300 encoded one 119 KB vector 300 times): the same
    bytes as the list encoded whole."""
    from pytest_hfrouter.fitting import fitted_task_body

    vector = [[0.25, -3e-05, 1.0, {"note": "é"}]]
    expected = json.dumps(vector * size, separators=(",", ":")).encode()
    assert fitted_task_body(json.dumps(vector).encode(), ("batch", size)) == expected
