"""An image-generation app with a provider fallback chain (the task example of pytest-hfrouter)."""

from __future__ import annotations

from .painter import CHAIN, AllProvidersFailed, FallbackPainter, Link, Picture, QuotaExceeded

__all__ = ["CHAIN", "AllProvidersFailed", "FallbackPainter", "Link", "Picture", "QuotaExceeded"]
