"""Nothing leaves the process: the socket guard, requests outside tests, and background threads.

The escape matrix runs real clients (urllib, http.client, raw sockets, requests, httpx, aiohttp) at
real targets in a subprocess whose ``socket`` is instrumented *below* the plugin: what the
instrument sees is what would have left the process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from pytest_hfrouter import guard

if TYPE_CHECKING:
    from pytest_hfrouter import HFRouter

# -- units -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("127.3.4.5", True),
        ("example.com", False),
        ("api.example.com", True),  # matches *.example.com
        ("10.0.0.8", False),
        ("huggingface.co", False),
    ],
)
def test_policy_allows_loopback_and_the_allowed_globs(host: str, allowed: bool) -> None:
    policy = guard.Policy(hosts=("*.example.com",))
    assert policy.allows(host, 443) is allowed


def test_policy_without_loopback_still_lets_the_doubles_through() -> None:
    policy = guard.Policy(allow_loopback=False, doubles={"127.0.0.1:8080"})
    assert policy.allows("127.0.0.1", 8080)
    assert not policy.allows("127.0.0.1", 8081)


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "http_proxy", "ALL_PROXY"])
def test_a_proxy_on_loopback_is_not_loopback_traffic(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    """A proxy forwards to the network (an audit: urllib's requests reached the router and other hosts
    through a loopback HTTPS_PROXY, and the tests passed). Listed, as live modes list it, it passes."""
    for name in guard.PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.1:3128")
    assert not guard.Policy().allows("127.0.0.1", 3128)
    assert guard.Policy().allows("127.0.0.1", 8080)  # another loopback server
    assert guard.Policy(hosts=("127.0.0.1",)).allows("127.0.0.1", 3128)
    assert guard.Policy(doubles={"127.0.0.1:3128"}).allows("127.0.0.1", 3128)
    message = guard.blocked_message("127.0.0.1", 3128, "http.client (via urllib.request)")
    assert f"127.0.0.1:3128 is the proxy in {variable}, which forwards requests to the network" in message
    assert "hfrouter_allow_hosts = 127.0.0.1" in message


def test_urllib_through_a_loopback_proxy_fails_the_test_and_reaches_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_proxied="""
        import os
        import socket
        import threading
        import urllib.request

        import pytest

        @pytest.fixture
        def proxy(monkeypatch):
            server = socket.create_server(("127.0.0.1", 0))
            seen = []
            def serve():
                try:
                    while True:
                        connection, _ = server.accept()
                        seen.append(connection.recv(200))
                        connection.close()
                except OSError:
                    pass
            threading.Thread(target=serve, daemon=True).start()
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{server.getsockname()[1]}")
            yield seen
            server.close()
            assert seen == [], seen  # nothing reached the proxy

        def test_router_through_urllib(proxy):
            request = urllib.request.Request(
                "https://router.huggingface.co/novita/v3/openai/chat/completions", data=b"{}", method="POST"
            )
            try:
                urllib.request.urlopen(request, timeout=5)
            except Exception:
                pass  # the app swallows it: the test still fails
        """
    )
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*127.0.0.1:* is the proxy in HTTPS_PROXY, which forwards requests to the network*"])


PROXY_IN_CODE = """
import socket
import threading
import urllib.request

import pytest

@pytest.fixture
def proxy():
    server = socket.create_server(("127.0.0.1", 0))
    seen = []
    def serve():
        try:
            while True:
                connection, _ = server.accept()
                seen.append(connection.recv(200).split(b"\\r\\n")[0].decode())
                connection.sendall(b"HTTP/1.1 502 Bad Gateway\\r\\nContent-Length: 0\\r\\n\\r\\n")
                connection.close()
        except OSError:
            pass
    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", seen
    server.close()

def through(proxy, url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"https": proxy[0], "http": proxy[0]}))
    try:
        opener.open(url, timeout=5)
    except Exception:
        pass  # the app swallows it: the test still fails

