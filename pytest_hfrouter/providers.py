"""The router's providers: the names a rule may target, the ones the router dropped, and the tasks each serves.

One table keyed by provider name (the path segment of a routed URL, docs/ROUTER-FACTS.md §1.2); other
data about a provider belongs in the same row.

Tasks per provider: huggingface_hub's own table of provider helpers, ``PROVIDERS`` in
``huggingface_hub/inference/_providers/__init__.py`` — identical in 2.4.0 and 1.33.0; the tasks
of the providers removed since are taken from 0.36.2's table. Removed providers are those of
huggingface_hub commit 981bfc407 (2026-07-01, "[Inference] Remove dead inference providers
(#4447)": "removed from the Hub inference routing layer (moon-landing#18795)"), docs/ROUTER-FACTS.md
§1.2. They stay here so that old cassettes and old clients still read, but are flagged:
the synthesised healthy mapping lists them only when a client asks for them by name.
"""

from __future__ import annotations

import fnmatch
from typing import NamedTuple

from .errors import closest, did_you_mean

ROUTED = "routed"
REMOVED = "removed"

CONVERSATIONAL = "conversational"
TEXT_GENERATION = "text-generation"

TASKS_SOURCE = (
    "huggingface_hub 2.4.0 and 1.33.0 inference/_providers/__init__.py PROVIDERS; removed providers from "
    "0.36.2's table and huggingface_hub commit 981bfc407 (docs/ROUTER-FACTS.md §1.2)"
)


class Provider(NamedTuple):
    name: str
    status: str = ROUTED
    #: when the router stopped routing it (ISO date), for a removed provider
    removed_on: str | None = None
    #: where this row comes from (a docs/ROUTER-FACTS.md section)
    source: str = "docs/ROUTER-FACTS.md §1.2"
    #: the tasks it serves (huggingface_hub's provider table, see the module docstring)
    tasks: tuple[str, ...] = ()

    @property
    def removed(self) -> bool:
        return self.status == REMOVED


_HF_INFERENCE_TASKS = (
    "text-to-image",
    "conversational",
    "text-generation",
    "text-classification",
    "question-answering",
    "audio-classification",
    "automatic-speech-recognition",
    "fill-mask",
    "feature-extraction",
    "image-classification",
    "image-segmentation",
    "document-question-answering",
    "image-to-text",
    "object-detection",
    "audio-to-audio",
    "zero-shot-image-classification",
    "zero-shot-classification",
    "image-to-image",
    "sentence-similarity",
    "table-question-answering",
    "tabular-classification",
    "text-to-speech",
    "token-classification",
    "translation",
    "summarization",
    "visual-question-answering",
)

_REMOVAL = "docs/ROUTER-FACTS.md §1.2: hfh-git 981bfc407 (2026-07-01), moon-landing#18795"

PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        # Routed for chat by huggingface_hub 2.4.0 (docs/ROUTER-FACTS.md §1.2 table).
        Provider("hf-inference", tasks=_HF_INFERENCE_TASKS),
        Provider("novita", tasks=("text-generation", "conversational", "text-to-video")),
        Provider(
            "together",
            tasks=(
                "conversational",
                "feature-extraction",
                "image-to-image",
                "image-to-video",
                "text-generation",
                "text-to-image",
                "text-to-speech",
                "text-to-video",
            ),
        ),
        Provider("fireworks-ai", tasks=("conversational",)),
        Provider("groq", tasks=("conversational",)),
        Provider("cerebras", tasks=("conversational",)),
        Provider("featherless-ai", tasks=("conversational", "text-generation")),
        Provider("nscale", tasks=("conversational", "text-to-image")),
        Provider("cohere", tasks=("conversational",)),
        Provider(
            "deepinfra",
            tasks=(
                "automatic-speech-recognition",
                "conversational",
                "feature-extraction",
                "text-generation",
                "text-to-speech",
            ),
        ),
        Provider("zai-org", tasks=("conversational", "text-to-image")),
        Provider("baseten", tasks=("conversational",)),
        Provider("ovhcloud", tasks=("conversational",)),
        Provider("publicai", tasks=("conversational",)),
        Provider("scaleway", tasks=("conversational", "feature-extraction")),
        # hub-docs index.md partner table (2026-08), docs/ROUTER-FACTS.md §1.2: partners for other tasks.
        Provider(
            "fal-ai",
            source="docs/ROUTER-FACTS.md §1.2 (hub-docs partner table)",
            tasks=(
                "automatic-speech-recognition",
                "text-to-image",
                "text-to-speech",
                "text-to-video",
                "image-to-video",
                "image-to-image",
                "image-segmentation",
            ),
        ),
        Provider(
            "replicate",
            source="docs/ROUTER-FACTS.md §1.2 (hub-docs partner table)",
            tasks=(
                "automatic-speech-recognition",
                "image-to-image",
                "text-to-image",
                "text-to-speech",
                "text-to-video",
            ),
        ),
        Provider(
            "wavespeed",
            source="docs/ROUTER-FACTS.md §1.2 (hub-docs partner table)",
            tasks=("text-to-image", "text-to-video", "image-to-image", "image-to-video"),
        ),
        # Removed from the Hub's routing layer (docs/ROUTER-FACTS.md §1.2).
        Provider(
            "hyperbolic", REMOVED, "2026-07-01", _REMOVAL, tasks=("text-to-image", "conversational", "text-generation")
        ),
        Provider(
            "nebius",
            REMOVED,
            "2026-07-01",
            _REMOVAL,
            tasks=("text-to-image", "conversational", "text-generation", "feature-extraction"),
        ),
        Provider("sambanova", REMOVED, "2026-07-01", _REMOVAL, tasks=("conversational", "feature-extraction")),
        Provider("clarifai", REMOVED, "2026-07-01", _REMOVAL, tasks=("conversational",)),
        Provider("nvidia", REMOVED, "2026-07-01", _REMOVAL, tasks=("conversational",)),
        Provider("black-forest-labs", REMOVED, "2026-07-01", _REMOVAL, tasks=("text-to-image",)),
    )
}

