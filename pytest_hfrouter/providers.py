"""The providers the router routes and the tasks each serves: data, in one place, with its source.

Source: huggingface_hub's own table of provider helpers, ``PROVIDERS`` in
``huggingface_hub/inference/_providers/__init__.py`` — identical in 2.4.0 and 1.33.0; the
providers removed since are taken from 0.36.2's table. Removed providers are those of
huggingface_hub commit 981bfc407 (2026-07-01, "[Inference] Remove dead inference providers
(#4447)": "removed from the Hub inference routing layer (moon-landing#18795)"), ROUTER-FACTS
§1.2. They stay here so that old cassettes and old clients still read, but are flagged:
the synthesised healthy mapping lists them only when a client asks for them by name.
"""

from __future__ import annotations

from dataclasses import dataclass

CONVERSATIONAL = "conversational"
TEXT_GENERATION = "text-generation"

SOURCE = (
    "huggingface_hub 2.4.0 and 1.33.0 inference/_providers/__init__.py PROVIDERS; removed providers from "
    "0.36.2's table and huggingface_hub commit 981bfc407 (ROUTER-FACTS §1.2)"
)


@dataclass(frozen=True)
class Provider:
    name: str
    tasks: tuple[str, ...]
    #: gone from the router (still readable in old cassettes; never listed unless asked for)
    removed: bool = False


_HF_INFERENCE_TASKS = (
    "text-to-image", "conversational", "text-generation", "text-classification", "question-answering",
    "audio-classification", "automatic-speech-recognition", "fill-mask", "feature-extraction",
    "image-classification", "image-segmentation", "document-question-answering", "image-to-text",
    "object-detection", "audio-to-audio", "zero-shot-image-classification", "zero-shot-classification",
    "image-to-image", "sentence-similarity", "table-question-answering", "tabular-classification",
    "text-to-speech", "token-classification", "translation", "summarization", "visual-question-answering",
)  # fmt: skip

# In huggingface_hub's order (it decides nothing here: mapping order is decided per task below).
PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider("baseten", ("conversational",)),
        Provider("cerebras", ("conversational",)),
        Provider("cohere", ("conversational",)),
        Provider("deepinfra", ("automatic-speech-recognition", "conversational", "feature-extraction",
                               "text-generation", "text-to-speech")),
        Provider("fal-ai", ("automatic-speech-recognition", "text-to-image", "text-to-speech", "text-to-video",
                            "image-to-video", "image-to-image", "image-segmentation")),
        Provider("featherless-ai", ("conversational", "text-generation")),
        Provider("fireworks-ai", ("conversational",)),
        Provider("groq", ("conversational",)),
        Provider("hf-inference", _HF_INFERENCE_TASKS),
        Provider("novita", ("text-generation", "conversational", "text-to-video")),
        Provider("nscale", ("conversational", "text-to-image")),
        Provider("ovhcloud", ("conversational",)),
        Provider("publicai", ("conversational",)),
        Provider("replicate", ("automatic-speech-recognition", "image-to-image", "text-to-image", "text-to-speech",
                               "text-to-video")),
        Provider("scaleway", ("conversational", "feature-extraction")),
        Provider("together", ("conversational", "feature-extraction", "image-to-image", "image-to-video",
                              "text-generation", "text-to-image", "text-to-speech", "text-to-video")),
        Provider("wavespeed", ("text-to-image", "text-to-video", "image-to-image", "image-to-video")),
        Provider("zai-org", ("conversational", "text-to-image")),
        # removed from the router (0.36.2's table)
        Provider("black-forest-labs", ("text-to-image",), removed=True),
        Provider("clarifai", ("conversational",), removed=True),
        Provider("hyperbolic", ("text-to-image", "conversational", "text-generation"), removed=True),
        Provider("nebius", ("text-to-image", "conversational", "text-generation", "feature-extraction"), removed=True),
        Provider("nvidia", ("conversational",), removed=True),
        Provider("sambanova", ("conversational", "feature-extraction"), removed=True),
    )
}  # fmt: skip

# The order the synthesised mapping lists providers in for chat (a 0.x client's client-side
# "auto" takes the first): novita first, as in the seed incident; the 2026 partner list.
CHAT_ORDER = (
    "novita", "together", "fireworks-ai", "groq", "cerebras", "featherless-ai",
    "nscale", "hf-inference", "cohere", "deepinfra", "scaleway", "ovhcloud",
)  # fmt: skip
# For the other tasks: providers with a recorded healthy answer first, fal-ai first as the
# router's own docs show for text-to-image, hf-inference last (it serves most tasks).
_TASK_ORDER = ("fal-ai", "together", "replicate", "nscale", "wavespeed", "zai-org", "deepinfra", "scaleway",
               "novita", "featherless-ai", "hf-inference")  # fmt: skip


def serves(provider: str, task: str) -> bool:
    known = PROVIDERS.get(provider)
    return known is not None and task in known.tasks


def mapping_order(task: str) -> tuple[str, ...]:
    """The live providers a healthy mapping lists for a model of this task, in order."""
    if task == CONVERSATIONAL:
        return CHAT_ORDER
    return tuple(p for p in _TASK_ORDER if serves(p, task) and not PROVIDERS[p].removed)


def is_removed(provider: str | None) -> bool:
    known = PROVIDERS.get(provider or "")
    return known is not None and known.removed


def all_tasks() -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for provider in PROVIDERS.values():
        seen.update(dict.fromkeys(provider.tasks))
    return tuple(seen)
