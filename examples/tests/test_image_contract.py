"""The outage contract of the example image app (fal-ai -> together -> hf-inference), offline.

Run: ``pytest -p hfrouter examples/``. Every answer is a real recorded one (images scaled down)
or a recorded outage; no token, no network, no waiting (fal-ai's download is replayed too).
"""

from __future__ import annotations

import pytest
from imageapp import AllProvidersFailed, FallbackPainter, QuotaExceeded

# and judged on how the app treats the router (README, Resilience verdicts)
pytestmark = pytest.mark.hfrouter_resilient(chain=["fal-ai", "together", "hf-inference"])

PROMPT = "An astronaut riding a horse on the moon."

# What the app must do when fal-ai has a scenario's outage; unlisted: it falls back to together.
FALLS_BACK = "falls back to together"
QUOTA = "stops with QuotaExceeded"
LAST = "falls back to hf-inference"
EXPECTED = {
    "credits-exhausted-402": QUOTA,
    "credits-exhausted-402-2025": QUOTA,
    # The mapping look-up fails for fal-ai and together; hf-inference needs only its task check
    # (GET /api/models/{id} without the mapping), which this scenario leaves alone.
    "hub-unavailable": LAST,
    # provider-unavailable changes the router's own pick only; this app names fal-ai, so nothing
    # changes for it and pytest-hfrouter skips that case, saying why.
}
TRANSPORT_FAULTS = ("read-timeout", "connect-timeout", "connection-reset", "body-cut")


@pytest.fixture
def painter() -> FallbackPainter:
    return FallbackPainter(api_key="hf_fake", timeout=10)


@pytest.mark.hfrouter_no_chaos  # about the healthy router: a chaos run leaves it alone
def test_healthy_router_paints_with_the_first_link(hfrouter, painter):
    picture = painter.paint(PROMPT)

    assert picture.provider == "fal-ai"
    assert picture.image.format == "PNG" and picture.image.width == 64  # fal-ai's recorded PNG, scaled down
    # fal-ai answers with a URL; huggingface_hub then downloads the image: both are replayed
    assert [c.route for c in hfrouter.calls] == ["mapping", "provider", "download"]
    hfrouter.assert_answered_by("fal-ai")


@pytest.mark.hfrouter_each_outage(provider="fal-ai")
def test_any_outage_of_fal_ai_is_handled(hfrouter, painter):
    check_outcome(hfrouter, painter)


@pytest.mark.hfrouter_each_outage(*TRANSPORT_FAULTS, provider="fal-ai")
def test_any_transport_fault_of_fal_ai_is_handled(hfrouter, painter):
    check_outcome(hfrouter, painter)


def check_outcome(hfrouter, painter: FallbackPainter) -> None:
    scenario = hfrouter.scenario
    expected = EXPECTED.get(scenario, FALLS_BACK)
    if expected == QUOTA:
        with pytest.raises(QuotaExceeded):
            painter.paint(PROMPT)
        hfrouter.assert_not_tried("together", "hf-inference")
    elif expected == LAST:
        assert painter.paint(PROMPT).provider == "hf-inference"
        hfrouter.assert_tried("hf-inference")
    else:
        picture = painter.paint(PROMPT)
        if not fired(hfrouter, scenario):
            # Streamed-only and auto-route-only scenarios cannot happen to a text_to_image call
            # on fal-ai: pytest-hfrouter reports those cases skipped, saying why.
            return
        assert picture.provider == "together", f"{scenario} on fal-ai: the app {expected}? It was {picture.provider}"
        assert picture.image.format == "JPEG"  # together's b64 JPEG
        hfrouter.assert_not_tried("hf-inference")
    assert fired(hfrouter, scenario), hfrouter.call_log()


def fired(hfrouter, scenario: str) -> bool:
    return any(c.answered_by == f"scenario:{scenario}" for c in hfrouter.calls)


@pytest.mark.hfrouter_outage("body-cut", provider="fal-ai", step="download")
def test_an_image_cut_mid_download_falls_back(hfrouter, painter):
    picture = painter.paint(PROMPT)

    assert picture.provider == "together"
    cut = [c for c in hfrouter.calls if c.fault == "body-cut"]
    assert [(c.provider, c.route) for c in cut] == [("fal-ai", "download")]


@pytest.mark.hfrouter_outage("provider-500", provider="fal-ai", step="download")
def test_a_failed_download_falls_back(hfrouter, painter):
    # huggingface_hub does not check the download's status: PIL gets the 500's text and says
    # UnidentifiedImageError — an OSError the app must catch as a failed link.
    picture = painter.paint(PROMPT)

    assert picture.provider == "together"


@pytest.mark.hfrouter_outage("provider-500", provider="fal-ai")
@pytest.mark.hfrouter_outage("rate-limited-429", provider="together")
def test_the_last_link_paints_when_the_first_two_fail(hfrouter, painter):
    picture = painter.paint(PROMPT)

    assert picture.provider == "hf-inference"
    assert picture.image.format == "JPEG"  # hf-inference answers the image bytes themselves
    hfrouter.assert_tried("fal-ai", "together", "hf-inference")
    assert [c.route for c in hfrouter.calls if c.provider == "hf-inference"] == ["provider"]


@pytest.mark.hfrouter_outage("provider-500")
def test_every_link_down_is_said_not_crashed(hfrouter, painter):
    with pytest.raises(AllProvidersFailed) as excinfo:
        painter.paint(PROMPT)

    assert [link.provider for link, _ in excinfo.value.failures] == ["fal-ai", "together", "hf-inference"]
    assert str(excinfo.value).startswith("no provider could paint it: fal-ai: HTTP 500")
