"""Cassette hygiene: how old a recording is, what no test uses, what a test never requested."""

from __future__ import annotations

import datetime
import email.utils
from collections.abc import Iterable
from pathlib import Path

from .cassette_paths import cassettes_under
from .cassettes import Cassette


def recorded_at(cassette: Cassette) -> datetime.datetime | None:
    """When a cassette was recorded: its ``metadata.hfrouter.recorded_at``, else its newest ``Date``."""
    stamp = cassette.hfrouter.get("recorded_at")
    parsed = None
    if isinstance(stamp, datetime.datetime):  # unquoted in YAML, the stamp is read as a timestamp
        parsed = stamp
    elif isinstance(stamp, datetime.date):
        parsed = datetime.datetime.combine(stamp, datetime.time())
    elif isinstance(stamp, str):
        try:  # Python 3.10's fromisoformat takes no "Z"
            parsed = datetime.datetime.fromisoformat(stamp.strip().removesuffix("Z"))
        except ValueError:
            parsed = None
    if parsed is not None:
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)
    dates = []
    for interaction in cassette.interactions:
        value = interaction.response.header("date")
        if value:
            try:
                parsed = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            # "-0000" (what email.utils.formatdate writes) reads as a naive time: UTC (an audit: a crash)
            dates.append(parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc))
    return max(dates, default=None)


#: how far ahead of this machine's clock a recording may be dated (another machine's clock) before it is undated
_SKEW = 86400


def expired(cassette: Cassette, max_age: float, now: datetime.datetime) -> float | str | None:
    """The cassette's age in days when it is older than ``max_age`` seconds, else None; why its age cannot be
    told (no readable ``recorded_at`` nor ``Date``, or a date in the future), which ``hfrouter_max_age`` cannot
    pass in silence (an audit: such a cassette was never judged, under ``hfrouter_on_expiry = fail`` too)."""
    when = recorded_at(cassette)
    if when is None:
        stamp = cassette.hfrouter.get("recorded_at")
        if stamp is not None:
            return (
                f"its metadata.hfrouter.recorded_at {str(stamp)!r} is no ISO 8601 time, and no answer has a readable "
                "Date"
            )
        return "it has no metadata.hfrouter.recorded_at, and no answer has a readable Date"
    age = (now - when).total_seconds()
    if age < -_SKEW:
        return f"it is dated {when.isoformat()}, in the future (a clock that was wrong where it was recorded)"
    return age / 86400 if age > max_age else None


def orphans(roots: Iterable[Path], used: Iterable[Path], not_cassettes: Iterable[Path] = ()) -> list[Path]:
    """Cassettes under ``roots`` that no test uses (``not_cassettes``: folders of other files, such as
    the harvest's candidates and the user's scenarios, which no test names)."""
    used_set = {path.resolve() for path in used}
    skipped = [folder.resolve() for folder in not_cassettes]
    found = []
    for root in sorted(set(roots)):
        if root.is_dir():
            for path in cassettes_under(root):
                resolved = path.resolve()
                if path.is_file() and resolved not in used_set and not any(resolved.is_relative_to(s) for s in skipped):
                    found.append(path)
    return found


def unplayed(
    cassette: Cassette, requested: dict[tuple[str, ...], int], most: int | None = None
) -> tuple[list[str], int]:
    """Interactions of ``cassette`` beyond what the test requested of each request key, in order: the first
    ``most`` of them as lines (all without it), and how many there are. huggingface_hub's agent-harness registry
    fetch is never played from a cassette (the plugin answers it), so a recording of it is none of them (an
    audit: "never requested", though the client requested it)."""
    interactions = cassette.interactions
    left = sorted(
        position
        for key, positions in cassette.index.items()
        for position in positions[requested.get(key, 0) :]
        if interactions[position].route.kind != "harness"
    )
    shown = left if most is None else left[:most]
    lines = [f"interactions[{n}] {cassette.interactions[n].method} {cassette.interactions[n].uri}" for n in shown]
    return lines, len(left)
