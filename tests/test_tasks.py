"""Real clients on every task the router serves: tasks x providers x the running huggingface_hub major.

No client is mocked. For every provider and task the shipped library covers
(``cassettes/tasks/``) and the running huggingface_hub can call, the real ``InferenceClient``
performs the task (``text_to_image``, ``feature_extraction``, ``automatic_speech_recognition``…)
and must get:

* healthy: the client's own output type — a PIL image of the recorded format and size, a numpy
  array, an ``AutomaticSpeechRecognitionOutput``… — holding the recorded values;
* ``provider-500``, ``invalid-token-401``, ``rate-limited-429``: ``HfHubHTTPError`` with that
  status (the client's ``hf_raise_for_status``);
* ``read-timeout``: the client's timeout error (``InferenceTimeoutError`` on 2.x, the HTTP
  library's ``ReadTimeout`` before);
* ``body-cut``: the HTTP library's own error for a body shorter than its Content-Length — on
  the image download where the provider has one (fal-ai, replicate, black-forest-labs).

The async client (httpx-based from huggingface_hub 1.0) runs the healthy, the 500 and the cut cases.
.ci/run runs this module under huggingface_hub 2.x, 1.33.0 and 0.36.2; the providers removed
from the router (black-forest-labs, hyperbolic, nebius) are reachable only from 0.36.2's client.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import huggingface_hub
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

from pytest_hfrouter.library import shipped_library
from pytest_hfrouter.task_library import TaskExchange
from pytest_hfrouter.tasks import DOWNLOAD

if TYPE_CHECKING:
    from pytest_hfrouter import HFRouter

# In the test extras: the image tasks return PIL images, feature_extraction an ndarray.
import numpy as np
import PIL.Image as PIL

HFH_VERSION = tuple(int(part) for part in re.findall(r"\d+", huggingface_hub.__version__)[:2])
HFH_HTTP = "httpx2" if HFH_VERSION >= (2, 0) else "httpx" if HFH_VERSION >= (1, 0) else "requests"
API_KEY = "hf_fake"
TIMEOUT = 10.0
MODEL = "acme/some-model"  # any model: the healthy answers are served for any model
TASKS = shipped_library().tasks


def _png() -> bytes:
    out = io.BytesIO()
    PIL.new("RGB", (2, 2)).save(out, format="PNG")
    return out.getvalue()


IMAGE = _png()
AUDIO = b"fLaC\x00\x00\x00\x22" + bytes(34)  # what is uploaded is never matched: any bytes do


# -- what each task's call is and what its healthy output must hold ------------------------
def _recorded_json(exchange: TaskExchange) -> Any:
    return json.loads(exchange.answer.body)


def _recorded_image(exchange: TaskExchange) -> tuple[str | None, tuple[int, int]]:
    """Format and size of the image the recorded exchange delivers (downloaded, raw or base64 in JSON)."""
    downloads = [
        f
        for f in TASKS.follow_ups.values()
        if (f.provider, f.task, f.step) == (exchange.provider, exchange.task, DOWNLOAD)
    ]
    if downloads:
        data = downloads[0].answers[-1].body
    elif (exchange.answer.header("content-type") or "").startswith("image/"):
        data = exchange.answer.body
    else:
        body = json.dumps(_recorded_json(exchange))
        encoded = max(re.findall(r'"([A-Za-z0-9+/=]{200,})"', body), key=len)
        data = base64.b64decode(encoded)
    image = PIL.open(io.BytesIO(data))
    return image.format, image.size


def check_image(out: Any, exchange: TaskExchange) -> None:
    assert isinstance(out, PIL.Image), repr(out)
    assert (out.format, out.size) == _recorded_image(exchange)


def check_asr(out: Any, exchange: TaskExchange) -> None:
    from huggingface_hub import AutomaticSpeechRecognitionOutput

    assert isinstance(out, AutomaticSpeechRecognitionOutput), repr(out)
    assert out.text == _recorded_json(exchange)["text"]


def check_features(out: Any, exchange: TaskExchange) -> None:
    assert isinstance(out, np.ndarray), repr(out)
    assert out.shape == np.array(_recorded_json(exchange)).shape
    assert out.flat[0] == pytest.approx(np.array(_recorded_json(exchange)).flat[0])


def check_first(field: str, recorded: Callable[[Any], Any]) -> Callable[[Any, TaskExchange], None]:
    """The output's (first element's) ``field`` equals the recorded value."""

    def check(out: Any, exchange: TaskExchange) -> None:
        first = out[0] if isinstance(out, list) else out
        assert getattr(first, field) == recorded(_recorded_json(exchange)), repr(out)

    return check


def check_equal(value: Callable[[Any], Any]) -> Callable[[Any, TaskExchange], None]:
    def check(out: Any, exchange: TaskExchange) -> None:
        assert value(out) == _recorded_json(exchange), repr(out)

    return check


def check_audio(out: Any, exchange: TaskExchange) -> None:
    assert isinstance(out, bytes) and out == exchange.answer.body


def check_text(out: Any, exchange: TaskExchange) -> None:
    assert out == _recorded_json(exchange)[0]["generated_text"]


def _element(data: Any) -> Any:
    return data[0][0] if isinstance(data[0], list) else data[0]


@dataclass(frozen=True)
class TaskCall:
    method: str
    args: tuple[Any, ...]
    check: Callable[[Any, TaskExchange], None]
    kwargs: tuple[tuple[str, Any], ...] = ()


CALLS: dict[str, TaskCall] = {
    "text-to-image": TaskCall("text_to_image", ("An astronaut riding a horse on the moon.",), check_image),
    "automatic-speech-recognition": TaskCall("automatic_speech_recognition", (AUDIO,), check_asr),
    "feature-extraction": TaskCall("feature_extraction", ("Hi, who are you?",), check_features),
    "sentence-similarity": TaskCall(
        "sentence_similarity", ("Machine learning is so easy.", ["a", "b", "c"]), check_equal(lambda out: out)
    ),
    "summarization": TaskCall(
        "summarization", ("The sky is blue.",), check_first("summary_text", lambda d: d[0]["summary_text"])
    ),
    "translation": TaskCall(
        "translation", ("Hello world",), check_first("translation_text", lambda d: d[0]["translation_text"])
    ),
    "text-classification": TaskCall(
        "text_classification", ("I like you",), check_first("label", lambda d: _element(d)["label"])
    ),
    "token-classification": TaskCall(
        "token_classification", ("My name is Sarah",), check_first("word", lambda d: d[0]["word"])
    ),
    "zero-shot-classification": TaskCall(
        "zero_shot_classification",
        ("A new model", ["scientific discovery", "space & cosmos"]),  # the best first, as recorded
        check_first("label", lambda d: d[0]["label"]),
    ),
    "image-classification": TaskCall("image_classification", (IMAGE,), check_first("label", lambda d: d[0]["label"])),
    "image-segmentation": TaskCall("image_segmentation", (IMAGE,), check_first("label", lambda d: d[0]["label"])),
    "object-detection": TaskCall("object_detection", (IMAGE,), check_first("label", lambda d: d[0]["label"])),
    "image-to-text": TaskCall(
        "image_to_text", (IMAGE,), check_first("generated_text", lambda d: d[0]["generated_text"])
    ),
    "visual-question-answering": TaskCall(
        "visual_question_answering", (IMAGE, "Who's in the picture?"), check_first("answer", lambda d: d[0]["answer"])
    ),
    "document-question-answering": TaskCall(
        "document_question_answering",
        (IMAGE, "What is the purchase amount?"),
        check_first("answer", lambda d: d[0]["answer"]),
    ),
    "table-question-answering": TaskCall(
        "table_question_answering",
        ({"Repository": ["Transformers"], "Stars": ["36542"]}, "How many stars?"),
        check_first("answer", lambda d: d["answer"]),
    ),
    "zero-shot-image-classification": TaskCall(
        "zero_shot_image_classification",
        (IMAGE, ["woman", "cat", "tree"]),
        check_first("label", lambda d: d[0]["label"]),
    ),
    "audio-classification": TaskCall("audio_classification", (AUDIO,), check_first("label", lambda d: d[0]["label"])),
    "audio-to-audio": TaskCall("audio_to_audio", (AUDIO,), check_first("label", lambda d: d[0]["label"])),
    "text-to-speech": TaskCall("text_to_speech", ("Hello world",), check_audio),
    "text-generation": TaskCall("text_generation", ("How are you today?",), check_text),
}


def _client_serves(provider: str, task: str) -> bool:
    """The running huggingface_hub has a helper for this provider and task."""
    from huggingface_hub.inference._providers import PROVIDERS

    return task in PROVIDERS.get(provider, {})  # type: ignore[call-overload]


COVERED = [pair for pair in TASKS.covered() if pair[1] in CALLS]
CASES = [
    pytest.param(
        provider,
        task,
        id=f"{provider}-{task}",
        marks=[]
        if _client_serves(provider, task)
        else [
            pytest.mark.skip(reason=f"huggingface_hub {huggingface_hub.__version__} has no {provider} {task} helper")
        ],
    )
    for provider, task in COVERED
]


def perform(provider: str, task: str, model: str = MODEL) -> Any:
    call = CALLS[task]
    client = InferenceClient(provider=provider, api_key=API_KEY, timeout=TIMEOUT)  # type: ignore[arg-type]
    return getattr(client, call.method)(*call.args, model=model, **dict(call.kwargs))


def perform_async(provider: str, task: str) -> Any:
    from huggingface_hub import AsyncInferenceClient

    call = CALLS[task]

    async def go() -> Any:
        async with AsyncInferenceClient(provider=provider, api_key=API_KEY, timeout=TIMEOUT) as client:  # type: ignore[arg-type]
            return await getattr(client, call.method)(*call.args, model=MODEL, **dict(call.kwargs))

    return asyncio.run(go())


def has_download(provider: str, task: str) -> bool:
    return any((f.provider, f.task, f.step) == (provider, task, DOWNLOAD) for f in TASKS.follow_ups.values())


# -- the exceptions each HTTP library raises (docs/ROUTER-FACTS.md §2.11, §3.2) ----------------------
def read_timeout_error() -> type[Exception]:
    if HFH_VERSION >= (2, 0):
        return InferenceTimeoutError  # 2.x converts a timeout before the response
    if HFH_HTTP == "httpx":
        import httpx

        return httpx.ReadTimeout
    import requests

    return requests.ReadTimeout


def cut_error() -> type[Exception]:
    if HFH_HTTP == "requests":
        import requests

        return requests.exceptions.ChunkedEncodingError
    module = __import__(HFH_HTTP)
    return module.RemoteProtocolError  # type: ignore[no-any-return]


# -- the matrix --------------------------------------------------------------------------------
@pytest.mark.parametrize(("provider", "task"), CASES)
def test_healthy(hfrouter: HFRouter, provider: str, task: str) -> None:
    if task == "zero-shot-classification" and HFH_VERSION < (1, 0):
        # Today's router answers a list; 0.x still reads the old keys (huggingface_hub #3557).
        with pytest.raises(TypeError, match="list indices must be integers"):
            perform(provider, task)
        return
    out = perform(provider, task)

    CALLS[task].check(out, TASKS.exchanges[(provider, task)])
    inference = hfrouter.inference_calls
    assert [c.provider for c in inference] == [provider]
    assert [c.answered_by for c in inference] == ["healthy"]
    assert all(not c.failed for c in hfrouter.calls), hfrouter.call_log()


@pytest.mark.parametrize(
    "status", [("provider-500", 500), ("invalid-token-401", 401), ("rate-limited-429", 429)], ids=lambda s: s[0]
)
@pytest.mark.parametrize(("provider", "task"), CASES)
def test_http_error(hfrouter: HFRouter, provider: str, task: str, status: tuple[str, int]) -> None:
    scenario, code = status
    with hfrouter.outage(scenario, provider=provider), pytest.raises(HfHubHTTPError) as raised:
        perform(provider, task)

    assert raised.value.response.status_code == code
    assert f"router.huggingface.co/{provider}/" in str(raised.value.response.url)
    assert [c.answered_by for c in hfrouter.inference_calls] == [f"scenario:{scenario}"]


@pytest.mark.parametrize(("provider", "task"), CASES)
def test_read_timeout(hfrouter: HFRouter, provider: str, task: str) -> None:
    wanted = read_timeout_error()
    with hfrouter.outage("read-timeout", provider=provider), pytest.raises(wanted) as raised:
        perform(provider, task)

    assert type(raised.value) is wanted, repr(raised.value)
    assert [c.fault for c in hfrouter.inference_calls] == ["read-timeout"]


@pytest.mark.parametrize(("provider", "task"), CASES)
def test_a_slow_answer_is_the_tasks_own_late_or_a_timeout(hfrouter: HFRouter, provider: str, task: str) -> None:
    """slow-first-token's recorded body is a chat completion: on another task's call the delay is
    played on the call's own answer (a slow success is the task's output, never a chat body)."""
    if task == "zero-shot-classification" and HFH_VERSION < (1, 0):
        pytest.skip("0.x cannot read today's zero-shot answer (test_healthy)")
    with hfrouter.outage("slow-first-token", provider=provider, delay=TIMEOUT / 2):
        out = perform(provider, task)
    CALLS[task].check(out, TASKS.exchanges[(provider, task)])
    with hfrouter.outage("slow-first-token", provider=provider, delay=TIMEOUT * 2), pytest.raises(read_timeout_error()):
        perform(provider, task)
    slow = [c for c in hfrouter.inference_calls if c.answered_by == "scenario:slow-first-token"]
    assert len(slow) == 2, hfrouter.call_log()


@pytest.mark.parametrize(("provider", "task"), CASES)
def test_body_cut(hfrouter: HFRouter, provider: str, task: str) -> None:
    """The answer's body stops halfway: on the image download where there is one, else the call's own."""
    step = "download" if has_download(provider, task) else None
    with hfrouter.outage("body-cut", provider=provider, step=step), pytest.raises(cut_error()) as raised:
        perform(provider, task)

    assert type(raised.value) is cut_error(), repr(raised.value)
    assert "expected" in str(raised.value)  # "(received N bytes, expected M)" / "(N bytes read, M more expected)"
    cut = [c for c in hfrouter.calls if c.fault == "body-cut"]
    assert len(cut) == 1
    assert cut[0].route == (step or "provider")


ASYNC_SKIP = pytest.mark.skipif(
    HFH_VERSION < (1, 0), reason="AsyncInferenceClient is aiohttp-based before huggingface_hub 1.0"
)


@ASYNC_SKIP
@pytest.mark.parametrize(("provider", "task"), CASES)
def test_async_healthy_500_and_cut(hfrouter: HFRouter, provider: str, task: str) -> None:
    CALLS[task].check(perform_async(provider, task), TASKS.exchanges[(provider, task)])
    with hfrouter.outage("provider-500", provider=provider), pytest.raises(HfHubHTTPError) as raised:
        perform_async(provider, task)
    assert raised.value.response.status_code == 500
    step = "download" if has_download(provider, task) else None
    with hfrouter.outage("body-cut", provider=provider, step=step), pytest.raises(cut_error()):
        perform_async(provider, task)


# -- jobs: polls, a failed job, outages on a step ------------------------------------------
@pytest.mark.skipif(not _client_serves("black-forest-labs", "text-to-image"), reason="black-forest-labs: 0.x only")
def test_polls_replay_without_waiting(hfrouter: HFRouter) -> None:
    """black-forest-labs' client sleeps a second before each of its polls: the sleeps move the test's clock."""
    import time

    started, before = time.monotonic(), hfrouter.calls
    image = perform("black-forest-labs", "text-to-image")

    assert isinstance(image, PIL.Image) and before == []
    assert [c.route for c in hfrouter.calls] == ["mapping", "provider", "poll", "poll", "poll", "poll", "download"]
    assert time.monotonic() - started < 2.0  # four real polls would take four seconds
    polls = [c.at for c in hfrouter.calls if c.route == "poll"]
    assert polls[-1] - polls[0] >= 3.0  # the virtual clock moved a second per poll


@pytest.mark.skipif(not _client_serves("black-forest-labs", "text-to-image"), reason="black-forest-labs: 0.x only")
def test_outage_on_a_poll(hfrouter: HFRouter) -> None:
    import requests

    with (
        hfrouter.outage("provider-500", provider="black-forest-labs", step="poll"),
        pytest.raises(requests.HTTPError) as raised,
    ):
        perform("black-forest-labs", "text-to-image")

    assert raised.value.response.status_code == 500
    assert [c.route for c in hfrouter.calls][-2:] == ["provider", "poll"]


def test_failed_job(hfrouter: HFRouter) -> None:
    with hfrouter.outage("job-failed", provider="replicate"), pytest.raises(TimeoutError) as raised:
        perform("replicate", "text-to-image")

    assert "No output generated" in str(raised.value)
    assert [c.route for c in hfrouter.calls] == ["mapping", "provider"]  # no download: the job failed


def test_outage_recovers_for_the_download(hfrouter: HFRouter) -> None:
    """times=1 without a step takes the submit; the retry's download is healthy."""
    with hfrouter.outage("provider-500", provider="fal-ai", times=1), pytest.raises(HfHubHTTPError):
        perform("fal-ai", "text-to-image")
    image = perform("fal-ai", "text-to-image")

    assert isinstance(image, PIL.Image)
    assert [c.route for c in hfrouter.calls if c.route != "mapping"] == ["provider", "provider", "download"]


