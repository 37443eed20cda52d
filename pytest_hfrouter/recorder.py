"""Recording: live interactions into vcrpy cassettes, scrubbed before anything touches disk.

Bodies are stored as the server sent them (compressed ones with their Content-Encoding,
binary ones as YAML ``!!binary``), so replay hands the client the very same bytes.

Writes are atomic (a temporary file in the same folder, then a rename) and serialised by a
lock file, so several xdist workers recording into one folder — or one cassette — never
corrupt it. The cassette is written with vcrpy's own serializer and records, in its
metadata, when and with which client versions it was recorded.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from . import scrub
from ._clock import REAL
from ._files import write_atomically
from .bodies import compressed, content_encoding, decode
from .cassettes import Interaction, cassette_from_data, match_key
from .errors import CassetteError
from .live import Observed
from .report import versions
from .routes import HUB_LOOKUPS
from .scrub import Scrubber
from .traffic import Request

#: transfer details that must not be replayed as they were (Content-Encoding is kept: the body
#: is stored as it came over the wire)
_DROPPED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


def _headers(headers: Iterable[tuple[str, str]], scrubber: Scrubber) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in headers:
        if name.lower() not in _DROPPED_HEADERS:
            out.setdefault(name, []).append(scrubber.header(name, value))
    return out


def stored_body(body: bytes, headers: Iterable[tuple[str, str]]) -> str | bytes:
    """vcrpy's convention: text when the bytes are UTF-8 and not compressed, else the bytes
    themselves (YAML ``!!binary``), so replay hands the client the very bytes the server sent."""
    if content_encoding(headers):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body


def _body(body: bytes | None, headers: tuple[tuple[str, str], ...], scrubber: Scrubber) -> str | bytes | None:
    if body is None:
        return None
    return stored_body(scrubber.body(body, headers), headers)


def _readable(
    body: bytes | None, headers: tuple[tuple[str, str], ...], side: str, url: str
) -> tuple[bytes | None, tuple[tuple[str, str], ...]]:
    """A body the scrubber can read: as sent, or, under a Content-Encoding that does not decode whole
    (a gzip stream the app closed early), what it holds, decoded, without that header. A body it
    cannot read at all is refused: its secrets could not be looked for."""
    encoding = content_encoding(headers)
    if not body or not compressed(encoding):
        return body, headers  # a coding no client decodes (``chunked``, say) is read as it is, and scrubbed so
    if decode(body, encoding) is not None:
        return body, headers
    decoded = decode(body, encoding, partial=True)
    if decoded is None:
        raise CassetteError(
            f"pytest-hfrouter: not recorded: the {side} body of {scrub.text(url)} came under Content-Encoding "
            f"{encoding!r}, which pytest-hfrouter cannot decode here, so it could not be scrubbed of secrets. "
            "Install the decoder (br: pip install brotli; zstd: pip install zstandard) and record again."
        )
    return decoded, tuple((name, value) for name, value in headers if name.lower() != "content-encoding")


def _scrubbed(interactions: list[Any]) -> list[Any]:
    """Interactions read from a cassette, their URLs, headers and reason phrases through the scrubber (their
    bodies as they are: one stored decoded or compressed is not rewritten here; lint reads them)."""
    scrubber = scrub.current()
    out = []
    for one in interactions:
        if not isinstance(one, dict):
            out.append(one)
            continue
        one = {**one}
        for side in ("request", "response"):
            part = one.get(side)
            if not isinstance(part, dict):
                continue
            part = one[side] = {**part}
            headers = part.get("headers")
            if isinstance(headers, dict):
                part["headers"] = {
                    name: [scrubber.header(str(name), v) if isinstance(v, str) else v for v in values]
                    if isinstance(values, list)
                    else values
                    for name, values in headers.items()
                }
            if isinstance(part.get("uri"), str):
                part["uri"] = scrubber.text(part["uri"])
            status = part.get("status")
            if isinstance(status, dict) and isinstance(status.get("message"), str):
                part["status"] = {**status, "message": scrubber.text(status["message"])}
        out.append(one)
    return out


def interaction(request: Request, observed: Observed, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """One vcrpy interaction, with every secret scrubbed (`scrub`) and every body byte-exact (or,
    when its Content-Encoding cannot be undone whole, decoded: `_readable`)."""
    scrub.register(secrets)
    scrubber = scrub.current()
    request_body, request_headers = _readable(request.body, request.headers, "request", request.url)
    response_body, response_headers = _readable(observed.body, observed.headers, "response", request.url)
    return {
        "request": {
            "body": _body(request_body, request_headers, scrubber),
            "headers": _headers(request_headers, scrubber),
            "method": request.method,
            "uri": scrubber.text(request.url),
        },
        "response": {
            "status": {"code": observed.status, "message": scrubber.text(observed.reason)},
            "headers": _headers(response_headers, scrubber),
            "body": {"string": _body(response_body, response_headers, scrubber) or ""},
        },
    }


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the cassette's folder itself: no lock file left behind."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: one writer per cassette is the user's job
        yield
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)


def _parsed(interactions: list[Any], path: Path) -> tuple[Interaction, ...]:
    return cassette_from_data({"version": 1, "interactions": interactions}, path).interactions


def _key(one: Interaction) -> tuple[str, ...]:
    return match_key(one.method, one.route, one.uri)


def _oldest_date(interactions: list[Any]) -> datetime.datetime | None:
    """The oldest ``Date`` of these recorded answers, or None where one has none (or one that does not parse)."""
    import email.utils

    dates = []
    for one in interactions:
        headers = (one.get("response") or {}).get("headers") or {} if isinstance(one, dict) else {}
        values = [v for name, v in headers.items() if str(name).lower() == "date"] if isinstance(headers, dict) else []
        value = (
            values[0][0] if values and isinstance(values[0], list) and values[0] else (values[0] if values else None)
        )
        try:
            when = email.utils.parsedate_to_datetime(str(value)) if value else None
        except (TypeError, ValueError):
            when = None
        if when is None:
            return None
        dates.append(when if when.tzinfo else when.replace(tzinfo=datetime.timezone.utc))
    return min(dates, default=None)


def write_cassette(
    path: Path,
    interactions: list[dict[str, Any]],
    *,
    rewrite: bool,
    run_id: str,
    shared: bool = False,
    test: str | None = None,
    rootdir: Path | None = None,
) -> list[str]:
    """Append to (``record``) or replace (``rewrite``) a cassette, atomically and under a lock.

    A rewrite replaces what an earlier run wrote; what this run (``run_id``) already wrote —
    another test, another xdist worker — is kept and appended to. A ``shared`` cassette (a module's
    or class's marker names it: each of its tests records a part) is rewritten request by request:
    an earlier run's interaction stays unless this run recorded the same request, so a rewrite of one
    test keeps its neighbours' recordings (the count kept leads the file, in its metadata).

    Returns, for a shared cassette, the requests (by meaning: `match_key`) of ``interactions`` that
    another test's recording in it also made, this run's (both now in it) or an earlier run's (replaced):
    a cassette matches requests by meaning, not by body, so replay cannot tell those tests' answers apart.
    A cassette a marker names (``test`` given) names the test each interaction is of (``metadata.hfrouter.tests``),
    so in a shared one a test's own earlier recording is no other test's (an audit: every rewrite of one test
    warned of a clash with itself).
    """
    import yaml
    from vcr.serializers import yamlserializer

    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):
        existing: list[Any] = []
        earlier: list[Any] = []  # a shared cassette's rewrite: interactions of earlier runs it keeps
        held: dict[str, Any] = {}
        same_run = False
        #: the test each interaction of ``existing`` and ``earlier`` is of (None: not known)
        existing_owners: list[str | None] = []
        earlier_owners: list[str | None] = []
        if path.exists():
            try:
                data = yaml.load(path.read_bytes(), Loader=yamlserializer._CassetteLoader)
            except yaml.YAMLError as exc:
                if not rewrite:  # appending to it would need what it holds
                    raise CassetteError(f"it is not YAML any more ({exc}); nothing written", path) from None
                data = None  # replaced: a rewrite reads nothing of what it replaces
            if data is not None and not isinstance(data, dict):
                if not rewrite:
                    raise CassetteError("it is not a cassette (a YAML mapping); nothing written", path)
                data = None
            if rewrite and not (isinstance(data, dict) and "interactions" in data) and os.path.islink(path):
                # a rewrite replaces a damaged cassette, not a file a link leads to (an audit: a planted link
                # had a file outside the cassette folder replaced)
                raise CassetteError(
                    f"it is a link to {os.path.realpath(path)}, which is not a cassette: a rewrite replaces a "
                    "cassette, not what a link leads to; remove the link, then record; nothing written",
                    path,
                )
            meta = (data or {}).get("metadata")
            found = meta.get("hfrouter") if isinstance(meta, dict) else None
            held = found if isinstance(found, dict) else {}
            same_run = held.get("run_id") == run_id
            held_interactions = (data or {}).get("interactions")
            held_interactions = held_interactions if isinstance(held_interactions, list) else []
            owners = held.get("tests")
            if not (isinstance(owners, list) and len(owners) == len(held_interactions)):
                owners = [None] * len(held_interactions)  # none named, or the file was edited since
            owners = [owner if isinstance(owner, str) else None for owner in owners]
            if not rewrite or same_run:
                existing, existing_owners = list(held_interactions), owners
            if rewrite and shared and data is not None:
                kept = held.get("kept", 0) if same_run else len(held_interactions)
                kept = kept if isinstance(kept, int) else 0
                earlier, existing = held_interactions[:kept], held_interactions[kept:]
                earlier_owners, existing_owners = owners[:kept], owners[kept:]
        hfrouter: dict[str, Any] = {
            "recorded_at": datetime.datetime.fromtimestamp(REAL.wall(), datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
            "recorded_with": versions(),
            "run_id": run_id,
        }
        clashes: list[str] = []
        if shared and (earlier or existing):
            new = {_key(one): one for one in _parsed(interactions, path)}
            others: set[tuple[str, ...]] = set()
            for part, part_owners in ((existing, existing_owners), (earlier, earlier_owners)):
                theirs = [
                    one
                    for one, owner in zip(part, part_owners, strict=False)
                    if owner is None or test is None or not _same(owner, test, rootdir)
                ]
                with contextlib.suppress(CassetteError):  # a part replay cannot read holds no request
                    others |= {_key(one) for one in _parsed(theirs, path)}
            # the Hub's look-ups answer the same for every test: only calls whose answers may differ clash
            clashes = [
                f"{one.method} {one.uri}"
                for key, one in new.items()
                if key in others and one.route.kind not in HUB_LOOKUPS
            ]
        if earlier:
            mine = {_key(one) for one in _parsed(existing + interactions, path)}
            try:
                parsed = _parsed(earlier, path)
            except CassetteError:
                parsed, earlier = (), []  # a part replay cannot read: replaced, as a rewrite replaces a malformed file
            keep = [_key(read) not in mine for read in parsed]
            earlier = [one for one, kept_one in zip(earlier, keep, strict=True) if kept_one]
            earlier_owners = [owner for owner, kept_one in zip(earlier_owners, keep, strict=False) if kept_one]
            if earlier:
                hfrouter["kept"] = len(earlier)  # interactions of earlier runs, first in the file
        # A cassette that keeps an earlier run's interactions (an append; a shared cassette's rewrite of one test's
        # part) is as old as they are: its date and versions stay theirs (an audit: re-recording one test's part
        # made the whole file look new, and hfrouter_max_age stopped flagging the neighbours' 2025 answers).
        # The oldest answer's Date where every answer has one, so a file whose parts were each re-recorded is new
        # again; else the file's own date, kept.
        if (existing and not rewrite) or earlier or same_run:
            oldest = _oldest_date([*earlier, *existing, *interactions])
            if oldest is not None:
                hfrouter["recorded_at"] = oldest.isoformat(timespec="seconds")
            else:
                for key in ("recorded_at", "recorded_with"):
                    if held.get(key):
                        hfrouter[key] = held[key]
        # what was in the file goes through the scrubber too: it is written again now (an audit: a migrated
        # pytest-recording cassette kept its token through a recording that appended to it)
        earlier, existing = _scrubbed(earlier), _scrubbed(existing)
        if test is not None:  # a marker's cassette: maybe shared, now or once a module's marker names it
            hfrouter["tests"] = [*earlier_owners, *existing_owners, *([test] * len(interactions))]
        document = {"version": 1, "interactions": earlier + existing + interactions, "metadata": {"hfrouter": hfrouter}}
        if path.suffix == ".json":  # pytest-recording's JSON serializer's file: JSON still (it wrote YAML into it)
            from vcr.serializers import jsonserializer

            try:
                text = jsonserializer.serialize(document)
            except TypeError:
                raise CassetteError(
                    "a body is binary, which a .json cassette cannot hold; record into a .yaml cassette", path
                ) from None
            read_back = jsonserializer.deserialize(text)
        else:
            text = yamlserializer.serialize(document)
            read_back = yaml.load(text, Loader=yamlserializer._CassetteLoader)
        # Never write a recording that would not replay what was recorded, nor one replay refuses.
        if read_back["interactions"] != document["interactions"]:
            raise CassetteError("the recording does not read back as it was recorded; nothing written", path)
        try:
            cassette_from_data(document, path)
        except CassetteError as exc:
            raise CassetteError(f"the recording would not replay ({exc.problem}); nothing written", path) from None
        write_atomically(path, text)
        return clashes


def _same(owner: str, test: str, rootdir: Path | None) -> bool:
    """Whether a cassette's owner (a node id, relative to the rootdir it was recorded under) is this test: the same
    id, or the same module file and test under another rootdir, where no module is at the owner's path under this
    one (an audit: a suite moved one folder down warned of a clash with the test's own earlier recording; its
    regression audit: ``tests/test_api.py`` beside ``svc/tests/test_api.py`` is another test, whose clash must be
    said)."""
    if owner == test:
        return True
    mine, theirs = test.split("::", 1), owner.split("::", 1)
    return (
        rootdir is not None
        and len(mine) == 2 == len(theirs)
        and mine[1] == theirs[1]
        and (mine[0].endswith("/" + theirs[0]) or theirs[0].endswith("/" + mine[0]))
        and not (rootdir / theirs[0]).exists()
    )
