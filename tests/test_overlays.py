"""Hub-side outages of one provider (the mapping overlays: staging-auth, mapping-missing-provider,
mapping-status-error; and hub-unavailable, which fails every provider's look-up): a mapping look-up
names a model, so the plugin reads which provider's call made it, and an outage of one provider counts
(as happened) only where it was asked for.

An audit found an overlay on a provider the app never called passing as "happened" (it had reshaped
novita's look-up), the coverage crediting it to novita, and an each_outage case of it skipped where
the same case of provider-500 failed; another, hub-unavailable on a provider the app never called passing.
"""

from __future__ import annotations

import json

import pytest

#: novita → together → groq, the way apps write it; it leaves huggingface_hub's mapping cache alone
CHAIN_APP = """
from huggingface_hub import InferenceClient

MODEL = "Qwen/Qwen2.5-72B-Instruct"


def ask(chain=("novita", "together", "groq")):
    tried = []
    for provider in chain:
        tried.append(provider)
        try:
            InferenceClient(provider=provider, api_key="hf_fake").chat_completion(
                messages=[{"role": "user", "content": "hi"}], model=MODEL, max_tokens=5
            )
        except Exception:
            continue
        return provider, tried
    raise RuntimeError("every provider failed")
"""

SUITE = """
import pytest
from chainapp import ask


@pytest.mark.hfrouter_outage("mapping-missing-provider", provider="together")
@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_missing_on_together(hfrouter):
    assert ask() == ("groq", ["novita", "together", "groq"])  # the client skips together: not in the mapping
    assert [c.provider for c in hfrouter.inference_calls] == ["novita", "groq"]


@pytest.mark.hfrouter_outage("staging-auth", provider="together")
@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_staging_on_together(hfrouter):
    assert ask() == ("groq", ["novita", "together", "groq"])
    assert [(c.provider, c.status) for c in hfrouter.inference_calls] == [
        ("novita", 500), ("together", 401), ("groq", 200)
    ]


@pytest.mark.hfrouter_outage("mapping-missing-provider", provider="together")
def test_missing_on_a_provider_never_called(hfrouter):
    assert ask() == ("novita", ["novita"])


@pytest.mark.hfrouter_each_outage("provider-500", "staging-auth", "mapping-status-error", provider="groq")
def test_each_on_a_provider_never_called(hfrouter):
    assert ask()[0] == "novita"


@pytest.mark.hfrouter_outage("hub-unavailable", provider="together")
def test_hub_down_for_a_provider_never_called(hfrouter):
    with pytest.raises(RuntimeError):  # the Hub is down for novita's look-up too: the mapping names a model
        ask(("novita",))
"""


@pytest.mark.parametrize("order", ["as written", "reversed"])
def test_an_overlay_happens_to_the_provider_it_names_and_counts_for_it(pytester: pytest.Pytester, order: str) -> None:
    pytester.makepyfile(chainapp=CHAIN_APP, test_one_provider=SUITE)
    args = ["-p", "hfrouter", "-p", "no:randomly", "--hfrouter-report=r.json", "-rA"]
    if order == "reversed":  # a test after one that cached the healthy mapping, and the reverse
        pytester.makeconftest("def pytest_collection_modifyitems(items):\n    items.reverse()\n")
    result = pytester.runpytest(*args)

    result.assert_outcomes(passed=2, failed=5)
    outcomes = {
        t["test"].split("::")[1]: t["outcome"] for t in json.loads((pytester.path / "r.json").read_text())["tests"]
    }
    assert outcomes == {
        "test_missing_on_together": "passed",
        "test_staging_on_together": "passed",
        "test_missing_on_a_provider_never_called": "failed",
        "test_each_on_a_provider_never_called[provider-500]": "failed",
        "test_each_on_a_provider_never_called[staging-auth]": "failed",  # was skipped: "cannot apply"
        "test_each_on_a_provider_never_called[mapping-status-error]": "failed",
        "test_hub_down_for_a_provider_never_called": "failed",  # was passed: any look-up it failed counted
    }
    result.stdout.fnmatch_lines(
        [
            "*'mapping-missing-provider', provider='together') answered no call of this test: no call went to "
            "provider 'together'; the test called: novita Qwen/Qwen2.5-72B-Instruct*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["*hfrouter_each_outage case('staging-auth', provider='groq') answered no call of this test: no call went*"]
    )
    result.stdout.fnmatch_lines(
        [
            "*'hub-unavailable', provider='together') answered no call of this test: no call went to provider "
            "'together'; the test called: (no inference call) — the test's Hub look-ups failed (hub-unavailable)*",
        ]
    )
    data = json.loads((pytester.path / "r.json").read_text())
    met = {t["test"].split("::")[1]: sorted(map(tuple, t["met"])) for t in data["tests"]}
    assert met["test_missing_on_together"] == [("novita", "provider-500"), ("together", "mapping-missing-provider")]
    assert met["test_staging_on_together"] == [("novita", "provider-500"), ("together", "staging-auth")]
    assert met["test_missing_on_a_provider_never_called"] == []
    cells = data["coverage"]["cells"]
    assert {(provider, scenario) for provider, row in cells.items() for scenario in row} == {
        ("novita", "provider-500"),
        ("novita", "hub-unavailable"),  # novita's look-up met the Hub down: that happened to its calls
        ("together", "mapping-missing-provider"),
        ("together", "staging-auth"),
    }
    assert "mapping-missing-provider" not in data["coverage"]["gaps"]["together"]


def test_a_rule_unmet_because_the_hub_was_down_says_so(pytester: pytest.Pytester) -> None:
    """hub-unavailable fails every provider's look-up, so an outage of novita in the same test never
    meets a call: its finding says why (an audit: "no call went to provider 'novita'" alone misled)."""
    pytester.makepyfile(
        chainapp=CHAIN_APP,
        test_hub_down="""
        import pytest
        from chainapp import ask

        @pytest.mark.hfrouter_outage("hub-unavailable", provider="together")
        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_fallback(hfrouter):
            with pytest.raises(RuntimeError):
                ask(("novita", "together"))
        """,
    )
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*'provider-500', provider='novita') answered no call of this test: no call went to provider 'novita'; "
            "the test called: (no inference call) — the test's Hub look-ups failed (hub-unavailable), and "
            "huggingface_hub makes no inference call after a failed look-up*",
        ]
    )


