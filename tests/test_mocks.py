"""Next to the other HTTP mock libraries: respx, pytest-httpx, responses, requests-mock.

Found by a new user's audit: with ``-p hfrouter`` the plugin answered the router calls a test had
mocked with respx (below the plugin), green on the plugin's answers; a request to another host
that respx mocked was refused with advice to let it reach the real network; and where a library
above the plugin (pytest-httpx) took the calls, the failure said only that the test made no router
call. Real libraries, real clients (httpx, requests), in-process replay.
"""

from __future__ import annotations

import pytest

pytest.importorskip("respx")
pytest.importorskip("pytest_httpx")
pytest.importorskip("responses")

CHAT = "https://router.huggingface.co/novita/v3/openai/chat/completions"
BODY = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}]}

RESPX_TESTS = f"""
import httpx
import pytest

CHAT = {CHAT!r}
BODY = {BODY!r}

def test_respx_answers_the_router(respx_mock):
    route = respx_mock.post(CHAT).respond(200, json={{"from": "respx"}})
    assert httpx.post(CHAT, json=BODY).json() == {{"from": "respx"}}
    assert route.called

def test_plain_after_it(hfrouter):
    assert httpx.post(CHAT, json=BODY).json()["choices"][0]["message"]["content"]

@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_an_outage_and_respx_for_another_host(respx_mock, hfrouter):
    weather = respx_mock.get("https://api.weather.example/today").respond(200, json={{"sky": "clear"}})
    assert httpx.get("https://api.weather.example/today").json() == {{"sky": "clear"}}
    assert httpx.post(CHAT, json=BODY).status_code == 500
    assert weather.called
    assert [c.answered_by for c in hfrouter.calls] == ["passthrough", "scenario:provider-500"]
"""


def test_with_p_hfrouter_a_respx_test_is_left_to_respx(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_respx_mocks=RESPX_TESTS)

    result = pytester.runpytest("-p", "hfrouter", "-W", "always::pytest_hfrouter.HFRouterWarning")

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*pytest-hfrouter steps aside for tests that mock HTTP with another library*"])


def test_under_an_error_filter_the_step_aside_note_fails_no_test(pytester: pytest.Pytester) -> None:
    """An audit: with ``filterwarnings = error``, the note said once per run that the plugin steps aside
    errored the first test of the project's own that mocks HTTP (its setup); the others passed. The
    note is no fault of that test: it stays a warning."""
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_respx_mocks=RESPX_TESTS)

    # pytest-asyncio, where installed, warns at configure of an ini key this project does not set: not ours
    result = pytester.runpytest("-p", "hfrouter", "-p", "no:asyncio")

    result.assert_outcomes(passed=3, warnings=1)
    result.stdout.fnmatch_lines(["*pytest-hfrouter steps aside for tests that mock HTTP with another library*"])
    assert "pytest-hfrouter: pytest-hfrouter" not in result.stdout.str()


OWN_FIXTURE_TESTS = f"""
import httpx
import pytest

CHAT = {CHAT!r}
BODY = {BODY!r}

@pytest.fixture
def responses():
    return ["canned", "answers"]  # the user's own fixture: no mock library's

def test_the_plugin_still_answers(responses):
    assert httpx.post(CHAT, json=BODY).json()["choices"][0]["message"]["content"]
"""


def test_a_fixture_of_the_users_own_with_a_libraries_name_is_no_mock(pytester: pytest.Pytester) -> None:
    """A fixture named like a mock library's (``responses``) but the user's own: the plugin acts as in
    any test (it would have stepped aside, and the test's router calls gone out unanswered)."""
    pytester.makepyfile(test_own_fixture=OWN_FIXTURE_TESTS)

    result = pytester.runpytest("-p", "hfrouter", "-W", "error::pytest_hfrouter.HFRouterWarning")

    result.assert_outcomes(passed=1)


HTTPX_MOCK_TESTS = f"""
import httpx
import pytest

CHAT = {CHAT!r}
BODY = {BODY!r}

@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_httpx_mock_takes_the_router_call(httpx_mock):
    httpx_mock.add_response(url=CHAT, json={{"from": "pytest-httpx"}})
    assert httpx.post(CHAT, json=BODY).json() == {{"from": "pytest-httpx"}}

@pytest.mark.hfrouter_outage("provider-500", provider="novita")
@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host != "router.huggingface.co")
def test_httpx_mock_lets_the_router_through(httpx_mock):
    assert httpx.post(CHAT, json=BODY).status_code == 500
"""