# -- the Hub's answers are task-aware ------------------------------------------------------------
@pytest.mark.parametrize("task", ["text-to-image", "automatic-speech-recognition"])
def test_client_side_auto_picks_a_provider_of_the_task(hfrouter: HFRouter, task: str) -> None:
    """No provider on a non-chat task: the client reads the mapping and calls its first provider."""
    client = InferenceClient(api_key=API_KEY, timeout=TIMEOUT)
    out = getattr(client, CALLS[task].method)(*CALLS[task].args, model=MODEL)

    provider = hfrouter.inference_calls[0].provider
    assert provider is not None
    CALLS[task].check(out, TASKS.exchanges[(provider, task)])


def test_mapping_names_the_task_and_model_info_the_pipeline_tag(hfrouter: HFRouter) -> None:
    from huggingface_hub import HfApi

    perform("fal-ai", "text-to-image", model="acme/painter")
    perform("hf-inference", "feature-extraction", model="acme/embedder")
    mapping = HfApi().model_info("acme/painter", expand=["inferenceProviderMapping"]).inference_provider_mapping
    info = HfApi().model_info("acme/embedder")

    # Read here outside a client call, the look-ups still say what the test's calls were told.
    assert {m.task for m in mapping} == {"text-to-image"}
    assert mapping[0].provider == "fal-ai"
    assert info.pipeline_tag == "feature-extraction"


