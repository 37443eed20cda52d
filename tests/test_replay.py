"""Replay: who answers (outage > cassette > healthy), where cassettes are found, what is blocked."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import LOOPBACK, CassetteWriter

PRECEDENCE = """
import pytest
from hfapp import chat

@pytest.mark.hfrouter_cassette("novita-ok.yaml")
@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_outage_beats_cassette(hfrouter):
    with pytest.raises(Exception) as failure:
        chat()
    assert failure.value.response.status_code == 500
    assert hfrouter.calls[-1].answered_by == "scenario:provider-500"

@pytest.mark.hfrouter_cassette("novita-ok.yaml")
# a bystander rule that must not interfere (it answers nothing here, on purpose: optional)
@pytest.mark.hfrouter_outage("provider-500", provider="together", optional=True)
def test_cassette_answers_what_no_outage_covers(hfrouter):
    assert chat().choices[0].message.content == "from the cassette"
    assert hfrouter.calls[-1].answered_by == "cassette:novita-ok.yaml"

@pytest.mark.hfrouter_cassette("novita-ok.yaml")
def test_healthy_answers_what_the_cassette_lacks(hfrouter):
    assert chat().choices[0].message.content == "from the cassette"
    answer = chat("cerebras").choices[0].message.content
    assert answer and answer != "from the cassette"
    assert hfrouter.calls[-1].answered_by == "healthy"
    hfrouter.assert_answered_by("cerebras")

@pytest.mark.hfrouter_cassette("novita-ok.yaml")
def test_outage_context_beats_cassette(hfrouter):
    with hfrouter.outage("rate-limited-429", provider="novita"):
        with pytest.raises(Exception) as failure:
            chat()
    assert failure.value.response.status_code == 429
    assert chat().choices[0].message.content == "from the cassette"
"""


def test_outage_beats_cassette_beats_healthy(hfapp: pytest.Pytester, write_cassette: CassetteWriter) -> None:
    write_cassette("cassettes/novita-ok.yaml")
    hfapp.makepyfile(test_precedence=PRECEDENCE)

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=4)


USES_DEFAULT = """
from hfapp import chat

def test_it(hfrouter):
    assert chat().choices[0].message.content == "{content}"
    assert hfrouter.calls[-1].answered_by == "cassette:test_it.yaml"

class TestGroup:
    def test_in_class(self, hfrouter):
        assert chat().choices[0].message.content == "{content}"

def test_without_cassette(hfrouter):
    assert chat().choices[0].message.content != "{content}"
"""


def test_default_cassette_path_is_picked_up(hfapp: pytest.Pytester, write_cassette: CassetteWriter) -> None:
    write_cassette("cassettes/test_default/test_it.yaml", content="default path")
    write_cassette("cassettes/test_default/TestGroup.test_in_class.yaml", content="default path")
    hfapp.makepyfile(test_default=USES_DEFAULT.format(content="default path"))

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=3)


def test_a_json_cassette_at_the_default_path_is_picked_up(
    hfapp: pytest.Pytester, write_cassette: CassetteWriter
) -> None:
    """pytest-recording with ``vcr_config = {"serializer": "json"}`` writes ``<test>.json``: such a suite
    ran on healthy answers without a word (found by a new user's audit)."""
    import json

    import yaml

    for name in ("test_it", "TestGroup.test_in_class"):
        path = write_cassette(f"cassettes/test_default/{name}.yaml", content="default json")
        path.with_suffix(".json").write_text(json.dumps(yaml.safe_load(path.read_text())))
        path.unlink()
    hfapp.makepyfile(test_default=USES_DEFAULT.format(content="default json").replace("test_it.yaml", "test_it.json"))

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=3)


AUTO_PICKED_TOGETHER = """\
interactions:
- request:
    body: '{"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}]}'
    headers: {}
    method: POST
    uri: https://router.huggingface.co/v1/chat/completions
  response:
    body:
      string: '{"id": "rec-1", "object": "chat.completion", "created": 1, "model": "Qwen/Qwen2.5-72B-Instruct",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "from together"},
        "finish_reason": "stop"}]}'
    headers:
      Content-Type: [application/json]
      x-inference-provider: [together]
    status: {code: 200, message: OK}
version: 1
"""