def test_router_tunnel(proxy):
    through(proxy, "https://router.huggingface.co/v1/models")
    assert not any(proxy[1])  # refused before the proxy read a byte of it

def test_hub_absolute_url(proxy):
    through(proxy, "http://huggingface.co/api/models/x")
    assert not any(proxy[1])

def test_an_allowed_host_through_it(proxy):
    through(proxy, "https://internal.example.org/")
    assert [line.rsplit(" ", 1)[0] for line in proxy[1]] == ["CONNECT internal.example.org:443"]  # 1.0, or 1.1 on 3.13
"""


def test_a_proxy_the_guard_lets_through_carries_only_what_it_allows(pytester: pytest.Pytester) -> None:
    """A proxy on loopback set in code (loopback is allowed), or one allowed by name as the refusal of an
    ``HTTPS_PROXY`` advises: the router was reached through it, and the tests passed (an audit)."""
    pytester.makepyfile(test_proxy_in_code=PROXY_IN_CODE)
    pytester.makeini("[pytest]\nhfrouter_allow_hosts = internal.example.org\n")
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*pytest-hfrouter blocked a connection to router.huggingface.co:443 (from http.client*"
            "It asked 127.0.0.1:*, a proxy the guard lets through, to reach router.huggingface.co*",
            "*blocked a connection to huggingface.co:80*",
        ]
    )
    pytester.makeini("[pytest]\nhfrouter_allow_hosts = 127.0.0.1 internal.example.org\n")
    pytester.runpytest("-p", "hfrouter").assert_outcomes(failed=2, passed=1)


def test_blocked_message_tells_router_calls_from_other_hosts() -> None:
    router = guard.blocked_message("router.huggingface.co", 443, "http.client (via urllib.request)")
    other = guard.blocked_message("api.gradio.app", 443, "requests")
    assert "cannot intercept" in router and "hfrouter_server" in router
    assert "hfrouter_allow_hosts = api.gradio.app" in other and "HF_TOKEN" not in other
    # a phone-home is named with the switch that turns it off, before the cassette and the allowed host
    assert "gradio's analytics and version check, not the app's work: turn it off with the environment " in other
    assert "variable GRADIO_ANALYTICS_ENABLED=False" in other
    assert "not the app's work" not in guard.blocked_message("api.example.org", 443, "requests")


@pytest.mark.parametrize(
    ("url", "switch"),
    [
        ("https://api.gradio.app/pkg-version", "GRADIO_ANALYTICS_ENABLED=False"),
        ("https://huggingface.co/api/telemetry/py_client/initiated", "HF_HUB_DISABLE_TELEMETRY=1"),
        ("https://example.org/api/telemetry/x", None),
    ],
)
def test_a_refused_phone_home_names_the_switch_that_turns_it_off(
    hfrouter: HFRouter, url: str, switch: str | None
) -> None:
    """Gradio's and gradio_client's telemetry were offered only a cassette or the real network (an audit)."""
    with pytest.raises(Exception, match="no answer"):
        httpx.head(url)
    (miss,) = hfrouter._exchange.misses
    hfrouter._exchange.misses.clear()  # the miss was the point
    if switch is None:
        assert miss.hint is not None and "environment variable" not in miss.hint
    else:
        assert (
            miss.hint is not None and f"turn it off with the environment variable {switch} (in the CI job" in miss.hint
        )


# -- the escape matrix -------------------------------------------------------------------

CLIENTS = {
    "urllib": "urllib.request.urlopen(URL, timeout=2)",
    "http.client": "c = http.client.HTTPSConnection(HOST, timeout=2); c.request('GET', PATH); c.getresponse()",
    "raw socket": "socket.create_connection((HOST, 443), timeout=2)",
    "requests": "requests.get(URL, timeout=2)",
    "httpx": "httpx.get(URL, timeout=2)",
    "aiohttp": "asyncio.run(aiohttp_get(URL))",
}
#: the clients a face answers: the legacy inference host gets the plugin's own miss through them
FACED = ("requests", "httpx", "aiohttp")
TARGETS = {
    "router": "https://router.huggingface.co/v1/models",
    "hub": "https://huggingface.co/api/whoami-v2",
    "legacy inference host": "https://api-inference.huggingface.co/models/gpt2",
    "another host": "https://api.gradio.app/pkg-version",
    "an address": "https://93.184.215.14/",
}

RUNNER = """\
import json, socket, sys
attempts = []
_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo
def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not str(address[0]).startswith("127."):
        attempts.append(["connect", str(address[0])])
    return _connect(self, address)
def getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost") and not str(host).startswith("127."):
        attempts.append(["lookup", str(host)])
    return _getaddrinfo(host, *args, **kwargs)
socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
import pytest
code = pytest.main(sys.argv[1:])
with open("attempts.json", "w") as out:
    json.dump({"attempts": attempts, "exit": int(code)}, out)
"""


def _escape_suite() -> str:
    tests = []
    for client, call in CLIENTS.items():
        for target, url in TARGETS.items():
            name = f"{client}_{target}".replace(" ", "_").replace(".", "_")
            tests.append(
                f"""
def test_{name}():
    URL = {url!r}
    HOST = urllib.parse.urlsplit(URL).hostname
    PATH = urllib.parse.urlsplit(URL).path
    try:
        {call}
    except Exception:
        pass  # the app swallows the error: only the plugin can still make the test fail
"""
            )
    header = """\
import asyncio, http.client, socket, urllib.parse, urllib.request
import aiohttp, httpx, requests

async def aiohttp_get(url):
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        async with session.get(url) as response:
            await response.read()
"""
    return header + "".join(tests)


def _run_escapes(tmp_path: Path, *plugin_args: str) -> tuple[dict[str, object], str]:
    (tmp_path / "test_escapes.py").write_text(_escape_suite())
    (tmp_path / "runner.py").write_text(RUNNER)
    # the runner tries the router on purpose ("without"): a process handed down no refusal of its own
    # (this session's plugin refuses the router in the processes its tests start)
    env = {name: value for name, value in os.environ.items() if name != "PYTEST_HFROUTER_CHILD"}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in env.get("PYTHONPATH", "").split(os.pathsep) if "_child_site" not in p
    )
    result = subprocess.run(
        [sys.executable, "runner.py", "-q", "-p", "no:cacheprovider", *plugin_args, "test_escapes.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    return json.loads((tmp_path / "attempts.json").read_text()), result.stdout


def test_escape_matrix_nothing_leaves_the_process_in_replay(tmp_path: Path) -> None:
    without, _ = _run_escapes(tmp_path / "without", "-p", "no:hfrouter") if _mk(tmp_path / "without") else ({}, "")
    with_plugin, stdout = _run_escapes(tmp_path / "with", "-p", "hfrouter") if _mk(tmp_path / "with") else ({}, "")

    cells = len(CLIENTS) * len(TARGETS)
    # Without the plugin every client tries to reach every target (a look-up or a connection).
    hosts = {host for _, host in without["attempts"]}  # type: ignore[attr-defined]
    assert {"router.huggingface.co", "huggingface.co", "api.gradio.app", "93.184.215.14"} <= hosts
    assert len(without["attempts"]) >= cells  # type: ignore[arg-type]
    # With it, nothing gets past the guard, and every cell fails its test. hf-inference's legacy
    # route through a face the plugin intercepts (requests, httpx, aiohttp) is answered by the plugin
    # itself: a miss (a bare GET names no task, and a non-chat call is never given a chat body),
    # not a blocked connection.
    assert with_plugin["attempts"] == []
    assert f"{cells} failed" in stdout, stdout[-3000:]
    legacy = "no answer for GET https://api-inference.huggingface.co/models/gpt2"
    failures = [line for line in stdout.splitlines() if line.startswith("pytest-hfrouter: ")]  # not the summary's
    assert sum(line.startswith(f"pytest-hfrouter: {legacy}") for line in failures) == len(FACED), stdout[-3000:]
    assert "cannot tell which task this call to hf-inference performs" in stdout
    assert "blocked co" in stdout


def _mk(path: Path) -> bool:
    path.mkdir()
    return True


def test_allowed_hosts_pass_the_guard(tmp_path: Path) -> None:
    (tmp_path / "tox.ini").write_text("[pytest]\nhfrouter_allow_hosts =\n    *.gradio.app\n")
    (tmp_path / "runner.py").write_text(RUNNER)
    (tmp_path / "test_allowed.py").write_text(
        textwrap.dedent(
            """
            import socket

            def test_allowed():
                try:
                    socket.create_connection(("api.gradio.app", 443), timeout=2)
                except OSError as exc:
                    assert "pytest-hfrouter" not in str(exc)  # the network's own answer, not the guard's
            """
        )
    )
    subprocess.run(
        [sys.executable, "runner.py", "-q", "-p", "hfrouter", "test_allowed.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    seen = json.loads((tmp_path / "attempts.json").read_text())
    assert ["lookup", "api.gradio.app"] in seen["attempts"]
    assert seen["exit"] == 0


# -- outside tests, and threads ----------------------------------------------------------


def test_a_connection_at_import_time_fails_the_session_naming_the_host(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_import_time="""
        import socket

        try:
            socket.create_connection(("telemetry.example.org", 443), timeout=1)
        except OSError:
            pass  # the library swallows it, as telemetry code does

        def test_nothing():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "hfrouter")

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*hfrouter: requests outside any test (they fail the session)*",
            "CONNECT telemetry.example.org:443: pytest-hfrouter blocked a connection to telemetry.example.org:443 "
            "(from test_import_time)*hfrouter_allow_hosts*",
        ]
    )