def test_one_model_two_tasks(hfrouter: HFRouter) -> None:
    """Each look-up is answered for the call that makes it."""
    check_image(perform("fal-ai", "text-to-image"), TASKS.exchanges[("fal-ai", "text-to-image")])
    features = perform("hf-inference", "feature-extraction")
    check_features(features, TASKS.exchanges[("hf-inference", "feature-extraction")])


# -- the router's failover on the auto route ---------------------------------------------------
FAILOVER_SKIP = pytest.mark.skipif(
    HFH_VERSION < (1, 0), reason="the server-side auto route needs huggingface_hub >= 1.0"
)


@FAILOVER_SKIP
def test_auto_route_fails_over_past_an_unavailable_provider(hfrouter: HFRouter) -> None:
    from pytest_hfrouter.library import MAPPING_PROVIDERS

    client = InferenceClient(api_key=API_KEY, timeout=TIMEOUT)
    with hfrouter.outage("provider-unavailable", provider=MAPPING_PROVIDERS[0]):
        completion = client.chat_completion([{"role": "user", "content": "hi"}], model=MODEL)

    assert completion.choices[0].message.content
    assert hfrouter.tried == [MAPPING_PROVIDERS[1]]
    hfrouter.assert_answered_by(MAPPING_PROVIDERS[1])


