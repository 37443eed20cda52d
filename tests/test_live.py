"""Live mode, recording, probes, drift and the report — every time against the router double on 127.0.0.1.

The double runs in this process (`RouterDouble` over an `Engine` subclass that keeps every
request it receives, headers included, and can be scripted to answer differently); inner
pytest runs point ``--hfrouter-router-url`` and ``--hfrouter-hub-url`` at it. ``HF_TOKEN`` is a
fake, token-shaped value built at run time: no real token, and no token-looking literal here.
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import huggingface_hub
import pytest
import yaml
from conftest import SERVER_SIDE_AUTO, InnerRun, needs_httpx_client

from pytest_hfrouter.double import RouterDouble
from pytest_hfrouter.engine import Engine
from pytest_hfrouter.library import Library, shipped_library
from pytest_hfrouter.lint import main as lint_main
from pytest_hfrouter.markers import parse_outage
from pytest_hfrouter.traffic import Answer, Exchange, Request

#: a fake token the shape of a real one ("hf_" and 34 letters), built so no literal looks like one
TOKEN = "hf_" + "Fake" * 8 + "Tk"
#: another one, planted by the app in places the recorder must scrub
PLANTED = "hf_" + "Planted" * 5
#: what a Hugging Face token looks like (the recorder's and lint's pattern)
TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{16,}")
MODEL = "Qwen/Qwen2.5-72B-Instruct"
SCHEMA = "pytest-hfrouter/report/2"
JSON_HEADERS = (("Content-Type", "application/json"), ("x-request-id", "req-scripted"))
MESSAGES = '[{"role": "user", "content": "hi"}]'

Script = Callable[[Request], "Answer | None"]


class ScriptedEngine(Engine):
    """The double's engine: keeps every request it receives; ``script`` may answer first."""

    def __init__(self, library: Library) -> None:
        super().__init__(library)
        self.seen: list[Request] = []
        self.script: Script | None = None
        self._seen_lock = threading.Lock()

    def answer(self, request: Request) -> Answer:
        with self._seen_lock:
            self.seen.append(request)
        if self.script is not None:
            scripted = self.script(request)
            if scripted is not None:
                return scripted
        return super().answer(request)

    def chats(self) -> list[Request]:
        """The chat completions received (Hub look-ups left out)."""
        return [r for r in self.seen if urlsplit(r.url).path.endswith("/chat/completions")]

    def reset(self, *rules: tuple[str, dict[str, Any]]) -> None:
        """A fresh exchange with these outages (``(scenario, kwargs)``), no script, nothing seen."""
        self.begin(Exchange(rules=[parse_outage((name,), kwargs, self.library) for name, kwargs in rules]))
        self.script = None
        with self._seen_lock:
            self.seen.clear()


class Double:
    """The router double and its engine, as the tests use them."""

    def __init__(self, server: RouterDouble, engine: ScriptedEngine) -> None:
        self.server, self.engine = server, engine

    @property
    def url(self) -> str:
        return self.server.base_url

    def args(self, *extra: str, mode: str = "--live") -> list[str]:
        """An inner run's command line: the plugin, the mode and both URLs pointed at the double."""
        return ["-p", "hfrouter", mode, f"--hfrouter-router-url={self.url}", f"--hfrouter-hub-url={self.url}", *extra]

    def outage(self, name: str, **kwargs: Any) -> None:
        self.engine.reset((name, kwargs))


@pytest.fixture(scope="module")
def library() -> Library:
    return shipped_library()


@pytest.fixture(scope="module")
def double_server(library: Library) -> Iterator[Double]:
    engine = ScriptedEngine(library)
    engine.begin(Exchange())
    server = RouterDouble(engine).start()
    assert server.host == "127.0.0.1"
    try:
        yield Double(server, engine)
    finally:
        server.stop()


@pytest.fixture
def double(double_server: Double) -> Double:
    """The module's double, healthy and with an empty log for this test."""
    double_server.engine.reset()
    double_server.server.lines.clear()
    return double_server


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake token; and never this machine's CI summary file."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


def chat_answer(message: dict[str, Any] | None = None, **changes: Any) -> Answer:
    """A 200 chat completion; ``changes`` set (``None``: remove) top-level keys."""
    body: dict[str, Any] = {
        "id": "scripted-1",
        "object": "chat.completion",
        "created": 1739800000,
        "model": MODEL,
        "choices": [
            {"index": 0, "message": message or {"role": "assistant", "content": "scripted"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return Answer(200, "OK", JSON_HEADERS, json.dumps(body).encode(), source="script")


def is_chat(request: Request, stream: bool | None = None) -> bool:
    if not urlsplit(request.url).path.endswith("/chat/completions"):
        return False
    return stream is None or bool(json.loads(request.body or b"{}").get("stream")) == stream


def header(request: Request, name: str) -> list[str]:
    return [v for k, v in request.headers if k.lower() == name.lower()]


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def lower_keys(headers: dict[str, Any]) -> dict[str, Any]:
    return {name.lower(): value for name, value in headers.items()}


def no_token_in(result: pytest.RunResult) -> None:
    """The token never reaches the terminal."""
    assert TOKEN not in result.stdout.str() + result.stderr.str()


# -- 1. options -------------------------------------------------------------------------------
USAGE_ERRORS = {
    "live-without-token": (
        ["--live"],
        {},
        None,
        "ERROR: --live talks to the live router and needs HF_TOKEN: set it in the environment, "
        "never on the command line: export HF_TOKEN=hf_... *",
    ),
    "record-without-token": (
        ["--hfrouter-mode=record"],
        {},
        None,
        "ERROR: --hfrouter-mode=record talks to the live router and needs HF_TOKEN*",
    ),
    "ini-live-without-token": (
        [],
        {},
        "hfrouter_mode = live",
        "ERROR: hfrouter_mode = live (ini) talks * needs HF_TOKEN*",
    ),
    "contradiction": (
        ["--live", "--hfrouter-mode=replay"],
        {},
        None,
        "ERROR: --live and --hfrouter-mode=replay contradict each other: --live means --hfrouter-mode=live.*",
    ),
    "bad-mode-in-ini": ([], {}, "hfrouter_mode = nightly", "ERROR: hfrouter_mode = 'nightly' is not a mode. Valid *"),
    "bad-router-url": (
        ["--live", "--hfrouter-router-url=router.example"],
        {},
        None,
        "ERROR: --hfrouter-router-url: expected an http(s) URL with a host, * got 'router.example'",
    ),
    "bad-hub-url": (
        ["--live", "--hfrouter-hub-url=ftp://hub"],
        {},
        None,
        "ERROR: --hfrouter-hub-url: expected an http(s) URL with a host, * got 'ftp://hub'",
    ),
    "baseline-missing": (
        ["--hfrouter-baseline=last-night.json"],
        {},
        None,
        "ERROR: --hfrouter-baseline last-night.json: no such file. Pass a report written by --hfrouter-report *",
    ),
    "baseline-not-json": (
        ["--hfrouter-baseline=notes.json"],
        {"notes.json": "not json"},
        None,
        "ERROR: --hfrouter-baseline notes.json: not a JSON report (*",
    ),
    "baseline-not-a-report": (
        ["--hfrouter-baseline=other.json"],
        {"other.json": '{"schema": "something/else"}'},
        None,
        'ERROR: --hfrouter-baseline other.json: not a pytest-hfrouter report (expected "schema": '
        '"pytest-hfrouter/report/2")',
    ),
    "negative-budget": (
        ["--live", "--hfrouter-probe-budget=-1"],
        {},
        None,
        "ERROR: --hfrouter-probe-budget: expected a whole number >= 0, got '-1'",
    ),
}


@pytest.mark.parametrize(("args", "files", "ini", "expected"), USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    files: dict[str, str],
    ini: str | None,
    expected: str,
) -> None:
    if "needs HF_TOKEN" in expected:
        monkeypatch.delenv("HF_TOKEN")
    for name, text in files.items():
        (pytester.path / name).write_text(text)
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_never_runs="def test_never(): pass")
    result = pytester.runpytest("-p", "hfrouter", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])
    assert "test_never" not in result.stdout.str()


def test_ini_mode_and_urls(hfapp: pytest.Pytester, double: Double) -> None:
    """``hfrouter_mode = live`` and both URLs from the ini file: live, against the double."""
    hfapp.makeini(
        f"[pytest]\nhfrouter_mode = live\nhfrouter_router_url = {double.url}/\nhfrouter_hub_url = {double.url}\n"
    )
    hfapp.makepyfile(
        test_ini="""
        from hfapp import chat

        def test_chat(hfrouter):
            assert chat("novita").choices[0].message.content
            assert [c.answered_by for c in hfrouter.calls] == ["live", "live"]
        """
    )
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"hfrouter: mode=live router={double.url} hub={double.url} scope=all (loaded with -p hfrouter)"]
    )
    assert [r.url for r in double.engine.chats()] == ["https://router.huggingface.co/novita/v3/openai/chat/completions"]
    no_token_in(result)