def test_a_router_call_at_import_time_gets_a_healthy_answer(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        test_module_level="""
        import hfapp

        REPLY = hfapp.chat()

        def test_reply_was_answered():
            assert REPLY.choices[0].message.content
        """
    )
    result = hfapp.runpytest_subprocess("-p", "hfrouter")
    result.assert_outcomes(passed=1)
    assert result.ret == 0


BACKGROUND = """
import threading
import time

import pytest

import hfapp

started = threading.Event()
done = threading.Event()


def _late_call():
    started.set()
    time.sleep(0.3)  # the first test has ended by now
    try:
        hfapp.chat()
    finally:
        done.set()


def test_starts_a_logging_thread():
    threading.Thread(target=_late_call, daemon=True).start()
    started.wait()


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_next(hfrouter):
    assert done.wait(5)
    assert hfrouter.calls == []  # the earlier test's thread is not charged here
    assert hfapp.status_of(hfapp.chat) == 500  # this test's own call meets its outage
"""


def test_a_thread_from_an_earlier_test_is_not_charged_to_the_next(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(test_background=BACKGROUND)
    result = hfapp.runpytest("-p", "hfrouter", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


SHARED_WORKER = """
import queue
import threading

import pytest

import hfapp


class Worker:
    \"\"\"An app's request thread, as a module-scoped TestClient's portal is one.\"\"\"

    def __init__(self):
        self.inbox = queue.Queue()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            outbox = self.inbox.get()
            outbox.put(hfapp.status_of(hfapp.chat))

    def status(self):
        outbox = queue.Queue()
        self.inbox.put(outbox)
        return outbox.get(timeout=10)


@pytest.fixture(scope="{scope}")
def worker():
    return Worker()


def test_healthy(hfrouter, worker):
    assert worker.status() == 200
    assert [c.answered_by for c in hfrouter.calls if c.route == "provider"] == ["healthy"]


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_outage(hfrouter, worker):
    assert worker.status() == 500
    assert [c.answered_by for c in hfrouter.calls if c.route == "provider"] == ["scenario:provider-500"]
"""


@pytest.mark.parametrize("scope", ["module", "session", "function"])
def test_a_thread_a_shared_fixture_starts_serves_every_test_that_uses_it(hfapp: pytest.Pytester, scope: str) -> None:
    """A thread a fixture of wider scope starts (a module-scoped TestClient's portal, a worker)
    serves every test that uses the fixture, as the fixture does: its requests meet the running
    test's outages and are in its calls. Charged to the first test only, the second test's
    outage would never reach the app."""
    hfapp.makepyfile(test_worker=SHARED_WORKER.replace("{scope}", scope))
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=2)


def test_an_outage_a_thread_of_another_test_kept_from_the_app_says_so(hfapp: pytest.Pytester) -> None:
    """A thread the first test's own fixture started (kept in a global) serves the second test: its
    calls are not the second test's, so its outage never happens, and the finding names the thread's
    test and the fix instead of "made no call at all"."""
    hfapp.makepyfile(
        test_worker=SHARED_WORKER.replace("{scope}", "function").replace(
            "def worker():\n    return Worker()",
            "def worker():\n    global KEPT\n    KEPT = globals().get('KEPT') or Worker()\n    return KEPT",
        )
    )
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "  - @pytest.mark.hfrouter_outage('provider-500', provider='novita') answered no call of this test: the "
            "test made no router or Hub call in its setup or body*",
            "  Meanwhile 2 call(s) came from threads this test did not start, started by: "
            "test_worker.py::test_healthy. They were answered at session level, not as this test's (a thread works "
            "for the test that started it, in its body or a function-scoped fixture): to have a thread serve every "
            "test that uses it, start it in a fixture of wider scope (scope='module' or 'session').",
        ]
    )


