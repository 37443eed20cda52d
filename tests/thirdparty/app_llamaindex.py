"""A llama-index app: ``HuggingFaceInferenceAPI`` down a chain of providers."""

from __future__ import annotations

from llama_index.core.llms import ChatMessage
from llama_index.llms.huggingface_api import HuggingFaceInferenceAPI

MODEL = "Qwen/Qwen2.5-7B-Instruct"
CHAIN = ("novita", "together")
MESSAGES = [ChatMessage(role="user", content="hi")]


class Failed(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def llm(provider: str, timeout: float = 10.0) -> HuggingFaceInferenceAPI:
    return HuggingFaceInferenceAPI(model_name=MODEL, provider=provider, token="hf_fake", timeout=timeout)


def chat(chain: tuple[str, ...] = CHAIN, timeout: float = 10.0) -> tuple[str, str]:
    errors: list[str] = []
    for provider in chain:
        try:
            reply = llm(provider, timeout).chat(MESSAGES)
        except Exception as exc:
            errors.append(f"{provider}: {type(exc).__name__}")
            continue
        return str(reply.message.content), provider
    raise Failed(errors)


async def achat(chain: tuple[str, ...] = CHAIN, timeout: float = 10.0) -> tuple[str, str]:
    errors: list[str] = []
    for provider in chain:
        try:
            reply = await llm(provider, timeout).achat(MESSAGES)
        except Exception as exc:
            errors.append(f"{provider}: {type(exc).__name__}")
            continue
        return str(reply.message.content), provider
    raise Failed(errors)


def stream(provider: str = "novita", timeout: float = 10.0) -> list[str]:
    return [r.delta for r in llm(provider, timeout).stream_chat(MESSAGES) if r.delta]


async def astream(provider: str = "novita", timeout: float = 10.0) -> list[str]:
    return [r.delta async for r in await llm(provider, timeout).astream_chat(MESSAGES) if r.delta]