def test_replay_is_the_default_and_needs_no_token(
    hfapp: pytest.Pytester, double: Double, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN")
    hfapp.makepyfile(
        test_default_replay="""
        from hfapp import chat

        def test_chat(hfrouter):
            chat("novita")
            assert {c.answered_by for c in hfrouter.calls} == {"healthy"}
        """
    )
    result = hfapp.runpytest("-p", "hfrouter", f"--hfrouter-router-url={double.url}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["hfrouter: mode=replay scope=all (loaded with -p hfrouter) (--hfrouter-router-url: for the live and record*"]
    )
    assert double.engine.seen == []


# -- 2. every client kind reaches the double, with the token ------------------------------------
CLIENTS = f"""
import asyncio

import aiohttp
import httpx
import requests
from huggingface_hub import AsyncInferenceClient, InferenceClient
from openai import OpenAI

from hfapp import MODEL, auto_chat, chat

MESSAGES = {MESSAGES}


def test_provider_route():
    assert chat("novita").choices[0].message.content


def test_auto_route():
    assert auto_chat(MODEL).choices[0].message.content


def test_streamed():
    client = InferenceClient(provider="together", api_key="hf_fake")  # kept alive while the stream is read
    chunks = list(client.chat_completion(messages=MESSAGES, model=MODEL, max_tokens=5, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_async_client():
    async def main():
        client = AsyncInferenceClient(provider="fireworks-ai", api_key="hf_fake")
        return await client.chat_completion(messages=MESSAGES, model=MODEL, max_tokens=5)

    assert asyncio.run(main()).choices[0].message.content


def test_openai_sdk():
    client = OpenAI(base_url="https://router.huggingface.co/v1", api_key="hf_fake")
    completion = client.chat.completions.create(model=MODEL + ":cerebras", messages=MESSAGES)
    assert completion.choices[0].message.content


def test_requests():
    answer = requests.post(
        "https://router.huggingface.co/novita/v3/openai/chat/completions",
        json={{"model": MODEL, "messages": MESSAGES}},
        headers={{"Authorization": "Bearer hf_fake"}},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["choices"]


def test_httpx_without_authorization():
    answer = httpx.post(
        "https://router.huggingface.co/together/v1/chat/completions",
        json={{"model": MODEL, "messages": MESSAGES}},
        timeout=10,
    )
    assert answer.status_code == 200 and answer.json()["choices"]


def test_aiohttp_streamed():
    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.post(
                "https://router.huggingface.co/sambanova/v1/chat/completions",
                json={{"model": MODEL, "messages": MESSAGES, "stream": True}},
                headers={{"Authorization": "Bearer hf_fake"}},
            ) as answer:
                assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/event-stream")
                return [line async for line in answer.content]

    lines = asyncio.run(main())
    assert lines[0].startswith(b"data: {{") and b"data: [DONE]\\n" in lines
"""


#: Where InferenceClient's auto route goes: the router's own auto route from huggingface_hub 1.0; before
#: it, the client fetches the mapping and calls its first provider (docs/ROUTER-FACTS.md §1.1: 0.36's
#: ``get_provider_helper`` takes ``next(iter(provider_mapping))``), novita in the mapping the double serves.
AUTO_CHAT_PATH = "/v1/chat/completions" if SERVER_SIDE_AUTO else "/novita/v3/openai/chat/completions"


def test_every_client_goes_live_with_the_token(hfapp: pytest.Pytester, double: Double) -> None:
    hfapp.makepyfile(test_client_kinds=CLIENTS)
    result = hfapp.runpytest(*double.args("--hfrouter-report=report.json"))
    result.assert_outcomes(passed=8)
    no_token_in(result)
    paths = sorted(urlsplit(r.url).path for r in double.engine.chats())
    assert paths == sorted(
        [
            "/novita/v3/openai/chat/completions",  # InferenceClient, provider route
            AUTO_CHAT_PATH,  # InferenceClient, auto route
            "/together/v1/chat/completions",  # streamed
            "/fireworks-ai/inference/v1/chat/completions",  # AsyncInferenceClient
            "/v1/chat/completions",  # openai SDK
            "/novita/v3/openai/chat/completions",  # requests
            "/together/v1/chat/completions",  # httpx
            "/sambanova/v1/chat/completions",  # aiohttp
        ]
    )
    mappings = [r for r in double.engine.seen if "/api/models/" in r.url]
    # the provider-route clients looked the mapping up on the (overridden) Hub; before 1.0 the auto route too
    assert len(mappings) == (3 if SERVER_SIDE_AUTO else 4)
    for request in double.engine.seen:  # the app's "hf_fake" (or no key at all) became HF_TOKEN
        assert header(request, "Authorization") == [f"Bearer {TOKEN}"], request.url
    data = report(hfapp.path / "report.json")
    inference = [c for c in data["calls"] if c["route"] in ("provider", "auto")]
    assert {c["test"].split("::")[1] for c in inference} == {
        "test_provider_route",
        "test_auto_route",
        "test_streamed",
        "test_async_client",
        "test_openai_sdk",
        "test_requests",
        "test_httpx_without_authorization",
        "test_aiohttp_streamed",
    }
    assert all(c["status"] == 200 and c["error"] is None for c in data["calls"])
    by_test = {c["test"].split("::")[1]: c for c in inference}
    assert by_test["test_streamed"]["stream"] is True
    assert (by_test["test_aiohttp_streamed"]["stream"], by_test["test_aiohttp_streamed"]["provider"]) == (
        True,
        "sambanova",
    )
    assert (by_test["test_openai_sdk"]["route"], by_test["test_openai_sdk"]["provider"]) == ("auto", "cerebras")
    assert by_test["test_async_client"]["provider"] == "fireworks-ai"
    assert by_test["test_provider_route"]["inference_provider"] is None  # the router names its pick on the auto route
    assert by_test["test_openai_sdk"]["inference_provider"] == "cerebras"
    assert TOKEN not in (hfapp.path / "report.json").read_text()


# -- 3. hybrid: outage markers still inject -----------------------------------------------------
def test_outage_markers_inject_and_the_rest_is_live(hfapp: pytest.Pytester, double: Double) -> None:
    hfapp.makepyfile(
        test_hybrid="""
        import pytest

        from hfapp import chat, status_of

        @pytest.mark.hfrouter_outage("provider-500", provider="together")
        def test_fallback(hfrouter):
            assert status_of(lambda: chat("together")) == 500
            assert chat("novita").choices[0].message.content
            assert [(c.provider, c.answered_by) for c in hfrouter.inference_calls] == [
                ("together", "scenario:provider-500"), ("novita", "live")
            ]

        @pytest.mark.hfrouter_live
        def test_live_only(hfrouter):
            chat("together")
            assert hfrouter.inference_calls[-1].answered_by == "live"
        """
    )
    result = hfapp.runpytest(*double.args("--hfrouter-report=report.json"))
    result.assert_outcomes(passed=2)
    chats = [(urlsplit(r.url).path, r.url) for r in double.engine.chats()]
    assert [path for path, _ in chats] == ["/novita/v3/openai/chat/completions", "/together/v1/chat/completions"]
    calls = [
        (c["test"].split("::")[1], c["provider"])
        for c in report(hfapp.path / "report.json")["calls"]
        if c["route"] == "provider"
    ]
    assert calls == [("test_fallback", "novita"), ("test_live_only", "together")]  # the injected 500 is not "live"


def test_chaos_in_live_mode_injects_like_an_outage_rule(hfapp: pytest.Pytester, double: Double) -> None:
    hfapp.makepyfile(
        test_chaotic="""
        from hfapp import chat, status_of

        def test_calls():
            for _ in range(4):
                status_of(lambda: chat("together"))
        """
    )
    args = (
        "--hfrouter-chaos-seed=5",
        "--hfrouter-chaos-rate=0.5",
        "--hfrouter-chaos-scenarios=provider-500",
        "--hfrouter-report=report.json",
    )
    hfapp.runpytest(*double.args(*args)).assert_outcomes(passed=1)
    test = report(hfapp.path / "report.json")["tests"][0]
    answered = [c["answered_by"] for c in test["calls"] if c["route"] == "provider"]
    assert set(answered) == {"live", "scenario:provider-500"}  # at rate 0.5 over 4 calls: both, for this seed
    injected = [i["call"] for i in test["chaos"] if i["route"] == "provider"]
    assert injected == [n for n, c in enumerate(test["calls"]) if c["answered_by"] == "scenario:provider-500"]
    assert len(double.engine.chats()) == answered.count("live")  # an injected call never reached the router


# -- 4. record → replay ------------------------------------------------------------------------
RECORDED_APP = """
import json
import socket
from pathlib import Path

from hfapp import chat

CALLS = {calls}


def test_chat(hfrouter):
    contents = [chat(provider).choices[0].message.content for provider in CALLS]
    with Path("seen.jsonl").open("a") as out:
        out.write(json.dumps({{"contents": contents, "answered_by": [c.answered_by for c in hfrouter.calls]}}) + "\\n")
"""


class Numbered:
    """A script answering each chat with a numbered, provider-named content."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, request: Request) -> Answer | None:
        if not is_chat(request):
            return None
        self.count += 1
        provider = urlsplit(request.url).path.split("/")[1]
        return chat_answer({"role": "assistant", "content": f"{provider} #{self.count}"})


def last_seen(pytester: pytest.Pytester) -> dict[str, Any]:
    lines = (pytester.path / "seen.jsonl").read_text().splitlines()
    data: dict[str, Any] = json.loads(lines[-1])
    return data


def test_a_recording_that_cannot_be_written_is_one_clear_error(hfapp: pytest.Pytester, double: Double) -> None:
    """A full disk, a read-only folder (here: a file where the cassette's folder should be). An audit met a
    traceback of the plugin's own code at teardown, and a recordings section that said "nothing recorded:
    no test ... sent a call the router answered"."""
    double.engine.script = Numbered()
    hfapp.makepyfile(test_rec=RECORDED_APP.format(calls='["novita"]'))
    (hfapp.path / "cassettes").mkdir()
    (hfapp.path / "cassettes" / "test_rec").write_text("a file where the module's cassette folder goes\n")
    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"), "--hfrouter-report=r.json")
    result.assert_outcomes(passed=1, errors=1)
    output = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "pytest-hfrouter: could not write this test's recording to */test_chat.yaml (*/cassettes/test_rec is a "
            "file, not a folder): what the file held is unchanged. *",
            "1 cassette(s) could not be written (each unchanged):",
            "  */test_chat.yaml: */cassettes/test_rec is a file, not a folder",
        ]
    )
    assert "nothing recorded" not in output and "recorder.py" not in output and "Traceback" not in output
    (entry,) = json.loads((hfapp.path / "r.json").read_text())["recorded"]
    assert entry["error"].endswith("test_rec is a file, not a folder") and entry["written"] == 0


def test_a_recording_run_interrupted_in_a_test_says_what_it_did_not_write(
    hfapp: pytest.Pytester, double: Double
) -> None:
    """Ctrl-C (here a KeyboardInterrupt in the body) skips the test's teardown, where its cassette is written:
    the finished tests' cassettes are, and the interrupted one's calls are named as not written (an audit:
    they vanished without a word)."""
    double.engine.script = Numbered()
    hfapp.makepyfile(
        test_rec="""
        from hfapp import chat

        def test_first(hfrouter):
            chat("novita")

        def test_stopped(hfrouter):
            chat("novita")
            raise KeyboardInterrupt
        """
    )
    # in a process of its own: a KeyboardInterrupt in an in-process run stops this session too
    result = hfapp.runpytest_subprocess(*double.args(mode="--hfrouter-mode=record"), "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "2 interaction(s) written into 1 cassette(s):",
            "  */test_rec/test_first.yaml: 2 interaction(s)",
            "1 cassette(s) could not be written (each unchanged):",
            "  */test_rec/test_stopped.yaml: the run was interrupted while its test ran: its 2 recorded call(s) were "
            "not written",
        ]
    )
    assert not (hfapp.path / "cassettes" / "test_rec" / "test_stopped.yaml").exists()


