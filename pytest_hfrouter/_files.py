"""Files the run writes whole (cassettes, candidate scenarios, the report, the HTML page, the library's
cache): one writer."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_atomically(path: Path, text: str | bytes) -> None:
    """``text`` (or bytes) into ``path`` through a temporary file beside it and a rename: a reader sees the old file
    or the new, never half of one, and two writers never share a temporary file. The file keeps the mode
    it had, else a new file's under the umask (``mkstemp`` makes its files 0600: a cassette another user
    or a CI container reads must stay readable). An error names ``path``, not the temporary file (an
    audit: ``-o <a folder>`` said ``.folder.tmp``), and leaves nothing behind.

    A path that is not a regular file — a pipe, ``/dev/stdout``, a device — is written to as it is, and
    a symbolic link's target is replaced, not the link (an audit: each was replaced by a regular file,
    ``/dev/full`` too, and the data never reached the reader)."""
    try:
        found: os.stat_result | None = os.stat(path)  # through links
    except OSError:
        found = None
    if found is not None and not stat.S_ISREG(found.st_mode) and not stat.S_ISDIR(found.st_mode):
        _write(os.open(path, os.O_WRONLY | os.O_TRUNC), text)
        return
    if os.path.islink(path):
        path = Path(os.path.realpath(path))
    mode = found.st_mode & 0o777 if found is not None else 0o666 & ~_umask()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    try:
        _write(handle, text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException as exc:  # a full disk, a folder where the file should go: nothing left behind
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def _write(handle: int, text: str | bytes) -> None:
    with os.fdopen(handle, "wb") as out:
        # surrogateescape: a path the file system's encoding could not decode (a C locale) goes out as its bytes
        out.write(text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text)


def _umask() -> int:
    current = os.umask(0o022)  # the only way to read it is to set it: set back at once
    os.umask(current)
    return current
