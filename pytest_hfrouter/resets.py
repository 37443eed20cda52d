"""Caches outside the engine that hold Hub answers from one test into the next, and their clearing.

Client libraries keep what the Hub told them per process: huggingface_hub its provider mappings
and task checks, litellm its own copy of the mapping and the model info it read from a model's
``config.json`` (all ``functools.lru_cache``). One test's scenario must never leak into the next
(docs/ROUTER-FACTS.md §1.3): the plugin clears them all together whenever it clears huggingface_hub's
(`Engine.must_reset_client_caches` decides when). A module that is not imported yet holds nothing
to clear: nothing is imported here.

Users add their own caches with the ini ``hfrouter_reset`` (``module:callable`` lines), checked
at start-up by `parse`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

INI = "hfrouter_reset"


class Reset(NamedTuple):
    """``module:attribute`` (the attribute may be dotted): an ``lru_cache`` to clear, or a callable."""

    module: str
    attribute: str

    def target(self) -> Any:
        """The object named, or ``None`` while its module is not imported (or the name has gone)."""
        found: Any = sys.modules.get(self.module)
        for part in self.attribute.split("."):
            if found is None:
                return None
            found = getattr(found, part, None)
        return found

    def __call__(self) -> None:
        found = self.target()
        if found is None:
            return
        clear: Callable[[], object] | None = getattr(found, "cache_clear", None)
        (clear or found)()

    def clear_cache(self) -> None:
        """Only an ``lru_cache``: a built-in name that stopped being one is not called blindly."""
        clear: Callable[[], object] | None = getattr(self.target(), "cache_clear", None)
        if clear is not None:
            clear()

    def __str__(self) -> str:
        return f"{self.module}:{self.attribute}"


#: The caches of the libraries the project tests (tests/thirdparty/), by the names they have in
#: the versions tested. A name a later version drops, or that is no longer an ``lru_cache``, is
#: skipped, not an error.
#: huggingface_hub 0.x-2.x's mapping look-up: also cleared alone, inside a test whose rules fail or
#: reshape the mapping for one provider, after each inference call (`Engine._answer`)
MAPPING_CACHE = Reset("huggingface_hub.inference._providers._common", "_fetch_inference_provider_mapping")
BUILTIN: tuple[Reset, ...] = (
    # huggingface_hub 0.x-2.x: the mapping look-up and hf-inference's task check
    MAPPING_CACHE,
    Reset("huggingface_hub.inference._providers.hf_inference", "_check_supported_task"),
    Reset("huggingface_hub.inference._providers.hf_inference", "_fetch_recommended_models"),
    # litellm: its own mapping look-up (a `mapping-missing-provider` leaked into the next test),
    # and the model info holding max_position_embeddings from the Hub's config.json
    Reset("litellm.llms.huggingface.common_utils", "fetch_inference_provider_mapping"),
    Reset("litellm.utils", "cached_get_model_info_helper"),
    Reset("litellm.utils", "cached_cost_map_key"),
)


def reset_client_caches(extra: Iterable[Reset] = ()) -> None:
    """Clear the built-in caches and then the user's (``hfrouter_reset``), in that order."""
    for reset in BUILTIN:
        reset.clear_cache()
    for reset in extra:
        reset()


def parse(lines: Iterable[str]) -> tuple[Reset, ...]:
    """The ini's ``module:callable`` lines, each checked now; a `ValueError` says what is wrong.

    Unlike the built-in list, the user's modules are imported here: a typo must fail the run at
    start-up, not leave a cache uncleared in silence.
    """
    found: list[Reset] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        module, colon, attribute = line.partition(":")
        module, attribute = module.strip(), attribute.strip()
        if not colon or not module or not attribute:
            raise ValueError(
                f"{INI}: {line!r} is not module:callable — write one per line, e.g. myapp.hub:fetch_mapping "
                "(an lru_cache'd function: its cache_clear is called) or myapp.hub:clear_caches"
            )
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"{INI}: {line!r}: cannot import module {module!r} ({exc})") from None
        reset = Reset(module, attribute)
        target = reset.target()
        if target is None:
            raise ValueError(f"{INI}: {line!r}: module {module!r} has no attribute {attribute!r}")
        if not callable(target) and not callable(getattr(target, "cache_clear", None)):
            raise ValueError(f"{INI}: {line!r} is a {type(target).__name__}, not a callable or an lru_cache'd function")
        if not callable(getattr(target, "cache_clear", None)):
            _check_no_arguments(line, target)
        found.append(reset)
    return tuple(found)


def _check_no_arguments(line: str, target: Callable[..., object]) -> None:
    """A callable the plugin calls with no arguments before each test: one that needs some fails
    here, at start-up, not as every test's setup error (an audit)."""
    import inspect

    try:
        inspect.signature(target).bind()
    except TypeError as exc:
        raise ValueError(
            f"{INI}: {line!r} cannot be called with no arguments ({exc}): name a function that takes none, "
            "or an lru_cache'd function (its cache_clear is called)"
        ) from None
    except ValueError:  # a builtin without a signature: nothing to check
        pass
