"""A good neighbour: the proofs of issue 15.

1. A suite whose unmarked tests make non-router requests (a real HTTP server on 127.0.0.1,
   and a host name that never resolves) has the same outcomes with the plugin auto-loaded as
   with ``-p no:hfrouter``; under ``-p hfrouter`` (scope all) it does not, which shows the
   comparison can fail.
2. A JSON-mode app and a tool-calling app (the real InferenceClient and the openai SDK) pass
   on healthy answers, with no cassette, plain and streamed.
3. A real Gradio app's tests pass the same with and without the plugin (gradio is not in the
   test extras: too heavy for CI; the test is skipped where it is not installed).

Every inner run is a subprocess: auto-loading happens as it does for a user, in a fresh
interpreter that finds the plugin through its entry point.
"""

from __future__ import annotations

import re

import pytest
from conftest import LOOPBACK

SERVER = """
import http.server
import json

import pytest
from loopback import serving

CHAT = {
    "id": "local-1", "object": "chat.completion", "created": 1, "model": "local-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "from the local server"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 4, "total_tokens": 5},
}


class Local(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.reply(b"hello from loopback", "text/plain")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.reply(json.dumps(CHAT).encode(), "application/json")

    def reply(self, body, kind):
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def server():
    with serving(Local, server=http.server.ThreadingHTTPServer) as url:
        yield url.rstrip("/")
"""

#: Tests that use the plugin, run before and after the unmarked ones (only where it is loaded).
MARKED = """
import pytest
from hfapp import chat

def test_{when}_with_the_fixture(hfrouter):
    chat()
    hfrouter.assert_answered_by("novita")

@pytest.mark.hfrouter_outage("provider-500")
def test_{when}_with_an_outage():
    with pytest.raises(Exception, match="500"):
        chat()
"""

#: Unmarked tests with non-router traffic; some fail on purpose (the same way in every run).
UNMARKED = """
import asyncio
import urllib.error
import urllib.request

import aiohttp
import httpx
import pytest
import requests
from huggingface_hub import InferenceClient

NOWHERE = "http://hfrouter-neighbour.invalid/"  # RFC 6761: never resolves


def session():
    s = requests.Session()
    s.trust_env = False
    return s


def test_httpx_loopback(server):
    with httpx.Client(trust_env=False) as client:
        assert client.get(server).text == "hello from loopback"


def test_httpx_async_loopback(server):
    async def get():
        async with httpx.AsyncClient(trust_env=False) as client:
            return (await client.get(server)).text

    assert asyncio.run(get()) == "hello from loopback"


def test_requests_loopback(server):
    assert session().get(server).text == "hello from loopback"


def test_inference_client_against_a_local_server(server):
    client = InferenceClient(base_url=server + "/v1", api_key="local")
    answer = client.chat_completion(messages=[{"role": "user", "content": "hi"}], max_tokens=5)
    assert answer.choices[0].message.content == "from the local server"


def test_httpx_unresolvable_host_handled():
    with pytest.raises(httpx.ConnectError):
        httpx.get(NOWHERE, trust_env=False)


def test_requests_unresolvable_host_handled():
    with pytest.raises(requests.ConnectionError):
        session().get(NOWHERE)


def test_httpx_unresolvable_host_unhandled():
    httpx.get(NOWHERE, trust_env=False)


def test_requests_unresolvable_host_unhandled():
    session().get(NOWHERE)


def test_aiohttp_loopback(server):
    async def get():
        async with aiohttp.ClientSession(trust_env=False) as client:
            async with client.get(server) as response:
                return await response.text()

    assert asyncio.run(get()) == "hello from loopback"


def test_aiohttp_unresolvable_host_handled():
    async def get():
        async with aiohttp.ClientSession(trust_env=False) as client:
            await client.get(NOWHERE)

    with pytest.raises(aiohttp.ClientConnectorError):
        asyncio.run(get())


def test_urllib_loopback(server):  # below every face: the socket guard's business
    assert urllib.request.urlopen(server).read() == b"hello from loopback"


def test_urllib_unresolvable_host_handled():
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(NOWHERE)


def test_fails_on_its_own(server):
    assert session().get(server).text == "something else"
"""

_OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+?)(?: - .*)?$")


def outcomes(result: pytest.RunResult, prefix: str) -> dict[str, str]:
    """Each test's outcome from the ``-rA`` summary: node id → PASSED, FAILED, ..."""
    found = {}
    for line in result.stdout.lines:
        match = _OUTCOME.match(line)
        if match and match.group(2).startswith(prefix):
            found[match.group(2)] = match.group(1)
    return found


