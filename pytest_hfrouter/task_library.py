"""Healthy answers for the router's non-chat tasks: one real exchange per provider and task.

``cassettes/tasks/{provider}/{task}.yaml`` (built by ``tools/build_task_library.py`` from real
recordings): the inference call's answer, then what the client fetches after it — fal-ai's
and replicate's image download, black-forest-labs' polls and download — in recorded order.
Those follow-up URLs are the recorded ones (the submit's answer names them), so they are
known here and answered for any model. Loaded on the first non-chat call, not before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .cassettes import Recorded, load_cassette
from .errors import CassetteError
from .routes import classify
from .tasks import DOWNLOAD, POLL, Step


@dataclass(frozen=True)
class FollowUp:
    """A request the client makes after the submit: its step and its answers, in order."""

    provider: str
    task: str
    step: Step
    answers: tuple[Recorded, ...]


@dataclass(frozen=True)
class TaskExchange:
    provider: str
    task: str
    path: Path
    #: the inference call's answer
    answer: Recorded
    provenance: dict[str, object] = field(default_factory=dict)


@dataclass
class TaskLibrary:
    exchanges: dict[tuple[str, str], TaskExchange] = field(default_factory=dict)
    follow_ups: dict[str, FollowUp] = field(default_factory=dict)

    def covered(self) -> list[tuple[str, str]]:
        return sorted(self.exchanges)


def _is_json(recorded: Recorded) -> bool:
    kind = recorded.header("content-type") or ""
    if "json" in kind:
        return True
    try:
        json.loads(recorded.body)
    except ValueError:
        return False
    return True


def load_task_library(root: Path) -> TaskLibrary:
    library = TaskLibrary()
    for path in sorted(root.glob("*/*.yaml")):
        cassette = load_cassette(path)
        meta = cassette.hfrouter
        provider, task = meta.get("provider"), meta.get("task")
        if provider != path.parent.name or task != path.stem:
            raise CassetteError(
                f"metadata.hfrouter provider/task must be {path.parent.name!r}/{path.stem!r}, "
                f"got {provider!r}/{task!r}",
                path,
            )
        first, *rest = cassette.interactions or (None,)
        if first is None or first.response.status >= 400:
            raise CassetteError("a task's healthy exchange starts with a successful inference call", path)
        if not classify(first.method, first.uri, first.body).is_inference:
            raise CassetteError(f"the first interaction must be a router call, got {first.uri}", path)
        library.exchanges[(provider, task)] = TaskExchange(
            provider, task, path, first.response, dict(meta.get("provenance") or {})
        )
        by_url: dict[str, list[Recorded]] = {}
        for interaction in rest:
            by_url.setdefault(interaction.uri, []).append(interaction.response)
        for url, answers in by_url.items():
            # A URL asked more than once, or answering JSON, is a poll; the rest is a download.
            step: Step = POLL if len(answers) > 1 or _is_json(answers[0]) else DOWNLOAD
            library.follow_ups[url] = FollowUp(provider, task, step, tuple(answers))
    return library
