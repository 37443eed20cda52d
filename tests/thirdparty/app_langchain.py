"""A langchain app: ``ChatHuggingFace`` on novita with a together fallback (``with_fallbacks``)."""

from __future__ import annotations

from typing import Any

from langchain_huggingface import ChatHuggingFace, HuggingFaceEndpoint

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def llm(provider: str, timeout: int = 10) -> ChatHuggingFace:
    endpoint = HuggingFaceEndpoint(  # type: ignore[call-arg]
        repo_id=MODEL,
        provider=provider,
        huggingfacehub_api_token="hf_fake",
        task="conversational",
        max_new_tokens=20,
        timeout=timeout,
    )
    return ChatHuggingFace(llm=endpoint)


def chain(timeout: int = 10) -> Any:
    """novita first, together when novita raises (langchain's own fallback)."""
    return llm("novita", timeout).with_fallbacks([llm("together", timeout)])