@pytest.mark.parametrize("process", ["in-process", "subprocess"])
def test_work_a_test_hands_to_a_thread_pool_is_its_own(hfapp: pytest.Pytester, process: str) -> None:
    # In a fresh process concurrent.futures is not loaded when the plugin is: its pool is patched
    # when the first thread starts after it is (the conftest says which case ran).
    hfapp.makeconftest(
        """
        import sys

        def pytest_configure(config):
            print("pool module loaded at configure:", "concurrent.futures.thread" in sys.modules)
        """
    )
    hfapp.makepyfile(
        test_pool="""
        import concurrent.futures

        import pytest

        import hfapp

        POOL = concurrent.futures.ThreadPoolExecutor(1)  # made at import, before any test
        POOL.submit(lambda: None).result()  # its worker thread starts now, outside any test


        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_pool_call_meets_the_outage(hfrouter):
            assert POOL.submit(hfapp.status_of, hfapp.chat).result() == 500
            assert [c.answered_by for c in hfrouter.calls if c.route == "provider"] == ["scenario:provider-500"]
        """
    )
    run = hfapp.runpytest if process == "in-process" else hfapp.runpytest_subprocess
    result = run("-p", "hfrouter", "-s")
    result.assert_outcomes(passed=1)
    if process == "subprocess":
        result.stdout.fnmatch_lines(["pool module loaded at configure: False"])


def test_live_modes_reach_the_router_and_hub_or_their_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_hfrouter._settings import Settings
    from pytest_hfrouter.live import Live

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    live = Live("live", "token", router_url="https://router.internal.example", hub_url="https://huggingface.co")
    policy = guard.Policy(hosts=Settings(live=live, allow_hosts=("*.gradio.app",)).reachable_hosts())
    for host in ("router.internal.example", "huggingface.co", "proxy.corp.example", "api.gradio.app"):
        assert policy.allows(host, 443), host
    # pointed elsewhere, the real router (and the legacy host, which goes to the router override) is not reached
    for host in ("example.com", "router.huggingface.co", "api-inference.huggingface.co"):
        assert not policy.allows(host, 443), host
    default = guard.Policy(hosts=Settings(live=Live("live", "token")).reachable_hosts())
    for host in ("router.huggingface.co", "huggingface.co", "api-inference.huggingface.co"):
        assert default.allows(host, 443), host
    assert Settings(allow_hosts=("*.gradio.app",)).reachable_hosts() == ("*.gradio.app",)  # replay: only those


