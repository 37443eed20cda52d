"""Shared fixtures of the plugin's own tests: inner pytest runs through ``pytester``."""

from __future__ import annotations

import json
from pathlib import Path

import huggingface_hub
import pytest

# Imported once here so that every in-process inner run reuses the loaded client instead of
# importing huggingface_hub again (pytester drops the modules an inner run imported).
from huggingface_hub import InferenceClient  # noqa: F401

from pytest_hfrouter import Call

pytest_plugins = ["pytester"]

#: huggingface_hub 1.0 moved "auto" to the router (``POST /v1/chat/completions``) and took the
#: ``model:provider`` suffix; 0.x picks the mapping's first provider itself and refuses the suffix as a
#: repo id (docs/ROUTER-FACTS.md §1.1). Tests of the server-side auto route cannot run on 0.x.
SERVER_SIDE_AUTO = int(huggingface_hub.__version__.split(".")[0]) >= 1
needs_server_side_auto = pytest.mark.skipif(
    not SERVER_SIDE_AUTO,
    reason=f"huggingface_hub {huggingface_hub.__version__} has no server-side auto route nor model:provider suffix",
)

#: The app the inner tests exercise: the real InferenceClient, no client mocks.
APP = '''
from __future__ import annotations

from huggingface_hub import InferenceClient

MODEL = "Qwen/Qwen2.5-72B-Instruct"


def chat(provider="novita", model=MODEL, stream=False):
    client = InferenceClient(provider=provider, api_key="hf_fake")
    answer = client.chat_completion(
        messages=[{"role": "user", "content": "hi"}], model=model, max_tokens=5, stream=stream
    )
    return _kept_alive(client, answer) if stream else answer


def _kept_alive(client, chunks):
    """A stream read while its client lives: huggingface_hub 1.x and 2.x close a freed client's streams."""
    yield from chunks


def auto_chat(model):
    """The server-side auto route: POST https://router.huggingface.co/v1/chat/completions."""
    client = InferenceClient(api_key="hf_fake")
    return client.chat_completion(messages=[{"role": "user", "content": "hi"}], model=model, max_tokens=5)


def status_of(call):
    """The HTTP status the app saw, or the exception it got."""
    try:
        call()
    except Exception as exc:
        return getattr(getattr(exc, "response", None), "status_code", None) or type(exc).__name__
    return 200
'''


#: A web server on 127.0.0.1 for inner runs: written beside their tests as ``loopback.py``
#: (``pytester.makepyfile(loopback=LOOPBACK)``), used as ``with serving() as url``.
LOOPBACK = """
import contextlib
import http.server
import threading


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from loopback"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(handler=Hello, tls=None, server=http.server.HTTPServer):
    \"\"\"``http://127.0.0.1:PORT/`` (``https://`` with ``tls``, a server-side SSL context) until the block ends.\"\"\"
    httpd = server(("127.0.0.1", 0), handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls is not None else 'http'}://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
"""


#: The plugin keeps huggingface_hub's cache of Hub answers across tests that agree on them, as
#: the client does without the plugin (tests/test_client_cache.py). The suites here assert on
#: each test's own mapping look-up, so their tests clear it first, as some apps do.
FRESH_LOOKUPS = """
import pytest
from pytest_hfrouter import reset_client_caches

@pytest.fixture(autouse=True)
def _fresh_hub_lookups():
    reset_client_caches()
"""


@pytest.fixture(autouse=True)
def _fresh_hub_lookups() -> None:
    from pytest_hfrouter import reset_client_caches

    reset_client_caches()


class InnerRun:
    """One way of running an inner pytest: in process, or under xdist (``-n 2``, in a subprocess:
    xdist's workers are processes, and pytester's in-process run cannot host them)."""

    def __init__(self, xdist: bool) -> None:
        self.xdist = xdist
        #: the command-line arguments of this way (for a run that builds its own command)
        self.args = ["-n", "2"] if xdist else []

    def __call__(self, pytester: pytest.Pytester, *args: str | Path) -> pytest.RunResult:
        if self.xdist:
            return pytester.runpytest_subprocess(*args, *self.args)
        return pytester.runpytest(*args)

    def __repr__(self) -> str:
        return "xdist" if self.xdist else "serial"


@pytest.fixture(params=[False, True], ids=["serial", "xdist"])
def inner_run(request: pytest.FixtureRequest) -> InnerRun:
    """Runs the test twice: ``inner_run(pytester, *args)`` without xdist, then with ``-n 2``."""
    return InnerRun(request.param)