def test_unmarked_non_router_traffic_is_the_same_with_and_without_the_plugin(hfapp: pytest.Pytester) -> None:
    hfapp.makeconftest(SERVER)
    hfapp.makepyfile(loopback=LOOPBACK)
    hfapp.makepyfile(
        test_a_marked=MARKED.format(when="before"),
        test_b_unmarked=UNMARKED,
        test_c_marked=MARKED.format(when="after"),
    )
    marked = ("--ignore=test_a_marked.py", "--ignore=test_c_marked.py")

    without = hfapp.runpytest_subprocess("-p", "no:hfrouter", "-rA", *marked)
    autoloaded = hfapp.runpytest_subprocess("-rA")
    active = hfapp.runpytest_subprocess("-p", "hfrouter", "-rA")

    expected = {
        f"test_b_unmarked.py::{name}": outcome
        for name, outcome in [
            ("test_httpx_loopback", "PASSED"),
            ("test_httpx_async_loopback", "PASSED"),
            ("test_requests_loopback", "PASSED"),
            ("test_inference_client_against_a_local_server", "PASSED"),
            ("test_httpx_unresolvable_host_handled", "PASSED"),
            ("test_requests_unresolvable_host_handled", "PASSED"),
            ("test_httpx_unresolvable_host_unhandled", "FAILED"),
            ("test_requests_unresolvable_host_unhandled", "FAILED"),
            ("test_aiohttp_loopback", "PASSED"),
            ("test_aiohttp_unresolvable_host_handled", "PASSED"),
            ("test_urllib_loopback", "PASSED"),
            ("test_urllib_unresolvable_host_handled", "PASSED"),
            ("test_fails_on_its_own", "FAILED"),
        ]
    }
    assert outcomes(without, "test_b_unmarked.py") == expected
    assert outcomes(autoloaded, "test_b_unmarked.py") == expected
    # The unhandled failures are the network's own, not the plugin's
    for result in (without, autoloaded):
        result.stdout.fnmatch_lines(["FAILED test_b_unmarked.py::test_httpx_unresolvable_host_unhandled - httpx.Con*"])
        assert "pytest-hfrouter" not in result.stdout.str()
    # ... and the plugin did act, in the same run, in the tests that asked
    assert outcomes(autoloaded, "test_a_marked.py") == {
        "test_a_marked.py::test_before_with_the_fixture": "PASSED",
        "test_a_marked.py::test_before_with_an_outage": "PASSED",
    }
    assert set(outcomes(autoloaded, "test_c_marked.py").values()) == {"PASSED"}
    autoloaded.stdout.fnmatch_lines(["hfrouter: mode=replay scope=marked (auto-loaded*"])
    # The control: loaded with -p hfrouter it acts everywhere, and the unresolvable host meets a miss
    changed = {k for k, v in outcomes(active, "test_b_unmarked.py").items() if expected[k] != v}
    assert changed == {
        "test_b_unmarked.py::test_httpx_unresolvable_host_handled",
        "test_b_unmarked.py::test_requests_unresolvable_host_handled",
        "test_b_unmarked.py::test_aiohttp_unresolvable_host_handled",
        "test_b_unmarked.py::test_urllib_unresolvable_host_handled",  # refused by the guard
    }
    active.stdout.fnmatch_lines(["*hfrouter-neighbour.invalid is not the router*"])
    active.stdout.fnmatch_lines(["*blocked a connection to hfrouter-neighbour.invalid*"])