AFTER_SESSION_APP = """
import atexit, sys, threading, time

import requests

def _hook(event, args):  # every name look-up that reaches the resolver
    if event == "socket.getaddrinfo" and args[0] == "router.huggingface.co":
        sys.stderr.write("NETWORK: router.huggingface.co\\n")

sys.addaudithook(_hook)

def late_call(tag):
    try:
        requests.post("https://router.huggingface.co/v1/chat/completions", json={}, timeout=3)
    except Exception as exc:
        print(tag, type(exc).__name__, flush=True)

def ask_later():
    def run():
        time.sleep(1.5)  # after the session has ended (its end takes well under that)
        late_call("thread:")
    threading.Thread(target=run).start()

atexit.register(late_call, "atexit:")
"""


@pytest.mark.parametrize("scope", ["-p hfrouter", "auto-loaded, asked"])
def test_no_request_leaves_after_the_session(pytester: pytest.Pytester, scope: str) -> None:
    """A thread the app left running, or its atexit handler, calls the router after the session ended:
    refused, and said (an audit: both went to the real network, exit status 0)."""
    pytester.makepyfile(
        lateapp=AFTER_SESSION_APP,
        test_late="""
        import pytest
        import lateapp

        @pytest.mark.hfrouter_outage("provider-500", provider="novita", optional=True)
        def test_leaves_a_thread():
            lateapp.ask_later()
        """,
    )
    args = ["-p", "hfrouter"] if scope == "-p hfrouter" else []
    result = pytester.runpytest_subprocess(*args, "-s")
    result.assert_outcomes(passed=1)
    assert "NETWORK" not in result.stderr.str()
    result.stdout.fnmatch_lines(["thread: ConnectionError", "atexit: ConnectionError"])
    result.stderr.fnmatch_lines(
        ["pytest-hfrouter: a request to router.huggingface.co after the test session ended (from a thread*"]
    )


LATE_CASSETTE = """interactions:
- request:
    body: null
    headers: {}
    method: GET
    uri: https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/raw/main/config.json
  response:
    body:
      string: '{"max_position_embeddings": 32768}'
    headers:
      Content-Type:
      - application/json
    status:
      code: 200
      message: OK
version: 1
"""


