"""Text-to-image over the Hugging Face router: fal-ai, then together, then hf-inference.

Works with huggingface_hub 0.36 (requests), 1.x (httpx) and 2.x (httpx2). What makes a link
fail differs by provider and is what the contract suite pins down:
- an HTTP error (``HfHubHTTPError``; 402 stops the chain: credits are per account);
- a 200 whose JSON is an error: fal-ai's and together's helpers look for ``images`` / ``data``
  and raise ``KeyError``; hf-inference's hands the JSON to PIL, which raises
  ``UnidentifiedImageError`` (an ``OSError``) — as does a fal-ai image download that failed,
  since huggingface_hub reads that download without checking its status;
- a mapping problem (``ValueError``), a timeout or a broken connection (``TimeoutError`` and
  the HTTP library's own errors), an image cut mid-body (the same).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError


def _transport_errors() -> tuple[type[Exception], ...]:
    found: list[type[Exception]] = [TimeoutError, ConnectionError]
    for module, name in (("httpx", "TransportError"), ("httpx2", "TransportError"), ("requests", "RequestException")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except ImportError:
            continue
    return tuple(found)


LINK_ERRORS: tuple[type[Exception], ...] = (HfHubHTTPError, ValueError, KeyError, OSError, *_transport_errors())


@dataclass(frozen=True)
class Link:
    model: str
    provider: str


CHAIN: tuple[Link, ...] = (
    Link("black-forest-labs/FLUX.1-dev", "fal-ai"),
    Link("stabilityai/stable-diffusion-xl-base-1.0", "together"),
    Link("stabilityai/stable-diffusion-xl-base-1.0", "hf-inference"),
)


@dataclass(frozen=True)
class Picture:
    image: Any  # a PIL image
    provider: str
    model: str


class QuotaExceeded(Exception):
    """402: the account's credits are used up; every link would fail the same way."""


@dataclass
class AllProvidersFailed(Exception):
    failures: list[tuple[Link, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return "no provider could paint it: " + "; ".join(f"{link.provider}: {why}" for link, why in self.failures)


class FallbackPainter:
    def __init__(self, api_key: str | None = None, chain: tuple[Link, ...] = CHAIN, timeout: float = 30.0) -> None:
        self.api_key = api_key
        self.chain = chain
        self.timeout = timeout

    def paint(self, prompt: str) -> Picture:
        failures: list[tuple[Link, str]] = []
        for link in self.chain:
            client = InferenceClient(provider=link.provider, api_key=self.api_key, timeout=self.timeout)  # type: ignore[arg-type]
            try:
                image = client.text_to_image(prompt, model=link.model)
                image.load()  # a truncated image fails here, not in the user's hands
            except HfHubHTTPError as exc:
                if exc.response is not None and exc.response.status_code == 402:
                    raise QuotaExceeded(str(exc)) from exc
                failures.append((link, f"HTTP {exc.response.status_code if exc.response is not None else '?'}"))
            except LINK_ERRORS as exc:
                failures.append((link, type(exc).__name__))
            else:
                return Picture(image, link.provider, link.model)
        raise AllProvidersFailed(failures)
