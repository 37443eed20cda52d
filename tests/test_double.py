"""The router double over real sockets, its command line, and transport-fault validation."""

from __future__ import annotations

import email.utils
import http.client
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest
import requests
import yaml
from conftest import ABANDONED_STREAM, needs_httpx_client

from pytest_hfrouter import ScenarioError
from pytest_hfrouter.double import RouterDouble
from pytest_hfrouter.engine import Engine
from pytest_hfrouter.faults import FAULTS, Fault, FaultType, Outcome, plan
from pytest_hfrouter.library import library_dir, load_library, shipped_library
from pytest_hfrouter.markers import parse_outage
from pytest_hfrouter.traffic import Exchange

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def double() -> Iterator[RouterDouble]:
    library = shipped_library()
    engine = Engine(library)
    engine.begin(Exchange(rules=[parse_outage(("novita-500",), {"provider": "novita"}, library)]))
    server = RouterDouble(engine).start()
    yield server
    server.stop()


def _chat(base: str, provider: str, **extra: object) -> requests.Response:
    body = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": MESSAGES, **extra}
    return requests.post(f"{base}/{provider}/v1/chat/completions", json=body, timeout=5)


def test_double_serves_outages_healthy_answers_and_the_hub(double: RouterDouble) -> None:
    failed = _chat(double.base_url, "novita")
    assert (failed.status_code, failed.reason, failed.text) == (500, "Internal Server Error", "Internal Server Error")
    healthy = _chat(double.base_url, "together")
    assert healthy.status_code == 200
    assert healthy.json()["choices"][0]["message"]["content"]
    assert "x-inference-provider" not in healthy.headers  # the router names its pick on the auto route only
    mapping = requests.get(
        f"{double.base_url}/api/models/Qwen/Qwen2.5-72B-Instruct",
        params={"expand": "inferenceProviderMapping"},
        timeout=5,
    ).json()
    assert mapping["inferenceProviderMapping"]["novita"]["status"] == "live"
    assert double.lines == [
        "POST /novita/v1/chat/completions -> 500 (scenario:provider-500)",
        "POST /together/v1/chat/completions -> 200 (healthy)",
        "GET /api/models/Qwen/Qwen2.5-72B-Instruct?expand=inferenceProviderMapping -> 200 (healthy)",
    ]