def test_record_replay_append_and_rewrite(
    hfapp: pytest.Pytester, double: Double, monkeypatch: pytest.MonkeyPatch
) -> None:
    numbered = double.engine.script = Numbered()
    hfapp.makepyfile(test_rec=RECORDED_APP.format(calls='["novita"]'))
    cassette = hfapp.path / "cassettes" / "test_rec" / "test_chat.yaml"

    # record: the test's default cassette is written, scrubbed, with its metadata
    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"))
    result.assert_outcomes(passed=1)
    assert last_seen(hfapp) == {"contents": ["novita #1"], "answered_by": ["live", "live"]}
    recorded = load_yaml(cassette)
    assert [(i["request"]["method"], urlsplit(i["request"]["uri"]).path) for i in recorded["interactions"]] == [
        ("GET", f"/api/models/{MODEL}"),
        ("POST", "/novita/v3/openai/chat/completions"),
    ]
    assert all(lower_keys(i["request"]["headers"])["authorization"] == ["<redacted>"] for i in recorded["interactions"])
    meta = recorded["metadata"]["hfrouter"]
    assert meta["recorded_with"]["huggingface_hub"] == huggingface_hub.__version__
    assert datetime.datetime.fromisoformat(meta["recorded_at"]).tzinfo is not None
    first_run = meta["run_id"]
    assert not list(cassette.parent.glob(".*"))  # no temporary file left behind

    # replay, without a token: the recording answers, nothing reaches the double
    double.engine.reset()
    with monkeypatch.context() as patch:
        patch.delenv("HF_TOKEN")
        result = hfapp.runpytest("-p", "hfrouter", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    assert last_seen(hfapp) == {"contents": ["novita #1"], "answered_by": ["cassette:test_chat.yaml"] * 2}
    assert double.engine.seen == []

    # record again, nothing new: the recording answers and the cassette is left as it was
    before = cassette.read_text()
    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"))
    result.assert_outcomes(passed=1)
    assert double.engine.seen == []
    assert cassette.read_text() == before

    # record with a new call: appended; the recorded ones still answer from the cassette
    double.engine.script = numbered
    hfapp.makepyfile(test_rec=RECORDED_APP.format(calls='["novita", "together"]'))
    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"))
    result.assert_outcomes(passed=1)
    assert last_seen(hfapp)["contents"] == ["novita #1", "together #2"]
    assert [urlsplit(r.url).path for r in double.engine.seen] == ["/together/v1/chat/completions"]
    appended = load_yaml(cassette)["interactions"]
    assert [urlsplit(i["request"]["uri"]).path for i in appended] == [
        f"/api/models/{MODEL}",
        "/novita/v3/openai/chat/completions",
        "/together/v1/chat/completions",
    ]

    # rewrite: everything live again, the cassette recorded afresh
    double.engine.reset()
    double.engine.script = Numbered()
    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=rewrite"))
    result.assert_outcomes(passed=1)
    assert last_seen(hfapp) == {"contents": ["novita #1", "together #2"], "answered_by": ["live"] * 3}
    rewritten = load_yaml(cassette)
    assert len(rewritten["interactions"]) == 3 == len(double.engine.seen)
    assert rewritten["metadata"]["hfrouter"]["run_id"] != first_run
    assert '"content": "novita #1"' in rewritten["interactions"][1]["response"]["body"]["string"]


def test_a_rewrite_never_replaces_what_a_link_leads_to_unless_it_is_a_cassette(
    hfapp: pytest.Pytester, double: Double
) -> None:
    """A test's default cassette path that is a link to a file outside the cassette folder, not a cassette (an
    audit: a rewrite replaced that file with the recording); a link to a cassette is rewritten as before."""
    hfapp.makepyfile(test_rec=RECORDED_APP.format(calls='["novita"]'))
    folder = hfapp.path / "cassettes" / "test_rec"
    folder.mkdir(parents=True)
    outside = hfapp.path / "outside.txt"
    outside.write_text("precious data, not a cassette\n")
    (folder / "test_chat.yaml").symlink_to(outside)
    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=rewrite"))
    result.stdout.fnmatch_lines(
        [f"*it is a link to {outside}, which is not a cassette: a rewrite replaces a cassette*"]
    )
    assert outside.read_text() == "precious data, not a cassette\n"
    (folder / "test_chat.yaml").unlink()
    kept = hfapp.path / "kept.yaml"
    hfapp.runpytest(*double.args(mode="--hfrouter-mode=record")).assert_outcomes(passed=1)
    (folder / "test_chat.yaml").rename(kept)
    (folder / "test_chat.yaml").symlink_to(kept)
    hfapp.runpytest(*double.args(mode="--hfrouter-mode=rewrite")).assert_outcomes(passed=1)
    assert (folder / "test_chat.yaml").is_symlink()
    assert load_yaml(kept)["interactions"]


def test_a_rewrite_whose_calls_got_no_response_keeps_the_cassette(hfapp: pytest.Pytester, double: Double) -> None:
    """A rewrite with the router unreachable (a proxy down, a wrong port) leaves the recording as it was
    (an audit: a recorded outage was replaced by the mapping alone, and replay went green on the healthy
    library), and says nothing of the old cassette's interactions the rewrite did not request."""
    double.engine.script = Numbered()
    hfapp.makepyfile(test_rec=RECORDED_APP.format(calls='["novita", "together"]'))
    cassette = hfapp.path / "cassettes" / "test_rec" / "test_chat.yaml"
    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"))
    result.assert_outcomes(passed=1)
    before = cassette.read_bytes()

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        unreachable = f"--hfrouter-router-url=http://127.0.0.1:{closed.getsockname()[1]}"
    result = hfapp.runpytest(
        "-p", "hfrouter", "--hfrouter-mode=rewrite", unreachable, f"--hfrouter-hub-url={double.url}"
    )
    assert cassette.read_bytes() == before
    result.stdout.fnmatch_lines(
        [
            "*HFRouterWarning: pytest-hfrouter: 1 of this test's calls got no complete response, so this rewrite left "
            f"{cassette} as it was*"
        ]
    )
    assert "never requested" not in result.stdout.str()


def test_tests_that_make_the_same_request_into_a_shared_cassette_are_warned(
    hfapp: pytest.Pytester, double: Double
) -> None:
    """Two tests of one shared cassette ask novita the same model with different prompts: a cassette
    matches by meaning, so replay cannot tell their answers apart, and a rewrite of one replaces the
    other's. The recording says so (an audit: it read as "rewriting one test leaves its neighbours'
    recordings in place" and lost one)."""
    double.engine.script = Numbered()
    hfapp.makepyfile(
        test_shared="""
        import pytest
        from hfapp import chat

        pytestmark = pytest.mark.hfrouter_cassette("shared.yaml")

        def test_apple():
            chat("novita")

        def test_banana():
            chat("novita")

        def test_together():
            chat("together")
        """
    )
    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=rewrite"))
    result.assert_outcomes(passed=3)
    text = result.stdout.str()
    assert text.count("is shared by several tests, and another test's recording in it made the same request") == 1
    result.stdout.fnmatch_lines(
        [
            "*test_shared.py:*: HFRouterWarning: pytest-hfrouter: *shared.yaml is shared by several tests*",
            "*- POST https://router.huggingface.co/novita/v3/openai/chat/completions",
            "*Give each test a cassette of its own*",
        ]
    )
    # a rewrite of one test: its own earlier recording is no other test's (an audit: every rewrite warned)
    result = hfapp.runpytest(*double.args("test_shared.py::test_together", mode="--hfrouter-mode=rewrite"))
    result.assert_outcomes(passed=1)
    assert "is shared by several tests" not in result.stdout.str()
    result = hfapp.runpytest(*double.args("test_shared.py::test_banana", mode="--hfrouter-mode=rewrite"))
    result.assert_outcomes(passed=1)
    assert result.stdout.str().count("is shared by several tests") == 1  # test_apple's recording, still
    shared = yaml.safe_load((hfapp.path / "cassettes" / "test_shared" / "shared.yaml").read_text())
    assert len(shared["metadata"]["hfrouter"]["tests"]) == len(shared["interactions"])


def _outward_address() -> str | None:
    """This machine's IPv4 address on its network (not loopback), or None where it has none."""
    try:
        found = subprocess.run(["hostname", "-I"], capture_output=True, text=True, check=False).stdout.split()
    except OSError:
        return None
    return next((a for a in found if a.count(".") == 3 and not a.startswith("127.")), None)


def test_a_recording_records_an_allowed_other_host(hfapp: pytest.Pytester, double: Double) -> None:
    """A request to another host that ini hfrouter_allow_hosts lets through is recorded, so replay answers
    it offline (an audit: it went through unrecorded, and the fresh recording failed offline)."""
    address = _outward_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    server = http.server.ThreadingHTTPServer((address, 0), _OtherApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://{address}:{server.server_address[1]}/moderate"
        hfapp.makepyfile(
            test_other=f"""
            import httpx
            from hfapp import chat

            def test_answer_then_moderate():
                assert chat("together").choices[0].message.content
                assert httpx.post("{url}", json={{"text": "hi"}}).json() == {{"flagged": False}}
            """
        )
        result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"), "-o", f"hfrouter_allow_hosts={address}")
        result.assert_outcomes(passed=1)
    finally:
        server.shutdown()
        server.server_close()
    cassette = load_yaml(hfapp.path / "cassettes" / "test_other" / "test_answer_then_moderate.yaml")
    assert [i["request"]["uri"] for i in cassette["interactions"]][-1] == url
    result = hfapp.runpytest("-p", "hfrouter")  # offline: the server is gone, the cassette answers
    result.assert_outcomes(passed=1)


class _OtherApi(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = b'{"flagged": false}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


FAILING_APP = """
import json
import socket
from pathlib import Path

from hfapp import MODEL, status_of
from huggingface_hub import InferenceClient

STREAM = {stream}


def call(provider):
    client = InferenceClient(provider=provider, api_key="hf_fake")
    answer = client.chat_completion(messages=[{{"role": "user", "content": "hi"}}], model=MODEL, stream=STREAM)
    return list(answer) if STREAM else answer


def test_chat(hfrouter):
    statuses = [status_of(lambda: call(provider)) for provider in ("novita", "together")]
    with Path("seen.jsonl").open("a") as out:
        out.write(json.dumps({{"statuses": statuses, "answered_by": [c.answered_by for c in hfrouter.calls]}}) + "\\n")
"""


@pytest.mark.parametrize(
    ("scenario", "stream", "said", "recorded_status", "replayed"),
    [
        ("novita-500", False, "now holds it:", 500, [500, 200]),
        ("connection-reset", False, "does not record it:", None, [200, 200]),
        ("stream-cut", True, "does not record it:", None, [200, 200]),
    ],
)
def test_a_recording_says_what_it_will_not_replay_healthy(
    hfapp: pytest.Pytester,
    double: Double,
    scenario: str,
    stream: bool,
    said: str,
    recorded_status: int | None,
    replayed: list[int],
) -> None:
    """Recorded while a provider was down: a failed answer goes into the cassette, and the run
    says so with the command that records it again; no complete response (a reset, a cut
    stream) stays out of the cassette, which still loads, and the run names the marker that
    tests the fault offline. Either way the cassette replays."""
    double.outage(scenario, provider="novita")
    hfapp.makepyfile(test_rec=FAILING_APP.format(stream=stream))
    cassette = hfapp.path / "cassettes" / "test_rec" / "test_chat.yaml"

    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"))
    result.assert_outcomes(passed=1, warnings=1)
    statuses = [i["response"]["status"]["code"] for i in load_yaml(cassette)["interactions"]]
    novita = "/novita/v3/openai/chat/completions"
    assert f"{cassette} {said}" in result.stdout.str()
    kept = "1 of them failures" if recorded_status else "1 call(s) with no complete response left out"
    result.stdout.fnmatch_lines([f"  {cassette}: {2 if recorded_status is None else 3} interaction(s) ({kept})"])
    if recorded_status is not None:
        assert statuses == [200, recorded_status, 200]
        result.stdout.fnmatch_lines(
            [
                f"*- POST https://router.huggingface.co{novita}: 500 Internal Server Error",
                "*Replay answers these calls with that failure, not a healthy answer. If the provider was down, "
                "record again when it is healthy: pytest -p hfrouter --hfrouter-mode=rewrite "
                f"--hfrouter-router-url '{double.url}' --hfrouter-hub-url '{double.url}' "
                "'test_rec.py::test_chat'*",
            ]
        )
    else:
        assert statuses == [200, 200]  # the mapping and together: no novita interaction
        assert novita not in cassette.read_text()
        offline = f"@pytest.mark.hfrouter_outage('{scenario}', provider='novita')"
        result.stdout.fnmatch_lines([f"*- POST https://router.huggingface.co{novita}: *(offline: {offline})"])

    double.engine.reset()
    result = hfapp.runpytest("-p", "hfrouter", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    assert last_seen(hfapp)["statuses"] == replayed
    assert double.engine.seen == []


AIOHTTP_RECORDED = """
import asyncio
import json
import socket
from pathlib import Path

import aiohttp

URL = "https://router.huggingface.co/novita/v3/openai/chat/completions"
BODY = {{"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{{"role": "user", "content": "hi"}}]}}


def test_chat(hfrouter):
    async def main():
        async with aiohttp.ClientSession(headers={{"Authorization": "Bearer hf_fake"}}) as session:
            async with session.post(URL, json=BODY) as answer:
                answer.raise_for_status()
                content = (await answer.json())["choices"][0]["message"]["content"]
            async with session.post(URL, json={{**BODY, "stream": True}}) as answer:
                events = [line async for line in answer.content if line.startswith(b"data: ")]
        return content, events

    content, events = asyncio.run(main())
    with Path("seen.jsonl").open("a") as out:
        out.write(json.dumps({{"content": content, "events": [e.decode() for e in events],
                              "answered_by": [c.answered_by for c in hfrouter.calls]}}) + "\\n")
"""


def test_aiohttp_records_and_replays(hfapp: pytest.Pytester, double: Double, monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp calls, plain and streamed, go live with the token, are recorded, and replay offline."""
    numbered = Numbered()  # the plain chat; the stream is the double's healthy one
    double.engine.script = lambda request: numbered(request) if is_chat(request, stream=False) else None
    hfapp.makepyfile(test_rec=AIOHTTP_RECORDED.format())
    cassette = hfapp.path / "cassettes" / "test_rec" / "test_chat.yaml"

    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"))
    result.assert_outcomes(passed=1)
    no_token_in(result)
    live = last_seen(hfapp)
    assert live["content"] == "novita #1" and live["answered_by"] == ["live", "live"]
    assert live["events"][-1] == "data: [DONE]\n" and len(live["events"]) > 2
    assert [header(r, "Authorization") for r in double.engine.seen] == [[f"Bearer {TOKEN}"]] * 2
    recorded = load_yaml(cassette)["interactions"]
    assert [json.loads(i["request"]["body"]).get("stream", False) for i in recorded] == [False, True]
    assert '"content": "novita #1"' in recorded[0]["response"]["body"]["string"]
    assert recorded[1]["response"]["body"]["string"].rstrip().endswith("data: [DONE]")

    double.engine.reset()
    with monkeypatch.context() as patch:
        patch.delenv("HF_TOKEN")
        result = hfapp.runpytest("-p", "hfrouter", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    assert double.engine.seen == []
    replayed = last_seen(hfapp)
    assert replayed == {**live, "answered_by": ["cassette:test_chat.yaml"] * 2}


AIOHTTP_LIVE_FAULTS = """
import asyncio
import json
import socket
from pathlib import Path

import aiohttp

URL = "https://router.huggingface.co/novita/v3/openai/chat/completions"
BODY = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def test_live_fault(hfrouter):
    lines = []

    async def main():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            async with session.post(URL, json=BODY, headers={"Authorization": "Bearer hf_fake"}) as answer:
                async for line in answer.content:
                    lines.append(line)

    try:
        asyncio.run(main())
        error = None
    except Exception as exc:
        error = type(exc).__name__
    with Path("seen.jsonl").open("a") as out:
        out.write(json.dumps({"error": error, "events": sum(line.startswith(b"data: ") for line in lines)}) + "\\n")
"""


@pytest.mark.parametrize(
    ("scenario", "error", "events"), [("stream-cut", "ClientPayloadError", 5), ("connection-reset", "ClientOSError", 0)]
)
def test_aiohttp_meets_a_live_fault_as_over_its_own_socket(
    hfapp: pytest.Pytester, double: Double, scenario: str, error: str, events: int
) -> None:
    """A fault of the live router (here the double's real socket) reaches the app as aiohttp's own
    exception, after the events that came, and the report records the failed call."""
    double.outage(scenario, provider="novita")
    hfapp.makepyfile(test_fault=AIOHTTP_LIVE_FAULTS)
    result = hfapp.runpytest(*double.args("--hfrouter-report=report.json"))
    result.assert_outcomes(passed=1)
    assert last_seen(hfapp) == {"error": error, "events": events}
    (call,) = [c for c in report(hfapp.path / "report.json")["calls"] if c["route"] == "provider"]
    assert call["error"].startswith(f"{error}: ")
    assert call["status"] == (200 if events else None)  # a cut stream had its status line; a reset none


def test_recording_under_xdist_never_corrupts(
    hfapp: pytest.Pytester,
    double: Double,
    write_cassette: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    shared = write_cassette("cassettes/test_many/shared.yaml")
    hfapp.makepyfile(
        test_many="""
        import httpx
        import pytest

        @pytest.mark.hfrouter_cassette("shared.yaml")
        @pytest.mark.parametrize("n", range(10))
        def test_shared(n):
            answer = httpx.get(f"https://huggingface.co/api/models/org/model-{n}?expand=inferenceProviderMapping")
            assert answer.json()["id"] == f"org/model-{n}"

        @pytest.mark.parametrize("n", range(4))
        def test_own(n):
            answer = httpx.get(f"https://huggingface.co/api/models/org/own-{n}?expand=inferenceProviderMapping")
            assert answer.json()["id"] == f"org/own-{n}"
        """
    )
    result = hfapp.runpytest(*double.args("-n", "2", mode="--hfrouter-mode=record"))
    result.assert_outcomes(passed=14)
    interactions = load_yaml(shared)["interactions"]
    assert len(interactions) == 11  # the one it had, and one per test
    assert sorted(urlsplit(i["request"]["uri"]).path for i in interactions[1:]) == sorted(
        f"/api/models/org/model-{n}" for n in range(10)
    )
    own = sorted(p.name for p in shared.parent.glob("test_own*.yaml"))
    assert own == [f"test_own[{n}].yaml" for n in range(4)]
    assert all(len(load_yaml(shared.parent / name)["interactions"]) == 1 for name in own)
    assert not [p for p in shared.parent.iterdir() if p.name.startswith(".")]  # no temporary or lock file
    capsys.readouterr()
    assert lint_main([str(hfapp.path / "cassettes")]) == 0
    assert capsys.readouterr().out == "5 cassette(s) checked, 0 problem(s)\n"
    # ... and all of it replays
    double.engine.reset()
    with monkeypatch.context() as patch:
        patch.delenv("HF_TOKEN")
        result = hfapp.runpytest("-p", "hfrouter", "-p", "no:xdist")
    result.assert_outcomes(passed=14)
    assert double.engine.seen == []
    # rewrite under xdist: what earlier runs wrote goes, what this run's workers write all stays
    result = hfapp.runpytest(*double.args("-n", "2", mode="--hfrouter-mode=rewrite"))
    result.assert_outcomes(passed=14)
    assert len(double.engine.seen) == 14
    rewritten = load_yaml(shared)
    assert sorted(urlsplit(i["request"]["uri"]).path for i in rewritten["interactions"]) == sorted(
        f"/api/models/org/model-{n}" for n in range(10)
    )
    assert all(len(load_yaml(shared.parent / name)["interactions"]) == 1 for name in own)


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Writers appending to one cassette as fast as they can (each opens its own lock, as a process would):
    every interaction is kept, the file stays whole, nothing is left beside it."""
    from pytest_hfrouter.live import Observed
    from pytest_hfrouter.recorder import interaction, write_cassette

    path = tmp_path / "cassettes" / "shared.yaml"
    answer = Observed(200, "OK", (("Content-Type", "application/json"),), b'{"id": "org/x"}', 0.01)

    def uri(writer: int, n: int) -> str:
        return f"https://huggingface.co/api/models/org/w{writer}-{n}?expand=inferenceProviderMapping"

    def write(writer: int) -> None:
        for n in range(10):  # a rewrite within the run that wrote the file keeps what the run wrote
            write_cassette(
                path, [interaction(Request("GET", uri(writer, n)), answer)], rewrite=writer % 2 == 1, run_id="one-run"
            )

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    uris = [i["request"]["uri"] for i in load_yaml(path)["interactions"]]
    assert sorted(uris) == sorted(uri(w, n) for w in range(4) for n in range(10))
    assert [p.name for p in path.parent.iterdir()] == ["shared.yaml"]


UNMARKED_RECORDING = """
import httpx
import pytest
from hfapp import chat


def call_the_router():
    # through a proxy that refuses at once: the request leaves as it would without the plugin, and
    # fails here rather than on the internet. (Matched by its text: in a process that ran other
    # in-process pytest sessions, httpcore may be a second import whose errors httpx cannot map.)
    with httpx.Client(proxy="http://127.0.0.1:9", timeout=5) as client:
        with pytest.raises(Exception, match="Connection refused"):
            client.get("https://router.huggingface.co/v1/models")


def test_unmarked():
    call_the_router()


def test_unmarked_too():
    call_the_router()


def test_with_the_fixture(hfrouter):
    assert chat("novita").choices[0].message.content
"""


@pytest.mark.parametrize("mode", ["--hfrouter-mode=record", "--live"])
def test_a_recording_run_says_what_it_wrote_and_what_it_left_alone(
    hfapp: pytest.Pytester, double: Double, monkeypatch: pytest.MonkeyPatch, mode: str, inner_run: InnerRun
) -> None:
    """Auto-loaded (scope marked), a recording run records only the tests that use the plugin's
    markers or fixtures, and its summary says what it wrote where, and that unmarked tests were
    not recorded; recording again writes nothing new and says so. A live run has no such section."""
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    hfapp.makepyfile(test_rec=UNMARKED_RECORDING)
    auto_loaded = [arg for arg in double.args(mode=mode) if arg not in ("-p", "hfrouter")]

    result = inner_run(hfapp, *auto_loaded)

    result.assert_outcomes(passed=3)
    cassettes = sorted((hfapp.path / "cassettes").rglob("*.yaml"))
    if mode == "--live":
        result.stdout.no_fnmatch_line("*hfrouter recordings*")
        assert cassettes == []
        return
    assert [c.name for c in cassettes] == ["test_with_the_fixture.yaml"]
    unmarked = "scope=marked (auto-loaded: *): tests without its markers or fixtures were not recorded"
    result.stdout.fnmatch_lines(
        [
            "*- hfrouter recordings -*",
            "2 interaction(s) written into 1 cassette(s):",
            f"  {cassettes[0]}: 2 interaction(s)",
            unmarked,
        ]
    )
    again = inner_run(hfapp, *auto_loaded)
    again.assert_outcomes(passed=3)
    again.stdout.fnmatch_lines(
        ["*- hfrouter recordings -*", "nothing recorded: no test the plugin acts in *", unmarked]
    )


LEFT_EARLY = """
import asyncio

from hfapp import MODEL
from huggingface_hub import AsyncInferenceClient, InferenceClient

MESSAGES = [{{"role": "user", "content": "hi"}}]


def sync_close():
    client = InferenceClient(provider="novita", api_key="hf_fake")
    stream = client.chat_completion(messages=MESSAGES, model=MODEL, stream=True)
    first = next(iter(stream))
    stream.close()
    return first


def sync_leave():
    global CLIENT  # kept: its connection stays open after the test body
    CLIENT = InferenceClient(provider="novita", api_key="hf_fake")
    return next(iter(CLIENT.chat_completion(messages=MESSAGES, model=MODEL, stream=True)))


async def async_client_closed():
    async with AsyncInferenceClient(provider="novita", api_key="hf_fake") as client:
        async for first in await client.chat_completion(messages=MESSAGES, model=MODEL, stream=True):
            return first


async def async_left_open():
    client = AsyncInferenceClient(provider="novita", api_key="hf_fake")
    async for first in await client.chat_completion(messages=MESSAGES, model=MODEL, stream=True):
        return first


def test_first_token(hfrouter):
    first = {way}()
    first = asyncio.run(first) if asyncio.iscoroutine(first) else first
    assert first.choices[0].delta.role == "assistant"
"""


@pytest.mark.parametrize(
    ("way", "whole"),
    [
        ("sync_close", True),
        ("sync_leave", True),
        ("async_client_closed", True),
        # 0.x: aiohttp reads it whole; so does Python 3.13 (seen on 3.13.0: the stream the app left open is
        # closed while asyncio.run() still runs its loop, and recording reads on to its end)
        pytest.param("async_left_open", not SERVER_SIDE_AUTO or sys.version_info >= (3, 13), id="async_left_open"),
    ],
)
def test_a_stream_the_app_leaves_early_is_recorded_whole_and_is_no_drift(
    hfapp: pytest.Pytester, double: Double, way: str, whole: bool
) -> None:
    """An app that takes the first token and leaves the stream: recording reads the rest, so the
    cassette holds the whole stream, [DONE] and all; an async answer still open when the test
    ends cannot be read any more, so the cassette holds the part the app read and the run says
    so. A live run reports no drift for a stream the app left: it was not cut, it was not read."""
    hfapp.makepyfile(test_rec=LEFT_EARLY.format(way=way))
    cassette = hfapp.path / "cassettes" / "test_rec" / "test_first_token.yaml"

    # in a process of its own: huggingface_hub's shared HTTP session must not come from an earlier run
    result = hfapp.runpytest_subprocess(
        *double.args("-W", "ignore::pytest.PytestUnraisableExceptionWarning", mode="--hfrouter-mode=record")
    )

    result.assert_outcomes(passed=1, warnings=0 if whole else 1)
    chat = [i for i in load_yaml(cassette)["interactions"] if i["request"]["uri"].endswith("/chat/completions")]
    assert len(chat) == 1
    body = chat[0]["response"]["body"]["string"]
    assert body.endswith("data: [DONE]\n\n") is whole
    if not whole:
        result.stdout.fnmatch_lines(
            [
                "*1 answer(s) were still open, not read to their end, when the test ended, and *test_first_token.yaml "
                "holds only the part the app read:",
                f"*- POST https://router.huggingface.co/novita/v3/openai/chat/completions: {len(body.encode())} bytes",
            ]
        )
    live = hfapp.runpytest(*double.args("-W", "ignore::pytest.PytestUnraisableExceptionWarning"))
    live.assert_outcomes(passed=1)
    live.stdout.no_fnmatch_line("drift in *")
    double.engine.reset()
    replayed = hfapp.runpytest("-p", "hfrouter", "-p", "no:xdist")
    replayed.assert_outcomes(passed=1)
    assert double.engine.seen == []


def test_recording_makes_the_cassette_a_marker_names_and_rewrite_replaces_a_malformed_one(
    hfapp: pytest.Pytester, double: Double
) -> None:
    """``@pytest.mark.hfrouter_cassette("shared.yaml")`` before the file exists: replay fails on it,
    and a recording run is how it comes to exist (the first place replay looks). ``rewrite``
    records afresh over a cassette that no longer parses; ``record``, which would append to it,
    still refuses it."""
    hfapp.makepyfile(
        test_named="""
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_cassette("shared.yaml")
        def test_chat(hfrouter):
            chat("novita")
            assert [c.answered_by for c in hfrouter.calls] in (["live", "live"], ["cassette:shared.yaml"] * 2)
        """
    )
    shared = hfapp.path / "cassettes" / "test_named" / "shared.yaml"
    replayed = hfapp.runpytest("-p", "hfrouter", "-p", "no:xdist")
    replayed.assert_outcomes(errors=1)
    replayed.stdout.fnmatch_lines(["*@pytest.mark.hfrouter_cassette('shared.yaml'): no such cassette; looked at:"])

    def recorded_then_replayed(mode: str) -> None:
        result = hfapp.runpytest(*double.args(mode=f"--hfrouter-mode={mode}"))
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"  {shared}: 2 interaction(s)"])
        double.engine.reset()
        hfapp.runpytest("-p", "hfrouter", "-p", "no:xdist").assert_outcomes(passed=1)
        assert double.engine.seen == []  # the cassette answered every call

    recorded_then_replayed("record")
    shared.write_text("interactions: [not, a, mapping\n")
    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*pytest-hfrouter: malformed cassette: *shared.yaml*", "*(record it afresh: *--hfrouter-mode=rewrite*)"]
    )
    recorded_then_replayed("rewrite")


def test_rewriting_one_test_of_a_shared_cassette_keeps_the_others_recordings(
    hfapp: pytest.Pytester, double: Double
) -> None:
    """A module's marker names one cassette for its tests. A rewrite of one of them replaced the
    whole file with that test's two interactions: the others' recordings were gone, and their replay
    went on, green, on healthy answers. It replaces the requests it records and keeps the rest."""
    hfapp.makepyfile(
        test_shared="""
        import pytest
        from hfapp import chat

        pytestmark = pytest.mark.hfrouter_cassette("shared.yaml")

        @pytest.mark.parametrize("provider", ["novita", "together", "cerebras"])
        def test_chat(hfrouter, provider):
            chat(provider)
            assert {c.answered_by for c in hfrouter.calls} <= {"live", "cassette:shared.yaml"}
        """
    )
    shared = hfapp.path / "cassettes" / "test_shared" / "shared.yaml"
    hfapp.runpytest(*double.args(mode="--hfrouter-mode=record")).assert_outcomes(passed=3)
    # the mapping look-up is the same request for the three: recorded once, then answered from the file
    assert len(yaml.safe_load(shared.read_text())["interactions"]) == 4

    for selected in ("test_shared.py::test_chat[together]", "test_shared.py::test_chat[novita]"):
        result = hfapp.runpytest(*double.args(selected, mode="--hfrouter-mode=rewrite"))
        result.assert_outcomes(passed=1)
        interactions = yaml.safe_load(shared.read_text())["interactions"]
        uris = sorted(i["request"]["uri"].split("/")[3] for i in interactions if "router" in i["request"]["uri"])
        assert uris == ["cerebras", "novita", "together"], uris  # each provider's call once: none lost, none twice
    double.engine.reset()
    hfapp.runpytest("-p", "hfrouter", "-p", "no:xdist").assert_outcomes(passed=3)
    assert double.engine.seen == []  # the cassette answered every call of every test

    # a rewrite of the whole module re-records every request: nothing of the earlier runs is kept
    hfapp.runpytest(*double.args(mode="--hfrouter-mode=rewrite")).assert_outcomes(passed=3)
    rewritten = yaml.safe_load(shared.read_text())
    assert "kept" not in rewritten["metadata"]["hfrouter"]
    assert len(rewritten["interactions"]) == 6  # in rewrite each test asks the router: its look-up and its call


def test_a_shared_cassette_is_as_old_as_the_oldest_answer_it_keeps(hfapp: pytest.Pytester, double: Double) -> None:
    """An audit: re-recording one test's part of a shared cassette (as the expiry section's command says) dated
    the whole file today, and hfrouter_max_age stopped flagging the other tests' old answers. The file is as old
    as its oldest answer; once every part is re-recorded, it is new again."""
    hfapp.makepyfile(
        test_shared="""
        import pytest
        from hfapp import chat

        pytestmark = pytest.mark.hfrouter_cassette("shared.yaml")

        @pytest.mark.parametrize("provider", ["novita", "together"])
        def test_chat(hfrouter, provider):
            chat(provider)
        """
    )
    shared = hfapp.path / "cassettes" / "test_shared" / "shared.yaml"
    hfapp.runpytest(*double.args(mode="--hfrouter-mode=record")).assert_outcomes(passed=2)
    old = "Tue, 07 Jan 2025 10:00:00 GMT"
    data = yaml.safe_load(shared.read_text())
    for interaction in data["interactions"]:
        headers = interaction["response"]["headers"]
        [name] = [key for key in headers if key.lower() == "date"]
        headers[name] = [old]
    data["metadata"]["hfrouter"]["recorded_at"] = "2025-01-07T10:00:00+00:00"
    shared.write_text(yaml.safe_dump(data))

    def recorded_at() -> str:
        return str(yaml.safe_load(shared.read_text())["metadata"]["hfrouter"]["recorded_at"])

    hfapp.runpytest(*double.args("test_shared.py::test_chat[together]", mode="--hfrouter-mode=rewrite"))
    assert recorded_at().startswith("2025-01-07")  # novita's answer, and the shared look-up, are 2025's
    hfapp.runpytest("-p", "hfrouter", "-p", "no:xdist", "-o", "hfrouter_max_age=90d").stdout.fnmatch_lines(
        ["*hfrouter expired recordings*"]
    )
    hfapp.runpytest(*double.args("test_shared.py::test_chat[novita]", mode="--hfrouter-mode=rewrite"))
    assert not recorded_at().startswith("2025")


def test_a_recorded_cassette_is_readable_as_any_file_the_user_writes(hfapp: pytest.Pytester, double: Double) -> None:
    """Written through mkstemp, every cassette was 0600 (and a rewrite made a 0644 one 0600): a CI
    container or another user could not read it. A new one follows the umask; a rewrite keeps the mode."""
    hfapp.makepyfile(test_modes="from hfapp import chat\n\ndef test_chat(hfrouter):\n    chat('novita')\n")
    umask = os.umask(0o022)
    try:
        hfapp.runpytest(*double.args(mode="--hfrouter-mode=record")).assert_outcomes(passed=1)
        [cassette] = (hfapp.path / "cassettes").rglob("*.yaml")
        assert cassette.stat().st_mode & 0o777 == 0o644
        cassette.chmod(0o640)
        hfapp.runpytest(*double.args(mode="--hfrouter-mode=rewrite")).assert_outcomes(passed=1)
        assert cassette.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)


def test_the_router_double_under_live_says_it_does_not_forward(pytester: pytest.Pytester, double: Double) -> None:
    """hfrouter_server in a --live run answers the test's outages; any other request got a 404 saying the
    double "does not proxy to other hosts", for a router path. It says what it does not do, and why."""
    pytester.makepyfile(
        test_double_live="""
        import json, urllib.error, urllib.request
        import pytest

        def post(url):
            body = json.dumps({"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}]})
            request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(request, timeout=10)
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode()

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_it(hfrouter_server):
            status, text = post(hfrouter_server.base_url + "/novita/v3/openai/chat/completions")
            assert status == 500
            status, text = post(hfrouter_server.base_url + "/together/v1/chat/completions")
            assert status == 404 and "does not forward to the live router" in text, text
        """
    )
    pytester.runpytest(*double.args()).assert_outcomes(passed=1)


def test_tests_whose_names_share_a_default_cassette_are_named(hfapp: pytest.Pytester, double: Double) -> None:
    """Ids ``team/a`` and ``team-a`` make one default file name (pytest-recording's naming): both
    tests would record into it and each replay the other's answers. The recording run fails them before
    they record, naming both; tests that share a cassette by its marker do so on purpose, and record."""
    hfapp.makepyfile(
        test_ids="""
        import pytest
        from hfapp import chat

        IDS = [pytest.param("novita", id="team/a"), pytest.param("together", id="team-a")]

        @pytest.mark.parametrize("provider", IDS)
        def test_p(hfrouter, provider):
            chat(provider)

        @pytest.mark.hfrouter_cassette("both.yaml")
        @pytest.mark.parametrize("provider", ["novita", "together"])
        def test_shared(hfrouter, provider):
            chat(provider)
        """
    )
    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"))
    result.assert_outcomes(passed=2, errors=2)
    default = hfapp.path / "cassettes" / "test_ids" / "test_p[team-a].yaml"
    said = f"one default cassette, {default}:\n  - test_ids.py::test_p[team/a]\n  - test_ids.py::test_p[team-a]\n"
    assert said in result.stdout.str()
    assert not default.exists() and (hfapp.path / "cassettes" / "test_ids" / "both.yaml").exists()


LOOP_ENDS_FIRST = """
import asyncio

import aiohttp

URL = "https://router.huggingface.co/novita/v3/openai/chat/completions"
BODY = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}], "stream": True}


async def first_chunk():
    async with aiohttp.ClientSession() as session:
        async with session.post(URL, json=BODY, headers={"Authorization": "Bearer hf_fake"}) as response:
            async for chunk in response.content.iter_any():
                return chunk


def test_first_chunk(hfrouter):
    assert asyncio.run(first_chunk())
"""


def test_an_aiohttp_answer_still_arriving_when_the_loop_ends_is_recorded_whole(
    hfapp: pytest.Pytester, double: Double
) -> None:
    """The app takes the first chunk of a slow stream and its event loop ends (``asyncio.run``
    cancels what is left): the recording reads the answer on to its end instead of losing the call."""
    double.outage("slow-stream", provider="novita", delay=0.05)
    hfapp.makepyfile(test_loop=LOOP_ENDS_FIRST)
    cassette = hfapp.path / "cassettes" / "test_loop" / "test_first_chunk.yaml"

    result = hfapp.runpytest_subprocess(*double.args(mode="--hfrouter-mode=record"))

    result.assert_outcomes(passed=1)
    [chat] = [i for i in load_yaml(cassette)["interactions"] if i["request"]["uri"].endswith("/chat/completions")]
    assert "[DONE]" in chat["response"]["body"]["string"]


def test_the_recorder_never_writes_what_replay_would_refuse(tmp_path: Path) -> None:
    """An interaction replay cannot load (a response with no status: the transport failed) is
    refused before anything is written; the cassette keeps what it held, and nothing is left beside it."""
    from pytest_hfrouter.errors import CassetteError
    from pytest_hfrouter.live import Observed
    from pytest_hfrouter.recorder import interaction, write_cassette

    path = tmp_path / "cassettes" / "kept.yaml"
    good = interaction(Request("GET", "https://huggingface.co/api/models/org/x"), Observed(200, "OK", (), b"{}", 0.01))
    write_cassette(path, [good], rewrite=False, run_id="one-run")
    before = path.read_bytes()
    reset = Observed(None, "", (), b"", 0.01, error="ReadError: [Errno 104] Connection reset by peer")
    broken = interaction(Request("POST", "https://router.huggingface.co/novita/v3/openai/chat/completions"), reset)
    with pytest.raises(
        CassetteError, match=r"kept\.yaml: the recording would not replay \(interactions\[1\]: .*\); nothing written"
    ):
        write_cassette(path, [broken], rewrite=False, run_id="one-run")
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["kept.yaml"]


# -- 5. scrubbing and lint ---------------------------------------------------------------------
LEAKY = """
import httpx

PLANTED = "hf_" + "Planted" * 5


def test_leaky():
    answer = httpx.post(
        "https://router.huggingface.co/novita/v3/openai/chat/completions",
        params={"api_key": PLANTED},
        headers={
            "Authorization": "Bearer hf_fake",
            "X-Custom": "Bearer " + PLANTED,
            "Cookie": "session=" + PLANTED,
            "X-Novita-Api-Key": "sk-novita-secret",
        },
        json={"model": "m", "messages": [{"role": "user", "content": "my token is " + PLANTED}]},
    )
    assert answer.status_code == 200
    assert PLANTED in answer.text  # the app itself got the real answer
"""


def echo(request: Request) -> Answer | None:
    """The request's Authorization and body, echoed in the answer and a cookie (a leaky server)."""
    if not is_chat(request):
        return None
    answer = chat_answer(
        {"role": "assistant", "content": f"you sent {header(request, 'Authorization')[0]}"},
        echo=(request.body or b"").decode(),
    )
    cookie = ("Set-Cookie", f"token={header(request, 'Authorization')[0].split()[-1]}; Path=/")
    return Answer(answer.status, answer.reason, (*answer.headers, cookie), answer.body, source="echo")


@pytest.mark.parametrize("token", [TOKEN, "hf_short"], ids=["token-shaped", "short-token"])
def test_recording_scrubs_every_secret(
    hfapp: pytest.Pytester, double: Double, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("HF_TOKEN", token)
    double.engine.script = echo
    hfapp.makepyfile(test_leaky=LEAKY)
    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"))
    result.assert_outcomes(passed=1)
    [received] = double.engine.chats()
    assert header(received, "Authorization") == [f"Bearer {token}"]
    assert header(received, "X-Custom") == [f"Bearer {PLANTED}"]  # the app's own headers travel unchanged
    cassette = hfapp.path / "cassettes" / "test_leaky" / "test_leaky.yaml"
    text = cassette.read_text()
    for secret in (token, PLANTED, "sk-novita-secret", "hf_fake"):
        assert secret not in text
    assert set(TOKEN_PATTERN.findall(text)) == set()
    assert "hf_REDACTED" in text
    [interaction] = load_yaml(cassette)["interactions"]
    request, response = interaction["request"], interaction["response"]
    headers = lower_keys(request["headers"])
    assert headers["authorization"] == headers["cookie"] == headers["x-novita-api-key"] == ["<redacted>"]
    assert headers["x-custom"] == ["Bearer hf_REDACTED"]
    assert parse_qs(urlsplit(request["uri"]).query) == {"api_key": ["REDACTED"]}
    assert json.loads(request["body"])["messages"][0]["content"] == "my token is hf_REDACTED"
    body = json.loads(response["body"]["string"])
    assert body["choices"][0]["message"]["content"] == "you sent Bearer hf_REDACTED"
    assert "my token is hf_REDACTED" in body["echo"]
    assert lower_keys(response["headers"])["set-cookie"] == ["<redacted>"]
    lint = run_lint(str(cassette.parent))
    assert (lint.returncode, lint.stdout) == (0, "1 cassette(s) checked, 0 problem(s)\n")


def run_lint(target: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m pytest_hfrouter lint TARGET``, as a user runs it."""
    command = [sys.executable, "-m", "pytest_hfrouter", "lint", target]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_lint_finds_tokens_secrets_and_malformed_cassettes(pytester: pytest.Pytester, write_cassette: Any) -> None:
    write_cassette("cassettes/clean.yaml")
    write_cassette("cassettes/sub/planted.yaml", content=f"the key is {PLANTED}")
    secret = write_cassette("cassettes/sub/secret-header.yaml")
    plain = "      Content-Type:\n      - application/json\n    method"
    secret.write_text(secret.read_text().replace(plain, "      Authorization:\n      - Bearer abc123\n    method"))
    (pytester.path / "cassettes" / "broken.yaml").write_text("interactions: [oops\n")
    (pytester.path / "cassettes" / "notes.txt").write_text(PLANTED)  # not a cassette: not linted
    lint = run_lint("cassettes", pytester.path)
    assert lint.returncode == 1
    lines = lint.stdout.splitlines()
    assert lines[-1] == "4 cassette(s) checked, 3 problem(s)"
    assert [line for line in lines if line.startswith("cassettes/sub/planted.yaml:")] == [
        "cassettes/sub/planted.yaml:14: a Hugging Face token (hf_Plan…) in interactions[0].response.body.string"
    ]
    assert any(line.startswith("cassettes/broken.yaml: malformed cassette:") for line in lines)
    kept = "cassettes/sub/secret-header.yaml: interactions[0].request header Authorization keeps a secret value"
    assert kept in lines
    assert not any("clean.yaml" in line or "notes.txt" in line for line in lines)
    assert PLANTED not in lint.stdout  # the finding does not print the token it found
    clean = run_lint("cassettes/clean.yaml", pytester.path)
    assert (clean.returncode, clean.stdout) == (0, "1 cassette(s) checked, 0 problem(s)\n")


# -- 6. probes ---------------------------------------------------------------------------------
def probes_ini(pytester: pytest.Pytester, *lines: str) -> None:
    pytester.makeini("[pytest]\nhfrouter_probes =\n" + "".join(f"    {line}\n" for line in lines))


def probe_models(double: Double) -> list[tuple[str, bool]]:
    """(model, stream) of each probe request the double received, in order."""
    bodies = [json.loads(r.body or b"{}") for r in double.engine.chats()]
    return [(b["model"], b["stream"]) for b in bodies]


def test_probes(pytester: pytest.Pytester, double: Double) -> None:
    double.outage("provider-500", provider="together")
    probes_ini(pytester, f"novita:{MODEL}", f"together:{MODEL}", f"hyperbolic:{MODEL}", "# a comment", MODEL)
    pytester.makepyfile(test_ordinary_suite="def test_ordinary(): pass")
    result = pytester.runpytest(*double.args("-v", "-rs", "--hfrouter-report=report.json"))
    result.assert_outcomes(passed=5, failed=2, skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            f"hfrouter::probe[[]novita:{MODEL}:plain[]] PASSED*",
            f"hfrouter::probe[[]novita:{MODEL}:stream[]] PASSED*",
            f"hfrouter::probe[[]auto:{MODEL}:plain[]] PASSED*",
            f"hfrouter::probe[[]auto:{MODEL}:stream[]] PASSED*",
            f"hfrouter::probe[[]together:{MODEL}:plain[]] FAILED*",
            f"hfrouter::probe[[]together:{MODEL}:stream[]] FAILED*",
            f"hfrouter::probe[[]hyperbolic:{MODEL}:plain[]] SKIPPED*",
            f"probe failed: together:{MODEL}:plain: Internal Server Error (status 500, request id *)",
            "SKIPPED [[]2[]] hfrouter probe:1: hyperbolic is no longer routed by the router (removed 2026-07*",
            "test_ordinary_suite.py::test_ordinary PASSED*",
        ]
    )
    assert sorted(probe_models(double)) == sorted(
        [
            (f"{MODEL}:novita", False),
            (f"{MODEL}:novita", True),
            (f"{MODEL}:together", False),
            (f"{MODEL}:together", True),
            (MODEL, False),
            (MODEL, True),
        ]
    )
    assert all(header(r, "Authorization") == [f"Bearer {TOKEN}"] for r in double.engine.chats())
    probes = {(p["provider"], p["stream"]): p for p in report(pytester.path / "report.json")["probes"]}
    assert len(probes) == 8
    assert {k: p["outcome"] for k, p in probes.items()} == {
        ("novita", False): "ok",
        ("novita", True): "ok",
        (None, False): "ok",
        (None, True): "ok",
        ("together", False): "failed",
        ("together", True): "failed",
        ("hyperbolic", False): "removed",
        ("hyperbolic", True): "removed",
    }
    healthy = probes[("novita", False)]
    assert (healthy["status"], healthy["inference_provider"], healthy["error"]) == (200, "novita", None)  # model:novita
    assert healthy["request_id"] and healthy["latency_ms"] >= 0
    failing = probes[("together", True)]
    assert (failing["status"], failing["error"]) == (500, "Internal Server Error")
    assert probes[(None, False)]["inference_provider"] == "novita"  # the router's pick on the auto route
    result.stdout.fnmatch_lines(
        [
            "*hfrouter live summary*",
            "3 provider x model pair(s), 2 healthy",
            f"  failing: together {MODEL}: 500 Internal Server Error",
        ]
    )


def test_probes_only_in_live_mode_and_follow_selection(pytester: pytest.Pytester, double: Double) -> None:
    probes_ini(pytester, f"novita:{MODEL}", f"together:{MODEL}")
    pytester.makepyfile(test_ordinary_suite="def test_ordinary(): pass")
    pytester.runpytest("-p", "hfrouter").assert_outcomes(passed=1)  # replay: no probe
    result = pytester.runpytest(*double.args("-k", "together and plain"))
    result.assert_outcomes(passed=1, deselected=4)
    assert probe_models(double) == [(f"{MODEL}:together", False)]
    # the terminal's count holds the probes (an audit: "collected 1 item / 4 deselected / -3 selected")
    result.stdout.fnmatch_lines(["collected 5 items / 4 deselected / 1 selected"])
    # a run that names its tests by node id asked for those alone: no probe's live request (an audit: all ran)
    double.engine.reset()
    result = pytester.runpytest(*double.args("test_ordinary_suite.py::test_ordinary"))
    result.assert_outcomes(passed=1)
    assert probe_models(double) == []


def test_probe_honours_retry_after(pytester: pytest.Pytester, double: Double) -> None:
    times: list[float] = []

    def limited_once(request: Request) -> Answer | None:
        times.append(time.monotonic())
        if len(times) == 1:
            body = b'{"error": "Too Many Requests"}'
            return Answer(429, "Too Many Requests", (*JSON_HEADERS, ("Retry-After", "1")), body, source="script")
        return None

    double.engine.script = limited_once
    probes_ini(pytester, f"novita:{MODEL}")
    result = pytester.runpytest(*double.args("--hfrouter-probe-concurrency=1", "--hfrouter-report=r.json"))
    result.assert_outcomes(passed=2)
    assert probe_models(double) == [(f"{MODEL}:novita", False), (f"{MODEL}:novita", False), (f"{MODEL}:novita", True)]
    assert times[1] - times[0] >= 0.95  # it waited as told before it asked again
    plain = next(p for p in report(pytester.path / "r.json")["probes"] if not p["stream"])
    assert (plain["outcome"], plain["status"]) == ("ok", 200)


@pytest.mark.parametrize("budget", [1, 3])
def test_under_xdist_the_probe_budget_is_the_runs(pytester: pytest.Pytester, double: Double, budget: int) -> None:
    """Each worker got ``budget // workers``: a budget of 1 under -n 2 probed nothing (and 3 probed 2).
    The workers claim the run's budget, wherever xdist sends the probes."""
    probes_ini(pytester, f"novita:{MODEL}", f"together:{MODEL}")
    result = pytester.runpytest(
        *double.args(f"--hfrouter-probe-budget={budget}", "-n", "2", "--hfrouter-report=r.json")
    )
    result.assert_outcomes(passed=budget, skipped=4 - budget)
    assert len(probe_models(double)) == budget
    outcomes = sorted(p["outcome"] for p in report(pytester.path / "r.json")["probes"])
    assert outcomes == ["ok"] * budget + ["over-budget"] * (4 - budget)


def test_a_live_run_that_probed_nothing_says_nothing_was_compared(pytester: pytest.Pytester, double: Double) -> None:
    """A budget of 0 (or every probe deselected) left no pair: the run said "0 regression(s)", green."""
    probes_ini(pytester, f"novita:{MODEL}")
    pytester.runpytest(*double.args("--hfrouter-report=base.json")).assert_outcomes(passed=2)
    result = pytester.runpytest(
        *double.args("--hfrouter-probe-budget=0", "--hfrouter-baseline=base.json", "--hfrouter-summary=s.md")
    )
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["NOTHING COMPARED: this run holds no provider x model pair *"])
    assert "**NOTHING COMPARED: this run holds no provider x model pair" in (pytester.path / "s.md").read_text()


def test_probe_reports_a_429_whose_retry_after_is_too_long(pytester: pytest.Pytester, double: Double) -> None:
    double.outage("rate-limited-429", provider="novita")  # Retry-After: 55, over the 30 s cap
    probes_ini(pytester, f"novita:{MODEL}")
    started = time.monotonic()
    result = pytester.runpytest(*double.args("--hfrouter-report=r.json"))
    assert time.monotonic() - started < 20
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([f"*probe failed: novita:{MODEL}:plain: Too Many Requests (status 429, *"])
    assert len(probe_models(double)) == 2  # no retry
    assert {(p["outcome"], p["status"]) for p in report(pytester.path / "r.json")["probes"]} == {("failed", 429)}


def test_a_429_probe_whose_retry_the_budget_refuses_fails_with_its_429(
    pytester: pytest.Pytester, double: Double
) -> None:
    """The budget allows each probe one request, each gets a 429 with a short Retry-After: the probes
    failed with that answer, they did not "never run" (an audit: all four were skipped as over budget,
    the run said "NOTHING COMPARED" and exited 0)."""
    # Retry-After 1 s: both probes (in flight at once) spend the budget's two requests before either retries
    double.outage("rate-limited-429", provider="novita", retry_after=1)
    probes_ini(pytester, f"novita:{MODEL}")
    result = pytester.runpytest(
        *double.args("--hfrouter-report=r.json", "--hfrouter-probe-budget=2", "--hfrouter-probe-concurrency=2")
    )
    result.assert_outcomes(failed=2)
    assert len(probe_models(double)) == 2
    probes = report(pytester.path / "r.json")["probes"]
    assert {(p["outcome"], p["status"]) for p in probes} == {("failed", 429)}
    assert all(
        p["error"].endswith("(not retried after its Retry-After: the probe request budget is spent)") for p in probes
    )


def test_the_probe_timeout_bounds_a_trickling_stream(pytester: pytest.Pytester, double: Double) -> None:
    """An answer that sends an event every 0.2 s never trips a per-read timeout: the probe timeout
    bounds the whole answer (an audit: 2.5 s under a 1 s timeout, reported "ok")."""
    double.outage("slow-stream", provider="novita", delay=0.2)
    probes_ini(pytester, f"novita:{MODEL}")
    result = pytester.runpytest(*double.args("--hfrouter-report=r.json", "--hfrouter-probe-timeout=1", "-k", "stream"))
    result.assert_outcomes(failed=1)
    [probe] = report(pytester.path / "r.json")["probes"]
    assert probe["outcome"] == "failed"
    assert probe["latency_ms"] < 3000  # stopped at its deadline, not after the 4 s the whole stream takes
    assert probe["error"] == "TimeoutError: the answer took longer than --hfrouter-probe-timeout in all"


def test_probe_budget_concurrency_and_timeout(pytester: pytest.Pytester, double: Double) -> None:
    probes_ini(pytester, f"novita:{MODEL}", f"together:{MODEL}")
    result = pytester.runpytest(
        *double.args("--hfrouter-probe-budget=3", "--hfrouter-probe-concurrency=1", "-rs", "--hfrouter-report=r.json")
    )
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] hfrouter probe:1: the probe request budget is spent"])
    assert len(probe_models(double)) == 3
    outcomes = [p["outcome"] for p in report(pytester.path / "r.json")["probes"]]
    assert sorted(outcomes) == ["ok", "ok", "ok", "over-budget"]

    # concurrency: never more requests in flight than allowed
    double.engine.reset()
    flight = {"now": 0, "most": 0}
    lock = threading.Lock()

    def slow(request: Request) -> Answer | None:
        with lock:
            flight["now"] += 1
            flight["most"] = max(flight["most"], flight["now"])
        time.sleep(0.25)
        with lock:
            flight["now"] -= 1
        return None

    double.engine.script = slow
    probes_ini(pytester, f"novita:{MODEL}", f"together:{MODEL}", f"cerebras:{MODEL}")
    result = pytester.runpytest(*double.args("--hfrouter-probe-concurrency=2"))
    result.assert_outcomes(passed=6)
    assert flight["most"] == 2

    # timeout: a stalled answer fails the probe once its time is up
    double.outage("read-timeout", provider="novita")
    probes_ini(pytester, f"novita:{MODEL}")
    started = time.monotonic()
    result = pytester.runpytest(*double.args("--hfrouter-probe-timeout=0.5", "-k", "plain"))
    assert time.monotonic() - started < 10
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines([f"*probe failed: novita:{MODEL}:plain: *timed out* (status None, request id None)"])


# -- 7. report, baseline and summaries -----------------------------------------------------------
FALLBACK_APP = """
from hfapp import chat


def test_answers_with_fallback():
    try:
        completion = chat("together")
    except Exception:
        completion = chat("novita")
    assert completion.choices[0].message.content
"""


def test_report_baseline_regression_and_recovery(
    hfapp: pytest.Pytester, double: Double, monkeypatch: pytest.MonkeyPatch
) -> None:
    hfapp.makepyfile(test_app=FALLBACK_APP)
    # night 1: healthy
    result = hfapp.runpytest(*double.args("--hfrouter-report=night1.json"))
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    night1 = report(hfapp.path / "night1.json")
    assert night1["schema"] == SCHEMA and night1["mode"] == "live" and night1["interrupted"] is False
    assert night1["versions"]["huggingface_hub"] == huggingface_hub.__version__
    assert night1["versions"]["pytest-hfrouter"] and night1["versions"]["python"]
    assert night1["duration_s"] >= 0
    started, finished = (datetime.datetime.fromisoformat(night1[k]) for k in ("started", "finished"))
    assert started <= finished
    assert [(c["provider"], c["route"], c["status"]) for c in night1["calls"]] == [
        (None, "mapping", 200),
        ("together", "provider", 200),
    ]
    assert night1["probes"] == [] and night1["drift"] == []

    # night 2: together fails at the router; the app falls back and its test passes — the run fails
    double.outage("provider-500", provider="together")
    step_summary = hfapp.path / "step-summary.md"
    step_summary.write_text("# an earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    result = hfapp.runpytest(
        *double.args(
            "--hfrouter-report=night2.json", "--hfrouter-baseline=night1.json", "--hfrouter-summary=summary.md"
        )
    )
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*- hfrouter live summary -*",
            "2 provider x model pair(s), 1 healthy",
            f"  failing: together {MODEL}: 500 Internal Server Error",
            f"REGRESSION together {MODEL}: was 200, now 500: Internal Server Error",
            "report: night2.json",
        ]
    )
    summary = (hfapp.path / "summary.md").read_text()
    health, coverage = summary.split("\n\n## pytest-hfrouter: outage coverage\n")  # the coverage matrix follows
    # The 500 came from the (live) router, not from an outage rule of the test: no scenario met.
    assert coverage.startswith("\n1 test(s): 1 passed, 0 failed, 0 skipped; 0 provider x scenario pair(s) met")
    assert health.splitlines() == [
        "## pytest-hfrouter: router health",
        "",
        "2 provider x model pair(s), 1 healthy; 1 regression(s), 0 recovery(ies); 0 drifted answer(s)",
        "",
        "| provider | model | now | before | error |",
        "|---|---|---|---|---|",
        f"| novita | {MODEL} | ✅ 200 | — |  |",
        f"| together | {MODEL} | ❌ 500 ⚠️ regression | ✅ 200 | Internal Server Error |",
        "",
        "### Failures seen live",
        "",
        "- known scenarios seen in the wild this run: provider-500 x1",
    ]
    assert step_summary.read_text() == "# an earlier step\n" + summary
    night2 = report(hfapp.path / "night2.json")
    failed = [c for c in night2["calls"] if c["status"] == 500]
    assert [(c["provider"], c["error"]) for c in failed] == [("together", "Internal Server Error")]
    assert night2["drift"] == []  # an outage, not a drift of the healthy shape

    # night 3: together is back: a recovery, reported, and the run passes
    double.engine.reset()
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    result = hfapp.runpytest(*double.args("--hfrouter-baseline=night2.json", "--hfrouter-summary=summary3.md"))
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"recovered together {MODEL}: 200"])
    assert "REGRESSION" not in result.stdout.str()
    assert f"| together | {MODEL} | ✅ 200 🎉 recovered | ❌ 500 |  |" in (hfapp.path / "summary3.md").read_text()


