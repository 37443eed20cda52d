"""Harvest: failures the live router gives that the scenario library does not know yet.

In live modes every failed answer (status >= 400, an error inside a 200, an in-band stream
error, a transport fault the client saw) is reduced to its *shape* — status, reason, content
type, the JSON/SSE key structure of its body, the headers that matter to a client — and
compared with the shapes of the known scenarios. An unknown shape is written, scrubbed and
with its provenance, as a *candidate scenario* in the scenario file format; seen again, the
same file's counter goes up instead. A known shape counts toward its scenario's "last seen in
the wild". ``hfrouter scenarios promote`` turns a candidate into a scenario tests can use.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import http
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .bodies import is_event_stream
from .live import Observed, body_shape, is_failure
from .routes import Route

if TYPE_CHECKING:
    from .library import Library, Scenario
    from .traffic import Request

#: headers whose presence changes what a client does (retry, back off, show a message)
_MATTERING = re.compile(r"^(retry-after|ratelimit(-policy)?|x-ratelimit-.*|x-error-.*)$", re.IGNORECASE)
#: the transport errors a client reports, by the fault scenario they are (their exception names)
_FAULTS = (
    ("connect-timeout", ("ConnectTimeout", "ConnectTimeoutError", "ConnectionTimeoutError")),
    ("read-timeout", ("ReadTimeout", "ReadTimeoutError", "SocketTimeoutError", "ServerTimeoutError", "TimeoutError")),
    (
        "stream-cut",
        ("RemoteProtocolError", "ChunkedEncodingError", "IncompleteRead", "ClientPayloadError", "ProtocolError"),
    ),
    (
        "connection-reset",
        (
            "ReadError",
            "ConnectionResetError",
            "ConnectionError",
            "ClientOSError",
            "ServerDisconnectedError",
            "ClientConnectionError",
        ),
    ),
)
HARVESTED = "harvested"


@dataclass(frozen=True)
class FailureShape:
    """What a client can tell apart in a failure; never values, ids or times."""

    status: int | None
    reason: str
    content_type: str
    body: str
    headers: tuple[str, ...]
    #: for a transport fault: the fault scenario it is (then the other fields are empty)
    fault: str | None = None

    @property
    def key(self) -> str:
        raw = json.dumps(dataclasses.astuple(self), sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:12]

    def describe(self) -> str:
        if self.fault:
            return self.fault
        kind = self.content_type.split("/")[-1] or "empty"
        return f"{self.status}, {kind} body"


def _base_type(headers: Iterable[tuple[str, str]]) -> str:
    value = next((v for k, v in headers if k.lower() == "content-type"), "")
    return value.split(";")[0].strip().lower()


def shape_of(status: int | None, reason: str, headers: tuple[tuple[str, str], ...], body: bytes) -> FailureShape:
    content_type = _base_type(headers)
    kind, structure = body_shape(body, content_type)
    if kind == "text":
        text = body.lstrip()[:15].lower()
        structure = "html" if text.startswith((b"<!doctype html", b"<html")) else ("empty" if not body else "text")
    return FailureShape(
        status=status,
        # HTTP/2 sends no reason phrase: the standard one stands in for a missing one
        reason=(reason.strip() or _standard_reason(status)).lower(),
        content_type=content_type,
        body=json.dumps([kind, structure], sort_keys=True),
        headers=tuple(sorted({k.lower() for k, _ in headers if _MATTERING.match(k)})),
    )


def _standard_reason(status: int | None) -> str:
    try:
        return http.HTTPStatus(status or 0).phrase
    except ValueError:
        return ""


def fault_of(error: str) -> str | None:
    """The fault scenario a client's transport error is (``"ReadTimeout: ..."`` → read-timeout)."""
    name = error.split(":", 1)[0].strip().rsplit(".", 1)[-1]
    return next((fault for fault, names in _FAULTS if name in names), None)


def failure_shape(observed: Observed) -> FailureShape | None:
    """The shape of a failed answer (None: it did not fail)."""
    if not is_failure(observed):
        return None
    if observed.error is not None:
        fault = fault_of(observed.error)
        if fault is not None or observed.status is None:
            return FailureShape(None, "", "", "", (), fault=fault or observed.error.split(":", 1)[0])
    return shape_of(observed.status, observed.reason, observed.headers, observed.content)


