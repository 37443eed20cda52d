"""The outage contract of the example chat app, replayed offline by pytest-hfrouter.

Run: ``pytest -p hfrouter examples/``. No token and no network are needed.
"""

from __future__ import annotations

import pytest
from chatapp import AllProvidersFailed, ChatError, FallbackChat, QuotaExceeded, StreamInterrupted
from chatapp.seed_option2 import get_response_with_fallback
from huggingface_hub import InferenceClient
from huggingface_hub.errors import TextGenerationError

# Every test here is also judged on how the app treats the router (README, Resilience verdicts): no
# retry storm, no retry of an answer that cannot change, Retry-After honoured, backoff, no half answer
# shown as whole, no chain given up while links are left.
pytestmark = pytest.mark.hfrouter_resilient(chain=["novita", "together", "cerebras"])

QWEN = "Qwen/Qwen2.5-72B-Instruct"
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"
MESSAGES = [{"role": "user", "content": "What is 1 + 1? Answer in one word."}]

# What the app must do, per request mode, when novita has a scenario's outage. A scenario that
# is not listed must make the app fall back to together: when the library grows, a new scenario
# that needs another outcome fails the matrix below and has to be decided about.
FALLS_BACK = "falls back to together"
QUOTA = "stops with QuotaExceeded"
ALL_FAIL = "raises AllProvidersFailed"
INTERRUPTED = "raises StreamInterrupted after novita's first words"
UNAFFECTED = "is answered by novita"
EXPECTED = {
    "credits-exhausted-402": QUOTA,
    "credits-exhausted-402-2025": QUOTA,
    # Every explicit-provider link needs the Hub's mapping first, so a Hub outage fails them all.
    "hub-unavailable": ALL_FAIL,
    # Errors after the first words: they are on screen, another provider cannot take them back.
    ("stream-error-event", "stream"): INTERRUPTED,
    ("stream-half-json", "stream"): INTERRUPTED,
    ("stream-cut", "stream"): INTERRUPTED,
    # Events 5 s apart stay under the app's 10 s read timeout: slow, not broken.
    ("slow-stream", "stream"): UNAFFECTED,
    # A stream that stops cleanly with neither `data: [DONE]` nor a finish_reason is half an
    # answer (TGI streams lack [DONE] but do end with a finish_reason): the app must say so.
    ("stream-no-done", "stream"): INTERRUPTED,
    # provider-unavailable: the router's own pick on the auto route moves on, but this app names
    # its providers, and a named provider is still served: pytest-hfrouter skips the case, saying why.
}
TRANSPORT_FAULTS = (
    "read-timeout",
    "connect-timeout",
    "connection-reset",
    "slow-first-token",
    "stream-cut",
    "slow-stream",
)


@pytest.fixture
def chat() -> FallbackChat:
    return FallbackChat(api_key="hf_fake", timeout=10)


@pytest.mark.hfrouter_no_chaos  # about the healthy router: a chaos run leaves it alone
def test_healthy_router_answers_from_the_first_link(hfrouter, chat):
    reply = chat.chat(MESSAGES)

    assert (reply.provider, reply.model) == ("novita", QWEN)
    assert reply.text.strip()
    hfrouter.assert_tried("novita")
    hfrouter.assert_answered_by("novita")


# No outage marker: in a plain run these meet the healthy router; `--hfrouter-chaos` injects seeded
# outages into them. Whatever happens upstream, the user gets an answer or the app's own message,
# never a raw library exception.
@pytest.mark.parametrize("mode", ["chat", "stream"])
def test_every_question_gets_an_answer_or_a_message_for_the_user(chat, mode):
    try:
        text, provider = ask(chat, mode)
    except ChatError as error:
        assert str(error)  # QuotaExceeded, AllProvidersFailed, StreamInterrupted: said to the user
    else:
        assert text.strip()
        assert provider in {link.provider for link in chat.chain}


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_novita_500_falls_back_to_together(hfrouter, chat):
    reply = chat.chat(MESSAGES)

    assert (reply.provider, reply.model) == ("together", QWEN)
    assert reply.text.strip()
    hfrouter.assert_tried("novita", "together")
    hfrouter.assert_answered_by("together")
    hfrouter.assert_not_tried("cerebras")
    failed = [c for c in hfrouter.calls if c.provider == "novita" and c.route == "provider"]
    assert [(c.status, c.answered_by) for c in failed] == [(500, "scenario:provider-500")]


