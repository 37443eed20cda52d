"""What a URL means to the Hugging Face router: route kind, provider, model.

Matching is done on these meanings, never on raw URLs, so the route drift seen in real
recordings (``/novita/chat/completions`` beside ``/novita/v3/openai/chat/completions``,
``/hf-inference/models/{id}`` beside ``/hf-inference/models/{id}/v1/chat/completions``)
does not break a rule or a cassette.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

ROUTER_HOSTS = frozenset({"router.huggingface.co"})
HUB_HOSTS = frozenset({"huggingface.co"})
# Pre-router serverless API, still present in older recordings (ROUTER-FACTS §1.1).
LEGACY_INFERENCE_HOSTS = frozenset({"api-inference.huggingface.co"})

# Route kinds. ``provider`` and ``auto`` are inference calls; the rest are Hub look-ups.
PROVIDER = "provider"
AUTO = "auto"
MAPPING = "mapping"
MODEL_INFO = "model-info"
HARNESS = "harness"
OTHER = "other"
INFERENCE_KINDS = frozenset({PROVIDER, AUTO})
SCENARIO_KINDS = (PROVIDER, AUTO, MAPPING, MODEL_INFO)
#: the Hub look-ups huggingface_hub caches per process (ROUTER-FACTS §1.3)
HUB_LOOKUPS = (MAPPING, MODEL_INFO)

# ``model:policy`` suffixes on the auto route choose a policy, not a provider (hub-docs index.md).
POLICY_SUFFIXES = frozenset({"fastest", "cheapest", "preferred"})


@dataclass(frozen=True)
class Route:
    """The router's reading of one request."""

    kind: str
    provider: str | None = None
    #: The model as the request names it: the HF id (auto route, Hub look-ups, hf-inference
    #: paths) or the provider's own id (body of a provider route).
    model: str | None = None
    #: Raw ``model`` from the body on the auto route, suffix included (``Qwen/X:novita``).
    requested: str | None = None
    stream: bool = False

    @property
    def is_inference(self) -> bool:
        return self.kind in INFERENCE_KINDS


def body_fields(body: bytes | None) -> tuple[str | None, bool]:
    """``(model, stream)`` from a JSON request body; ``(None, False)`` for anything else."""
    if not body or body[:1] not in (b"{", b" ", b"\n"):
        return None, False
    try:
        data = json.loads(body)
    except ValueError:
        return None, False
    if not isinstance(data, dict):
        return None, False
    model = data.get("model")
    return (model if isinstance(model, str) else None), data.get("stream") is True


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


@functools.lru_cache(maxsize=2048)  # a pure function of its arguments; suites repeat requests
def classify(method: str, url: str, body: bytes | None = None) -> Route:
    """Read a request the way the router and the Hub do."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if host in HUB_HOSTS:
        return _classify_hub(method, segments, parts.query, body)
    if host in ROUTER_HOSTS:
        return _classify_router(segments, body)
    if host in LEGACY_INFERENCE_HOSTS and segments[:1] == ["models"]:
        model, stream = body_fields(body)
        return Route(PROVIDER, "hf-inference", _models_path(segments) or model, stream=stream)
    return Route(OTHER)


def _classify_router(segments: list[str], body: bytes | None) -> Route:
    model, stream = body_fields(body)
    if segments[:3] == ["v1", "chat", "completions"]:
        if model is None:
            return Route(AUTO, stream=stream)
        base, provider = split_suffix(model)
        return Route(AUTO, provider, base, requested=model, stream=stream)
    if not segments or segments[0] == "v1":
        return Route(OTHER)
    provider = segments[0]
    if provider == "hf-inference":
        model = _models_path(segments) or model
    return Route(PROVIDER, provider, model, stream=stream)


def _classify_hub(method: str, segments: list[str], query: str, body: bytes | None) -> Route:
    if segments[:2] == ["api", "inference-proxy"] and len(segments) > 2:
        # v0.28 proxy: https://huggingface.co/api/inference-proxy/{provider}/... (ROUTER-FACTS §1.1)
        return _classify_router(segments[2:], body)
    if segments[:2] == ["api", "agent-harnesses"]:
        return Route(HARNESS)
    if method.upper() == "GET" and segments[:2] == ["api", "models"] and len(segments) > 2:
        model = "/".join(segments[2:])
        expand = [v for key, values in parse_qs(query).items() if key.startswith("expand") for v in values]
        kind = MAPPING if "inferenceProviderMapping" in expand else MODEL_INFO
        return Route(kind, model=model)
    return Route(OTHER)