AUTO_TESTS = """
import httpx
import pytest

BODY = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}]}
URL = "https://router.huggingface.co/v1/chat/completions"

pytestmark = pytest.mark.hfrouter_cassette("auto.yaml")

def test_the_recorded_pick(hfrouter):
    answer = httpx.post(URL, json=BODY)
    assert answer.headers["x-inference-provider"] == "together"
    assert hfrouter.tried == ["together"] and hfrouter.answered == "together"

@pytest.mark.hfrouter_outage("provider-500", provider="together")
def test_an_outage_on_the_recorded_pick(hfrouter):
    assert httpx.post(URL, json=BODY).status_code == 500
"""


def test_an_auto_route_cassette_is_the_routers_recorded_pick(pytester: pytest.Pytester) -> None:
    """A recording of the auto route says which provider the router picked (``x-inference-provider``):
    the plugin took novita (its healthy mapping's first), so an outage on the provider that answered
    could not be injected and ``tried`` named another (found by a new user's audit)."""
    (pytester.path / "cassettes").mkdir()
    (pytester.path / "cassettes" / "auto.yaml").write_text(AUTO_PICKED_TOGETHER)
    pytester.makepyfile(test_auto=AUTO_TESTS)

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2)


DECODED_UNDER_GZIP = """
import httpx
import requests

from hfapp import chat

URL = "https://router.huggingface.co/novita/v3/openai/chat/completions"
BODY = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}], "stream": False}

def test_through_huggingface_hub(hfrouter):
    assert chat().choices[0].message.content == "stored decoded"

def test_through_requests(hfrouter):
    assert requests.post(URL, json=BODY).json()["choices"][0]["message"]["content"] == "stored decoded"

def test_through_httpx(hfrouter):
    assert httpx.post(URL, json=BODY).json()["choices"][0]["message"]["content"] == "stored decoded"
"""


def test_a_body_stored_decoded_under_its_gzip_header_is_replayed_decoded(
    hfapp: pytest.Pytester, write_cassette: CassetteWriter
) -> None:
    """vcrpy through requests stores a gzip answer's text decoded and keeps ``Content-Encoding: gzip``,
    and replays it decoded: the plugin handed the client the header over plain text, and the client
    failed to decompress it, naming no cassette (found by a new user's audit)."""
    path = write_cassette("cassettes/test_decoded/gzip.yaml", content="stored decoded")
    response_headers = "      Content-Type:\n      - application/json\n    status:"
    text = path.read_text()
    assert text.count(response_headers) == 1
    path.write_text(
        text.replace(
            response_headers,
            response_headers.replace("    status:", "      Content-Encoding:\n      - gzip\n    status:"),
        )
    )
    hfapp.makepyfile(
        test_decoded="import pytest\n\npytestmark = pytest.mark.hfrouter_cassette('gzip.yaml')\n" + DECODED_UNDER_GZIP
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=3)
    linted = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "lint", str(path)], capture_output=True, text=True, check=False
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_cassette_dir_option(hfapp: pytest.Pytester, write_cassette: CassetteWriter) -> None:
    write_cassette("recorded/test_dir/test_it.yaml", content="from the option dir")
    write_cassette("recorded/test_dir/TestGroup.test_in_class.yaml", content="from the option dir")
    write_cassette("cassettes/test_dir/test_it.yaml", content="from the default dir")
    hfapp.makepyfile(test_dir=USES_DEFAULT.format(content="from the option dir"))

    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-cassette-dir", "recorded")

    result.assert_outcomes(passed=3)


def test_cassette_dir_ini(hfapp: pytest.Pytester, write_cassette: CassetteWriter) -> None:
    write_cassette("recorded/test_ini/test_it.yaml", content="from the ini dir")
    write_cassette("recorded/test_ini/TestGroup.test_in_class.yaml", content="from the ini dir")
    write_cassette("recorded/shared.yaml", content="shared by name")
    hfapp.makeini("[pytest]\nhfrouter_cassette_dir = recorded\n")
    hfapp.makepyfile(
        test_ini=USES_DEFAULT.format(content="from the ini dir")
        + """
import pytest

@pytest.mark.hfrouter_cassette("shared.yaml")
def test_marker_path_relative_to_the_dir():
    assert chat().choices[0].message.content == "shared by name"
"""
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=4)