@pytest.mark.parametrize(
    ("scenario", "stream", "error"),
    [("error-in-200", False, "Model is overloaded"), ("stream-error-event", True, "Model is overloaded")],
)
def test_an_error_inside_a_200_is_a_regression(
    hfapp: pytest.Pytester, double: Double, scenario: str, stream: bool, error: str
) -> None:
    """A live call answered 200 with an error in its body, or an error event in its stream: the pair
    fails, as on a 5xx (an audit: a night of them read "2 healthy; 0 regression(s)", exit 0)."""
    hfapp.makepyfile(
        test_app=f"""
        from huggingface_hub import InferenceClient

        def test_friendly():
            client = InferenceClient(provider="together", api_key="hf_fake")
            try:
                answer = client.chat_completion(
                    messages=[{{"role": "user", "content": "hi"}}], model="{MODEL}", max_tokens=5, stream={stream}
                )
                if {stream}:
                    list(answer)
            except Exception:
                pass  # the app shows a friendly message
        """
    )
    result = hfapp.runpytest(*double.args("--hfrouter-report=night1.json"))
    result.assert_outcomes(passed=1)
    double.outage(scenario, provider="together")
    result = hfapp.runpytest(*double.args("--hfrouter-report=night2.json", "--hfrouter-baseline=night1.json"))
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"REGRESSION together {MODEL}: was 200, now 200: {error}"])
    calls = [c for c in report(hfapp.path / "night2.json")["calls"] if c["provider"] == "together"]
    assert [(c["status"], c["error"]) for c in calls] == [(200, error)]


