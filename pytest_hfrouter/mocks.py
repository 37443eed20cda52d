"""Other HTTP mock libraries in a test: which ones, and how to let the router's hosts through them.

A test may mock HTTP with respx, pytest-httpx, responses, requests-mock or aioresponses. Those
that patch a layer above the plugin's (pytest-httpx's ``HTTPTransport.handle_request``,
responses' ``HTTPAdapter.send``, aioresponses' ``ClientSession._request``) answer the app before
the plugin sees a request; respx patches httpcore, below it, so the plugin answers first. Either
way one of the two never sees the calls the test meant for it. So: in a test that asks nothing
of the plugin (scope "all"), the plugin steps aside for the mock; in one that does, the plugin's
findings name the mock and how to let the router and the Hub through it, and the requests to
other hosts go on to the mock instead of being refused.

Known by their fixtures and by the decorators' wrappers (``@responses.activate``,
``@respx.mock``, ``@requests_mock.Mocker()``, ``@aioresponses()``); a mock started inside the
body (``with responses.RequestsMock():``) is not seen here.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

#: a library's fixture → its name, as messages say it, and the packages that define it (a fixture of
#: the user's own that happens to be called ``responses`` is no mock library's)
FIXTURES = {
    "httpx_mock": ("pytest-httpx (httpx_mock)", ("pytest_httpx",)),
    "respx_mock": ("respx (respx_mock)", ("respx",)),
    "requests_mock": ("requests-mock (requests_mock)", ("requests_mock",)),
    "responses": ("responses (its pytest fixture)", ("pytest_responses", "responses")),
    "aioresponses": ("aioresponses (its pytest fixture)", ("pytest_aioresponses", "aioresponses")),
    "mock_aioresponse": ("aioresponses (mock_aioresponse)", ("pytest_aioresponses", "aioresponses")),
}
#: the package a decorator's wrapper is written in → its name
DECORATORS = {
    "responses": "responses (@responses.activate)",
    "respx": "respx (@respx.mock)",
    "requests_mock": "requests-mock (@requests_mock.Mocker())",
    "aioresponses": "aioresponses (@aioresponses())",
}
_FIXTURE_NAMES = frozenset(FIXTURES)

#: how to let router.huggingface.co and huggingface.co through each library, by its package
PASS_ROUTER = {
    "pytest-httpx": "@pytest.mark.httpx_mock(should_mock=lambda request: request.url.host not in "
    '("router.huggingface.co", "huggingface.co"))',
    "responses": 'responses.add_passthru("https://router.huggingface.co") and the same for "https://huggingface.co"',
    "requests-mock": "requests_mock.Mocker(real_http=True) (requests it has no matcher for go on, to the plugin)",
    "aioresponses": 'aioresponses(passthrough=["https://router.huggingface.co", "https://huggingface.co"])',
    "respx": "nothing: respx patches below the plugin, which answers the router and the Hub first (mock only "
    "the other hosts with it)",
}


def mock_libraries(item: pytest.Item) -> tuple[str, ...]:
    """The mock libraries ``item`` uses, by their fixtures and its decorators (empty: none)."""
    found = [
        FIXTURES[name][0]
        for name in getattr(item, "fixturenames", ())
        if name in _FIXTURE_NAMES and _defined_by(item, name, FIXTURES[name][1])
    ]
    function: Any = getattr(item, "obj", None)
    while function is not None and hasattr(function, "__wrapped__"):  # a decorated test
        filename = getattr(getattr(function, "__code__", None), "co_filename", "")
        found += [name for folder, name in _decorator_folders().items() if filename.startswith(folder)]
        function = function.__wrapped__
    return tuple(dict.fromkeys(found))


def _decorator_folders() -> dict[str, str]:
    """The folders of the mock libraries imported now → their decorators' names. By the package's own
    folder, not a folder name: a decorator of the user's in ``myapp/responses/`` is no mock library's
    (the plugin would step aside, and the test's router calls go out unanswered)."""
    folders = {}
    for package, name in DECORATORS.items():
        module = sys.modules.get(package)
        if module is None:  # not imported: none of its decorators wraps a test
            continue
        for folder in getattr(module, "__path__", None) or [os.path.dirname(getattr(module, "__file__", "") or "")]:
            if folder:
                folders[os.path.join(folder, "")] = name
    return folders


def _defined_by(item: pytest.Item, name: str, packages: tuple[str, ...]) -> bool:
    """Whether the fixture ``name`` that ``item`` uses comes from one of ``packages`` (where pytest
    does not say, it is taken to)."""
    definitions = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).get(name)
    if not definitions:
        return True
    module = getattr(definitions[-1].func, "__module__", "") or ""
    return module.split(".", 1)[0] in packages


def let_through(mocks: tuple[str, ...]) -> str:
    """What to say to a test whose calls another mock library may have answered."""
    fixes = "; ".join(f"{lib}: {fix}" for lib, fix in PASS_ROUTER.items() if any(m.startswith(lib) for m in mocks))
    return (
        f"  This test also mocks HTTP with {', '.join(mocks)}: a mock library that patches the HTTP client answers "
        f"the app before pytest-hfrouter sees a request. Let the router and the Hub through it ({fixes}).\n"
    )