@pytest.mark.hfrouter_outage("staging-auth", provider="novita")
def test_staging_provider_auth_failure_falls_back(hfrouter, chat, caplog):
    # The Hub mapping says novita is in "staging" and the router answers 401
    # {"error": "Invalid username or password."}: the seed's Hyperbolic story.
    reply = chat.chat(MESSAGES)

    assert reply.provider == "together"
    assert "is in staging mode for provider novita" in caplog.text  # huggingface_hub's own warning
    hfrouter.assert_tried("novita", "together")
    hfrouter.assert_answered_by("together")
    assert [c.status for c in hfrouter.calls if c.provider == "novita" and c.route == "provider"] == [401]


@pytest.mark.hfrouter_each_outage("credits-exhausted-402", "credits-exhausted-402-2025", provider="novita")
def test_credits_exhausted_stops_the_chain_with_a_quota_message(hfrouter, chat):
    with pytest.raises(QuotaExceeded) as excinfo:
        chat.chat(MESSAGES)

    assert "quota" in str(excinfo.value).lower()
    # Both the 2025 ("exceeded") and 2026 ("depleted") wordings reach the app intact.
    assert "monthly included credits" in (excinfo.value.server_message or "")
    hfrouter.assert_tried("novita")
    hfrouter.assert_not_tried("together", "cerebras")


@pytest.mark.hfrouter_outage("mapping-missing-provider", provider="novita")
def test_provider_missing_from_the_hub_mapping_is_skipped(hfrouter, chat):
    # huggingface_hub raises ValueError("Model ... is not supported by provider novita")
    # before any inference request is made.
    reply = chat.chat(MESSAGES)

    assert reply.provider == "together"
    hfrouter.assert_tried("together")
    hfrouter.assert_not_tried("novita")


@pytest.mark.hfrouter_outage("error-in-200", provider="novita")
def test_error_inside_a_200_body_falls_back(hfrouter, chat):
    # A 200 whose JSON is {"error": ...}: huggingface_hub returns choices=None, no exception.
    reply = chat.chat(MESSAGES)

    assert reply.provider == "together"
    hfrouter.assert_tried("novita", "together")
    assert [c.status for c in hfrouter.calls if c.provider == "novita" and c.route == "provider"] == [200]


@pytest.mark.hfrouter_outage("service-unavailable-503")
def test_every_link_down_reports_each_failure(hfrouter, chat):
    with pytest.raises(AllProvidersFailed) as excinfo:
        chat.chat(MESSAGES)

    assert [(link.provider, link.model) for link, _ in excinfo.value.failures] == [
        ("novita", QWEN),
        ("together", QWEN),
        ("cerebras", LLAMA),
    ]
    assert all("HTTP 503" in why for _, why in excinfo.value.failures)
    hfrouter.assert_tried("novita", "together", "cerebras")


def ask(chat: FallbackChat, mode: str) -> tuple[str, str]:
    """(text, provider) through the plain or the streamed path."""
    if mode == "chat":
        reply = chat.chat(MESSAGES)
        return reply.text, reply.provider
    text = "".join(chat.chat_stream(MESSAGES))
    assert chat.streamed_from is not None
    return text, chat.streamed_from.provider


def lookup(table: dict, scenario: str, mode: str):
    return table.get((scenario, mode), table.get(scenario))


@pytest.mark.parametrize("mode", ["chat", "stream"])
@pytest.mark.hfrouter_each_outage(provider="novita")
def test_any_outage_of_the_first_provider_is_handled(hfrouter, chat, mode):
    check_outcome(hfrouter, chat, mode)


@pytest.mark.parametrize("mode", ["chat", "stream"])
@pytest.mark.hfrouter_each_outage(*TRANSPORT_FAULTS, provider="novita")
def test_any_transport_fault_of_the_first_provider_is_handled(hfrouter, chat, mode):
    # The exception classes differ per huggingface_hub version (requests, httpx, httpx2).
    check_outcome(hfrouter, chat, mode)