FALLBACK_APP = """
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

def ask(question, chain=("novita", "together")):
    for provider in chain:
        client = InferenceClient(provider=provider, api_key="hf_fake", timeout=10)
        try:
            client.chat_completion([{"role": "user", "content": question}], model="Qwen/Qwen2.5-72B-Instruct")
        except (HfHubHTTPError, ValueError):
            continue
        return provider
"""


def test_a_mapping_outage_that_ran_out_lets_the_provider_recover(pytester: pytest.Pytester) -> None:
    """An audit: after ``times=1`` the client kept the mapping without novita for the rest of the test,
    so novita never recovered (a marker's rule and a block's alike); a provider-500 did recover. A kept
    block entered once per prompt is the outage afresh each time (it met contextlib's AttributeError)."""
    pytester.makepyfile(
        app=FALLBACK_APP,
        test_recovers="""
        import pytest
        from app import ask

        @pytest.mark.hfrouter_outage("mapping-missing-provider", provider="novita", times=1)
        def test_marker(hfrouter):
            assert [ask(q) for q in ("first", "second", "third")] == ["together", "novita", "novita"]

        def test_block(hfrouter):
            with hfrouter.outage("mapping-missing-provider", provider="novita", times=1):
                assert [ask(q) for q in ("first", "second", "third")] == ["together", "novita", "novita"]

        def test_kept_block_entered_per_prompt(hfrouter):
            novita_down = hfrouter.outage("provider-500", provider="novita", times=1)
            for question in ("a", "b"):
                with novita_down:
                    assert [ask(question), ask(question)] == ["together", "novita"]
            assert [c.provider for c in hfrouter.inference_calls] == ["novita", "together", "novita"] * 2
        """,
    )

    pytester.runpytest("-p", "hfrouter").assert_outcomes(passed=3)


HYPOTHESIS_TESTS = """
import pytest
from app import ask
from hypothesis import HealthCheck, assume, given, settings, strategies as st

EXAMPLES = []

@settings(max_examples=15, database=None)
@given(question=st.text(min_size=1, max_size=8))
@pytest.mark.hfrouter_outage("provider-500", provider="novita", times=1)
def test_each_example_meets_the_marker(question):
    EXAMPLES.append(ask(question))

@settings(max_examples=8, database=None)
@given(question=st.text(min_size=1, max_size=8))
@pytest.mark.hfrouter_outage("mapping-missing-provider", provider="novita", times=1)
def test_each_example_meets_the_mapping_outage(question):
    assert ask(question) == "together"
    assert ask(question) == "novita"

@settings(max_examples=10, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.text(max_size=3))
def test_assume_in_a_block(hfrouter, question):
    with hfrouter.outage("provider-500", provider="novita", times=1):
        assume(question.strip())
        assert ask(question) == "together"

def test_every_example_fell_back():
    assert len(EXAMPLES) >= 10 and set(EXAMPLES) == {"together"}
"""


def test_each_hypothesis_example_meets_the_outage_markers(pytester: pytest.Pytester) -> None:
    """An audit: a ``@given`` test runs its examples in one pytest test, and ``times=1`` was spent by the
    first of them: the other 99 passed on healthy answers, and the report counted the outage as met. An
    example that Hypothesis discarded (``assume``) inside a block failed the test with "never happened"."""
    pytester.makepyfile(app=FALLBACK_APP, test_examples=HYPOTHESIS_TESTS)

    pytester.runpytest("-p", "hfrouter").assert_outcomes(passed=4)


def test_each_hypothesis_example_is_judged_on_its_own(pytester: pytest.Pytester) -> None:
    """An audit: one prompt in every example, novita then together in each, read as novita retried four
    times without backoff (retry-storm, no-backoff), failing a correct fallback. A storm inside one example
    is still one."""
    pytester.makepyfile(
        app=FALLBACK_APP,
        test_judged="""
        import pytest
        from app import ask
        from hypothesis import given, settings, strategies as st

        @settings(max_examples=6, database=None)
        @given(n=st.integers(0, 3))
        @pytest.mark.hfrouter_resilient(chain=["novita", "together"])
        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_falls_back(n):
            assert ask("hi") == "together"

        @settings(max_examples=3, database=None)
        @given(n=st.integers(0, 3))
        @pytest.mark.hfrouter_resilient(chain=["novita", "together"])
        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_storms(n):
            for _ in range(5):
                ask("hi", chain=("novita",))
        """,
    )
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*retry-storm: 5 calls to novita*"])
    assert "test_falls_back" not in "".join(line for line in result.stdout.lines if "FAILED" in line)