def test_a_late_request_is_answered_from_the_runs_cassettes(pytester: pytest.Pytester) -> None:
    """A library's logging thread (litellm's) fetches a model's config.json after the test that made
    the call ended: the request is the session's, and the test's cassette that holds it answers it
    (an audit: a suite set up as the README says failed its session, intermittently, with every test
    green)."""
    (pytester.path / "cassettes").mkdir()
    (pytester.path / "cassettes" / "hub-config.yaml").write_text(LATE_CASSETTE)
    pytester.makepyfile(
        test_late="""
        import threading, time

        import httpx
        import pytest

        SEEN = []

        def fetch_later():
            time.sleep(0.2)  # after the test has ended
            SEEN.append(httpx.get("https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/raw/main/config.json").json())

        @pytest.mark.hfrouter_cassette("hub-config.yaml")
        def test_logs_in_the_background():
            assert httpx.get("https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/raw/main/config.json").is_success
            threading.Thread(target=fetch_later).start()

        def test_later():
            deadline = time.monotonic() + 10
            while not SEEN and time.monotonic() < deadline:  # the thread's fetch, made after its test ended
                time.sleep(0.05)
            assert SEEN == [{"max_position_embeddings": 32768}]
        """
    )
    result = pytester.runpytest("-p", "hfrouter", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*requests outside any test*")


UVLOOP_TESTS = """
import asyncio, os
import uvloop

PORT = int(os.environ["LISTENING_PORT"])

def on_uvloop(coroutine):
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()

async def connect(host):
    reader, writer = await asyncio.open_connection(host, PORT)
    writer.close()

def test_open_connection():
    on_uvloop(connect("127.0.0.1"))

async def look_up(host):
    return await asyncio.get_running_loop().getaddrinfo(host, PORT)

def test_a_name_look_up():
    on_uvloop(look_up("localhost"))
"""


def test_uvloop_s_connections_and_look_ups_meet_the_guard(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: uvloop resolves and connects in libuv, below the socket module, so under uvloop (uvicorn's
    loop) ``asyncio.open_connection`` reached a host the guard refuses, and the test passed. Loopback
    with ``hfrouter_allow_loopback = false`` stands in for a refused host: nothing leaves the machine."""
    pytest.importorskip("uvloop")
    server = socket.create_server(("127.0.0.1", 0))
    monkeypatch.setenv("LISTENING_PORT", str(server.getsockname()[1]))
    pytester.makeini("[pytest]\nhfrouter_allow_loopback = false\n")
    pytester.makepyfile(test_uvloop=UVLOOP_TESTS)
    try:
        result = pytester.runpytest_subprocess("-p", "hfrouter")
    finally:
        server.close()

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*blocked a connection to 127.0.0.1:*", "*blocked a connection to localhost:*"])


SENDS = """
import ctypes
import http.client
import pickle
import socket
import threading

import pytest


@pytest.fixture
def server():
    listener = socket.create_server(("127.0.0.1", 0))
    seen = []

    def serve():
        try:
            while True:
                connection, _ = listener.accept()
                with connection:
                    while data := connection.recv(65536):
                        seen.append(data)
                        if b"\\r\\n\\r\\n" in data:
                            connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nok")
        except OSError:
            pass

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], seen
    listener.close()


class Header(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_uint32), ("size", ctypes.c_uint32)]


def test_any_buffer_send_takes(server):  # not only what can be sliced
    with socket.create_connection(("127.0.0.1", server[0])) as sock:
        sock.sendall(Header(1, 2))
        sock.sendall(pickle.PickleBuffer(b"payload"))


def test_a_datagram_is_no_proxy_request(server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", server[0]))
        sock.send(b"GET http://example.com/ HTTP/1.1\\r\\n\\r\\n")


def test_the_second_request_of_a_kept_alive_connection(server):
    connection = http.client.HTTPConnection("127.0.0.1", server[0])
    connection.request("GET", "/ok")
    connection.getresponse().read()
    connection.request("GET", "http://router.huggingface.co/v1/models")


def test_a_request_line_sent_in_pieces(server):
    with socket.create_connection(("127.0.0.1", server[0])) as sock:
        sock.send(b"G")
        sock.sendall(b"ET http://router.huggingface.co/v1/models HTTP/1.1\\r\\n\\r\\n")


def test_sendmsg(server):
    with socket.create_connection(("127.0.0.1", server[0])) as sock:
        sock.sendmsg([b"GET http://huggingface.co/api/models HTTP/1.1\\r\\n", b"\\r\\n"])
"""


def test_every_request_a_let_through_connection_carries_is_read(pytester: pytest.Pytester) -> None:
    """An audit of the proxy check: a second request on a kept-alive connection, a request line sent in
    pieces and sendmsg got past it; a ctypes structure or a PickleBuffer sent crashed it; a UDP datagram
    was read as a request. Each is as it should be now."""
    pytester.makepyfile(test_sends=SENDS)
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED test_sends.py::test_the_second_request_of_a_kept_alive_connection*",
            "FAILED test_sends.py::test_a_request_line_sent_in_pieces*",
            "FAILED test_sends.py::test_sendmsg*",
        ]
    )
