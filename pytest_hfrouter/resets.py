"""Caches in client libraries that hold Hub answers across tests, cleared before each test.

huggingface_hub caches provider mappings and task checks per process (lru_cache); one
test's scenario must never leak into the next (ROUTER-FACTS §1.3). Modules not yet imported
hold nothing to clear, so nothing is imported here.
"""

from __future__ import annotations

import sys

#: (module, function with ``cache_clear``)
CLIENT_CACHES: tuple[tuple[str, str], ...] = (
    ("huggingface_hub.inference._providers._common", "_fetch_inference_provider_mapping"),
    ("huggingface_hub.inference._providers.hf_inference", "_check_supported_task"),
    ("huggingface_hub.inference._providers.hf_inference", "_fetch_recommended_models"),
)


def reset_client_caches() -> None:
    for module_name, function_name in CLIENT_CACHES:
        module = sys.modules.get(module_name)
        cached = getattr(module, function_name, None) if module is not None else None
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
