"""The router's providers: the names a rule may target, and the ones the router dropped.

One table keyed by provider name (the path segment of a routed URL, ROUTER-FACTS §1.2). Other
data about a provider (its tasks, say) belongs in the same row.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass

ROUTED = "routed"
REMOVED = "removed"


@dataclass(frozen=True)
class Provider:
    name: str
    status: str = ROUTED
    #: when the router stopped routing it (ISO date), for a removed provider
    removed_on: str | None = None
    #: where this row comes from (a ROUTER-FACTS section)
    source: str = "ROUTER-FACTS §1.2"


_REMOVAL = "ROUTER-FACTS §1.2: hfh-git 981bfc407 (2026-07-01), moon-landing#18795"

PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        # Routed for chat by huggingface_hub 2.4.0 (ROUTER-FACTS §1.2 table).
        Provider("hf-inference"),
        Provider("novita"),
        Provider("together"),
        Provider("fireworks-ai"),
        Provider("groq"),
        Provider("cerebras"),
        Provider("featherless-ai"),
        Provider("nscale"),
        Provider("cohere"),
        Provider("deepinfra"),
        Provider("zai-org"),
        Provider("baseten"),
        Provider("ovhcloud"),
        Provider("publicai"),
        Provider("scaleway"),
        # hub-docs index.md partner table (2026-08), ROUTER-FACTS §1.2: partners for other tasks.
        Provider("fal-ai", source="ROUTER-FACTS §1.2 (hub-docs partner table)"),
        Provider("replicate", source="ROUTER-FACTS §1.2 (hub-docs partner table)"),
        Provider("wavespeed", source="ROUTER-FACTS §1.2 (hub-docs partner table)"),
        # Removed from the Hub's routing layer (ROUTER-FACTS §1.2).
        Provider("hyperbolic", REMOVED, "2026-07-01", _REMOVAL),
        Provider("nebius", REMOVED, "2026-07-01", _REMOVAL),
        Provider("sambanova", REMOVED, "2026-07-01", _REMOVAL),
        Provider("clarifai", REMOVED, "2026-07-01", _REMOVAL),
        Provider("nvidia", REMOVED, "2026-07-01", _REMOVAL),
        Provider("black-forest-labs", REMOVED, "2026-07-01", _REMOVAL),
    )
}

REMOVED_PROVIDERS = frozenset(name for name, p in PROVIDERS.items() if p.status == REMOVED)
_GLOB_CHARS = frozenset("*?[")


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
        close = difflib.get_close_matches(name.strip().lower(), list(PROVIDERS), n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]!r}?" if close else ""
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
    close = difflib.get_close_matches(name.strip().lower(), [c.lower() for c in candidates], n=1, cutoff=0.6)
    if not close:
        return None
    return next(c for c in candidates if c.lower() == close[0])
