"""The fragile title helper: green in a plain run, caught by a chaos run.

pytest -p hfrouter examples/fragile/                          # passes: the router is healthy
pytest -p hfrouter examples/fragile/ --hfrouter-chaos-rate=1  # fails, and prints the marker
                                                              # line that reproduces it
"""

from __future__ import annotations

from chatapp import FallbackChat
from chatapp.fragile import suggest_title

MESSAGES = [{"role": "user", "content": "What is 1 + 1? Answer in one word."}]


def test_a_conversation_gets_a_title():
    chat = FallbackChat(api_key="hf_fake", timeout=10)

    assert suggest_title(chat, MESSAGES)