def test_an_answer_has_one_date_the_date_of_now(double: RouterDouble) -> None:
    """The server's own Date and the recording's (2025) went out side by side (found by an audit)."""
    conn = http.client.HTTPConnection(double.host, double.port, timeout=5)
    try:
        conn.request("POST", "/together/v1/chat/completions", CHAT, {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
    finally:
        conn.close()
    (date,) = response.msg.get_all("Date")
    assert email.utils.parsedate_to_datetime(date).year >= 2026


def test_double_streams_one_event_per_chunk(double: RouterDouble) -> None:
    response = requests.post(
        f"{double.base_url}/together/v1/chat/completions",
        json={"model": "m", "messages": MESSAGES, "stream": True},
        stream=True,
        timeout=5,
    )
    assert response.headers["Transfer-Encoding"] == "chunked"
    events = [line for line in response.iter_lines() if line]
    assert events[-1] == b"data: [DONE]"
    assert all(e.startswith(b"data: ") for e in events)


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT-HTTP\r\n\r\n",
        b"POST /novita/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"POST /novita/v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["request-line", "content-length", "chunk-size"],
)
def test_malformed_request_gets_400_and_the_double_keeps_serving(double: RouterDouble, raw: bytes) -> None:
    with socket.create_connection((double.host, double.port), timeout=5) as conn:
        conn.sendall(raw)
        answer = conn.recv(4096)
    assert b"400" in answer.split(b"\r\n", 1)[0] or b"Error code: 400" in answer
    assert _chat(double.base_url, "together").status_code == 200


def test_connection_reset_is_a_real_rst(double: RouterDouble) -> None:
    double.engine.exchange.rules.insert(  # type: ignore[union-attr]
        0, parse_outage(("connection-reset",), {"provider": "groq"}, double.engine.library)
    )
    with pytest.raises(requests.ConnectionError) as excinfo:
        _chat(double.base_url, "groq")
    assert "Connection reset by peer" in str(excinfo.value)


# -- under load and abuse ---------------------------------------------------------------------
CHAT = json.dumps({"model": "Qwen/Qwen2.5-72B-Instruct", "messages": MESSAGES}).encode()


def test_200_concurrent_requests_none_times_out(double: RouterDouble) -> None:
    """200 clients connect at once, each on its own connection (a parallel suite's burst)."""
    count, timeout = 200, 30.0
    start = threading.Barrier(count)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        start.wait()
        began = time.perf_counter()
        conn = http.client.HTTPConnection(double.host, double.port, timeout=timeout)
        try:
            conn.request("POST", "/together/v1/chat/completions", CHAT, {"Content-Type": "application/json"})
            response = conn.getresponse()
            body = response.read()
            ok = response.status == 200 and json.loads(body)["choices"]
            with lock:
                latencies.append(time.perf_counter() - began)
                if not ok:
                    failures.append(f"{response.status} {body[:80]!r}")
        except Exception as exc:  # a timeout, a refused or reset connection
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(latencies) == count
    ordered = sorted(latencies)
    # The figure, not a wall-time assertion (a shared machine): see it with -s.
    print(f"\n200 concurrent requests: p50 {ordered[99]:.3f} s, p90 {ordered[179]:.3f} s, worst {ordered[-1]:.3f} s")


def _closed_after(conn: socket.socket, limit: float) -> float | None:
    """Seconds until the peer closes ``conn`` (b"" or a reset), or None if still open after ``limit``."""
    began = time.monotonic()
    conn.settimeout(limit)
    try:
        while conn.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - began


def test_an_idle_connection_is_closed_after_the_idle_timeout() -> None:
    engine = Engine(shipped_library())
    engine.begin(Exchange())
    with RouterDouble(engine, idle_timeout=1.0) as double:
        with socket.create_connection((double.host, double.port), timeout=5) as silent:
            waited = _closed_after(silent, 10)
        assert waited is not None and waited >= 0.9, "closed before its idle timeout"
        # After an answer, a kept-alive connection that goes quiet is closed the same way.
        with socket.create_connection((double.host, double.port), timeout=5) as kept:
            kept.sendall(b"GET /api/models/Qwen/Qwen2.5-72B-Instruct HTTP/1.1\r\nHost: x\r\n\r\n")
            assert kept.recv(4096).startswith(b"HTTP/1.1 200")
            waited = _closed_after(kept, 10)
        assert waited is not None and waited >= 0.9


def test_slowloris_connections_hold_no_thread_and_block_nobody() -> None:
    engine = Engine(shipped_library())
    engine.begin(Exchange())
    with RouterDouble(engine) as double:
        threads_before = threading.active_count()
        idle = [socket.create_connection((double.host, double.port), timeout=5) for _ in range(300)]
        try:
            for conn in idle[::2]:  # half of them start a request and never finish it
                conn.sendall(b"POST /together/v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
            time.sleep(0.2)
            assert _chat(double.base_url, "together").status_code == 200
            assert threading.active_count() - threads_before <= double.workers
        finally:
            for conn in idle:
                conn.close()


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_an_oversize_body_is_refused_with_413(double: RouterDouble, framing: str) -> None:
    limit = 16 * 1024 * 1024
    with socket.create_connection((double.host, double.port), timeout=10) as conn:
        head = b"POST /together/v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        if framing == "content-length":
            conn.sendall(head + b"Content-Length: %d\r\n\r\n" % (limit + 1))
        else:
            conn.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"x" * (1024 * 1024)
            try:
                for _ in range(17):  # 17 MiB, one MiB a chunk: past the cap on the 17th
                    conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused (and closed) before the last chunk
        answer = b""
        while data := conn.recv(4096):
            answer += data
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"16 MiB" in answer
    assert _chat(double.base_url, "together").status_code == 200


def _serve(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_hfrouter", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_command_line_serves_logs_and_stops_on_ctrl_c() -> None:
    process = _serve(
        "--port", "0", "--outage", "novita-500:provider=novita,times=1", "--outage", "bad-gateway-502:provider=groq"
    )
    assert process.stdout is not None
    header = [process.stdout.readline() for _ in range(6)]  # the banner, up to "Ctrl-C stops it."
    assert header[0].startswith("pytest-hfrouter router double on http://127.0.0.1:")
    assert header[3].strip() == "outage: hfrouter_outage('novita-500', provider='novita', times=1 (used 0))"
    assert header[4].strip() == "outage: hfrouter_outage('bad-gateway-502', provider='groq')"
    assert header[5].strip() == "Ctrl-C stops it."
    base = header[0].split(" on ", 1)[1].strip()
    try:
        assert _chat(base, "novita").status_code == 500
        assert _chat(base, "novita").status_code == 200  # times=1: recovered
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert "POST /novita/v1/chat/completions -> 500 (scenario:provider-500)" in out
    assert "POST /novita/v1/chat/completions -> 200 (healthy)" in out
    # the outage no request met is named when the double stops; the one that answered is not
    assert "note: hfrouter_outage('bad-gateway-502', provider='groq') answered no request" in out
    assert "note: hfrouter_outage('provider-500'" not in out
    assert out.rstrip().endswith("stopped")


def test_the_command_line_double_logs_each_of_many_concurrent_requests_on_a_line_of_its_own() -> None:
    """An audit: 40 requests at once gave lines holding two requests (``print`` writes a line and its end apart)."""
    from concurrent.futures import ThreadPoolExecutor

    process = _serve("--port", "0")
    assert process.stdout is not None
    base = process.stdout.readline().split(" on ", 1)[1].strip()
    try:
        with ThreadPoolExecutor(40) as pool:
            statuses = list(pool.map(lambda _: _chat(base, "novita").status_code, range(200)))
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=10)
    assert statuses == [200] * 200
    logged = [line for line in out.splitlines() if " -> " in line]
    assert len(logged) == 200 and all(line.count(" -> ") == 1 for line in logged), logged


def test_recording_a_task_against_the_command_line_double_records_the_task(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: recording text_to_image with both URLs pointed at ``hfrouter serve`` (another process,
    which cannot read the client's call) got a chat model's Hub answers; the client refused them
    ("doesn't support task 'text-to-image'"), and the cassette it wrote kept them, so replay failed too.
    The live run now tells the double the look-up's task in its URL; the cassette keeps the app's URL."""
    process = _serve("--port", "0")
    assert process.stdout is not None
    base = process.stdout.readline().split(" on ", 1)[1].strip()
    pytester.makepyfile(
        test_task="""
        from huggingface_hub import InferenceClient

        def test_draws():
            image = InferenceClient(provider="hf-inference", api_key="hf_fake").text_to_image(
                "a cat", model="stabilityai/stable-diffusion-xl-base-1.0"
            )
            assert image.size
        """
    )
    monkeypatch.setenv("HF_TOKEN", "hf_fakeFAKEfake1234567890")
    try:
        recorded = pytester.runpytest_subprocess(
            "-p", "hfrouter", "--hfrouter-mode=record", "--hfrouter-router-url", base, "--hfrouter-hub-url", base
        )
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    recorded.assert_outcomes(passed=1)
    cassette = (pytester.path / "cassettes" / "test_task" / "test_draws.yaml").read_text()
    assert '"pipeline_tag": "text-to-image"' in cassette
    assert "uri: https://huggingface.co/api/models/stabilityai/stable-diffusion-xl-base-1.0\n" in cassette
    assert "hfrouter_task" not in cassette
    monkeypatch.delenv("HF_TOKEN")
    pytester.runpytest_subprocess("-p", "hfrouter").assert_outcomes(passed=1)  # and replay plays it


def test_command_line_port_in_use_says_how_to_pick_another() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _serve("--port", str(port))
        _, err = process.communicate(timeout=20)
    assert process.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in err
    assert "--port 0" in err


def test_command_line_unknown_scenario_lists_the_valid_ones() -> None:
    process = _serve("--port", "0", "--outage", "novita-5000:provider=novita")
    _, err = process.communicate(timeout=20)
    assert process.returncode == 2
    assert "unknown scenario 'novita-5000'. Did you mean 'novita-500'?" in err


def test_sigterm_stops_the_command_line_cleanly() -> None:
    process = _serve("--port", "0")
    assert process.stdout is not None
    process.stdout.readline()
    time.sleep(0.1)
    process.terminate()
    out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert out.rstrip().endswith("stopped")


# -- fault validation: a clear error naming the file and the field ------------------------
def _library_with(tmp_path: Path, name: str, fault: dict[str, object]) -> Path:
    root = tmp_path / "cassettes"
    (root / "scenarios").mkdir(parents=True)
    (root / "healthy").symlink_to(library_dir() / "healthy")
    source = yaml.safe_load((library_dir() / "scenarios" / "stream-cut.yaml").read_text())
    source["metadata"]["hfrouter"].update(name=name, fault=fault)
    (root / "scenarios" / f"{name}.yaml").write_text(yaml.safe_dump(source))
    return root


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ({"type": "socket-melts"}, "fault.type must be one of connect-timeout, read-timeout"),
        ({"type": "slow-stream", "delay": -1}, "fault.delay must be a number of seconds >= 0, got -1"),
        ({"type": "stream-cut", "after_chunks": 500}, "fault.after_chunks=500 is past the end of the stream"),
        ({"type": "stream-cut"}, "fault.after_chunks is required for stream-cut"),
        ({"type": "read-timeout", "delay": 3}, "fault.delay is not a field of read-timeout"),
    ],
)
def test_bad_fault_names_the_file_and_the_field(tmp_path: Path, fault: dict[str, object], problem: str) -> None:
    root = _library_with(tmp_path, "broken-fault", fault)
    with pytest.raises(ScenarioError) as excinfo:
        load_library(root)
    message = str(excinfo.value)
    assert str(root / "scenarios" / "broken-fault.yaml") in message
    assert problem in message


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            {"truncate_stream": True},
            "metadata.hfrouter.truncate_stream is not a scenario field. Did you mean 'truncates_stream'?",
        ),
        ({"stauts": 500}, "metadata.hfrouter.stauts is not a scenario field. Did you mean 'status'?"),
        (
            {"status": 503},
            "metadata.hfrouter.status must be the HTTP status the app sees, one of its answers' [200], or null "
            "for a transport fault, got 503",
        ),
        ({"status": "teapot"}, "metadata.hfrouter.status must be the HTTP status the app sees"),
        (
            {"stream": None},
            "metadata.hfrouter.fault stream-cut plays on an event stream, so stream must be true, got None",
        ),
        (
            {"provenance": {"observed": "guessed"}},
            "metadata.hfrouter.provenance.observed must be one of real, partly-real, inferred, harvested, got "
            "'guessed'",
        ),
    ],
)
def test_a_scenario_field_written_wrong_names_the_file_and_the_field(
    tmp_path: Path, change: dict[str, object], problem: str
) -> None:
    """A misspelt field is not ignored (a missing ``s`` in ``truncates_stream`` turned a verdict off),
    and the status a scenario declares is one the app can see (the scenario table shows it)."""
    root = _library_with(tmp_path, "broken-meta", {"type": "stream-cut", "after_chunks": 2})
    path = root / "scenarios" / "broken-meta.yaml"
    source = yaml.safe_load(path.read_text())
    source["metadata"]["hfrouter"].update(change)
    path.write_text(yaml.safe_dump(source))
    with pytest.raises(ScenarioError) as excinfo:
        load_library(root)
    assert str(path) in str(excinfo.value)
    assert problem in str(excinfo.value)


def test_the_fault_table_names_every_fault_type_and_plans_each() -> None:
    """The `FaultType` literal and the table agree, and every entry's play gives a plan whose
    outcome is one the faces turn into an exception (`Outcome`), for any client timeouts."""
    assert set(FAULTS) == set(get_args(FaultType))
    for name, kind in FAULTS.items():
        fault = Fault(name, after_chunks=1, delay=5.0 if "delay" in kind.fields else 0.0)
        for connect, read in ((None, None), (1.0, 1.0), (30.0, 30.0)):
            outcome = plan(fault, 4, connect, read)
            assert outcome.outcome is None or outcome.outcome in get_args(Outcome), (name, outcome)
            if kind.before_response:
                assert outcome.before_response and outcome.chunks == 0, (name, outcome)
    untimed = {name: plan(Fault(name, after_chunks=1), 4, 30.0, 30.0).outcome for name in FAULTS}
    assert untimed == {
        "connect-timeout": "connect-timeout",
        "read-timeout": "read-timeout",
        "connection-reset": "reset",
        "stream-cut": "cut",
        "body-cut": "cut",
        "slow-first-token": None,
        "slow-stream": None,
    }


def test_every_transport_scenario_loads_with_its_fault() -> None:
    library = shipped_library()
    faults = {name: library.get(name).fault for name in ("connect-timeout", "read-timeout", "stream-cut")}
    assert {name: fault.type if fault else None for name, fault in faults.items()} == {
        "connect-timeout": "connect-timeout",
        "read-timeout": "read-timeout",
        "stream-cut": "stream-cut",
    }
    assert json.loads(json.dumps(library.get("slow-stream").fault.delay)) == 5.0  # type: ignore[union-attr]


@needs_httpx_client
def test_a_stream_abandoned_through_the_double_is_closed_before_the_next_test(pytester: pytest.Pytester) -> None:
    """An abandoned stream from the double is closed at the fixture's teardown, not by a later
    collection inside httpcore's pool lock (where its close would hang the run)."""
    pytester.makeconftest(ABANDONED_STREAM["conftest"])
    pytester.makepyfile(
        test_abandon=ABANDONED_STREAM["test_abandon"]
        + """

@pytest.mark.hfrouter_outage("stream-error-event", provider="together")
def test_a_abandons_a_stream(hfrouter_server):
    with hfrouter_server.huggingface_hub():
        abandon("together")


def test_b_no_stream_is_left_open():
    assert open_pool_streams() == []
"""
    )

    result = pytester.runpytest_subprocess("-p", "hfrouter")

    result.assert_outcomes(passed=2)


def test_env_points_an_app_in_another_process_at_the_double(pytester: pytest.Pytester) -> None:
    """``hfrouter_server.env()`` for a subprocess: the openai SDK (``OPENAI_BASE_URL``) and
    huggingface_hub's Hub look-ups (``HF_ENDPOINT``) reach the double, and meet the test's outage."""
    pytester.makepyfile(
        app="""
        import json
        import openai
        from huggingface_hub import HfApi

        mapping = HfApi().model_info("Qwen/Qwen2.5-72B-Instruct", expand=["inferenceProviderMapping"])
        client = openai.OpenAI(api_key="hf_fake", max_retries=0)
        try:
            client.chat.completions.create(
                model="Qwen/Qwen2.5-72B-Instruct:novita", messages=[{"role": "user", "content": "hi"}]
            )
            status = 200
        except openai.APIStatusError as exc:
            status = exc.status_code
        print(json.dumps({"mapped": bool(mapping.inference_provider_mapping), "status": status}))
        """,
        test_subprocess="""
        import json
        import os
        import subprocess
        import sys

        import pytest

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_app(hfrouter_server):
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "HF_"))}
            done = subprocess.run(
                [sys.executable, "app.py"], env={**env, **hfrouter_server.env()}, capture_output=True, text=True,
                timeout=60,
            )
            assert json.loads(done.stdout) == {"mapped": True, "status": 500}, done.stderr
            assert [c.route for c in hfrouter_server.calls] == ["mapping", "auto"]
        """,
    )
    result = pytester.runpytest_subprocess("-p", "hfrouter")
    result.assert_outcomes(passed=1)


STALLED_WITHOUT_TIMEOUT = """
import pytest
import requests

MESSAGES = [{"role": "user", "content": "hi"}]

def ask(base):
    for provider in ("novita", "together"):
        try:
            response = requests.post(  # requests' default: no timeout
                f"{base}/v1/chat/completions",
                json={"model": f"Qwen/Qwen2.5-72B-Instruct:{provider}", "messages": MESSAGES},
            )
            response.raise_for_status()
            return provider
        except requests.RequestException:
            continue

@pytest.mark.hfrouter_outage("read-timeout", provider="novita")
def test_falls_back(hfrouter_server):
    assert ask(hfrouter_server.base_url) == "together"
"""


def test_a_stall_the_client_waits_out_fails_the_test_as_a_hang(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client with no timeout against the double's read-timeout: the double closes the connection after
    its cap, and the test fails as in-process replay fails it (an audit: the app fell back after 60 s and
    the test passed, though against a real provider it would wait forever)."""
    import pytest_hfrouter.double

    monkeypatch.setattr(pytest_hfrouter.double, "MAX_STALL", 0.5)
    pytester.makepyfile(test_stalled=STALLED_WITHOUT_TIMEOUT)
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*would hang forever: POST */v1/chat/completions*",
            "*read-timeout: the client sets no read timeout*(the router double closed it after 0.5 s)",
        ]
    )


FROZEN_SLOW = """
import time

import pytest
import requests
from freezegun import freeze_time


@freeze_time("2020-01-01")
@pytest.mark.hfrouter_outage("slow-first-token", provider="novita", delay=0.3)
def test_slow_but_in_time(hfrouter_server):
    started = time.perf_counter()  # freezegun's: frozen
    response = requests.post(
        f"{hfrouter_server.base_url}/v1/chat/completions",
        json={"model": "Qwen/Qwen2.5-72B-Instruct:novita", "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    )
    assert response.status_code == 200
    assert time.perf_counter() == started
"""


def test_the_doubles_slow_answers_come_while_the_test_freezes_time(pytester: pytest.Pytester) -> None:
    """An audit: under freezegun the double's deadline never came (it read the frozen clock), and a
    slow-first-token of 1 s ran into the client's 10 s timeout."""
    pytester.makepyfile(test_frozen_slow=FROZEN_SLOW)
    result = pytester.runpytest_subprocess("-p", "hfrouter")
    result.assert_outcomes(passed=1)
    assert result.duration < 8


LOST_CLIENT = """
import gc
import weakref

from huggingface_hub import InferenceClient

gc.disable()  # what is freed, is freed by its last reference going: not whenever a collection happens to run
clients = []


def streamed_on_a_client_nobody_keeps():
    client = InferenceClient(provider="novita", api_key="hf_test", timeout=10)
    clients.append(weakref.ref(client))
    return client.chat_completion([{"role": "user", "content": "hi"}], model="Qwen/Qwen2.5-7B-Instruct", stream=True)


def read(chunks):
    try:
        return f"{sum(1 for _ in chunks)} chunks"
    except Exception as exc:
        return type(exc).__name__


def test_in_process(hfrouter):
    chunks = streamed_on_a_client_nobody_keeps()
    alive = clients[-1]() is not None
    print(f"IN-PROCESS alive={alive} {read(chunks)}")


def test_through_the_double(hfrouter_server):
    with hfrouter_server.huggingface_hub():
        chunks = streamed_on_a_client_nobody_keeps()
        alive = clients[-1]() is not None
        print(f"DOUBLE alive={alive} {read(chunks)}")
"""


def test_the_double_keeps_no_client_alive_that_the_app_let_go(pytester: pytest.Pytester) -> None:
    """A client the app let go of is freed when its last reference goes, through the double as in
    process: the double reads the task from the asking thread's stack, and once held those frames
    (and the client in them) in a cycle until the garbage collector ran. huggingface_hub 1.x and 2.x
    close a freed client's streams (StreamClosed), so the test of such an app was green through the
    double while the real client fails (an audit)."""
    pytester.makepyfile(test_lost=LOST_CLIENT)
    result = pytester.runpytest_subprocess("-p", "hfrouter", "-s")
    result.assert_outcomes(passed=2)
    seen = dict(re.findall(r"(IN-PROCESS|DOUBLE) (alive=\w+ \w+)", result.stdout.str()))
    assert seen["DOUBLE"] == seen["IN-PROCESS"]
    assert seen["DOUBLE"].startswith("alive=False")
