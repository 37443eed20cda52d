"""The in-process face of the engine: the transports of httpx, httpx2 and requests.

Installed once per session at the lowest layer every client shares — huggingface_hub 2.x
(httpx2), 1.x (httpx) and 0.x (requests), the openai SDK, plain httpx/requests calls — so
no test patches anything and the per-request cost is a dictionary look-up. A client's own
``MockTransport`` is not an ``HTTPTransport`` and is left alone.
"""

from __future__ import annotations

import importlib
import io
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .engine import Answer, Engine, Request
from .errors import UnansweredRequest

# A stack, so that a pytest run inside a pytest run (pytester) answers with its own engine
# and hands the transports back to the outer one when it ends.
_engines: list[Engine] = []
_originals: list[tuple[Any, str, Any]] = []


def install(engine: Engine) -> None:
    """Route every HTTP request of the process through ``engine`` until `uninstall`."""
    _engines.append(engine)
    if _originals:
        return
    for name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        _patch_httpx(module)
    try:
        adapters = importlib.import_module("requests.adapters")
    except ImportError:
        pass
    else:
        _patch_requests(adapters)


def uninstall(engine: Engine) -> None:
    if engine in _engines:
        _engines.remove(engine)
    if _engines:
        return
    for owner, attribute, original in reversed(_originals):
        setattr(owner, attribute, original)
    _originals.clear()


def _replace(owner: Any, attribute: str, wrapper: Callable[..., Any]) -> Any:
    original = getattr(owner, attribute)
    _originals.append((owner, attribute, original))
    setattr(owner, attribute, wrapper)
    return original


def _ask(method: str, url: str, headers: tuple[tuple[str, str], ...], body: bytes | None) -> Answer:
    if not _engines:  # uninstalled while a client still held a patched method
        raise UnansweredRequest(f"pytest-hfrouter is not active: {method} {url}")
    answer = _engines[-1].answer(Request(method, url, headers, body))
    if answer.fault and answer.fault.get("type") == "unanswered":
        raise UnansweredRequest(
            f"pytest-hfrouter: no answer for {method} {url}: {answer.fault['reason']} (the test will fail)"
        )
    return answer


def _prepared_headers(answer: Answer) -> list[tuple[str, str]]:
    headers = list(answer.headers)
    if not answer.is_stream:
        headers.append(("Content-Length", str(len(answer.body))))
    return headers


# -- httpx and httpx2 (the same API under two module names) ------------------------------
def _patch_httpx(module: Any) -> None:
    class ReplayStream(module.SyncByteStream):  # type: ignore[misc]
        def __init__(self, answer: Answer) -> None:
            self.answer = answer

        def __iter__(self) -> Iterator[bytes]:
            yield from self.answer.chunks()

    class AsyncReplayStream(module.AsyncByteStream):  # type: ignore[misc]
        def __init__(self, answer: Answer) -> None:
            self.answer = answer

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for chunk in self.answer.chunks():
                yield chunk

    def respond(request: Any, answer: Answer, stream: Any) -> Any:
        return module.Response(
            answer.status,
            headers=_prepared_headers(answer),
            stream=stream,
            request=request,
            extensions={
                "reason_phrase": answer.reason.encode("ascii", "replace"),
                "http_version": b"HTTP/1.1",
            },
        )

    def handle_request(self: Any, request: Any) -> Any:
        answer = _ask(request.method, str(request.url), tuple(request.headers.multi_items()), request.read())
        if answer.passthrough:
            return sync_original(self, request)
        return respond(request, answer, ReplayStream(answer))

    async def handle_async_request(self: Any, request: Any) -> Any:
        body = await request.aread()
        answer = _ask(request.method, str(request.url), tuple(request.headers.multi_items()), body)
        if answer.passthrough:
            return await async_original(self, request)
        return respond(request, answer, AsyncReplayStream(answer))

    sync_original = _replace(module.HTTPTransport, "handle_request", handle_request)
    async_original = _replace(module.AsyncHTTPTransport, "handle_async_request", handle_async_request)


# -- requests (huggingface_hub 0.x) ------------------------------------------------------
class _ChunkReader(io.RawIOBase):
    """A file object that hands urllib3 the answer's chunks."""

    def __init__(self, answer: Answer) -> None:
        self._chunks = answer.chunks()
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer and self._chunks:
            self._buffer = self._chunks.pop(0)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _patch_requests(adapters: Any) -> None:
    from urllib3 import HTTPResponse
    from urllib3._collections import HTTPHeaderDict

    def send(self: Any, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> Any:  # fmt: skip
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        if body is not None and not isinstance(body, bytes):  # a file-like or generator body
            body = b"".join(body) if not hasattr(body, "read") else body.read()
        answer = _ask(request.method, request.url, tuple(request.headers.items()), body)
        if answer.passthrough:
            return original(
                self, request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )
        raw = HTTPResponse(
            body=io.BufferedReader(_ChunkReader(answer)),
            headers=HTTPHeaderDict(_prepared_headers(answer)),
            status=answer.status,
            reason=answer.reason,
            preload_content=False,
            decode_content=True,
            request_method=request.method,
            request_url=request.url,
        )
        return self.build_response(request, raw)

    original = _replace(adapters.HTTPAdapter, "send", send)


# huggingface_hub caches provider mappings and task checks per process (lru_cache); one
# test's scenario must never leak into the next (ROUTER-FACTS §1.3). Modules not yet imported
# hold nothing to clear, so nothing is imported here.
_CLIENT_CACHES = (
    ("huggingface_hub.inference._providers._common", "_fetch_inference_provider_mapping"),
    ("huggingface_hub.inference._providers.hf_inference", "_check_supported_task"),
    ("huggingface_hub.inference._providers.hf_inference", "_fetch_recommended_models"),
)


def reset_client_caches() -> None:
    for module_name, function_name in _CLIENT_CACHES:
        module = sys.modules.get(module_name)
        cached = getattr(module, function_name, None) if module is not None else None
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
