"""huggingface_hub's cache of Hub answers: kept where tests agree, cleared where it would lie.

A client caches the provider mapping per process. Clearing it before every test would make
every test pay the look-ups an app without the plugin pays once; keeping it across a test whose
rules change the mapping would let one test's outage leak into the next (or hide it).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def app(hfapp: pytest.Pytester) -> pytest.Pytester:
    """The app, without the suite's own cache clearing: the plugin alone decides."""
    (hfapp.path / "conftest.py").unlink()
    return hfapp


AGREEING = """
import hfapp

def test_first(hfrouter):
    hfapp.chat("novita")
    assert [c.route for c in hfrouter.calls] == ["mapping", "provider"]

def test_second_uses_the_cached_mapping(hfrouter):
    hfapp.chat("novita")
    assert [c.route for c in hfrouter.calls] == ["provider"]
"""


def test_tests_that_agree_on_the_mapping_keep_the_clients_cache(app: pytest.Pytester) -> None:
    app.makepyfile(test_agreeing=AGREEING)
    app.runpytest("-p", "hfrouter", "-p", "no:randomly").assert_outcomes(passed=2)


ORDERS = """
import pytest
import hfapp

def test_healthy_first(hfrouter):
    assert hfapp.status_of(lambda: hfapp.chat("novita")) == 200

@pytest.mark.hfrouter_outage("mapping-missing-provider", provider="novita")
def test_then_the_mapping_loses_novita(hfrouter):
    # the healthy mapping cached by the test before must not answer here
    assert hfapp.status_of(lambda: hfapp.chat("novita")) != 200
    assert hfrouter.calls[0].route == "mapping"

def test_and_healthy_again(hfrouter):
    # ...and the outage's mapping must not leak into this test
    assert hfapp.status_of(lambda: hfapp.chat("novita")) == 200
    assert hfrouter.calls[0].route == "mapping"

def test_an_outage_block_in_the_middle_of_a_test(hfrouter):
    assert hfapp.status_of(lambda: hfapp.chat("novita")) == 200
    with hfrouter.outage("mapping-missing-provider", provider="novita"):
        assert hfapp.status_of(lambda: hfapp.chat("novita")) != 200
    assert hfapp.status_of(lambda: hfapp.chat("novita")) == 200
"""


def test_a_mapping_changing_scenario_takes_effect_after_a_cached_healthy_mapping_and_back(
    app: pytest.Pytester,
) -> None:
    app.makepyfile(test_orders=ORDERS)
    app.runpytest("-p", "hfrouter", "-p", "no:randomly").assert_outcomes(passed=4)


EVERY_CHAT_PROVIDER = """
import pytest
import hfapp

# every routed provider that serves chat (docs/ROUTER-FACTS.md §1.2), alphabetical: the first test
# caches the model's mapping, and the others are asked after it
PROVIDERS = [
    "baseten", "cerebras", "cohere", "deepinfra", "featherless-ai", "fireworks-ai", "groq", "hf-inference",
    "novita", "nscale", "ovhcloud", "publicai", "scaleway", "together", "zai-org",
]

@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_provider_after_the_first(hfrouter, provider):
    from huggingface_hub.inference._providers import PROVIDERS as CLIENT_PROVIDERS

    if provider not in CLIENT_PROVIDERS:  # huggingface_hub 0.36 has no baseten, deepinfra, ovhcloud
        pytest.skip(f"this huggingface_hub has no {provider} client")
    assert hfapp.status_of(lambda: hfapp.chat(provider)) == 200
    assert [c.provider for c in hfrouter.calls if c.route == "provider"] == [provider]

@pytest.mark.hfrouter_outage("provider-500", provider="groq")
def test_a_fallback_to_a_provider_the_first_look_up_did_not_name(hfrouter):
    assert hfapp.status_of(lambda: hfapp.chat("groq")) == 500
    assert hfapp.status_of(lambda: hfapp.chat("publicai")) == 200
"""


def test_the_cached_healthy_mapping_names_every_provider_that_serves_chat(app: pytest.Pytester) -> None:
    # audit H (stop 36): the mapping listed 12 providers and added the one a call named; cached by the
    # first test, it made the client refuse baseten, publicai and zai-org in every later test
    app.makepyfile(test_every=EVERY_CHAT_PROVIDER)
    outcomes = app.runpytest("-p", "hfrouter", "-p", "no:randomly").parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes["passed"] + outcomes.get("skipped", 0) == 16
    assert outcomes["passed"] >= 13  # every provider the installed client has (0.36: all but three)
