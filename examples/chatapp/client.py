"""Chat over the Hugging Face router with a fallback chain of (model, provider) links.

Works with huggingface_hub 0.36 (requests), 1.x (httpx) and 2.x (httpx2): it only uses
``InferenceClient``, ``chat_completion`` and ``huggingface_hub.errors``, plus the transport
errors of whichever HTTP library is installed.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from huggingface_hub import InferenceClient, get_token
from huggingface_hub.errors import HfHubHTTPError, TextGenerationError

Message = dict[str, str]


def _transport_errors() -> tuple[type[Exception], ...]:
    """Timeouts, broken connections: InferenceTimeoutError (a TimeoutError) in 2.x, the HTTP
    library's own classes in 0.36 (requests) and 1.x (httpx): not converted the same way."""
    found: list[type[Exception]] = [TimeoutError, ConnectionError]
    for module, name in (("httpx", "TransportError"), ("httpx2", "TransportError"), ("requests", "RequestException")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except ImportError:
            continue
    return tuple(found)


# What makes a link fail: HTTP errors; ValueErrors for mapping problems ("Model ... is not
# supported by provider ...") and undecodable bodies; timeouts and broken connections. In a
# stream, an error event raises a TextGenerationError (e.g. OverloadedError) too.
LINK_ERRORS: tuple[type[Exception], ...] = (HfHubHTTPError, ValueError, *_transport_errors())
STREAM_ERRORS: tuple[type[Exception], ...] = (TextGenerationError, *LINK_ERRORS)


@dataclass(frozen=True)
class Link:
    model: str
    provider: str


DEFAULT_CHAIN: tuple[Link, ...] = (
    Link("Qwen/Qwen2.5-72B-Instruct", "novita"),
    Link("Qwen/Qwen2.5-72B-Instruct", "together"),
    Link("meta-llama/Llama-3.1-8B-Instruct", "cerebras"),
)


@dataclass(frozen=True)
class Reply:
    text: str
    provider: str
    model: str


class ChatError(Exception):
    """Base class of the errors the app shows to its users."""


class QuotaExceeded(ChatError):
    """402: the account's credits are used up. That holds for every link, so stop at once."""

    def __init__(self, link: Link, server_message: str | None) -> None:
        super().__init__(
            "The monthly AI quota of this account is used up. Add Hugging Face credits or try again next month."
        )
        self.link = link
        self.server_message = server_message


@dataclass
class AllProvidersFailed(ChatError):
    failures: list[tuple[Link, str]] = field(default_factory=list)

    def __str__(self) -> str:
        tried = "; ".join(f"{link.provider}/{link.model}: {why}" for link, why in self.failures)
        return f"Every provider in the chain failed ({tried})"


class StreamInterrupted(ChatError):
    """The stream broke after text was shown; another link cannot take those words back."""


def get_chat_client(
    *, api_key: str | None = None, chain: Sequence[Link] = DEFAULT_CHAIN, timeout: float = 60.0
) -> FallbackChat:
    token = api_key or os.environ.get("HF_TOKEN") or get_token()
    if not token:
        raise ChatError("No Hugging Face token: set HF_TOKEN or run `hf auth login`.")
    return FallbackChat(token, chain=chain, timeout=timeout)


class FallbackChat:
    def __init__(
        self,
        api_key: str,
        *,
        chain: Sequence[Link] = DEFAULT_CHAIN,
        timeout: float = 60.0,
        max_tokens: int = 512,
    ) -> None:
        self.chain = tuple(chain)
        self.max_tokens = max_tokens
        self.streamed_from: Link | None = None  # the link whose stream chat_stream() is showing
        self._api_key = api_key
        self._timeout = timeout
        self._clients: dict[str, InferenceClient] = {}

    def _client(self, provider: str) -> InferenceClient:
        if provider not in self._clients:
            self._clients[provider] = InferenceClient(
                provider=provider,  # type: ignore[arg-type]  # the Literal differs per version
                api_key=self._api_key,
                timeout=self._timeout,
            )
        return self._clients[provider]

    def chat(self, messages: Sequence[Message]) -> Reply:
        failures: list[tuple[Link, str]] = []
        for link in self.chain:
            try:
                output = self._client(link.provider).chat_completion(
                    messages=list(messages), model=link.model, max_tokens=self.max_tokens
                )
            except LINK_ERRORS as e:
                failures.append((link, _failure(link, e)))
                continue
            text = _reply_text(output)
            if text is None:  # a 200 that carries {"error": ...}: choices is None
                failures.append((link, f"no answer in 200 body: {getattr(output, 'error', None)!r}"))
                continue
            return Reply(text=text, provider=link.provider, model=link.model)
        raise AllProvidersFailed(failures)

    def chat_stream(self, messages: Sequence[Message]) -> Iterator[str]:
        """Yield text pieces; fall back to the next link only while nothing has been shown."""
        failures: list[tuple[Link, str]] = []
        self.streamed_from = None
        for link in self.chain:
            started = finished = False
            try:
                stream = self._client(link.provider).chat_completion(
                    messages=list(messages), model=link.model, max_tokens=self.max_tokens, stream=True
                )
                for chunk in stream:
                    finished = finished or _finish_reason(chunk) is not None
                    piece = _delta_text(chunk)
                    if piece:
                        if not started:
                            started, self.streamed_from = True, link
                        yield piece
            except STREAM_ERRORS as e:
                if started:
                    raise StreamInterrupted(str(e)) from e
                failures.append((link, _failure(link, e)))
                continue
            if started and not finished:
                # A clean end with neither [DONE] nor a finish_reason: half an answer, not a whole one.
                raise StreamInterrupted("the stream ended before the answer was complete")
            if started:
                return
            failures.append((link, "stream ended without any text"))
        raise AllProvidersFailed(failures)


def _failure(link: Link, e: Exception) -> str:
    """Describe a failed link, or raise QuotaExceeded: a 402 must not burn the rest of the chain."""
    if not isinstance(e, HfHubHTTPError):
        return f"{type(e).__name__}: {e}"
    status = e.response.status_code if e.response is not None else None  # never `e.status_code`
    if status == 402:
        raise QuotaExceeded(link, e.server_message) from e
    return f"HTTP {status}: {e.server_message or 'no message'}"


def _reply_text(output: Any) -> str | None:
    choices = getattr(output, "choices", None)
    if not choices or choices[0].message is None:
        return None
    return choices[0].message.content or None


def _finish_reason(chunk: Any) -> str | None:
    choices = getattr(chunk, "choices", None)
    return getattr(choices[0], "finish_reason", None) if choices else None


def _delta_text(chunk: Any) -> str | None:
    choices = getattr(chunk, "choices", None)
    if not choices or choices[0].delta is None:
        return None  # e.g. the usage chunk at the end of a stream
    content = choices[0].delta.content
    return content if isinstance(content, str) else None
