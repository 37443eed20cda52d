"""The benchmark's workload: the seed incident's fallback, novita then together.

Copied beside every generated test module, the same for every variant. One call makes the
four requests the issue lists: mapping look-up, novita 500, mapping look-up, together 200.
huggingface_hub keeps provider mappings in a per-process ``lru_cache``; the cache is
cleared before each link so every link does its own look-up, in every variant alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.inference._providers._common import _fetch_inference_provider_mapping

MODEL = "Qwen/Qwen2.5-72B-Instruct"
CHAIN: tuple[Literal["novita", "together"], ...] = ("novita", "together")
MESSAGES = [{"role": "user", "content": "What is deep learning?"}]
EXPECTED_FAILURES = (("novita", 500),)


@dataclass(frozen=True)
class Reply:
    provider: str
    text: str
    failures: tuple[tuple[str, int], ...]


def chat() -> Reply:
    """Ask each link of the chain in turn; a provider's HTTP error moves on to the next."""
    failures: list[tuple[str, int]] = []
    for provider in CHAIN:
        _fetch_inference_provider_mapping.cache_clear()
        client = InferenceClient(provider=provider, api_key="hf_benchmark", timeout=10)
        try:
            output = client.chat_completion(messages=MESSAGES, model=MODEL, max_tokens=64)
        except HfHubHTTPError as error:
            failures.append((provider, error.response.status_code))
            continue
        return Reply(provider, output.choices[0].message.content or "", tuple(failures))
    raise RuntimeError(f"every provider failed: {failures}")


# What the bare variant (d) checks, without any HTTP.
CANNED = Reply("together", "Deep learning is a subfield of machine learning.", EXPECTED_FAILURES)