def known_shapes(scenarios: Iterable[Scenario]) -> dict[FailureShape, str]:
    """Every failure shape the scenarios answer with → the scenario's name."""
    known: dict[FailureShape, str] = {}
    for scenario in scenarios:
        if scenario.fault is not None:
            known[FailureShape(None, "", "", "", (), fault=scenario.fault.type)] = scenario.name
            continue
        for interactions in scenario.answers.values():
            for interaction in interactions:
                recorded = interaction.response
                known.setdefault(
                    shape_of(recorded.status, recorded.reason, recorded.headers, recorded.content), scenario.name
                )
    return known


@dataclass(frozen=True)
class Finding:
    """One failure seen live: a known scenario (``scenario``) or a candidate file (``path``)."""

    provider: str | None
    model: str | None
    shape: FailureShape
    scenario: str | None = None
    path: str | None = None
    new: bool = False

    def line(self) -> str:
        who = f"{self.provider or 'router'} {self.model or '-'}"
        if self.scenario:
            return f"{who}: {self.shape.describe()} (known: {self.scenario})"
        state = "new" if self.new else "seen again"
        return f"{who}: {self.shape.describe()} ({state}) — kept as {self.path}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "shape": self.shape.describe(),
            "shape_key": self.shape.key,
            "scenario": self.scenario,
            "candidate": self.path,
            "new": self.new,
        }


class Harvester:
    """Compares live failures with the library and keeps the unknown ones in ``folder``."""

    def __init__(
        self, library: Library, folder: Path, secrets: tuple[str, ...] = (), extra: Iterable[Scenario] = ()
    ) -> None:
        self.folder = folder
        self.secrets = secrets
        scenarios = [*library.scenarios.values(), *extra]
        self.known = known_shapes(scenarios)
        #: scenarios that share a shape: the one for the route the failure was seen on wins
        self.alike: dict[FailureShape, list[Scenario]] = {}
        for scenario in scenarios:
            for shape in known_shapes([scenario]):
                self.alike.setdefault(shape, []).append(scenario)

    def harvest(
        self,
        request: Request,
        route: Route,
        provider: str | None,
        model: str | None,
        observed: Observed,
        client: dict[str, str] | None = None,
    ) -> Finding | None:
        shape = failure_shape(observed)
        if shape is None:
            return None
        scenario = self.known.get(shape)
        if scenario is not None:
            # a scenario that also rewrites the mapping is the less likely reading of a bare answer
            same_route = [
                s.name
                for s in sorted(self.alike.get(shape, []), key=lambda s: "mapping" in s.routes)
                if route.kind in s.routes
            ]
            scenario = same_route[0] if same_route else scenario
        if scenario is not None or shape.fault is not None:
            return Finding(provider, model, shape, scenario=scenario or shape.fault)
        path, new = self._keep(
            provider,
            shape,
            lambda name: candidate(name, request, route, provider, model, observed, shape, client or {}, self.secrets),
        )
        return Finding(provider, model, shape, path=str(path), new=new)

    def _keep(
        self, provider: str | None, shape: FailureShape, make: Callable[[str], dict[str, Any]]
    ) -> tuple[Path, bool]:
        """A sighting of ``shape``: counted in its candidate file, or a new file ``make`` writes."""
        from .recorder import _locked

        self.folder.mkdir(parents=True, exist_ok=True)
        today = datetime.date.today().isoformat()
        with _locked(self.folder):  # xdist workers share the folder: one file per shape
            existing = _find(self.folder, shape.key)
            if existing is not None:
                document = _load(existing)
                meta = document["metadata"]["hfrouter"]
                meta["provenance"]["seen"] = int(meta["provenance"].get("seen", 1)) + 1
                meta["provenance"]["last_seen"] = today
                _write(existing, document)
                return existing, False
            path = self.folder / f"{_stem(provider, shape, today)}.yaml"
            number = 2
            while path.exists():
                path = self.folder / f"{_stem(provider, shape, today)}-{number}.yaml"
                number += 1
            _write(path, make(path.stem))
            return path, True


def _stem(provider: str | None, shape: FailureShape, today: str) -> str:
    kind = shape.content_type.split("/")[-1].replace("+", "-") or "empty"
    kind = re.sub(r"[^a-z0-9-]", "", kind) or "body"
    return f"{provider or 'router'}-{shape.status}-{kind}-{today}"


