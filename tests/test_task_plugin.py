"""The plugin on non-chat tasks, through inner pytest runs: misses, each-outage, markers, the double."""

from __future__ import annotations

import pytest

from pytest_hfrouter.library import shipped_library
from pytest_hfrouter.providers import PROVIDERS, mapping_order, serves
from pytest_hfrouter.routes import classify
from pytest_hfrouter.tasks import task_of_route

ROUTER = "https://router.huggingface.co"
IMAGE_APP = '''
from huggingface_hub import InferenceClient

MODEL = "black-forest-labs/FLUX.1-dev"


def paint(provider):
    return InferenceClient(provider=provider, api_key="hf_fake", timeout=10).text_to_image("a cat", model=MODEL)


def paint_with_fallback(chain=("fal-ai", "hf-inference")):
    """The first provider that answers; the errors of the others, in order."""
    errors = []
    for provider in chain:
        try:
            return provider, paint(provider), errors
        except Exception as exc:
            errors.append(type(exc).__name__)
    return None, None, errors
'''


@pytest.fixture
def imageapp(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(imageapp=IMAGE_APP)
    return pytester


def test_a_task_with_no_healthy_answer_is_a_miss_naming_task_provider_and_how_to_record(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        from huggingface_hub import InferenceClient

        def test_embed():
            client = InferenceClient(provider="scaleway", api_key="hf_fake", timeout=10)
            try:
                client.feature_extraction("hi", model="acme/embedder")
            except Exception:
                pass  # an app that swallows the error still fails: nothing was served
        """
    )
    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*no answer for POST https://router.huggingface.co/scaleway/v1/embeddings",
            "*no healthy answer for task 'feature-extraction' on provider 'scaleway'*(recorded for: hf-inference)*"
            "a chat answer is never served to a feature-extraction call*",
            "*--hfrouter-mode=record*test_embed*",
        ]
    )


def test_a_call_whose_task_cannot_be_read_is_a_miss_that_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx

        def test_raw():
            httpx.post("https://router.huggingface.co/hf-inference/models/acme/x", json={"inputs": "hi"})
        """
    )
    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cannot tell which task this call to hf-inference performs*"])


def test_each_outage_over_an_image_call(imageapp: pytest.Pytester) -> None:
    imageapp.makepyfile(
        """
        import pytest
        from imageapp import paint_with_fallback

        @pytest.mark.hfrouter_each_outage(provider="fal-ai")
        def test_survives(hfrouter):
            provider, image, errors = paint_with_fallback()
            assert image is not None and image.size[0] == 64  # the app always has an image
            assert provider == ("hf-inference" if errors else "fal-ai"), hfrouter.call_log()
        """
    )
    result = imageapp.runpytest("-p", "hfrouter", "-rs", "-W", "error::pytest_hfrouter.HFRouterWarning")

    for_fal = [s for s in shipped_library().http_scenarios() if not s.providers or "fal-ai" in s.providers]
    # streamed-only scenarios, and those of the auto route only, cannot happen to a text_to_image call;
    # a provider flagged unavailable changes nothing for an app that names it (the router's pick only)
    cannot = [
        s.name
        for s in for_fal
        if s.stream is True or ("provider" not in s.routes and "mapping" not in s.routes) or s.flags_unavailable
    ]
    assert "stream-cut" not in cannot and "stream-no-done" in cannot and "model-not-supported-400" in cannot
    result.assert_outcomes(passed=len(for_fal) - len(cannot), skipped=len(cannot))
    result.stdout.fnmatch_lines(
        [
            "*hfrouter_each_outage case model-not-supported-400 cannot apply: model-not-supported-400 happens only "
            "on the auto route*",
            "*hfrouter_each_outage case stream-no-done cannot apply: stream-no-done happens only to streamed "
            'requests ("stream": true); the matching calls were plain*',
        ]
    )
    result.stdout.no_fnmatch_line("*test_survives?job-failed?*")  # replicate's, not fal-ai's


def test_step_targets_one_step_of_a_job(imageapp: pytest.Pytester) -> None:
    imageapp.makepyfile(
        """
        import pytest
        from imageapp import paint

        @pytest.mark.hfrouter_outage("provider-500", provider="fal-ai", step="download")
        def test_download_fails(hfrouter):
            # huggingface_hub reads fal-ai's download without checking its status: the 500's
            # text body reaches PIL, which cannot read it (the real client's behaviour)
            with pytest.raises(Exception) as raised:
                paint("fal-ai")
            assert type(raised.value).__name__ == "UnidentifiedImageError"
            assert hfrouter.calls[-1].status == 500
            assert [c.route for c in hfrouter.calls] == ["mapping", "provider", "download"]
            assert hfrouter.calls[1].answered_by == "healthy"

        @pytest.mark.hfrouter_outage("provider-500", provider="fal-ai", step="submit")
        def test_submit_fails(hfrouter):
            with pytest.raises(Exception):
                paint("fal-ai")
            assert [c.route for c in hfrouter.calls] == ["mapping", "provider"]
        """
    )
    result = imageapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2)