REMOVED_PROVIDERS = frozenset(name for name, p in PROVIDERS.items() if p.status == REMOVED)
_GLOB_CHARS = frozenset("*?[")

# The order the synthesised mapping lists providers in for chat (a 0.x client's client-side
# "auto" takes the first): novita first, as in the seed incident; the 2026 partner list; then every
# other routed provider that serves chat. All of them: a client caches a model's mapping for the
# process, so a provider the mapping left out would be refused by the client in every later test
# that names it (and a fallback to it blocked), depending on which test looked the model up first.
_CHAT_FIRST = (
    "novita",
    "together",
    "fireworks-ai",
    "groq",
    "cerebras",
    "featherless-ai",
    "nscale",
    "hf-inference",
    "cohere",
    "deepinfra",
    "scaleway",
    "ovhcloud",
)
CHAT_ORDER = _CHAT_FIRST + tuple(
    name for name, p in PROVIDERS.items() if CONVERSATIONAL in p.tasks and not p.removed and name not in _CHAT_FIRST
)
# For the other tasks: providers with a recorded healthy answer first, fal-ai first as the
# router's own docs show for text-to-image, hf-inference last (it serves most tasks).
_TASK_ORDER = (
    "fal-ai",
    "together",
    "replicate",
    "nscale",
    "wavespeed",
    "zai-org",
    "deepinfra",
    "scaleway",
    "novita",
    "featherless-ai",
    "hf-inference",
)


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


class UnknownProvider(ValueError):
    """A provider name (or glob) the router does not know; the message has a "did you mean"."""


def check_provider(name: str) -> str | None:
    """Check a provider name or glob against the table.

    Returns a note for a removed provider (allowed: old recordings and apps still name them),
    None for a routed one; raises `UnknownProvider` for a name or glob that names no provider.
    """
    if _GLOB_CHARS & set(name):
        matched = [p for p in PROVIDERS if fnmatch.fnmatchcase(p, name.lower())]
        if not matched:
            raise UnknownProvider(f"provider glob {name!r} matches no provider the router knows. {_known()}")
        return None
    provider = PROVIDERS.get(name.lower())
    if provider is None:
        hint = did_you_mean(name.strip().lower(), PROVIDERS)
        raise UnknownProvider(f"unknown provider {name!r}.{hint} {_known()}")
    if provider.status == REMOVED:
        return (
            f"provider {name!r} was removed from the router on {provider.removed_on} ({provider.source}); "
            "a rule on it only meets recordings and apps that still name it"
        )
    return None


def _known() -> str:
    routed = sorted(n for n, p in PROVIDERS.items() if p.status == ROUTED)
    return f"Providers: {', '.join(routed)} (removed: {', '.join(sorted(REMOVED_PROVIDERS))})"


def nearest(name: str, candidates: list[str]) -> str | None:
    """The candidate closest to ``name`` when it looks like a typo of it."""
    close = closest(name.strip().lower(), [c.lower() for c in candidates])
    if close is None:
        return None
    return next(c for c in candidates if c.lower() == close)
