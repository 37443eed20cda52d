"""A litellm app: ``litellm.completion`` on ``huggingface/<provider>/<model>`` down a chain.

litellm's own retries (``num_retries``) run inside each attempt; ``fallbacks=`` is litellm's
built-in chain (async underneath).
"""

from __future__ import annotations

from typing import Any

import litellm

MODEL = "Qwen/Qwen2.5-7B-Instruct"
CHAIN = ("novita", "together")
MESSAGES = [{"role": "user", "content": "hi"}]


class Failed(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def name(provider: str) -> str:
    return f"huggingface/{provider}/{MODEL}"


def chat(chain: tuple[str, ...] = CHAIN, timeout: float = 10.0, num_retries: int = 0) -> tuple[str, str]:
    errors: list[str] = []
    for provider in chain:
        try:
            reply: Any = litellm.completion(
                model=name(provider), messages=MESSAGES, api_key="hf_fake", timeout=timeout, num_retries=num_retries
            )
        except Exception as exc:  # litellm maps every failure to its own exception classes
            errors.append(f"{provider}: {type(exc).__name__}")
            continue
        return reply.choices[0].message.content or "", provider
    raise Failed(errors)


async def achat(provider: str = "novita", timeout: float = 10.0) -> str:
    reply: Any = await litellm.acompletion(model=name(provider), messages=MESSAGES, api_key="hf_fake", timeout=timeout)
    return reply.choices[0].message.content or ""


def chat_with_fallbacks(timeout: float = 10.0) -> Any:
    return litellm.completion(
        model=name(CHAIN[0]),
        messages=MESSAGES,
        api_key="hf_fake",
        timeout=timeout,
        fallbacks=[name(p) for p in CHAIN[1:]],
    )


def stream(provider: str = "novita", timeout: float = 10.0) -> list[str]:
    chunks: Any = litellm.completion(
        model=name(provider), messages=MESSAGES, api_key="hf_fake", timeout=timeout, stream=True
    )
    return [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
