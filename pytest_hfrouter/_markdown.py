"""Untrusted text in the Markdown outputs (the summary, ``$GITHUB_STEP_SUMMARY``): a provider's error text,
a test id, a user's scenario name. GitHub renders Markdown and some HTML there, so each is written as text:
an audit's error body put images and links into a job summary, and a test id with a backtick closed its code
span."""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_\[\]()!#|~])")


def text(value: object, limit: int | None = None) -> str:
    """``value`` as plain text on one line: HTML's characters as entities, Markdown's escaped (cut to
    ``limit`` characters first, so an entity is never cut in half)."""
    from . import scrub

    said = " ".join(scrub.text(str(value)).split())  # scrubbed first: once escaped, a secret's name is not one
    if limit is not None:
        said = said[:limit]
    said = said.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", said)


def code(value: object, in_table: bool = False) -> str:
    """``value`` in a code span that no backtick of its own can close (a fence one longer than its longest
    run); in a table, its ``|`` escaped, as GitHub's tables split on it even in code."""
    said = " ".join(str(value).split())
    longest = max((len(run) for run in re.findall(r"`+", said)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {said} " if said.startswith("`") or said.endswith("`") else said
    if in_table:
        padded = padded.replace("|", "\\|")
    return f"{fence}{padded}{fence}"
