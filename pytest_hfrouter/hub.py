"""The Hub's answers the plugin synthesises: a provider mapping and model info for any model and task.

The mapping look-up (``GET /api/models/{id}?expand=inferenceProviderMapping``) names a model; the
client then checks the entry of its provider for its task. So a healthy mapping lists, for the
task of the call behind it (tasks.py), the providers that serve that task (providers.py), each
``live`` under the model's own id; model info (hf-inference's task check) has the task's
``pipeline_tag``. Shapes: the real look-ups in shared/real-cassettes (docs/ROUTER-FACTS.md §1.3).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection
from typing import Any

from .providers import CHAT_ORDER, CONVERSATIONAL, TEXT_GENERATION, mapping_order
from .tasks import pipeline_tag


def mapping_for(
    model: str, task: str | None, asked: str | None, covered: Collection[tuple[str, str]] = ()
) -> dict[str, Any]:
    """The healthy mapping for a call of ``task`` (None: not readable, answered as for chat).

    Providers with a recorded healthy answer (``covered``: (provider, task) pairs) come first —
    a client-side "auto" takes the first; a provider the client asked for by name is listed too,
    also a removed one.
    """
    if task is None:
        return synthesised_mapping(model)
    order = list(mapping_order(task))
    order.sort(key=lambda p: task != CONVERSATIONAL and (p, task) not in covered)
    if asked and asked not in order:
        order.append(asked)
    return synthesised_mapping(model, task, tuple(order))


def mapping_json(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


@functools.lru_cache(maxsize=256)
def provider_ids(body: bytes) -> tuple[tuple[tuple[str, str], str], ...]:
    """(provider, provider's model id) → HF model id, from a mapping answer's body (read once per
    body: a test's every look-up gets the same answer)."""
    mapping = mapping_json(body)
    if not mapping or not isinstance(mapping.get("id"), str):
        return ()
    entries = mapping.get("inferenceProviderMapping") or {}
    if not isinstance(entries, dict):
        return ()
    ids = [
        (provider, entry["providerId"].lower())
        for provider, entry in entries.items()
        if isinstance(entry, dict) and isinstance(entry.get("providerId"), str)
    ]
    # a versioned id ("owner/name:version", replicate) is called by its version alone
    ids += [(provider, known.rpartition(":")[2]) for provider, known in ids if ":" in known]
    return tuple((key, mapping["id"]) for key in ids)


def synthesised_mapping(
    model: str, task: str = CONVERSATIONAL, providers: tuple[str, ...] = CHAT_ORDER
) -> dict[str, Any]:
    """A healthy provider mapping for any model and task, in the shape of the real recorded ones.

    Every provider listed serves the model for ``task`` under the model's own id.
    """
    return {
        "_id": "hfrouter-synthesised",
        "id": model,
        "inferenceProviderMapping": {
            provider: {"status": "live", "providerId": model, "task": task} for provider in providers
        },
    }


def synthesised_model_info(model: str, task: str | None = None) -> dict[str, Any]:
    """Enough of ``GET /api/models/{id}`` for hf-inference's task check (docs/ROUTER-FACTS.md addendum).

    ``pipeline_tag`` is the task's (chat models are ``text-generation``); feature-extraction and
    sentence-similarity models carry both tags, as the client's check of them wants.
    """
    tag = pipeline_tag(task or CONVERSATIONAL)
    tags = ["conversational", "text-generation"] if tag == TEXT_GENERATION else [tag]
    if tag in ("feature-extraction", "sentence-similarity"):
        tags = ["feature-extraction", "sentence-similarity"]
    return {
        "_id": "hfrouter-synthesised",
        "id": model,
        "modelId": model,
        "pipeline_tag": tag,
        "tags": tags,
        "private": False,
    }