@FAILOVER_SKIP
def test_failover_target_answers_x_inference_provider(hfrouter: HFRouter) -> None:
    """The answer names the provider that served it, as the router's own header does."""
    http = __import__(HFH_HTTP)
    request = {
        "json": {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        "headers": {"Authorization": f"Bearer {API_KEY}"},
    }
    url = "https://router.huggingface.co/v1/chat/completions"
    assert http.post(url, **request).headers["x-inference-provider"] == "novita"
    with hfrouter.outage("provider-unavailable", provider="novita"):
        assert http.post(url, **request).headers["x-inference-provider"] == "together"
    assert [c.provider for c in hfrouter.inference_calls] == ["novita", "together"]


@FAILOVER_SKIP
def test_per_request_errors_still_reach_the_app(hfrouter: HFRouter) -> None:
    """Failover is for flagged providers only: the chosen provider's 500 reaches the app, as on the router."""
    client = InferenceClient(api_key=API_KEY, timeout=TIMEOUT)
    with (
        hfrouter.outage("provider-unavailable", provider="novita"),
        hfrouter.outage("provider-500", provider="together"),
        pytest.raises(HfHubHTTPError) as raised,
    ):
        client.chat_completion([{"role": "user", "content": "hi"}], model=MODEL)

    assert raised.value.response.status_code == 500
    assert hfrouter.tried == ["together"]


#: The Hub's mapping of ByteDance/SDXL-Lightning for replicate, as recorded by huggingface_hub's
#: TestInferenceClient.test_text_to_image_default[replicate,text-to-image] (2025-02-13): a versioned
#: providerId, which the client calls as /v1/predictions with {"version": ...} in the body.
_VERSIONED = "bytedance/sdxl-lightning-4step:5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637"
_SDXL_MAPPING = {
    "_id": "65d505951e2597ff935d1be2",
    "id": "ByteDance/SDXL-Lightning",
    "inferenceProviderMapping": {"replicate": {"status": "live", "providerId": _VERSIONED, "task": "text-to-image"}},
}


def test_replicates_versioned_predictions_are_read_by_their_model(pytester: pytest.Pytester) -> None:
    """Replicate's /v1/predictions names no model in its path: the version in the body is the model's.
    Read as no model, a cassette of one model answered any other's versioned call, lint called the
    recording unmatchable while it matched, and a model= outage could never hit the call."""
    import yaml

    shipped = Path(__file__).resolve().parent.parent / "cassettes" / "tasks" / "replicate" / "text-to-image.yaml"
    recorded = yaml.safe_load(shipped.read_text())["interactions"]  # the POST and the image download
    mapping = {
        "request": {
            "method": "GET",
            "uri": "https://huggingface.co/api/models/ByteDance/SDXL-Lightning?expand=inferenceProviderMapping",
            "body": None,
            "headers": {},
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": ["application/json; charset=utf-8"]},
            "body": {"string": json.dumps(_SDXL_MAPPING)},
        },
    }
    (pytester.path / "sdxl.yaml").write_text(yaml.safe_dump({"version": 1, "interactions": [mapping, *recorded]}))
    pytester.makepyfile(
        test_images="""
        import pytest
        from huggingface_hub import InferenceClient
        from huggingface_hub.errors import HfHubHTTPError

        def draw(model="ByteDance/SDXL-Lightning"):
            client = InferenceClient(provider="replicate", api_key="hf_fake", timeout=10)
            return client.text_to_image("An astronaut riding a horse on the moon.", model=model)

        @pytest.mark.hfrouter_cassette("sdxl.yaml")
        def test_the_recorded_image(hfrouter):
            assert draw().size == (64, 64)  # the shipped recording's image (made smaller)
            assert [(c.model, c.answered_by) for c in hfrouter.inference_calls] == [
                ("ByteDance/SDXL-Lightning", "cassette:sdxl.yaml")
            ]

        @pytest.mark.hfrouter_cassette("sdxl.yaml")
        @pytest.mark.hfrouter_outage("provider-500", provider="replicate", model="ByteDance/SDXL-Lightning")
        def test_an_outage_of_the_model():
            with pytest.raises(HfHubHTTPError) as raised:
                draw()
            assert raised.value.response.status_code == 500
        """
    )
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=2)
    assert "can never match" not in result.stdout.str()