def test_a_live_run_against_a_baseline_of_other_pairs_says_nothing_was_compared(
    hfapp: pytest.Pytester, double: Double
) -> None:
    other = {"provider": "cerebras", "model": "org/other", "stream": False, "outcome": "ok", "status": 200}
    (hfapp.path / "base.json").write_text(json.dumps({"schema": SCHEMA, "probes": [other]}))
    hfapp.makepyfile(test_app=FALLBACK_APP)

    result = hfapp.runpytest(*double.args("--hfrouter-baseline=base.json", "--hfrouter-summary=summary.md"))

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK  # loud, not failing: a new set of pairs has no baseline yet
    said = (
        "NOTHING COMPARED: the baseline holds none of this run's 1 provider x model pair(s) (it holds 1 other "
        "pair(s)): no regression or recovery could be found; pass the report of an earlier live run of the same "
        "tests and probes"
    )
    result.stdout.fnmatch_lines(["*- hfrouter live summary -*", "1 provider x model pair(s), 1 healthy", said])
    assert f"**{said}**" in (hfapp.path / "summary.md").read_text().splitlines()


def test_baseline_alone_in_replay_compares_nothing_live(hfapp: pytest.Pytester, double: Double) -> None:
    """A baseline without live mode: no pair now, so no regression; the run's own result stands."""
    (hfapp.path / "base.json").write_text(
        json.dumps(
            {
                "schema": SCHEMA,
                "probes": [{"provider": "together", "model": MODEL, "stream": False, "outcome": "ok", "status": 200}],
            }
        )
    )
    hfapp.makepyfile(test_app=FALLBACK_APP)
    result = hfapp.runpytest(
        "-p", "hfrouter", "--hfrouter-baseline=base.json", "--hfrouter-report=r.json", "--hfrouter-summary=s.md"
    )
    assert result.ret == pytest.ExitCode.OK
    assert report(hfapp.path / "r.json")["mode"] == "replay"
    assert double.engine.seen == []
    # said as what it is, not as live probes to raise the budget of; no empty health table (an audit)
    result.stdout.fnmatch_lines(
        [
            "--hfrouter-baseline base.json: not compared; a baseline compares the real router's health between "
            "live runs (--live), and a replay run holds none of it"
        ]
    )
    assert "router health" not in (hfapp.path / "s.md").read_text()