#: An app that asks for JSON and for tool calls, through the real clients.
STRUCTURED_APP = """
from __future__ import annotations

import json

from huggingface_hub import InferenceClient
from openai import OpenAI
from pydantic import BaseModel

MODEL = "Qwen/Qwen2.5-72B-Instruct"
MESSAGES = [{"role": "user", "content": "Summarise the paper as JSON."}]
PAPER = {
    "$defs": {"Author": {"type": "object", "properties": {"name": {"type": "string"},
              "affiliation": {"type": ["string", "null"]}}, "required": ["name", "affiliation"],
              "additionalProperties": False}},
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "year": {"type": "integer", "minimum": 1900, "maximum": 2100},
        "authors": {"type": "array", "items": {"$ref": "#/$defs/Author"}, "minItems": 1},
        "verdict": {"enum": ["accept", "reject"]},
        "score": {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}]},
    },
    "required": ["title", "year", "authors", "verdict", "score"],
    "additionalProperties": False,
}
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                          "unit": {"enum": ["celsius", "fahrenheit"]}, "days": {"type": "integer", "minimum": 1}},
                          "required": ["city", "unit", "days"], "additionalProperties": False}}}
SEARCH = {"type": "function", "function": {"name": "search", "parameters": {"type": "object",
          "properties": {"query": {"type": "string"}}, "required": ["query"]}}}
TOOLS = [WEATHER, SEARCH]


def get_weather(city: str, unit: str, days: int) -> str:
    return f"{days} day(s) in {city}, in {unit}"


def search(query: str) -> str:
    return f"results for {query}"


def run_tool(name: str, arguments: str) -> str:
    return {"get_weather": get_weather, "search": search}[name](**json.loads(arguments))


def hf_client() -> InferenceClient:
    return InferenceClient(provider="novita", api_key="hf_fake")


def paper_schema_format() -> dict:
    return {"type": "json_schema", "json_schema": {"name": "paper", "schema": PAPER, "strict": True}}


def hf_paper(stream: bool = False) -> tuple[dict, str]:
    client = hf_client()  # kept: huggingface_hub 2.x closes a stream whose client is collected
    out = client.chat_completion(messages=MESSAGES, model=MODEL, response_format=paper_schema_format(),
                                      stream=stream, max_tokens=200)
    if stream:
        text, models = "", set()
        for chunk in out:
            models.add(chunk.model)
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
        return json.loads(text), models.pop() if len(models) == 1 else str(models)
    return json.loads(out.choices[0].message.content), out.model


def hf_json_object() -> dict:
    out = hf_client().chat_completion(messages=MESSAGES, model=MODEL, response_format={"type": "json_object"})
    return json.loads(out.choices[0].message.content)


def hf_tool(choice, stream: bool = False) -> str | None:
    client = hf_client()
    out = client.chat_completion(messages=MESSAGES, model=MODEL, tools=TOOLS, tool_choice=choice, stream=stream)
    if stream:
        calls: dict[int, dict] = {}
        for chunk in out:
            for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                entry = calls.setdefault(call.index, {"name": None, "arguments": ""})
                entry["name"] = entry["name"] or call.function.name
                entry["arguments"] += call.function.arguments or ""
        return run_tool(calls[0]["name"], calls[0]["arguments"]) if calls else None
    message = out.choices[0].message
    if not message.tool_calls:
        return None
    call = message.tool_calls[0]
    return run_tool(call.function.name, call.function.arguments)


def openai_client() -> OpenAI:
    return OpenAI(base_url="https://router.huggingface.co/v1", api_key="hf_fake", max_retries=0)


class Author(BaseModel):
    name: str
    affiliation: str | None


class Paper(BaseModel):
    title: str
    year: int
    authors: list[Author]


def openai_parsed() -> tuple[Paper, str]:
    out = openai_client().chat.completions.parse(model=MODEL + ":novita", messages=MESSAGES, response_format=Paper)
    return out.choices[0].message.parsed, out.model


def openai_tool(stream: bool = False) -> str:
    choice = {"type": "function", "function": {"name": "search"}}
    if not stream:
        out = openai_client().chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS, tool_choice=choice)
        call = out.choices[0].message.tool_calls[0]
        assert out.choices[0].finish_reason == "tool_calls"
        return run_tool(call.function.name, call.function.arguments)
    with openai_client().chat.completions.stream(model=MODEL, messages=MESSAGES, tools=TOOLS,
                                                 tool_choice=choice) as events:
        final = events.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    return run_tool(call.function.name, call.function.arguments)
"""

