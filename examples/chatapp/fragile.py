"""A deliberately fragile path, for the chaos example: a conversation title from the first link only.

The chat itself falls back along the chain (``FallbackChat``); this helper was written in a
hurry: it asks the first provider directly, with no fallback and no error handling. A plain
replay run is green; ``pytest --hfrouter-chaos`` finds it (see ``examples/fragile/``).
"""

from __future__ import annotations

from collections.abc import Sequence

from .client import FallbackChat, Message


def suggest_title(chat: FallbackChat, messages: Sequence[Message]) -> str:
    link = chat.chain[0]
    output = chat._client(link.provider).chat_completion(
        messages=[*messages, {"role": "user", "content": "A title for this conversation, in five words."}],
        model=link.model,
        max_tokens=16,
    )
    return str(output.choices[0].message.content).strip()