# -- 8. drift ----------------------------------------------------------------------------------
DRIFT_APP = """
from huggingface_hub import InferenceClient

from hfapp import MODEL, chat


def test_chat():
    assert chat("novita").choices[0].message.content


def test_stream():
    client = InferenceClient(provider="novita", api_key="hf_fake")
    stream = client.chat_completion(messages=[{"role": "user", "content": "hi"}], model=MODEL, stream=True)
    assert [chunk.choices for chunk in stream]
"""


def healthy_novita(library: Library, stream: bool) -> bytes:
    return library.healthy.answer("novita", stream)[1].body


def drifted(library: Library) -> Script:
    """novita's healthy answers changed: a key gone, a key new, a type changed; a stream without [DONE]."""

    def script(request: Request) -> Answer | None:
        if not is_chat(request):
            return None
        if is_chat(request, stream=True):
            body = healthy_novita(library, stream=True).replace(b"data: [DONE]", b"")
            return Answer(200, "OK", (("Content-Type", "text/event-stream"),), body, source="drifted")
        data = json.loads(healthy_novita(library, stream=False))
        del data["usage"]
        data.update(created="yesterday", service_tier="auto")
        return Answer(200, "OK", JSON_HEADERS, json.dumps(data).encode(), source="drifted")

    return script


