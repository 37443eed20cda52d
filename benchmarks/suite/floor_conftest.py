"""Variant (c), the floor: a hand-made in-process mock, the cheapest thing that can answer.

huggingface_hub 2.4 builds its shared client in ``utils/_http.py::default_client_factory``:
``httpx2.Client(event_hooks={"request": [hf_request_event_hook]}, follow_redirects=True,
timeout=None)``. The floor mirrors it, hook included, with a ``MockTransport`` that answers
from an in-memory dict of the very responses hfrouter serves (``floor_answers.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import set_client_factory
from huggingface_hub.utils._http import hf_request_event_hook

Answer = tuple[int, list[tuple[str, str]], bytes]


def _answers() -> dict[tuple[str, str], Answer]:
    raw = json.loads((Path(__file__).parent / "floor_answers.json").read_text())
    return {
        (entry["method"], entry["url"]): (
            entry["status"],
            [(k, v) for k, v in entry["headers"]],
            entry["body"].encode(),
        )
        for entry in raw
    }


def pytest_configure(config: pytest.Config) -> None:
    answers = _answers()

    def handler(request: httpx2.Request) -> httpx2.Response:
        status, headers, body = answers[(request.method, str(request.url))]
        return httpx2.Response(status, headers=headers, content=body)

    set_client_factory(
        lambda: httpx2.Client(
            transport=httpx2.MockTransport(handler),
            event_hooks={"request": [hf_request_event_hook]},
            follow_redirects=True,
            timeout=None,
        )
    )
