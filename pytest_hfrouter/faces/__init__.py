"""The in-process faces of the engine: one module per client library.

Each face patches the lowest layer its library sends through (a transport, an adapter, a
connector) and has the same small shape: ``patch(library, replace)`` installs it; a request
becomes the engine's `Request`; the engine's `Answer` (or fault) becomes that library's
response (or exception), streamed as the library streams. What every face shares — the
engine stack, asking, observing live answers — is in ``_core``.

A face is patched when its library is imported: at once if it already is, else by an import
hook, so a session pays nothing for a library it never imports. Adding a client library is
one face module and one line in `FACES` (in ``_patching``, beside the hook that reads it).
"""

from __future__ import annotations

from ._patching import FACES, install, uninstall

__all__ = ["FACES", "install", "uninstall"]