def test_drift_against_the_recording(hfapp: pytest.Pytester, double: Double, library: Library) -> None:
    hfapp.makepyfile(test_drift=DRIFT_APP)
    hfapp.runpytest(*double.args(mode="--hfrouter-mode=record")).assert_outcomes(passed=2)
    cassettes = hfapp.path / "cassettes" / "test_drift"
    assert sorted(p.name for p in cassettes.iterdir()) == ["test_chat.yaml", "test_stream.yaml"]

    # live, the double unchanged: same shape, no drift
    result = hfapp.runpytest(*double.args("--hfrouter-report=same.json"))
    result.assert_outcomes(passed=2)
    assert report(hfapp.path / "same.json")["drift"] == []
    assert "drift in" not in result.stdout.str()

    # the double's answers change shape
    double.engine.script = drifted(library)
    result = hfapp.runpytest(*double.args("--hfrouter-report=drift.json", "--hfrouter-summary=drift.md"))
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    plain_diff = "body.created: number became str; body.service_tier: new; body.usage: missing"
    url = "https://router.huggingface.co/novita/v3/openai/chat/completions"
    result.stdout.fnmatch_lines_random(
        [
            f"drift in {cassettes / 'test_chat.yaml'} (POST {url}): {plain_diff}",
            f"drift in {cassettes / 'test_stream.yaml'} (POST {url}): stream no longer ends with [[]DONE[]]",
        ]
    )
    drift = {d["test"].split("::")[1]: d for d in report(hfapp.path / "drift.json")["drift"]}
    assert drift["test_chat"]["differences"] == plain_diff.split("; ")
    assert drift["test_chat"]["recorded_in"] == str(cassettes / "test_chat.yaml")
    assert drift["test_stream"]["differences"] == ["stream no longer ends with [DONE]"]
    markdown = (hfapp.path / "drift.md").read_text()
    assert "; 2 drifted answer(s)" in markdown
    escaped = plain_diff.replace("_", "\\_")  # Markdown's characters escaped: the differences are a server's words
    assert f"- drift in `{cassettes / 'test_chat.yaml'}` (POST {url}): {escaped}" in markdown.splitlines()

    # --hfrouter-fail-on-drift: the same run fails though its tests pass
    result = hfapp.runpytest(*double.args("--hfrouter-fail-on-drift"))
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # and says why (an audit: "2 passed", exit status 1, no line saying what failed the session)
    result.stdout.fnmatch_lines(["the session fails: 2 drifted answer(s) and --hfrouter-fail-on-drift"])

    # a status class change against the recording is drift too
    double.engine.script = lambda r: (
        Answer(404, "Not Found", JSON_HEADERS, b'{"error": "gone"}') if (is_chat(r, stream=False)) else None
    )
    result = hfapp.runpytest(*double.args("--hfrouter-report=gone.json", "-k", "test_chat"))
    result.assert_outcomes(failed=1, deselected=1)
    assert [d["differences"] for d in report(hfapp.path / "gone.json")["drift"]] == [["status 200 became 404"]]


def test_drift_against_the_healthy_library(hfapp: pytest.Pytester, double: Double, library: Library) -> None:
    """No cassette: a successful answer is compared with the healthy recording; an outage is no drift."""
    double.engine.script = drifted(library)
    hfapp.makepyfile(test_app=DRIFT_APP)
    result = hfapp.runpytest(*double.args("--hfrouter-report=r.json", "--hfrouter-fail-on-drift"))
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    drift = {d["test"].split("::")[1]: d for d in report(hfapp.path / "r.json")["drift"]}
    assert drift["test_chat"]["recorded_in"] == drift["test_stream"]["recorded_in"] == "healthy library (novita.yaml)"
    assert drift["test_chat"]["differences"] == [
        "body.created: number became str",
        "body.service_tier: new",
        "body.usage: missing",
    ]

    double.outage("provider-500", provider="novita")
    result = hfapp.runpytest(*double.args("--hfrouter-report=r.json", "--hfrouter-fail-on-drift", "-k", "test_chat"))
    result.assert_outcomes(failed=1, deselected=1)
    assert report(hfapp.path / "r.json")["drift"] == []


# -- 9. xdist ----------------------------------------------------------------------------------
def test_xdist_workers_merge_into_one_report(hfapp: pytest.Pytester, double: Double) -> None:
    double.outage("provider-500", provider="together")
    (hfapp.path / "base.json").write_text(
        json.dumps(
            {
                "schema": SCHEMA,
                "calls": [],
                "probes": [{"provider": "together", "model": MODEL, "stream": False, "outcome": "ok", "status": 200}],
            }
        )
    )
    probes_ini(hfapp, f"novita:{MODEL}", MODEL)
    hfapp.makepyfile(
        test_spread="""
        import os
        from pathlib import Path

        import pytest

        from hfapp import chat

        @pytest.mark.parametrize("n", range(6))
        def test_fallback(n):
            Path(f"ran-{n}-on-{os.environ['PYTEST_XDIST_WORKER']}").touch()
            try:
                chat("together")
            except Exception:
                assert chat("novita").choices[0].message.content
        """
    )
    result = hfapp.runpytest(
        *double.args("-n", "2", "--hfrouter-report=r.json", "--hfrouter-summary=s.md", "--hfrouter-baseline=base.json")
    )
    result.assert_outcomes(passed=10)  # every test and probe passed on the workers ...
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # ... the controller fails the run: together regressed
    workers = {p.name.rsplit("-on-", 1)[1] for p in hfapp.path.glob("ran-*")}
    assert workers == {"gw0", "gw1"}
    data = report(hfapp.path / "r.json")
    tests = {c["test"] for c in data["calls"] if c["route"] == "provider"}
    assert tests == {f"test_spread.py::test_fallback[{n}]" for n in range(6)}
    assert sorted((c["provider"], c["status"]) for c in data["calls"] if c["route"] == "provider") == sorted(
        [("together", 500)] * 6 + [("novita", 200)] * 6
    )
    assert sorted((p["provider"] or "auto", p["stream"]) for p in data["probes"]) == [
        ("auto", False),
        ("auto", True),
        ("novita", False),
        ("novita", True),
    ]
    assert len(probe_models(double)) == 4 + 12  # each probe ran once; the tests' calls
    result.stdout.fnmatch_lines([f"REGRESSION together {MODEL}: was 200, now 500: Internal Server Error"])
    assert result.stdout.str().count("hfrouter live summary") == 1
    assert (hfapp.path / "s.md").read_text().count("## pytest-hfrouter: router health") == 1
    assert data["drift"] == []  # an outage is a failing pair, not a drift of the healthy shape


# -- 10. interrupted runs --------------------------------------------------------------------
def test_ctrl_c_still_writes_the_report(hfapp: pytest.Pytester, double: Double) -> None:
    hfapp.makepyfile(
        test_stop="""
        from hfapp import chat

        def test_a():
            chat("novita")

        def test_b():
            chat("together")
            raise KeyboardInterrupt

        def test_c():
            chat("cerebras")
        """
    )
    # (no_reraise_ctrlc: the inner run's Ctrl-C must not stop this run)
    result = hfapp.runpytest(*double.args("--hfrouter-report=r.json", "--hfrouter-summary=s.md"), no_reraise_ctrlc=True)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    data = report(hfapp.path / "r.json")
    assert data["interrupted"] is True
    providers = [(c["test"].split("::")[1], c["provider"]) for c in data["calls"] if c["route"] == "provider"]
    assert providers == [("test_a", "novita"), ("test_b", "together")]  # what completed, test_c never ran
    assert "**interrupted run**" in (hfapp.path / "s.md").read_text()