def test_an_outage_another_library_kept_from_the_plugin_names_it_and_the_fix(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_httpx_mocks=HTTPX_MOCK_TESTS)

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_httpx_mock_takes_the_router_call _*",
            "pytest-hfrouter: an outage this test asks for never happened*",
            "  This test also mocks HTTP with pytest-httpx (httpx_mock): *Let the router and the Hub through it "
            "(pytest-httpx: @pytest.mark.httpx_mock(should_mock=lambda request: request.url.host not in*",
        ]
    )


RESPONSES_TESTS = f"""
import pytest
import requests
import responses

CHAT = {CHAT!r}
BODY = {BODY!r}

@responses.activate
def test_responses_answers_the_router():
    responses.post(CHAT, json={{"from": "responses"}})
    assert requests.post(CHAT, json=BODY).json() == {{"from": "responses"}}

@pytest.mark.hfrouter_resilient()
@responses.activate
def test_resilient_but_responses_answered():
    responses.post(CHAT, json={{"from": "responses"}})
    assert requests.post(CHAT, json=BODY).json() == {{"from": "responses"}}
"""


def test_a_decorators_mock_is_known_by_its_wrapper(pytester: pytest.Pytester) -> None:
    """``@responses.activate`` patches for the body only: the plugin knows it by the decorator."""
    pytester.makepyfile(test_responses_mocks=RESPONSES_TESTS)

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_resilient_but_responses_answered _*",
            "*made no inference call that pytest-hfrouter saw (no request at all), so nothing was judged*",
            "  This test also mocks HTTP with responses (@responses.activate)*responses.add_passthru(*",
        ]
    )


def test_a_users_decorator_in_a_folder_named_like_a_library_is_no_mock(pytester: pytest.Pytester) -> None:
    """A decorator of the user's, written in ``helpers/responses/``, was taken for responses' own: the plugin
    stepped aside and the test's router call went out unanswered (refused here by nothing of the plugin's)."""
    pytester.mkpydir("helpers")
    folder = pytester.path / "helpers" / "responses"
    folder.mkdir()
    (folder / "__init__.py").write_text(
        "import functools\n\n"
        "def traced(test):\n"
        "    @functools.wraps(test)\n"
        "    def wrapper(*args, **kwargs):\n"
        "        return test(*args, **kwargs)\n"
        "    return wrapper\n"
    )
    pytester.makepyfile(
        test_traced="""
        import httpx
        import responses  # the library is imported too: its own folder is not the user's
        from helpers.responses import traced

        @traced
        def test_answered_by_the_plugin():
            reply = httpx.post(
                "https://router.huggingface.co/novita/v3/openai/chat/completions",
                json={"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]
        """
    )

    result = pytester.runpytest("-p", "hfrouter", "-W", "error::pytest_hfrouter.HFRouterWarning")

    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*also mocks HTTP*")


def _major() -> int:
    import huggingface_hub

    return int(huggingface_hub.__version__.split(".")[0])


CACHED_MAPPING_TESTS = """
import json

import pytest
import responses
from huggingface_hub import InferenceClient

MODEL = "Qwen/Qwen2.5-72B-Instruct"
MAPPING = f"https://huggingface.co/api/models/{MODEL}?expand=inferenceProviderMapping"
CHAT = "https://router.huggingface.co/novita/v3/openai/chat/completions"
REPLY = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
         "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "mocked"}}]}


def ask():
    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
    return client.chat_completion([{"role": "user", "content": "hi"}], model=MODEL, max_tokens=5)


def test_a_plugin_answers(hfrouter):
    assert ask().choices[0].message.content


@responses.activate
def test_b_responses_answers():
    responses.get(MAPPING, json={"_id": "x", "id": MODEL, "inferenceProviderMapping": {
        "novita": {"status": "live", "providerId": "my-novita-id", "task": "conversational"}}})
    responses.post(CHAT, json=REPLY)
    assert ask().choices[0].message.content == "mocked"
    assert json.loads(responses.calls[-1].request.body)["model"] == "my-novita-id"


@pytest.mark.hfrouter_outage("provider-500", provider="novita", model=MODEL)
def test_c_an_outage_on_the_model():
    with pytest.raises(Exception, match="500"):
        ask()
"""


@pytest.mark.skipif(_major() >= 1, reason="huggingface_hub 0.x: its InferenceClient is on requests (responses)")
def test_a_test_of_another_mock_library_shares_no_cached_mapping_with_the_plugins(pytester: pytest.Pytester) -> None:
    """huggingface_hub caches a model's mapping per process. Under -p hfrouter the plugin's healthy
    mapping, cached by one test, answered the next test's own responses-mocked look-up (its mock never
    called); and the mock's mapping, cached, sent the next outage test's call to another model id."""
    pytester.makepyfile(test_cached=CACHED_MAPPING_TESTS)

    result = pytester.runpytest("-p", "hfrouter", "-p", "no:randomly")

    result.assert_outcomes(passed=3)