def test_bad_step_and_a_scenario_of_another_provider_are_collection_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_step="""
        import pytest

        @pytest.mark.hfrouter_outage("provider-500", step="upload")
        def test_step():
            pass
        """,
        test_other="""
        import pytest

        @pytest.mark.hfrouter_outage("job-failed", provider="fal-ai")
        def test_other_provider():
            pass
        """,
    )
    result = pytester.runpytest("-p", "hfrouter", "--continue-on-collection-errors")

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*scenario 'job-failed' is an answer of replicate only, not of 'fal-ai'*"])
    result.stdout.fnmatch_lines(["*step must be one of 'submit', 'poll', 'download' or None, got 'upload'*"])


def test_strict_withholds_task_answers_but_not_the_hub_look_ups(imageapp: pytest.Pytester) -> None:
    imageapp.makeini("[pytest]\nhfrouter_strict = true\n")
    imageapp.makepyfile(
        """
        import pytest
        from imageapp import paint

        @pytest.mark.hfrouter_outage("provider-500", provider="fal-ai")
        def test_outage_reached(hfrouter):
            with pytest.raises(Exception) as raised:
                paint("fal-ai")
            assert raised.value.response.status_code == 500

        def test_healthy_withheld(hfrouter):
            paint("fal-ai")
        """
    )
    result = imageapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*hfrouter_strict is on*"])


def test_the_router_double_answers_a_task_for_a_client_in_another_thread(imageapp: pytest.Pytester) -> None:
    """Through the double the client's call is on another thread's stack: the task is still read."""
    imageapp.makepyfile(
        """
        from imageapp import paint

        def test_through_the_double(hfrouter_server):
            with hfrouter_server.huggingface_hub():
                image = paint("hf-inference")
            assert image.format == "JPEG" and image.size == (64, 64)
            assert [c.route for c in hfrouter_server.calls] == ["model-info", "provider"]
        """
    )
    result = imageapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1)


def test_an_image_cut_mid_body_on_a_real_socket(imageapp: pytest.Pytester) -> None:
    """Through the router double the cut is a real one: the HTTP library's own words for it."""
    imageapp.makepyfile(
        """
        import pytest
        from imageapp import paint

        @pytest.mark.hfrouter_outage("body-cut", provider="hf-inference")
        def test_cut(hfrouter_server):
            with hfrouter_server.huggingface_hub(), pytest.raises(Exception) as raised:
                paint("hf-inference")
            assert "expected" in str(raised.value), repr(raised.value)  # "received N bytes, expected M"
            assert type(raised.value).__name__ in ("RemoteProtocolError", "ChunkedEncodingError")
            assert [c.fault for c in hfrouter_server.calls] == [None, "body-cut"]
        """
    )
    result = imageapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1)


