"""A smolagents app: ``InferenceClientModel`` down a chain of providers (smolagents retries 429s itself)."""

from __future__ import annotations

from smolagents import ChatMessage, InferenceClientModel, MessageRole

MODEL = "Qwen/Qwen2.5-7B-Instruct"
CHAIN = ("novita", "together")
MESSAGES = [ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": "hi"}])]


class Failed(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def model(provider: str, timeout: float = 10.0) -> InferenceClientModel:
    return InferenceClientModel(model_id=MODEL, provider=provider, api_key="hf_fake", timeout=timeout)


def chat(chain: tuple[str, ...] = CHAIN, timeout: float = 10.0) -> tuple[str, str]:
    errors: list[str] = []
    for provider in chain:
        try:
            reply = model(provider, timeout).generate(MESSAGES)
        except Exception as exc:  # smolagents lets the client's exceptions through
            errors.append(f"{provider}: {type(exc).__name__}")
            continue
        return str(reply.content), provider
    raise Failed(errors)


def stream(provider: str = "novita", timeout: float = 10.0) -> list[str]:
    return [delta.content for delta in model(provider, timeout).generate_stream(MESSAGES) if delta.content]
