"""Which task a request performs: from its route where the route says, else from the client's call.

The router's routes name their task for OpenAI-style APIs (``/chat/completions``,
``/images/generations``, ``/embeddings``…) and hf-inference's pipelines; fal-ai
(``/fal-ai/{id}``), replicate (``/v1/predictions``), wavespeed and hf-inference's
``/models/{id}`` do not. Nor does the Hub's mapping look-up, which comes *before* the task
call and names only the model — yet the client checks ``mapping.task == task`` and raises
"not supported for task" otherwise.

So where the route is silent the task is read from the client's own call, which is on the
stack while it asks: huggingface_hub's ``get_provider_helper(provider, task, model)``,
``_check_supported_task(model, task)``, a provider helper's ``_prepare_mapping_info`` /
``prepare_request`` / ``get_response`` (``self.task``, ``self.provider``) and
``InferenceClient._inner_post(request_parameters)`` (``request_parameters.task``) — the same
names in 0.36, 1.x and 2.x. The look-up runs only for requests whose route is silent (Hub
look-ups, which huggingface_hub caches per test, and those routes): chat never pays for it.
A client in another thread of this process (the router double's) is found by its model;
a client in another process cannot be read, and the answer says so.
"""

from __future__ import annotations

import sys
import threading
from types import FrameType
from typing import Any, Final, Literal

from .providers import CONVERSATIONAL, TEXT_GENERATION

# The steps of a task's job: the inference call, then the polls and the download after it.
Step = Literal["submit", "poll", "download"]
SUBMIT: Final = "submit"
POLL: Final = "poll"
DOWNLOAD: Final = "download"
STEPS: tuple[Step, ...] = (SUBMIT, POLL, DOWNLOAD)

#: route path endings (after the provider) that name their task
_SUFFIXES = (
    (("chat", "completions"), CONVERSATIONAL),
    (("completions",), TEXT_GENERATION),
    (("images", "generations"), "text-to-image"),
    (("embeddings",), "feature-extraction"),
    (("audio", "speech"), "text-to-speech"),
    (("audio", "transcriptions"), "automatic-speech-recognition"),
    (("v2", "videos"), "text-to-video"),
)

_TASK_ARGUMENT = frozenset({"get_provider_helper", "_check_supported_task"})
_HELPER_METHODS = frozenset({"_prepare_mapping_info", "prepare_request", "get_response"})
_MAX_DEPTH = 80
#: every function name `_read` looks into
_READABLE = _TASK_ARGUMENT | _HELPER_METHODS | {"_inner_post"}


def task_of_route(provider: str, rest: list[str], chat_body: bool) -> str | None:
    """The task a router path names (``rest``: the segments after the provider), else None."""
    if "pipeline" in rest:  # hf-inference: /models/{id}/pipeline/{task} or /pipeline/{task}/{id}
        at = rest.index("pipeline")
        if at + 1 < len(rest):
            return rest[-1] if rest[0] == "models" else rest[at + 1]
    for suffix, task in _SUFFIXES:
        if tuple(rest[-len(suffix) :]) == suffix:
            return task
    if provider == "novita" and rest[:2] == ["v3", "hf"]:
        return "text-to-video"
    return CONVERSATIONAL if chat_body else None


def _read(frame: FrameType) -> tuple[str | None, str | None, str | None]:
    """(task, provider, model) that a client frame holds, or Nones."""
    name = frame.f_code.co_name
    if name in _TASK_ARGUMENT:
        local = frame.f_locals
        return _str(local.get("task")), _str(local.get("provider")), _str(local.get("model"))
    if name in _HELPER_METHODS:
        local = frame.f_locals
        helper = local.get("self")
        task = _str(getattr(helper, "task", None))
        if task is not None:
            return task, _str(getattr(helper, "provider", None)), _str(local.get("model"))
    if name == "_inner_post":
        parameters = frame.f_locals.get("request_parameters")
        return _str(getattr(parameters, "task", None)), None, _str(getattr(parameters, "model", None))
    return None, None, None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _walk(frame: FrameType | None, model: str | None) -> tuple[str | None, str | None]:
    # Every Hub look-up walks some thirty frames (the HTTP client's, the app's): the loop is lean.
    readable = _READABLE
    for _ in _DEPTHS:
        if frame is None:
            break
        code = frame.f_code
        # the function's name first (a set look-up), its file only for the few that may hold a task
        if code.co_name in readable and "huggingface_hub" in code.co_filename:
            task, provider, held = _read(frame)
            if task is not None and (model is None or held is None or held.lower() == model.lower()):
                return task, provider
        frame = frame.f_back
    return None, None


_DEPTHS = range(_MAX_DEPTH)


def task_from_stack(model: str | None = None) -> tuple[str | None, str | None]:
    """``(task, provider)`` of the huggingface_hub call now asking, else ``(None, None)``.

    This thread first; then, for the router double, the other threads of the process whose
    client call names the same model.
    """
    found = _walk(sys._getframe(1), None)
    if found[0] is not None or model is None:
        return found
    # No frame of this function's may be held in its locals: the threads' frames include this very
    # frame, and a frame that refers to itself outlives its return until the cyclic GC runs, and
    # with it every frame of the other threads' stacks, an app's clients in their locals (an audit:
    # a huggingface_hub client kept alive that way never closed the stream of a call it made, which
    # the real client does, and the test of an app that lost its client was green)
    frames = sys._current_frames()
    try:
        frames.pop(threading.get_ident(), None)
        for frame in frames.values():
            found = _walk(frame, model)
            if found[0] is not None:
                return found
        return None, None
    finally:
        frames.clear()


def pipeline_tag(task: str) -> str:
    """The ``pipeline_tag`` a model of this task has on the Hub (chat models are text-generation)."""
    return TEXT_GENERATION if task == CONVERSATIONAL else task
