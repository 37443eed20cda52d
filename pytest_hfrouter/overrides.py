"""Scenario parameters: ``retry_after=``, ``status=``, ``body=``, ``headers=`` on an outage.

The outage a test needs is often a shipped one with one thing changed (a 429 whose
``Retry-After`` is 1 s, not 55). `Overrides` holds the change, validated once when the marker
is parsed; `Overrides.apply` changes a recorded answer (once per distinct answer: the engine
caches the result).
"""

from __future__ import annotations

import http
import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

#: the parameters, in the order test ids show them
NAMES = ("retry_after", "status", "body", "headers")
#: parameters a matrix (``hfrouter_each_outage``) may vary by giving a list of values
VARYING = ("retry_after", "status")


#: an HTTP header name (RFC 9110's token)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class OverrideError(ValueError):
    """A scenario parameter with a wrong value; the message names it."""


class Overrides(NamedTuple):
    status: int | None = None
    #: whether ``retry_after=`` was given (None then means: drop the header)
    sets_retry_after: bool = False
    retry_after: float | None = None
    body: bytes | None = None
    #: the Content-Type a JSON (dict or list) body needs
    content_type: str | None = None
    #: header name → value; None drops the header
    headers: tuple[tuple[str, str | None], ...] = ()

    def describe(self) -> str:
        """``retry_after=1, status=503`` (what a rule's description and a test id show)."""
        parts = []
        if self.sets_retry_after:
            parts.append(f"retry_after={_number(self.retry_after) if self.retry_after is not None else None}")
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.body is not None:
            shown = self.body.decode("utf-8", "replace")
            parts.append(f"body={shown[:40] + '…' if len(shown) > 40 else shown!r}")
        if self.headers:
            parts.append(f"headers={dict(self.headers)!r}")
        return ", ".join(parts)

    def apply(
        self, status: int, reason: str, headers: tuple[tuple[str, str], ...], body: bytes
    ) -> tuple[int, str, tuple[tuple[str, str], ...], bytes]:
        if self.status is not None and self.status != status:
            status = self.status
            try:
                reason = http.HTTPStatus(status).phrase
            except ValueError:
                reason = ""
        changes: dict[str, str | None] = {}
        if self.body is not None:
            body = self.body
            if self.content_type:
                changes["content-type"] = self.content_type
        if self.sets_retry_after:
            if self.retry_after is None:
                changes["retry-after"] = None
                changes["ratelimit"] = None  # its t= is the same wait (docs/ROUTER-FACTS.md §2.6)
            else:
                changes["retry-after"] = _number(self.retry_after)
                wait = self.retry_after
                headers = tuple((k, _with_t(v, wait) if k.lower() == "ratelimit" else v) for k, v in headers)
        changes.update((name.lower(), value) for name, value in self.headers)
        if not changes:
            return status, reason, headers, body
        kept = [(k, v) for k, v in headers if k.lower() not in changes]
        names = {k.lower(): k for k, _ in headers}
        added = [(names.get(k, _title(k)), v) for k, v in changes.items() if v is not None]
        return status, reason, (*kept, *added), body


def _title(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _with_t(value: str, seconds: float) -> str:
    """HF's ``ratelimit: "api";r=0;t=55`` with ``t`` set to ``seconds``."""
    parts = [f"t={_number(seconds)}" if p.strip().startswith("t=") else p for p in value.split(";")]
    return ";".join(parts)


def parse_overrides(kwargs: Mapping[str, Any], *, sends_status: bool) -> Overrides | None:
    """The scenario parameters among ``kwargs`` (None when none is given), validated.

    ``sends_status``: False for transport faults that strike before any status line
    (connect-timeout, read-timeout, connection-reset), which have no status, body or header to change.
    """
    given = [name for name in NAMES if name in kwargs]
    if not given:
        return None
    if not sends_status:
        raise OverrideError(
            f"{', '.join(f'{n}=' for n in given)} cannot apply: this scenario's fault strikes before any "
            "status line, so there is no status, body or header to change"
        )
    status = kwargs.get("status")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599):
        raise OverrideError(f"status must be an HTTP status code (an int from 100 to 599), got {status!r}")
    sets_retry_after = "retry_after" in kwargs
    retry_after = kwargs.get("retry_after")
    if retry_after is not None and (
        isinstance(retry_after, bool) or not isinstance(retry_after, (int, float)) or retry_after < 0
    ):
        raise OverrideError(
            f"retry_after must be seconds >= 0, or None to drop the Retry-After header, got {retry_after!r}"
        )
    body, content_type = None, None
    raw_body = kwargs.get("body")
    if isinstance(raw_body, str):
        body = raw_body.encode("utf-8")
    elif isinstance(raw_body, bytes):
        body = raw_body
    elif isinstance(raw_body, (dict, list)):
        try:
            body = json.dumps(raw_body).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise OverrideError(f"body: a dict or list body must be JSON-serialisable ({exc})") from None
        content_type = "application/json"
    elif raw_body is not None:
        raise OverrideError(f"body must be a str, bytes, or a dict or list (sent as JSON), got {raw_body!r}")
    raw_headers = kwargs.get("headers")
    headers: tuple[tuple[str, str | None], ...] = ()
    if raw_headers is not None:
        if not isinstance(raw_headers, Mapping) or not all(
            isinstance(k, str) and k and (v is None or isinstance(v, str)) for k, v in raw_headers.items()
        ):
            raise OverrideError(
                f"headers must be a dict of header name to str value (None drops the header), got {raw_headers!r}"
            )
        for name, value in raw_headers.items():  # what a server could send (an audit: a CR LF in a value made
            # the router double write a header of its own)
            if not _TOKEN.fullmatch(name):
                raise OverrideError(f"headers: {name!r} is no HTTP header name (letters, digits and !#$%&'*+-.^_`|~)")
            if value is not None and any(c in value for c in "\r\n\0"):
                raise OverrideError(f"headers: the value of {name!r} holds a line break or NUL: {value!r}")
        headers = tuple(raw_headers.items())
    return Overrides(
        status=status,
        sets_retry_after=sets_retry_after,
        retry_after=float(retry_after) if retry_after is not None else None,
        body=body,
        content_type=content_type,
        headers=headers,
    )