def test_strict_fails_an_uncovered_router_call(hfapp: pytest.Pytester, write_cassette: CassetteWriter) -> None:
    write_cassette("cassettes/novita-ok.yaml")
    hfapp.makeini("[pytest]\nhfrouter_strict = true\n")
    hfapp.makepyfile(
        test_strict="""
        import pytest
        from hfapp import chat, status_of

        def test_uncovered(hfrouter):
            chat("together")

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_outage_covers_it(hfrouter):
            assert status_of(chat) == 500

        @pytest.mark.hfrouter_cassette("novita-ok.yaml")
        def test_cassette_covers_it(hfrouter):
            assert chat().choices[0].message.content == "from the cassette"
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_uncovered _*",
            "pytest-hfrouter: no answer for POST https://router.huggingface.co/together/v1/chat/completions",
            "  hfrouter_strict is on: router calls need an outage rule or a cassette",
            "  to answer it, record it into *: pytest -p hfrouter --hfrouter-mode=record *",
            "FAILED test_strict.py::test_uncovered - *",
        ]
    )


NETWORK = """
import httpx
import pytest

@pytest.mark.hfrouter_cassette("recorded.yaml")
def test_reaches_out():
    httpx.get("https://example.com/api/things")

@pytest.mark.hfrouter_cassette("recorded.yaml")
def test_swallows_the_error():
    try:
        httpx.get("https://example.com/api/things")
    except Exception:
        pass

@pytest.mark.hfrouter_cassette("recorded.yaml")
def test_recorded_url_is_replayed():
    assert httpx.get("https://example.com/api/recorded").text == "recorded example.com page"

def test_unrelated():
    assert 1 + 1 == 2
"""


def test_network_is_blocked_per_test(pytester: pytest.Pytester, write_cassette: CassetteWriter) -> None:
    cassette = write_cassette("cassettes/recorded.yaml", example_com=True)
    pytester.makepyfile(test_network=NETWORK)

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2, failed=2)
    for name in ("test_reaches_out", "test_swallows_the_error"):
        result.stdout.fnmatch_lines(
            [
                f"*_ {name} _*",
                "pytest-hfrouter: no answer for GET https://example.com/api/things",
                "  example.com is not the router; in replay nothing leaves the process unless you let it",
                "  cassettes searched:",
                f"    - {cassette}",
                "  closest recorded requests:",
                "    - GET https://example.com/api/recorded",
                "  answer it from a cassette (offline, the same every run): "
                '@pytest.mark.hfrouter_cassette("<file>.yaml"), '
                "or let it go to the real network: ini hfrouter_allow_hosts = example.com (globs, e.g. *.example.com)",
            ]
        )
    assert "HF_TOKEN" not in result.stdout.str()  # a token records router calls; it cannot help here
    result.stdout.fnmatch_lines(["FAILED test_network.py::test_reaches_out - *"])
    result.stdout.fnmatch_lines(["FAILED test_network.py::test_swallows_the_error - *"])


LOOPBACK_TEST = """
import httpx
import pytest
from loopback import serving

@pytest.fixture
def server():
    with serving() as url:
        yield url

def test_loopback(server):
    with httpx.Client(trust_env=False) as client:
        assert client.get(server).text == "hello from loopback"
"""


def test_loopback_is_allowed_by_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_loopback=LOOPBACK_TEST, loopback=LOOPBACK)

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1)


def test_loopback_is_blocked_when_the_ini_says_so(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhfrouter_allow_loopback = false\n")
    pytester.makepyfile(test_loopback=LOOPBACK_TEST, loopback=LOOPBACK)

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-hfrouter: no answer for GET http://127.0.0.1:*/",
            "  loopback traffic is blocked (ini hfrouter_allow_loopback = false)",
            "  let it through: ini hfrouter_allow_loopback = true (the default), or answer it from a cassette: "
            '@pytest.mark.hfrouter_cassette("<file>.yaml")',
        ]
    )
    assert "HF_TOKEN" not in result.stdout.str() and "hfrouter_outage" not in result.stdout.str()  # no fix of theirs


def test_live_tests_are_skipped_in_replay(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(  # not "test_live": an in-process run would find tests/test_live.py imported under that name
        test_live_marker="""
        import pytest

        @pytest.mark.hfrouter_live
        def test_needs_the_router():
            raise AssertionError("must not run in replay")

        def test_replayed():
            pass
        """
    )

    result = pytester.runpytest("-p", "hfrouter", "-rs")

    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] test_live_marker.py:*: needs the live router (hfrouter_live)*"])


def test_mapping_cache_does_not_leak_between_tests(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        test_cache="""
        import logging
        import pytest
        from hfapp import MODEL, chat

        @pytest.mark.hfrouter_outage("mapping-missing-provider", provider="novita", model=MODEL)
        def test_a_provider_gone_from_the_mapping(hfrouter):
            with pytest.raises(ValueError, match="not supported by provider novita"):
                chat("novita")
            assert [c.route for c in hfrouter.calls] == ["mapping"]

        def test_b_same_model_novita_is_back(hfrouter):
            chat("novita")
            assert [c.route for c in hfrouter.calls] == ["mapping", "provider"]
            hfrouter.assert_answered_by("novita")

        @pytest.mark.hfrouter_outage("staging-auth", provider="novita", model=MODEL)
        def test_c_staging(hfrouter, caplog):
            with pytest.raises(Exception) as failure:
                chat("novita")
            assert failure.value.response.status_code == 401
            assert "staging mode for provider" in caplog.text

        def test_d_same_model_live_again(hfrouter, caplog):
            chat("novita")
            assert "staging mode" not in caplog.text
            assert [c.route for c in hfrouter.calls] == ["mapping", "provider"]
        """
    )

    result = hfapp.runpytest("-p", "hfrouter", "-p", "no:randomly")

    result.assert_outcomes(passed=4)


def test_agent_harness_request_never_fails_a_test(hfapp: pytest.Pytester) -> None:
    pytest.importorskip(
        "huggingface_hub.utils._detect_agent", reason="this huggingface_hub makes no agent-harness request"
    )
    hfapp.makeini("[pytest]\nhfrouter_strict = true\n")
    hfapp.makepyfile(
        test_harness="""
        import json

        import pytest
        from huggingface_hub import constants
        from huggingface_hub.utils import _detect_agent, get_session
        from hfapp import chat

        @pytest.fixture
        def cold_registry(tmp_path, monkeypatch):
            path = tmp_path / "agent_harnesses.json"
            monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(path))
            monkeypatch.setattr(_detect_agent, "_registry", None)
            return path

        def test_registry_fetch_is_answered_and_nothing_is_written(cold_registry):
            assert _detect_agent.detect_agent() is None
            # An error answer: the client keeps what it has, and writes nothing into HF_HOME (an audit: the empty
            # registry answered before replaced the user's real one there)
            assert not cold_registry.exists()

        def test_a_registry_the_user_has_is_kept(cold_registry, monkeypatch):
            known = {"standardEnvVars": ["AI_AGENT"], "harnesses": {"claude-code": {"envVars": {"CLAUDECODE": "1"}}}}
            cold_registry.write_text(json.dumps(known))
            import os
            os.utime(cold_registry, (0, 0))  # stale: the client fetches it again
            monkeypatch.setenv("CLAUDECODE", "1")
            assert _detect_agent.detect_agent() == "claude-code"
            assert json.loads(cold_registry.read_text()) == known

        def test_direct_request(cold_registry):
            response = get_session().get("https://huggingface.co/api/agent-harnesses")
            assert response.status_code == 503

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_with_a_client_call(cold_registry, hfrouter):
            with pytest.raises(Exception):
                chat()
            assert hfrouter.tried == ["novita"]
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=4)


