"""Recording: live interactions into vcrpy cassettes, scrubbed before anything touches disk.

Writes are atomic (a temporary file in the same folder, then a rename) and serialised by a
lock file, so several xdist workers recording into one folder — or one cassette — never
corrupt it. The cassette is written with vcrpy's own serializer and records, in its
metadata, when and with which client versions it was recorded.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .live import Observed
from .report import versions
from .traffic import Request

#: any Hugging Face token: ``hf_`` and a long run of letters and digits
TOKEN = re.compile(r"hf_[A-Za-z0-9]{16,}")
REDACTED = "hf_REDACTED"
#: header values that are secrets whatever they look like
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key", "x-hf-token"}
)
#: provider keys passed as ``x-<provider>-api-key`` and the like
_SECRET_SUFFIXES = ("-api-key", "-secret", "-auth-token", "-access-token", "-security-token")
#: transfer details that must not be replayed as they were
_DROPPED_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding", "connection"})


def is_secret_header(name: str) -> bool:
    name = name.lower()
    return name in SECRET_HEADERS or (name.startswith("x-") and name.endswith(_SECRET_SUFFIXES))


def scrub_text(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return TOKEN.sub(REDACTED, text)


def _scrub_headers(headers: Iterable[tuple[str, str]], secrets: tuple[str, ...]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in headers:
        if name.lower() in _DROPPED_HEADERS:
            continue
        out.setdefault(name, []).append("<redacted>" if is_secret_header(name) else scrub_text(value, secrets))
    return out


def _text(body: bytes | None, secrets: tuple[str, ...]) -> str | None:
    if body is None:
        return None
    return scrub_text(body.decode("utf-8", "replace"), secrets)


def interaction(request: Request, observed: Observed, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """One vcrpy interaction, with every secret scrubbed."""
    return {
        "request": {
            "body": _text(request.body, secrets),
            "headers": _scrub_headers(request.headers, secrets),
            "method": request.method,
            "uri": scrub_text(request.url, secrets),
        },
        "response": {
            "status": {"code": observed.status, "message": observed.reason},
            "headers": _scrub_headers(observed.headers, secrets),
            "body": {"string": _text(observed.body, secrets) or ""},
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


def write_cassette(path: Path, interactions: list[dict[str, Any]], *, rewrite: bool, run_id: str) -> None:
    """Append to (``record``) or replace (``rewrite``) a cassette, atomically and under a lock.

    A rewrite replaces what an earlier run wrote; what this run (``run_id``) already wrote —
    another test, another xdist worker — is kept and appended to.
    """
    import yaml
    from vcr.serializers import yamlserializer

    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.parent):
        existing: list[Any] = []
        if path.exists():
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=yamlserializer._CassetteLoader)
            same_run = ((data or {}).get("metadata") or {}).get("hfrouter", {}).get("run_id") == run_id
            if not rewrite or same_run:
                existing = list((data or {}).get("interactions") or [])
        document = {
            "version": 1,
            "interactions": existing + interactions,
            "metadata": {
                "hfrouter": {
                    "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "recorded_with": versions(),
                    "run_id": run_id,
                }
            },
        }
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(yamlserializer.serialize(document))
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