# -- a healthy answer of another task is as large as the request asks ---------------------------------
def test_a_batch_gets_an_embedding_per_text(hfrouter: HFRouter) -> None:
    """Three texts got the one recorded embedding (langchain's ``embed_documents`` sends a list):
    an app that pairs texts with vectors met a shape no router gives it (an audit's finding)."""
    client = InferenceClient(provider="hf-inference", api_key=API_KEY, timeout=TIMEOUT)
    recorded = np.array(_recorded_json(TASKS.exchanges[("hf-inference", "feature-extraction")]))

    one = client.feature_extraction("one text", model=MODEL)
    three = client.feature_extraction(["a", "b", "c"], model=MODEL)  # type: ignore[arg-type]

    assert one.shape == recorded.shape == (1, 8, 768)
    assert three.shape == (3, 8, 768)
    assert all((row == recorded[0]).all() for row in three)  # the recording's values, once per text


def test_a_similarity_gets_a_score_per_sentence(hfrouter: HFRouter) -> None:
    client = InferenceClient(provider="hf-inference", api_key=API_KEY, timeout=TIMEOUT)
    recorded = _recorded_json(TASKS.exchanges[("hf-inference", "sentence-similarity")])

    scores = client.sentence_similarity("x", other_sentences=["a", "b", "c", "d", "e"], model=MODEL)
    assert scores == [*recorded, *recorded[:2]]  # the recording's three, in turn
    assert client.sentence_similarity("x", other_sentences=["a"], model=MODEL) == recorded[:1]