def test_sigterm_still_writes_the_report(pytester: pytest.Pytester, double: Double) -> None:
    pytester.makepyfile(
        test_slow="""
        import time
        from pathlib import Path

        import httpx

        MESSAGES = [{"role": "user", "content": "hi"}]

        def test_fast():
            httpx.post("https://router.huggingface.co/novita/v3/openai/chat/completions",
                       json={"model": "m", "messages": MESSAGES})

        def test_slow():
            httpx.post("https://router.huggingface.co/together/v1/chat/completions",
                       json={"model": "m", "messages": MESSAGES})
            Path("sleeping").touch()
            time.sleep(60)
        """
    )
    env = {**os.environ, "HF_TOKEN": TOKEN}
    env.pop("PYTEST_ADDOPTS", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        *double.args("--hfrouter-report=r.json"),
    ]
    with subprocess.Popen(
        command, cwd=pytester.path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        deadline = time.monotonic() + 30
        while not (pytester.path / "sleeping").exists():
            assert process.poll() is None and time.monotonic() < deadline, "the inner run never reached its sleep"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "KeyboardInterrupt" in output
    data = report(pytester.path / "r.json")
    assert data["interrupted"] is True
    assert [c["provider"] for c in data["calls"]] == ["novita", "together"]


INTERRUPTED_SUITE = """
import os
import time
from pathlib import Path

import pytest

from hfapp import chat

@pytest.mark.parametrize("n", range(40))
def test_call(n):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path("started", f"{time.monotonic_ns()}-{worker}-{n}").touch()
    time.sleep(0.25)  # the signal comes now: in a sleep, not inside the client (see below)
    chat("novita")
    time.sleep(0.25)
"""


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupted_report_keeps_every_finished_test(
    hfapp: pytest.Pytester, double: Double, how: str, inner_run: InnerRun
) -> None:
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) or SIGTERM (to pytest
    alone, as a CI timeout sends it) after some tests finished: each of them is in the report."""
    hfapp.makepyfile(test_interrupted=INTERRUPTED_SUITE)
    started = hfapp.mkdir("started")
    env = {**os.environ, "HF_TOKEN": TOKEN}
    env.pop("PYTEST_ADDOPTS", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        *inner_run.args,
        *double.args("--hfrouter-report=r.json"),
    ]
    with subprocess.Popen(
        command,
        cwd=hfapp.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        deadline = time.monotonic() + 60
        while len(list(started.iterdir())) < 8:
            assert process.poll() is None and time.monotonic() < deadline, "the inner run never got going"
            time.sleep(0.02)
        # A test that started means the one before it on the same process has finished. The signal
        # is sent while the test that started last sleeps before its call: a Ctrl-C that lands in
        # code without line numbers (h11's generated dataclass __init__) crashes pytest's own
        # traceback formatting (`tb_lineno` None), which once failed this test in CI.
        snapshot = sorted(p.name.split("-") for p in started.iterdir())
        if how == "ctrl-c":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    finished: set[str] = set()
    for worker in {w for _, w, _ in snapshot}:
        on_worker = [n for _, w, n in snapshot if w == worker]
        finished.update(f"test_interrupted.py::test_call[{n}]" for n in on_worker[:-1])
    assert len(finished) >= 8 - (2 if inner_run.xdist else 1)
    data = report(hfapp.path / "r.json")
    assert data["interrupted"] is True
    reported = [c["test"] for c in data["calls"] if c["route"] == "provider"]
    assert finished <= set(reported), f"finished tests missing from the report: {finished - set(reported)}"
    ever_started = {f"test_interrupted.py::test_call[{p.name.split('-')[2]}]" for p in started.iterdir()}
    assert set(reported) <= ever_started and len(reported) == len(set(reported))  # nothing invented or doubled
    assert all(c["provider"] == "novita" and c["status"] == 200 for c in data["calls"] if c["route"] == "provider")


# -- 11. live mode reaches only what it was pointed at -----------------------------------------
class Proxy(http.server.ThreadingHTTPServer):
    """A forward proxy on 127.0.0.1 standing for every other host: keeps what reached it."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []  # (request line, Authorization)
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.seen.append((f"{self.command} {self.path}", self.headers.get("Authorization")))
                self.send_response(200)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"proxied")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


POINTED = """
import httpx
import requests

from hfapp import MODEL, chat

HUB, ROUTER, LEGACY = "https://huggingface.co", "https://router.huggingface.co", "https://api-inference.huggingface.co"
BODY = {{"model": MODEL, "messages": [{{"role": "user", "content": "hi"}}]}}
PROXY = "{proxy}"

def test_every_kind_of_request():
    httpx.get(f"{{HUB}}/api/whoami-v2")
    httpx.get(f"{{HUB}}/api/models", params={{"search": "qwen", "limit": 1}})
    requests.get(f"{{HUB}}/{{MODEL}}/resolve/main/config.json")
    httpx.get(f"{{ROUTER}}/v1/models")
    requests.post(f"{{LEGACY}}/models/{{MODEL}}/v1/chat/completions", json=BODY)
    assert chat("novita").choices  # the mapping from the Hub, the chat from the router
    # Other hosts are the app's: through its proxy, as it sent them, without the token.
    assert httpx.get("http://elsewhere.example/a", proxy=PROXY).text == "proxied"
    assert requests.get("http://elsewhere.example/b", proxies={{"http": PROXY}},
                        headers={{"Authorization": "Bearer the-apps-own"}}).text == "proxied"
"""


@pytest.mark.parametrize("mode", ["--live", "--hfrouter-mode=record"])
def test_live_reaches_only_what_it_was_pointed_at(hfapp: pytest.Pytester, library: Library, mode: str) -> None:
    """Router and Hub overridden by two doubles: every request of theirs arrives there, with the
    token; another host's request, allowed, arrives untouched (through a proxy, as nothing leaves loopback:
    the proxy carries only what the guard allows)."""
    router, hub = ScriptedEngine(library), ScriptedEngine(library)
    proxy = Proxy()
    with RouterDouble(router) as router_double, RouterDouble(hub) as hub_double:
        hfapp.makepyfile(test_pointed=POINTED.format(proxy=proxy.url))
        hfapp.makeini("[pytest]\nhfrouter_allow_hosts = elsewhere.example\n")
        result = hfapp.runpytest(
            "-p",
            "hfrouter",
            mode,
            f"--hfrouter-router-url={router_double.base_url}",
            f"--hfrouter-hub-url={hub_double.base_url}",
        )
    proxy.shutdown()
    result.assert_outcomes(passed=1)
    on_hub = {(r.method, r.url.split("huggingface.co", 1)[1]) for r in hub.seen}
    on_router = {(r.method, r.url.split("huggingface.co", 1)[1]) for r in router.seen}
    assert on_hub == {
        ("GET", "/api/whoami-v2"),
        ("GET", "/api/models?search=qwen&limit=1"),
        ("GET", f"/{MODEL}/resolve/main/config.json"),
        ("GET", f"/api/models/{MODEL}?expand=inferenceProviderMapping"),
    }
    assert on_router == {
        ("GET", "/v1/models"),
        ("POST", f"/hf-inference/models/{MODEL}/v1/chat/completions"),  # the legacy host's successor
        ("POST", "/novita/v3/openai/chat/completions"),
    }
    for request in hub.seen + router.seen:
        assert header(request, "Authorization") == [f"Bearer {TOKEN}"], (request.method, request.url)
    assert sorted(proxy.seen) == [
        ("GET http://elsewhere.example/a", None),
        ("GET http://elsewhere.example/b", "Bearer the-apps-own"),
    ]


def test_token_only_for_the_router_and_the_hub() -> None:
    """The engine's decision for each host (the faces apply it): the token goes to the router,
    the Hub and the legacy host, by whatever path, and to no other host."""
    from pytest_hfrouter.live import Live

    engine = Engine(shipped_library(), Live("live", TOKEN, "http://127.0.0.1:1", "http://127.0.0.1:2"))
    engine.begin(Exchange())
    cases = {
        "https://huggingface.co/api/whoami-v2": "http://127.0.0.1:2/api/whoami-v2",
        "https://huggingface.co/org/m/resolve/main/x.bin?download=1": "http://127.0.0.1:2/org/m/resolve/main/x.bin?download=1",
        "https://router.huggingface.co/v1/models": "http://127.0.0.1:1/v1/models",
        "https://api-inference.huggingface.co/status": "http://127.0.0.1:1/hf-inference/status",
    }
    for url, target in cases.items():
        answer = engine.answer(Request("GET", url, (), None))
        assert (answer.target_url, answer.authorization) == (target, f"Bearer {TOKEN}"), url
    for url in (
        "https://cdn-lfs.huggingface.co/x",
        "https://huggingface.co.evil.example/api/whoami-v2",
        "https://api.openai.com/v1/models",
        "http://127.0.0.1:1/v1/models",
    ):
        answer = engine.answer(Request("GET", url, (), None))
        assert answer.passthrough and answer.authorization is None and answer.target_url is None, url
    default = Live("live", TOKEN)
    assert (
        default.target("https://api-inference.huggingface.co/models/m")
        == "https://api-inference.huggingface.co/models/m"
    )


def test_a_probe_never_follows_a_redirect_with_the_token(pytester: pytest.Pytester, double: Double) -> None:
    proxy = Proxy()
    double.engine.script = lambda request: Answer(302, "Found", (("Location", f"{proxy.url}/elsewhere"),), b"")
    probes_ini(pytester, f"novita:{MODEL}")
    pytester.makepyfile(test_ordinary_suite="def test_ordinary(): pass")
    result = pytester.runpytest(*double.args("-p", "no:xdist"))
    proxy.shutdown()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            f"*probe failed: novita:{MODEL}:plain: redirected to {proxy.url}/elsewhere (not "
            "followed: the token stays with the router) (status 302*"
        ]
    )
    assert proxy.seen == []


KEPT_CLIENT = """
from huggingface_hub import InferenceClient

from hfapp import MODEL

KEPT = []


def test_streamed_and_kept():
    client = InferenceClient(provider="together", api_key="hf_fake")
    KEPT.append(client)  # the app keeps its client: huggingface_hub 1.x keeps the stream's response open in it
    messages = [{"role": "user", "content": "hi"}]
    assert list(client.chat_completion(messages=messages, model=MODEL, max_tokens=5, stream=True))


def test_next():
    pass
"""


@needs_httpx_client
def test_a_live_stream_the_app_never_closed_is_reported_as_its_tests_call(
    hfapp: pytest.Pytester, double: Double
) -> None:
    """The app read the stream to [DONE] and kept its client, so the response stays open past the
    test (huggingface_hub 1.x closes it with the client). Its live call is the test's, reported when
    the test ends, not when (or if) the garbage collector closes the response."""
    hfapp.makepyfile(test_kept=KEPT_CLIENT)

    result = hfapp.runpytest(*double.args("--hfrouter-report=report.json"))

    result.assert_outcomes(passed=2)
    data = report(hfapp.path / "report.json")
    streamed = [(c["test"].split("::")[1], c["stream"], c["status"]) for c in data["calls"] if c["route"] == "provider"]
    assert streamed == [("test_streamed_and_kept", True, 200)]


def test_a_baseline_that_shares_no_pair_says_nothing_was_compared() -> None:
    # Only pairs both runs hold can regress: with none shared, a green nightly would have checked nothing.
    from pytest_hfrouter.report import compare, markdown

    def run(*calls: tuple[str, int]) -> dict[str, object]:
        return {"calls": [{"provider": p, "model": MODEL, "route": "provider", "status": s} for p, s in calls]}

    tonight = run(("together", 500))
    for baseline, held in ((run(("novita", 200)), "it holds 1 other pair(s)"), (run(), "it holds none")):
        comparison = compare(baseline, tonight)
        assert (comparison.compared, comparison.regressions) == (0, [])
        said = comparison.nothing_compared(1)
        assert said is not None and said.startswith("NOTHING COMPARED: the baseline holds none of this run's 1 ")
        assert held in said
        assert f"**{said}**" in markdown(tonight, baseline).splitlines()
    shared = compare(run(("together", 200), ("novita", 200)), tonight)
    assert (shared.compared, len(shared.regressions), shared.nothing_compared(1)) == (1, 1, None)
    assert not any("NOTHING COMPARED" in line for line in markdown(tonight, run(("together", 200))).splitlines())


def test_recording_into_a_json_cassette_writes_json_and_scrubs_what_it_held(
    hfapp: pytest.Pytester, double: Double
) -> None:
    """A migrated pytest-recording cassette (its JSON serializer, recorded without filter_headers): a recording
    that appended to it wrote YAML into the .json, kept the old token, and lint's walk then skipped the file
    (an audit)."""
    double.engine.script = Numbered()
    hfapp.makepyfile(test_rec=RECORDED_APP.format(calls='["novita", "together"]'))
    cassette = hfapp.path / "cassettes" / "test_rec" / "test_chat.json"
    cassette.parent.mkdir(parents=True)
    hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"))  # a first recording, as YAML, then made old
    written = hfapp.path / "cassettes" / "test_rec" / "test_chat.yaml"
    old = yaml.safe_load(written.read_text())
    old["interactions"] = old["interactions"][:2]  # the Hub look-up and novita: together is new
    old["interactions"][1]["request"]["headers"]["Authorization"] = [f"Bearer {TOKEN}"]
    del old["metadata"]
    cassette.write_text(json.dumps(old))
    written.unlink()

    result = hfapp.runpytest(*double.args(mode="--hfrouter-mode=record"))
    result.assert_outcomes(passed=1)
    text = cassette.read_text()
    recorded = json.loads(text)  # JSON still, as pytest-recording's serializer reads it
    assert len(recorded["interactions"]) == 3
    assert TOKEN not in text
    assert recorded["interactions"][1]["request"]["headers"]["Authorization"] == ["<redacted>"]

    cassette.write_text(yaml.safe_dump(recorded))  # what the plugin wrote before: lint's walk says so
    linted = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "lint", "cassettes"], cwd=hfapp.path, capture_output=True, text=True
    )
    assert linted.returncode == 1
    assert f"{cassette.relative_to(hfapp.path)}: a .json cassette that is not JSON (YAML, say)" in linted.stdout
