"""What a URL means to the Hugging Face router: route kind, provider, model.

Matching is done on these meanings, never on raw URLs, so the route drift seen in real
recordings (``/novita/chat/completions`` beside ``/novita/v3/openai/chat/completions``,
``/hf-inference/models/{id}`` beside ``/hf-inference/models/{id}/v1/chat/completions``)
does not break a rule or a cassette.
"""

from __future__ import annotations

import functools
import json
from typing import Final, Literal, NamedTuple, get_args
from urllib.parse import parse_qs, unquote, urlsplit

from ._names import HUB_HOSTS, LEGACY_INFERENCE_HOSTS, ROUTER_HOSTS
from .bodies import json_object
from .providers import CONVERSATIONAL
from .tasks import task_of_route

#: Requests apps make that are no part of what they test (telemetry, a version check), each with the switch that
#: turns it off: the fix a blocked one's message gives before a cassette or an allowed host. (host, path prefix,
#: what it is, the switch); read by huggingface_hub and gradio at import, so set before the app is imported.
PHONE_HOME = (
    ("huggingface.co", "/api/telemetry/", "huggingface_hub's telemetry (gradio and gradio_client send theirs "
     "through it)", "HF_HUB_DISABLE_TELEMETRY=1"),
    ("api.gradio.app", "", "gradio's analytics and version check", "GRADIO_ANALYTICS_ENABLED=False"),
)  # fmt: skip


def phone_home(host: str, path: str = "") -> str | None:
    """What a request to ``host`` (at ``path``) is and how to turn it off, if it is a known phone-home."""
    for known, prefix, what, switch in PHONE_HOME:
        if host == known and path.startswith(prefix):
            return (
                f"this is {what}, not the app's work: turn it off with the environment variable {switch} (in the "
                "CI job, or in os.environ at the top of conftest.py, before the app is imported)"
            )
    return None


# Route kinds. ``provider`` and ``auto`` are inference calls; the rest are Hub look-ups.
RouteKind = Literal["provider", "auto", "mapping", "model-info", "harness", "other"]
PROVIDER: Final = "provider"
AUTO: Final = "auto"
MAPPING: Final = "mapping"
MODEL_INFO: Final = "model-info"
HARNESS: Final = "harness"
OTHER: Final = "other"
#: the inference calls (every verdict and the coverage table are about these)
INFERENCE_KINDS: frozenset[str] = frozenset({PROVIDER, AUTO})
SCENARIO_KINDS: tuple[RouteKind, ...] = (PROVIDER, AUTO, MAPPING, MODEL_INFO)
#: the Hub look-ups huggingface_hub caches per process (docs/ROUTER-FACTS.md §1.3)
HUB_LOOKUPS: frozenset[RouteKind] = frozenset({MAPPING, MODEL_INFO})

# ``model:policy`` suffixes on the auto route choose a policy, not a provider (hub-docs index.md).
Policy = Literal["fastest", "cheapest", "preferred"]
POLICY_SUFFIXES: frozenset[str] = frozenset(get_args(Policy))


class Route(NamedTuple):
    """The router's reading of one request."""

    kind: RouteKind
    provider: str | None = None
    #: The model as the request names it: the HF id (auto route, Hub look-ups, hf-inference
    #: paths) or the provider's own id (body of a provider route).
    model: str | None = None
    #: Raw ``model`` from the body on the auto route, suffix included (``Qwen/X:novita``).
    requested: str | None = None
    stream: bool = False
    #: the task the route itself names (``/chat/completions``, ``/images/generations``, a
    #: pipeline…); None where it does not (fal-ai, replicate, hf-inference ``/models/{id}``)
    task: str | None = None

    @property
    def is_inference(self) -> bool:
        return self.kind in INFERENCE_KINDS


def body_fields(body: bytes | None) -> tuple[str | None, bool]:
    """``(model, stream)`` from a JSON request body; ``(None, False)`` for anything else."""
    model, stream, _ = _body_fields(body)
    return model, stream


def _body_fields(body: bytes | None) -> tuple[str | None, bool, bool]:
    """``(model, stream, chat)``: ``chat`` when the body has chat ``messages``."""
    data = json_object(body)
    if data is None:
        return None, False, False
    model = data.get("model")
    return (model if isinstance(model, str) else None), data.get("stream") is True, "messages" in data


def split_suffix(model: str) -> tuple[str, str | None]:
    """``"Qwen/X:novita"`` → ``("Qwen/X", "novita")``; policy suffixes give ``None``."""
    base, sep, suffix = model.rpartition(":")
    if not sep or "/" in suffix or not base:
        return model, None
    return base, (None if suffix in POLICY_SUFFIXES else suffix)


def _models_path(segments: list[str]) -> str | None:
    """The model id after a ``models`` segment, up to ``v1`` / ``pipeline`` or the end."""
    if "models" not in segments:
        return None
    rest = segments[segments.index("models") + 1 :]
    for stop in ("v1", "pipeline"):
        if stop in rest:
            rest = rest[: rest.index(stop)]
    return "/".join(rest) or None


#: what a text-generation server serves beside inference, under ``/models/{id}/`` (GET)
_ENDPOINT_PAGES = frozenset({"info", "health", "metrics"})


