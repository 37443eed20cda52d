"""Files the run writes whole (the report, the HTML page): one way to write them."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """``text`` to ``path`` through a temporary file beside it: a reader sees the old file or the new.
    An error names ``path``, not the temporary file (an audit: ``-o <a folder>`` said ``.folder.tmp``).

    A path that is not a regular file — a pipe, ``/dev/stdout``, a device — is written to as it is, and
    a symbolic link's target is replaced, not the link (an audit: each was replaced by a regular file,
    ``/dev/full`` too, and the data never reached the reader)."""
    try:
        found = os.stat(path)  # through links
    except OSError:
        found = None
    if found is not None and not stat.S_ISREG(found.st_mode) and not stat.S_ISDIR(found.st_mode):
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        return
    if os.path.islink(path):
        path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:  # a full disk, a folder where the file should go: nothing left behind
        temporary.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
