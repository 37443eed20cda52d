"""A small chat app on the openai SDK over the router's OpenAI-compatible auto route.

It asks the router for one provider at a time (``model:provider``) down a fallback chain; the
SDK's own retries (2 by default, honouring ``Retry-After``) run inside each attempt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import openai

ROUTER_V1 = "https://router.huggingface.co/v1"
MODEL = "Qwen/Qwen2.5-7B-Instruct"
CHAIN = ("novita", "together")
MESSAGES = [{"role": "user", "content": "hi"}]


class Failed(Exception):
    """Every provider of the chain failed; ``errors`` says how."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def client(timeout: float = 10.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=ROUTER_V1, api_key="hf_fake", timeout=timeout)


def async_client(timeout: float = 10.0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=ROUTER_V1, api_key="hf_fake", timeout=timeout)


def chat(chain: tuple[str, ...] = CHAIN, timeout: float = 10.0) -> tuple[str, str]:
    """(answer, provider) from the first provider of ``chain`` that answers."""
    errors: list[str] = []
    for provider in chain:
        try:
            reply = client(timeout).chat.completions.create(model=f"{MODEL}:{provider}", messages=MESSAGES)  # type: ignore[arg-type]
        except openai.APIError as exc:
            errors.append(f"{provider}: {type(exc).__name__}")
            continue
        return reply.choices[0].message.content or "", provider
    raise Failed(errors)


async def achat(chain: tuple[str, ...] = CHAIN, timeout: float = 10.0) -> tuple[str, str]:
    errors: list[str] = []
    for provider in chain:
        try:
            reply = await async_client(timeout).chat.completions.create(model=f"{MODEL}:{provider}", messages=MESSAGES)  # type: ignore[arg-type]
        except openai.APIError as exc:
            errors.append(f"{provider}: {type(exc).__name__}")
            continue
        return reply.choices[0].message.content or "", provider
    raise Failed(errors)


def stream(provider: str = "novita", timeout: float = 10.0) -> Iterator[str]:
    for chunk in client(timeout).chat.completions.create(
        model=f"{MODEL}:{provider}",
        messages=MESSAGES,
        stream=True,  # type: ignore[arg-type]
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content


async def astream(provider: str = "novita", timeout: float = 10.0) -> AsyncIterator[str]:
    events = await async_client(timeout).chat.completions.create(
        model=f"{MODEL}:{provider}",
        messages=MESSAGES,
        stream=True,  # type: ignore[arg-type]
    )
    async for chunk in events:
        if chunk.choices and chunk.choices[0].delta.content:
            yield chunk.choices[0].delta.content