def check_outcome(hfrouter, chat: FallbackChat, mode: str) -> None:
    # A case whose scenario cannot happen to this mode's requests (a stream-only one on plain calls,
    # an auto-route-only one on these provider routes) is skipped by pytest-hfrouter, with its reason;
    # one that could happen but answered nothing fails the test. No applicability table here.
    scenario = hfrouter.scenario
    assert scenario is not None
    expected = lookup(EXPECTED, scenario, mode) or FALLS_BACK

    if expected == QUOTA:
        with pytest.raises(QuotaExceeded):
            ask(chat, mode)
        hfrouter.assert_tried("novita")
        hfrouter.assert_not_tried("together", "cerebras")
    elif expected == ALL_FAIL:
        # The app says that every link failed; it does not crash with a raw HfHubHTTPError.
        with pytest.raises(AllProvidersFailed) as excinfo:
            ask(chat, mode)
        assert len(excinfo.value.failures) == len(chat.chain)
    elif expected == INTERRUPTED:
        with pytest.raises(StreamInterrupted):
            ask(chat, mode)
        hfrouter.assert_tried("novita")
    else:
        text, provider = ask(chat, mode)
        want = "novita" if expected == UNAFFECTED else "together"
        assert provider == want, f"{scenario} on novita: the app {expected}? It was answered by {provider}"
        assert text.strip()
        hfrouter.assert_answered_by(want)
        hfrouter.assert_not_tried("cerebras")  # the same model on the next provider was enough


@pytest.mark.hfrouter_outage("provider-500", provider="novita", times=1)
def test_novita_recovers_after_one_failure(hfrouter, chat):
    first = chat.chat(MESSAGES)
    second = chat.chat(MESSAGES)

    assert (first.provider, second.provider) == ("together", "novita")
    hfrouter.assert_tried("novita", "together", "novita")
    hfrouter.assert_answered_by("novita")


def test_outage_context_manager_covers_only_its_block(hfrouter, chat):
    with hfrouter.outage("rate-limited-429", provider="novita"):
        during = chat.chat(MESSAGES)
    after = chat.chat(MESSAGES)

    assert (during.provider, after.provider) == ("together", "novita")
    hfrouter.assert_tried("novita", "together", "novita")


@pytest.mark.hfrouter_outage("stream-error-event", provider="novita")
def test_stream_error_event_after_the_first_piece_is_reported(hfrouter, chat):
    # novita answers 200, streams a first word, then an error event (OverloadedError).
    # Words already shown cannot be taken back, so the app reports the break instead of
    # silently starting a second answer on together.
    shown: list[str] = []
    with pytest.raises(StreamInterrupted) as excinfo:
        for piece in chat.chat_stream(MESSAGES):
            shown.append(piece)

    assert "".join(shown).strip()
    assert isinstance(excinfo.value.__cause__, TextGenerationError)
    assert chat.streamed_from is not None and chat.streamed_from.provider == "novita"
    hfrouter.assert_tried("novita")
    hfrouter.assert_not_tried("together", "cerebras")
    assert [(c.status, c.stream) for c in hfrouter.calls if c.route == "provider"] == [(200, True)]


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_streamed_chat_falls_back_on_http_500(hfrouter, chat):
    pieces = list(chat.chat_stream(MESSAGES))

    assert "".join(pieces).strip()
    assert chat.streamed_from is not None and chat.streamed_from.provider == "together"
    hfrouter.assert_tried("novita", "together")


@pytest.mark.hfrouter_outage("credits-exhausted-402", provider="novita")
def test_streamed_chat_stops_on_credits_exhausted(hfrouter, chat):
    with pytest.raises(QuotaExceeded):
        list(chat.chat_stream(MESSAGES))

    hfrouter.assert_tried("novita")
    hfrouter.assert_not_tried("together", "cerebras")


@pytest.mark.xfail(
    raises=AttributeError,
    strict=True,
    reason="seed Option 2 reads e.status_code, which HfHubHTTPError does not have",
)
@pytest.mark.hfrouter_outage("provider-500", provider="novita", model=QWEN)
def test_seed_option2_survives_novita_500(hfrouter):
    # Only the first model is down, so a correct Option 2 would answer with the second one.
    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)

    output = get_response_with_fallback(client, MESSAGES)

    assert output.choices[0].message.content