@pytest.fixture
def hfapp(pytester: pytest.Pytester) -> pytest.Pytester:
    """``pytester`` with ``hfapp.py`` (the app above) importable by the inner tests."""
    pytester.makepyfile(hfapp=APP)
    pytester.makeconftest(FRESH_LOOKUPS)
    return pytester


#: Two inner tests with the cyclic garbage collector off (only the plugin's own collections run):
#: the first abandons a stream that a real server sent (an error event ends it: huggingface_hub
#: raises while httpx's line reader is still suspended), the second finds no httpcore stream of the
#: pool left open. Left to the collector, that stream closes wherever it runs next, and its close
#: takes the pool's lock (tests/test_double.py).
ABANDONED_STREAM = {
    "conftest": "import gc\n\ndef pytest_configure(config):\n    gc.disable()\n",
    "test_abandon": """
import gc

import pytest
from huggingface_hub import InferenceClient


def open_pool_streams():
    return [o for o in gc.get_objects() if type(o).__name__ == "PoolByteStream" and o._closed is False]


def abandon(provider):
    client = InferenceClient(provider=provider, api_key="hf_fake", timeout=10)
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(Exception):  # the error event, raised mid-stream
        for _ in client.chat_completion(messages, model="Qwen/Qwen2.5-72B-Instruct", stream=True):
            pass
""",
}
#: huggingface_hub 0.x's synchronous client runs on requests (urllib3's pool: no such lock)
needs_httpx_client = pytest.mark.skipif(
    not SERVER_SIDE_AUTO, reason=f"huggingface_hub {huggingface_hub.__version__}'s InferenceClient runs on requests"
)


#: A vcrpy (format 1) cassette with one successful novita chat completion, as vcrpy writes it.
CASSETTE = """\
interactions:
- request:
    body: '{{"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{{"role": "user", "content": "hi"}}],
      "stream": false}}'
    headers:
      Content-Type:
      - application/json
    method: POST
    uri: https://router.huggingface.co/novita/v3/openai/chat/completions
  response:
    body:
      string: '{{"id": "rec-1", "object": "chat.completion", "created": 1739800000,
        "model": "Qwen/Qwen2.5-72B-Instruct", "choices": [{{"index": 0, "message": {{"role": "assistant",
        "content": "{content}"}}, "finish_reason": "stop"}}], "usage": {{"prompt_tokens": 1,
        "completion_tokens": 3, "total_tokens": 4}}}}'
    headers:
      Content-Type:
      - application/json
    status:
      code: 200
      message: OK
{extra}version: 1
"""

#: An extra interaction (not a router call) for ``CASSETTE``'s ``extra``.
EXAMPLE_COM = """\
- request:
    body: null
    headers: {}
    method: GET
    uri: https://example.com/api/recorded
  response:
    body:
      string: recorded example.com page
    headers:
      Content-Type:
      - text/plain
    status:
      code: 200
      message: OK
"""


class CassetteWriter:
    """Writes vcrpy cassettes into the pytester directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, relative: str, content: str = "from the cassette", example_com: bool = False) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(CASSETTE.format(content=content, extra=EXAMPLE_COM if example_com else ""))
        return path


@pytest.fixture
def write_cassette(pytester: pytest.Pytester) -> CassetteWriter:
    """``write_cassette("cassettes/x.yaml", content=...)`` → the path of a novita 200 cassette."""
    return CassetteWriter(pytester.path)


def logged_call(
    status: int | None,
    at: float,
    *,
    provider: str = "novita",
    scenario: str | None = None,
    truncates: bool = False,
    retry_after: float | None = None,
    asks: str = "hi",
) -> Call:
    """A chat call to ``provider`` as the call log holds it (a stream when ``truncates``): what the
    verdicts and the never-happened diagnoses are judged on, built by hand."""
    return Call(
        provider,
        "Qwen/Qwen2.5-72B-Instruct",
        "provider",
        "POST",
        f"https://router.huggingface.co/{provider}/v3/openai/chat/completions",
        status,
        None,
        f"scenario:{scenario}" if scenario else "healthy",
        truncates,
        at,
        retry_after=retry_after,
        scenarios=(scenario,) if scenario else (),
        truncates_stream=truncates,
        body=json.dumps({"model": "m", "messages": [{"role": "user", "content": asks}]}).encode(),
    )
