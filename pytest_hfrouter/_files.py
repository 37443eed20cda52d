"""Files the run writes whole (the report, the HTML page): one way to write them."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """``text`` to ``path`` through a temporary file beside it: a reader sees the old file or the new.
    An error names ``path``, not the temporary file (an audit: ``-o <a folder>`` said ``.folder.tmp``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    try:
        os.replace(temporary, path)
    except OSError as exc:  # a folder where the file should go: nothing left behind
        temporary.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