@functools.lru_cache(maxsize=2048)  # a pure function of its arguments; suites repeat requests
def classify(method: str, url: str, body: bytes | None = None) -> Route:
    """Read a request the way the router and the Hub do."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if host in HUB_HOSTS:
        return _classify_hub(method, segments, parts.query, body)
    if segments and segments[-1] in _ENDPOINT_PAGES and method.upper() == "GET" and "models" in segments:
        return Route(OTHER)  # a text-generation server's own page (`InferenceClient.get_endpoint_info`), no call
    if host in ROUTER_HOSTS:
        return _classify_router(segments, body)
    if host in LEGACY_INFERENCE_HOSTS and segments[:1] == ["models"]:
        model, stream, chat = _body_fields(body)
        task = task_of_route("hf-inference", segments, chat)
        return Route(PROVIDER, "hf-inference", _models_path(segments) or model, stream=stream, task=task)
    return Route(OTHER)


def read_as_hub(endpoint: str) -> str | None:
    """The host of ``HF_ENDPOINT``, read as the Hub from now on (its look-ups answered as huggingface.co's,
    and refused after the session as the Hub's are), or None where it adds nothing: the Hub itself or
    the router. The caller leaves out loopback (a router double answers for itself). An audit: with a
    mirror in the shell, every look-up was a miss "not the router", and the fix offered sent it there."""
    host = (urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}").hostname or "").lower()
    if not host or host in HUB_HOSTS or host in ROUTER_HOSTS:
        return None
    HUB_HOSTS.add(host)
    classify.cache_clear()
    return host


def forget_hub(host: str) -> None:
    """Undo `read_as_hub` (the run that read it has ended)."""
    HUB_HOSTS.discard(host)
    classify.cache_clear()


def _classify_router(segments: list[str], body: bytes | None) -> Route:
    model, stream, chat = _body_fields(body)
    if segments[:3] == ["v1", "chat", "completions"]:
        if model is None:
            return Route(AUTO, stream=stream, task=CONVERSATIONAL)
        base, provider = split_suffix(model)
        return Route(AUTO, provider, base, requested=model, stream=stream, task=CONVERSATIONAL)
    if not segments or segments[0] == "v1":
        return Route(OTHER)
    provider = segments[0]
    task = task_of_route(provider, segments[1:], chat)
    if provider == "hf-inference":
        model = _models_path(segments) or _pipeline_path(segments) or model
    elif model is None:
        model = (
            _path_model(provider, segments[1:])
            or _replicate_version(provider, segments[1:], body)
            or _body_value(body, "model_name")  # hyperbolic's images (huggingface_hub 0.x)
        )
    return Route(PROVIDER, provider, model, stream=stream, task=task)


def _body_value(body: bytes | None, key: str) -> str | None:
    """A string field of a JSON body (read only where the route names no model otherwise)."""
    value = (json_object(body) or {}).get(key)
    return value if isinstance(value, str) else None


def _replicate_version(provider: str, rest: list[str], body: bytes | None) -> str | None:
    """Replicate's versioned ``/v1/predictions`` names its model by the version in the body (the part
    of the mapping's ``providerId`` after ``:``, huggingface_hub's ``ReplicateTask``)."""
    if provider != "replicate" or rest != ["v1", "predictions"] or not body:
        return None
    try:
        version = json.loads(body).get("version")
    except (ValueError, AttributeError):
        return None
    return version if isinstance(version, str) and version else None


def _path_model(provider: str, rest: list[str]) -> str | None:
    """The provider's model id where its route carries it in the path (huggingface_hub's ``_prepare_route``)."""
    if provider == "fal-ai":  # /fal-ai/{id}
        return "/".join(rest) or None
    if provider == "replicate" and rest[:2] == ["v1", "models"] and rest[-1:] == ["predictions"]:
        return "/".join(rest[2:-1]) or None
    if provider == "wavespeed" and rest[:2] == ["api", "v3"]:
        return "/".join(rest[2:]) or None
    if provider == "black-forest-labs" and rest[:1] == ["v1"]:
        return "/".join(rest[1:]) or None
    return None


def _pipeline_path(segments: list[str]) -> str | None:
    """The model of the older ``/hf-inference/pipeline/{task}/{id}`` route."""
    if segments[1:2] == ["pipeline"] and len(segments) > 3:
        return "/".join(segments[3:])
    return None


def _classify_hub(method: str, segments: list[str], query: str, body: bytes | None) -> Route:
    if segments[:2] == ["api", "inference-proxy"] and len(segments) > 2:
        # v0.28 proxy: https://huggingface.co/api/inference-proxy/{provider}/... (docs/ROUTER-FACTS.md §1.1)
        return _classify_router(segments[2:], body)
    if segments[:2] == ["api", "agent-harnesses"]:
        return Route(HARNESS)
    if method.upper() == "GET" and segments[:2] == ["api", "models"] and len(segments) > 2:
        model = "/".join(segments[2:])
        expand = [v for key, values in parse_qs(query).items() if key.startswith("expand") for v in values]
        kind: RouteKind = MAPPING if "inferenceProviderMapping" in expand else MODEL_INFO
        return Route(kind, model=model)
    return Route(OTHER)