@pytest.mark.skipif(HFH_VERSION < (1, 0), reason="0.x reads the router's old zero-shot shape (see test_healthy)")
@pytest.mark.parametrize("count", [2, 7])
def test_a_zero_shot_classification_scores_the_labels_asked(hfrouter: HFRouter, count: int) -> None:
    client = InferenceClient(provider="hf-inference", api_key=API_KEY, timeout=TIMEOUT)
    recorded = _recorded_json(TASKS.exchanges[("hf-inference", "zero-shot-classification")])
    labels = [f"label {n}" for n in range(count)]

    text = client.zero_shot_classification("some text", candidate_labels=labels, model=MODEL)
    image = client.zero_shot_image_classification(IMAGE, candidate_labels=labels, model=MODEL)

    for out in (text, image):
        assert [o.label for o in out] == labels
        scores = [o.score for o in out]
        assert scores == sorted(scores, reverse=True) and len(set(scores)) == count
    assert [o.score for o in text][: min(count, 5)] == [i["score"] for i in recorded][: min(count, 5)]


def test_answers_sized_to_each_batch_are_kept_within_a_bound(
    hfrouter: HFRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: each batch size of an embeddings suite had its sized answer (about 100 MB at 1,000 texts)
    kept for the whole run, and a suite's memory grew by that much per size. The oldest go past a bound."""
    from huggingface_hub import InferenceClient

    from pytest_hfrouter import engine as engine_module
    from pytest_hfrouter.faces._patching import _engines

    bound = 2 * 2**20
    monkeypatch.setattr(engine_module, "FITTED_BYTES", bound)
    client = InferenceClient(provider="hf-inference", api_key="hf_fake")
    for size in (10, 11, 12, 13):
        features = client.feature_extraction([f"text {n}" for n in range(size)], model="facebook/bart-base")
        assert len(features) == size
    engine = _engines[-1]
    kept = sum(len(answer.body) for answer in engine._fitted.values())
    assert 0 < kept == engine._fitted_bytes <= bound
    assert len(engine._fitted) < 4  # the oldest went


def test_text_generation_on_a_chat_model_meets_what_the_hub_maps_it_for(hfapp: pytest.Pytester) -> None:
    """The healthy mapping lists a provider for any task, so text_generation on a chat model was answered,
    where the real Hub maps it for conversational only and the client refuses (an audit). The scenario
    does that; over a chat call it changes nothing, and says so."""
    hfapp.makepyfile(
        """
        import pytest
        from huggingface_hub import InferenceClient

        MODEL = "Qwen/Qwen2.5-72B-Instruct"

        @pytest.mark.hfrouter_outage("mapping-task-conversational", provider="together")
        def test_text_generation():
            with pytest.raises(ValueError, match="Supported task: conversational"):
                InferenceClient(provider="together", api_key="hf_fake").text_generation("Once", model=MODEL)

        @pytest.mark.hfrouter_outage("mapping-task-conversational", provider="together")
        def test_chat():
            InferenceClient(provider="together", api_key="hf_fake").chat_completion(
                [{"role": "user", "content": "hi"}], model=MODEL
            )
        """
    )
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*mapping-task-conversational wrote into each of the test's mapping look-ups the entry it already had*"]
    )