STRUCTURED_TESTS = """
import jsonschema

import app


def test_json_schema(hfrouter):
    paper, model = app.hf_paper()
    jsonschema.validate(paper, app.PAPER)
    assert model == app.MODEL  # the model the app named, not the recording's
    assert hfrouter.calls[-1].answered_by == "healthy"


def test_json_schema_streamed(hfrouter):
    paper, model = app.hf_paper(stream=True)
    jsonschema.validate(paper, app.PAPER)
    assert model == app.MODEL


def test_json_object(hfrouter):
    assert app.hf_json_object() == {}


def test_tool_required(hfrouter):
    assert app.hf_tool("required") == "1 day(s) in text, in celsius"


def test_tool_required_streamed(hfrouter):
    assert app.hf_tool("required", stream=True) == "1 day(s) in text, in celsius"


def test_tool_auto_is_a_plain_message(hfrouter):
    assert app.hf_tool("auto") is None


def test_openai_parse_with_pydantic(hfrouter):
    paper, model = app.openai_parsed()
    assert isinstance(paper, app.Paper) and paper.authors == []  # minimal: no minItems, no authors
    assert model == app.MODEL


def test_openai_named_tool(hfrouter):
    assert app.openai_tool() == "results for text"


def test_openai_named_tool_streamed(hfrouter):
    assert app.openai_tool(stream=True) == "results for text"
"""


def test_json_and_tool_apps_pass_on_healthy_answers_with_no_cassette(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=STRUCTURED_APP, test_structured=STRUCTURED_TESTS)

    result = pytester.runpytest_subprocess("-rA")  # auto-loaded: the tests opt in with the fixture

    result.assert_outcomes(passed=9)
    assert not list(pytester.path.rglob("*.yaml"))  # no cassette anywhere


GRADIO_APP = """
import gradio as gr


def greet(name: str, intensity: float) -> str:
    return "Hello, " + name + "!" * int(intensity)


def build() -> gr.Interface:
    return gr.Interface(fn=greet, inputs=["text", gr.Slider(1, 5, step=1)], outputs="text")
"""

GRADIO_TESTS = '''
import threading

from gradio_client import Client

from app_ui import build, greet


def wait_for_background_work():
    """Gradio reports analytics from threads (through huggingface_hub's telemetry queue); a UI
    test that waits for them sees their fate inside the test."""
    for thread in threading.enumerate():
        if "analytics" in thread.name:
            thread.join(10)
    try:
        from huggingface_hub.utils._telemetry import _TELEMETRY_QUEUE
    except ImportError:
        return
    _TELEMETRY_QUEUE.join()


def test_greet():
    assert greet("Ada", 2) == "Hello, Ada!!"


def test_build():
    demo = build()
    assert [type(c).__name__ for c in demo.input_components] == ["Textbox", "Slider"]
    wait_for_background_work()


def test_launch_and_call():
    demo = build()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, share=False)
    try:
        client = Client(demo.local_url, verbose=False)
        assert client.predict("World", 3, fn_index=0) == "Hello, World!!!"
    finally:
        demo.close()
    wait_for_background_work()
'''


def test_a_real_gradio_app_passes_the_same_with_and_without_the_plugin(pytester: pytest.Pytester) -> None:
    pytest.importorskip("gradio", reason="gradio is not in the test extras (too heavy for CI); pip install gradio")
    pytester.makepyfile(app_ui=GRADIO_APP, test_ui=GRADIO_TESTS)

    without = pytester.runpytest_subprocess("-p", "no:hfrouter", "-rA", "-W", "ignore")
    autoloaded = pytester.runpytest_subprocess("-rA", "-W", "ignore")
    active = pytester.runpytest_subprocess("-p", "hfrouter", "-rA", "-W", "ignore")

    expected = {f"test_ui.py::{name}": "PASSED" for name in ("test_greet", "test_build", "test_launch_and_call")}
    assert outcomes(without, "test_ui.py") == expected, without.stdout.str()
    assert outcomes(autoloaded, "test_ui.py") == expected, autoloaded.stdout.str()
    # The control: acting in every test, the plugin refuses Gradio's analytics (the issue's report)
    assert outcomes(active, "test_ui.py") != expected
    active.stdout.fnmatch_lines(["*api.gradio.app is not the router*"])
    # ... and what its miss offers fixes it: first the switches that turn the phone-homes off ...
    active.stdout.fnmatch_lines(["*turn it off with the environment variable GRADIO_ANALYTICS_ENABLED=False*"])
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        env.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        switched = pytester.runpytest_subprocess("-p", "hfrouter", "-rA", "-W", "ignore")
    assert outcomes(switched, "test_ui.py") == expected, switched.stdout.str()
    # ... else the analytics hosts let through, every test acted in
    pytester.makeini("[pytest]\nhfrouter_allow_hosts =\n    api.gradio.app\n    huggingface.co\n")
    allowed = pytester.runpytest_subprocess("-p", "hfrouter", "-rA", "-W", "ignore")
    assert outcomes(allowed, "test_ui.py") == expected, allowed.stdout.str()
