"""Apps on the libraries people use over the router, tested under the plugin (issue 10 §5)."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

# litellm fetches its model price map from GitHub when imported unless told to use the copy it
# ships: the setting every offline litellm test suite needs (the plugin fails the test otherwise).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# One logging thread: work queued on it runs in order, so a test can wait for its own (below).
os.environ.setdefault("LOGGING_EXECUTOR_MAX_THREADS", "1")


def _loopback(host: Any) -> bool:
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_name_resolution(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A request the plugin did not intercept fails here, loudly, before any DNS query leaves."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host):
            raise OSError(f"tests/thirdparty: {host} was about to be resolved: a request escaped the plugin")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