# -- pure logic -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "body", "task"),
    [
        ("https://router.huggingface.co/together/v1/images/generations", b'{"prompt": "x"}', "text-to-image"),
        (f"{ROUTER}/hf-inference/models/a/b/pipeline/feature-extraction", b"{}", "feature-extraction"),
        ("https://router.huggingface.co/hf-inference/pipeline/sentence-similarity/a/b", b"{}", "sentence-similarity"),
        ("https://router.huggingface.co/novita/v3/openai/chat/completions", b'{"messages": []}', "conversational"),
        ("https://router.huggingface.co/featherless-ai/v1/completions", b'{"prompt": "x"}', "text-generation"),
        (f"{ROUTER}/deepinfra/v1/openai/audio/transcriptions", b"{}", "automatic-speech-recognition"),
        ("https://router.huggingface.co/hf-inference/models/a/b", b'{"inputs": "x"}', None),
        ("https://router.huggingface.co/fal-ai/fal-ai/flux/dev", b'{"prompt": "x"}', None),
    ],
)
def test_the_task_a_route_names(url: str, body: bytes, task: str | None) -> None:
    assert classify("POST", url, body).task == task


def test_provider_models_read_from_the_path() -> None:
    assert classify("POST", "https://router.huggingface.co/fal-ai/fal-ai/flux/dev", b"{}").model == "fal-ai/flux/dev"
    replicate = "https://router.huggingface.co/replicate/v1/models/acme/painter/predictions"
    assert classify("POST", replicate, b"{}").model == "acme/painter"
    old = "https://router.huggingface.co/hf-inference/pipeline/feature-extraction/facebook/bart-base"
    assert classify("POST", old, b"{}").model == "facebook/bart-base"


def test_task_of_route_without_a_provider_suffix() -> None:
    assert task_of_route("replicate", ["v1", "predictions"], chat_body=False) is None
    assert task_of_route("novita", ["v3", "hf", "acme", "video"], chat_body=False) == "text-to-video"


def test_the_provider_table() -> None:
    removed = {name for name, p in PROVIDERS.items() if p.removed}
    assert removed == {"black-forest-labs", "clarifai", "hyperbolic", "nebius", "nvidia", "sambanova"}
    assert serves("fal-ai", "text-to-image") and not serves("fal-ai", "conversational")
    assert "black-forest-labs" not in mapping_order("text-to-image")  # removed: listed only when asked
    assert mapping_order("text-to-image")[0] == "fal-ai"
    # every shipped healthy answer is for a provider and task of the table
    for provider, task in shipped_library().tasks.covered():
        assert serves(provider, task), (provider, task)


def test_the_task_library_is_small_and_linked() -> None:
    tasks = shipped_library().tasks
    assert len(tasks.covered()) >= 28
    for exchange in tasks.exchanges.values():
        assert exchange.path.stat().st_size < 250_000, exchange.path
    steps = {(f.provider, f.step) for f in tasks.follow_ups.values()}
    assert steps == {
        ("fal-ai", "download"),
        ("replicate", "download"),
        ("black-forest-labs", "poll"),
        ("black-forest-labs", "download"),
    }
    # every follow-up URL is named in its exchange's recorded answers (the submit or a poll)
    for url, follow_up in tasks.follow_ups.items():
        exchange = tasks.exchanges[(follow_up.provider, follow_up.task)]
        named_in = exchange.answer.body + b"".join(
            a.body for f in tasks.follow_ups.values() if f.provider == follow_up.provider for a in f.answers
        )
        assert url.split("?")[0].encode() in named_in.replace(b"\\/", b"/"), url


def test_a_task_mapping_never_leaks_into_the_next_test(imageapp: pytest.Pytester) -> None:
    """huggingface_hub caches a model's mapping per model, not per task: after an image test the
    next test starts with the caches cleared, so a chat call on the same model finds its provider."""
    imageapp.makepyfile(
        """
        from huggingface_hub import InferenceClient
        from imageapp import MODEL, paint

        def test_1_image(hfrouter):
            assert paint("fal-ai").format == "PNG"

        def test_2_chat_on_the_same_model(hfrouter):
            client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
            reply = client.chat_completion([{"role": "user", "content": "hi"}], model=MODEL)
            assert reply.choices[0].message.content
            assert [c.route for c in hfrouter.calls] == ["mapping", "provider"]  # looked up afresh
        """
    )
    result = imageapp.runpytest("-p", "hfrouter", "-p", "no:randomly")

    result.assert_outcomes(passed=2)
