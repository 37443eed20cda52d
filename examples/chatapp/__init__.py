"""A small chat app with a provider fallback chain, shaped like the seed bug report's app."""

from __future__ import annotations

from chatapp.client import (
    DEFAULT_CHAIN,
    AllProvidersFailed,
    ChatError,
    FallbackChat,
    Link,
    QuotaExceeded,
    Reply,
    StreamInterrupted,
    get_chat_client,
)

__all__ = [
    "DEFAULT_CHAIN",
    "AllProvidersFailed",
    "ChatError",
    "FallbackChat",
    "Link",
    "QuotaExceeded",
    "Reply",
    "StreamInterrupted",
    "get_chat_client",
]
