"""The seed bug report's "Option 2: Add Fallback Logic", kept as written.

Only the changes needed to run it were made: the client is passed in, the call is sync
(``InferenceClient`` rather than an awaited one) and the messages are a parameter.
The bug is kept on purpose: ``HfHubHTTPError`` has no ``status_code`` attribute (the status
is ``e.response.status_code``), so the first 500 raises ``AttributeError`` instead of falling
back. ``tests/test_outage_contract.py`` proves that an outage test catches it.
"""

from __future__ import annotations

from typing import Any

from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

FALLBACK_MODELS = [
    "Qwen/Qwen2.5-72B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "microsoft/Phi-3-mini-4k-instruct",
]


class AllModelsFailedError(Exception):
    pass


def get_response_with_fallback(client: InferenceClient, messages: list[dict[str, str]]) -> Any:
    for model in FALLBACK_MODELS:
        try:
            return client.chat_completion(model=model, messages=messages)
        except HfHubHTTPError as e:
            if e.status_code == 500:  # type: ignore[attr-defined]  # the seed's bug, kept
                continue
            raise
    raise AllModelsFailedError()