SUITE = """
import httpx
import pytest
from hfapp import chat, status_of

@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_outage():
    assert status_of(chat) == 500

@pytest.mark.hfrouter_cassette("novita-ok.yaml")
def test_cassette():
    assert chat().choices[0].message.content == "from the cassette"

def test_healthy(hfrouter):
    chat("together")
    hfrouter.assert_answered_by("together")

@pytest.mark.hfrouter_each_outage("provider-500", "rate-limited-429", "invalid-token-401", provider="novita")
def test_each(hfrouter_scenario):
    assert status_of(chat) == {"provider-500": 500, "rate-limited-429": 429, "invalid-token-401": 401}[
        hfrouter_scenario
    ]

def test_network_blocked():
    httpx.get("https://example.com/")

@pytest.mark.hfrouter_live
def test_live():
    pass
"""


@pytest.fixture
def suite(hfapp: pytest.Pytester, write_cassette: CassetteWriter) -> pytest.Pytester:
    write_cassette("cassettes/novita-ok.yaml")
    hfapp.makepyfile(test_suite=SUITE, test_suite_copy=SUITE)
    return hfapp


EXPECTED = {"passed": 12, "failed": 2, "skipped": 2}


def test_under_xdist(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("-p", "hfrouter", "-n", "2")

    result.assert_outcomes(**EXPECTED)
    result.stdout.fnmatch_lines(["created: 2/2 workers", "*pytest-hfrouter: no answer for GET https://example.com/*"])


def test_without_xdist(suite: pytest.Pytester) -> None:
    result = suite.runpytest("-p", "hfrouter", "-p", "no:xdist")

    result.assert_outcomes(**EXPECTED)


def test_a_hub_mirror_in_hf_endpoint_is_answered_as_the_hub(
    hfapp: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A shell with ``HF_ENDPOINT=https://hf-mirror.com`` (common where huggingface.co is slow to reach):
    huggingface_hub sends its mapping look-ups there. An audit: each was a miss ("not the router"), and
    the fix offered (hfrouter_allow_hosts) sent it to the mirror. Read as the Hub, the outage suite
    behaves as without the variable, the Hub's outages included."""
    hfapp.makepyfile(
        test_mirror="""
        import pytest
        from huggingface_hub import InferenceClient
        from huggingface_hub.errors import HfHubHTTPError

        MODEL = "Qwen/Qwen2.5-72B-Instruct"

        def ask(provider):
            client = InferenceClient(provider=provider, api_key="hf_fake")
            return client.chat_completion([{"role": "user", "content": "hi"}], model=MODEL, max_tokens=5)

        @pytest.mark.hfrouter_outage("novita-500", provider="novita")
        def test_novita_500(hfrouter):
            with pytest.raises(HfHubHTTPError):
                ask("novita")
            assert ask("together").choices[0].message.content
            assert any(c.url.startswith("https://hf-mirror.com/api/models/") for c in hfrouter.calls)

        @pytest.mark.hfrouter_outage("mapping-missing-provider", provider="novita")
        def test_the_mirror_drops_novita(hfrouter):
            with pytest.raises(ValueError, match="not supported by provider"):
                ask("novita")
        """
    )
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.com")  # read by huggingface_hub at import: a subprocess
    result = hfapp.runpytest_subprocess("-p", "hfrouter")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["hfrouter: mode=replay * (HF_ENDPOINT: hf-mirror.com is answered as the Hub)"])
    # on loopback: a router double's (it answers for itself), or a local mirror's, which goes out: said
    monkeypatch.setenv("HF_ENDPOINT", "http://localhost:8090")
    looped = hfapp.runpytest_subprocess("-p", "hfrouter", "--collect-only")
    looped.stdout.fnmatch_lines(
        [
            "hfrouter: mode=replay * (HF_ENDPOINT: http://localhost:8090 is on loopback, so huggingface_hub's look-ups "
            "go there, unread by the plugin*a local Hub mirror would fetch them from the network*"
        ]
    )


def test_a_folder_where_a_cassette_should_be_is_said(hfapp: pytest.Pytester) -> None:
    """An audit: a folder at a test's default cassette path was passed over in silence (the test went
    green on healthy answers), and a marker naming one said only "no such cassette"."""
    hfapp.makepyfile(
        test_d="""
        import pytest
        from hfapp import chat

        def test_default(hfrouter):
            chat("novita")

        @pytest.mark.hfrouter_cassette("named.yaml")
        def test_named(hfrouter):
            chat("novita")
        """
    )
    (hfapp.path / "cassettes" / "test_d" / "test_default.yaml").mkdir(parents=True)
    (hfapp.path / "cassettes" / "test_d" / "named.yaml").mkdir()
    result = hfapp.runpytest("-p", "hfrouter")
    assert result.parseoutcomes().get("passed", 0) == 0, result.stdout.str()
    result.stdout.fnmatch_lines_random(
        [
            "*cassettes/test_d/test_default.yaml: is a folder, not a cassette file: remove or rename it*",
            "  - */cassettes/test_d/named.yaml (a folder, not a cassette file)",
        ]
    )
