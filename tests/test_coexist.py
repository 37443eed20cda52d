"""Living next to pytest-recording and vcrpy (both installed, real vcrpy cassettes).

pytest-hfrouter steps aside for a ``@pytest.mark.vcr`` test (vcrpy answers it, said once per run),
refuses a test that carries both its own markers and ``vcr``, and never answers for vcrpy, so no
synthesised answer can land in a vcrpy cassette.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytest_recording")

VCR_CASSETTE = """\
interactions:
- request:
    body: '{"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [], "stream": false}'
    headers: {}
    method: POST
    uri: https://router.huggingface.co/novita/v3/openai/chat/completions
  response:
    body: {string: '{"choices": [{"message": {"content": "from vcrpy"}}]}'}
    headers:
      Content-Type: [application/json]
    status: {code: 200, message: OK}
version: 1
"""

TESTS = """
import httpx
import pytest

URL = "https://router.huggingface.co/novita/v3/openai/chat/completions"
BODY = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [], "stream": False}


def ask():
    return httpx.post(URL, json=BODY).json()["choices"][0]["message"]["content"]


@pytest.mark.vcr
def test_vcr_answers():
    assert ask() == "from vcrpy"


@pytest.mark.vcr
def test_vcr_answers_again():
    assert ask() == "from vcrpy"


@pytest.mark.vcr
def test_vcr_answers_through_requests():  # vcrpy stubs urllib3, below requests' adapter (huggingface_hub 0.x)
    import requests

    assert requests.post(URL, json=BODY).json()["choices"][0]["message"]["content"] == "from vcrpy"


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_hfrouter_answers(hfrouter):
    assert httpx.post(URL, json=BODY).status_code == 500
    assert hfrouter.tried == ["novita"]
"""


def _vcr_cassette(root: Path, test: str) -> Path:
    path = root / "cassettes" / "test_mixed" / f"{test}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(VCR_CASSETTE)
    return path


def test_hfrouter_steps_aside_for_vcr_tests_and_says_so_once(pytester: pytest.Pytester) -> None:
    for test in ("test_vcr_answers", "test_vcr_answers_again", "test_vcr_answers_through_requests"):
        _vcr_cassette(pytester.path, test)
    pytester.makepyfile(test_mixed=TESTS)

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=4, warnings=1)
    result.stdout.fnmatch_lines(["*HFRouterWarning: pytest-hfrouter steps aside for tests marked @pytest.mark.vcr*"])


def test_a_test_with_vcr_and_hfrouter_markers_is_refused_naming_both(pytester: pytest.Pytester) -> None:
    _vcr_cassette(pytester.path, "test_both")
    pytester.makepyfile(
        test_mixed="""
        import httpx
        import pytest

        @pytest.mark.vcr
        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_both(hfrouter):
            httpx.post("https://router.huggingface.co/novita/v3/openai/chat/completions", json={})
        """
    )

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-hfrouter: @pytest.mark.vcr and @pytest.mark.hfrouter_outage and the 'hfrouter' fixture on one "
            "test: vcrpy answers the requests before pytest-hfrouter sees them*hfrouter_cassette*",
        ]
    )


def test_a_recording_vcr_test_gets_no_synthesised_answer_and_no_cassette(pytester: pytest.Pytester) -> None:
    # --record-mode=once with no cassette: vcrpy passes the request on to the transport. A healthy answer
    # from pytest-hfrouter here would be written to cassettes/test_mixed/test_vcr_answers.yaml.
    pytester.makepyfile(test_mixed=TESTS)

    result = pytester.runpytest(
        "-p", "hfrouter", "--record-mode=once", "-k", "test_vcr_answers and not again and not requests"
    )

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-hfrouter: not sent: POST https://router.huggingface.co/novita/v3/openai/chat/completions",
            "  this test is marked @pytest.mark.vcr and vcrpy did not answer the request*-p no:hfrouter*",
        ]
    )
    written = pytester.path / "cassettes" / "test_mixed" / "test_vcr_answers.yaml"
    assert not written.exists()
    # through requests, vcrpy records below the plugin's face: what stops the request is the network guard
    through_requests = pytester.runpytest("-p", "hfrouter", "--record-mode=once", "-k", "requests")
    through_requests.assert_outcomes(failed=1)
    through_requests.stdout.fnmatch_lines(["*blocked a connection to router.huggingface.co:443*"])
    assert not (pytester.path / "cassettes" / "test_mixed" / "test_vcr_answers_through_requests.yaml").exists()


def test_pytest_recording_cassette_settings_a_migrated_test_would_lose_are_said(pytester: pytest.Pytester) -> None:
    """A test moved off @pytest.mark.vcr kept pytest-recording's default_cassette marker, or its conftest's
    vcr_cassette_dir: both ran on healthy answers, their cassettes beside them (an audit)."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="module")
        def vcr_cassette_dir():
            return "tests/vcr"
        """
    )
    pytester.makepyfile(test_moved="def test_moved(hfrouter):\n    pass\n")
    moved = pytester.runpytest("-p", "hfrouter")
    moved.assert_outcomes(passed=1, warnings=1)
    moved.stdout.fnmatch_lines(["*conftest.py overrides pytest-recording's vcr_cassette_dir fixture*"])
    kept = pytester.runpytest("-p", "hfrouter", "--record-mode=rewrite")  # a CI command from before the move
    kept.stdout.fnmatch_lines(["hfrouter: mode=replay * (--record-mode is pytest-recording's*--hfrouter-mode=record*"])
    pytester.makepyfile(
        test_moved="""
        import pytest

        @pytest.mark.default_cassette("shared.yaml")
        def test_moved(hfrouter):
            pass
        """
    )
    marked = pytester.runpytest("-p", "hfrouter", "-W", "error::pytest_hfrouter.HFRouterWarning")
    assert marked.ret == pytest.ExitCode.USAGE_ERROR
    marked.stderr.fnmatch_lines(["*test_moved.py::test_moved carries @pytest.mark.default_cassette*"])