def candidate(
    name: str,
    request: Request,
    route: Route,
    provider: str | None,
    model: str | None,
    observed: Observed,
    shape: FailureShape,
    client: dict[str, str],
    secrets: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A candidate scenario in the scenario file format (cassettes/FORMAT.md), scrubbed."""
    from .recorder import interaction

    recorded = interaction(request._replace(headers=()), observed, secrets)
    today = datetime.date.today().isoformat()
    request_id = observed.header("x-request-id")
    return {
        "version": 1,
        "metadata": {
            "hfrouter": {
                "name": name,
                "aliases": [],
                "description": f"Harvested from the live router: {provider or 'router'} {model or ''} answered "
                f"{shape.describe()}, a shape the scenario library did not know.",
                "status": observed.status,
                "fault": None,
                "routes": [route.kind],
                "stream": True if is_event_stream(shape.content_type) else None,
                # a stream that never said [DONE] ended short: loading asks that it say so
                **(
                    {"truncates_stream": b"data: [DONE]" not in observed.body}
                    if is_event_stream(shape.content_type)
                    else {}
                ),
                "provenance": {
                    "observed": "harvested",
                    "source": "a pytest-hfrouter live run (the answer as the router sent it, secrets scrubbed)",
                    "first_seen": today,
                    "last_seen": today,
                    "seen": 1,
                    "provider": provider,
                    "model": model,
                    "route": route.kind,
                    "request_id": request_id,
                    "client": client,
                },
                "harvest": {"shape": shape.key},
            }
        },
        "interactions": [recorded],
    }


def _find(folder: Path, key: str) -> Path | None:
    for path in sorted(folder.glob("*.yaml")):
        try:
            meta = _load(path)["metadata"]["hfrouter"]
        except (OSError, KeyError, TypeError, ValueError):
            continue
        if (meta.get("harvest") or {}).get("shape") == key:
            return path
    return None


def _load(path: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a scenario file")
    return data


def _write(path: Path, document: dict[str, Any]) -> None:
    import yaml

    from ._files import write_atomically

    write_atomically(path, yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100))


# -- promote and diff ------------------------------------------------------------------------
class PromoteError(ValueError):
    """A candidate that cannot become a scenario; the message says why and what to do."""


NAME = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")


def promote(candidate_path: Path, name: str, into: Path, library: Library) -> Path:
    """Copy a candidate into ``into`` as scenario ``name`` (validated: it loads like a shipped one)."""
    from .cassettes import load_cassette
    from .errors import CassetteError, ScenarioError
    from .library import scenario_from_cassette

    if not NAME.match(name):
        raise PromoteError(f"--name {name!r}: use lower-case letters, digits and dashes (e.g. together-503-html)")
    if name in library.names:
        raise PromoteError(f"--name {name!r}: the library already has a scenario of that name; choose another")
    try:
        document = _load(candidate_path)
    except (OSError, ValueError) as exc:
        raise PromoteError(f"{candidate_path}: {exc}") from None
    meta = (document.get("metadata") or {}).get("hfrouter")
    if not isinstance(meta, dict):
        raise PromoteError(f"{candidate_path}: not a scenario file (no metadata.hfrouter)")
    meta["name"] = name
    meta.setdefault("provenance", {})["promoted"] = datetime.date.today().isoformat()
    into.mkdir(parents=True, exist_ok=True)
    target = into / f"{name}.yaml"
    if target.exists():
        raise PromoteError(f"{target} exists already: choose another --name or --into")
    _write(target, document)
    try:
        scenario_from_cassette(load_cassette(target))
    except (CassetteError, ScenarioError) as exc:
        target.unlink()
        raise PromoteError(f"{candidate_path} does not make a valid scenario: {exc}") from None
    return target


def nearest(candidate_path: Path, library: Library) -> tuple[str, list[str]]:
    """The known scenario closest in shape to a candidate, and how they differ."""
    from .cassettes import load_cassette

    cassette = load_cassette(candidate_path)
    recorded = cassette.interactions[0].response
    mine = shape_of(recorded.status, recorded.reason, recorded.headers, recorded.content)
    best: tuple[int, str, list[str]] | None = None
    for theirs, name in known_shapes(library.scenarios.values()).items():
        if theirs.fault is not None:
            continue
        differences = [
            f"{field}: {getattr(theirs, field)!r} here, {getattr(mine, field)!r} in the candidate"
            for field in ("status", "reason", "content_type", "body", "headers")
            if getattr(theirs, field) != getattr(mine, field)
        ]
        score = len(differences) + (2 if theirs.status != mine.status else 0)
        if best is None or score < best[0]:
            best = (score, name, differences)
    assert best is not None
    return best[1], best[2]
