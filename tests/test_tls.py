"""An httpx(2) transport's SSL context is made at its first handshake (faces/_tls.py), and a
handshake under the plugin verifies exactly as without it: a loopback TLS server with a
certificate of a test authority (trustme), trusted through ``SSL_CERT_FILE`` or not trusted."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import LOOPBACK

INNER = """
import asyncio
import ssl

import pytest
import trustme
from loopback import serving

import {client} as client_library


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture
def server(ca):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with serving(tls=context) as url:
        yield url


@pytest.fixture
def loads(monkeypatch):
    \"\"\"Every certificate bundle loaded into a context, from now on.\"\"\"
    calls = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self, *args, **kwargs):
        calls.append((args, kwargs))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    return calls


@pytest.fixture
def trusted(ca, monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return str(bundle)


@pytest.fixture
def default_bundle(monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def test_the_bundle_loads_at_the_first_handshake_and_verifies(server, trusted, loads):
    with client_library.Client() as client:
        assert loads == []
        assert client.get(server).text == "hello from loopback"
        assert client.get(server).text == "hello from loopback"
    assert [args[0] if args else kwargs for args, kwargs in loads] == [trusted]


def test_an_untrusted_server_is_refused(server, default_bundle, loads):
    with client_library.Client() as client:
        assert loads == []
        with pytest.raises(client_library.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(server)
    assert len(loads) == 1


def test_the_async_transport_too(server, trusted, loads):
    async def main():
        async with client_library.AsyncClient() as client:
            assert loads == []
            return (await client.get(server)).text

    assert asyncio.run(main()) == "hello from loopback"
    assert len(loads) == 1


def test_a_missing_bundle_fails_when_the_client_is_built(monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    with pytest.raises(FileNotFoundError):
        client_library.Client()


def test_the_apps_own_context_is_used_as_it_is(server, ca):
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with client_library.Client(verify=context) as client:
        assert client.get(server).text == "hello from loopback"
    untrusting = ssl.create_default_context()
    with client_library.Client(verify=untrusting) as client:
        with pytest.raises(client_library.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(server)
"""


@pytest.mark.parametrize("client", ["httpx", "httpx2"])
def test_tls_through_the_plugin(pytester: pytest.Pytester, client: str) -> None:
    if importlib.util.find_spec(client) is None:
        pytest.skip(f"{client} is not installed here")
    pytester.makepyfile(test_tls_inner=INNER.format(client=client), loopback=LOOPBACK)

    result = pytester.runpytest_subprocess("-p", "hfrouter")

    result.assert_outcomes(passed=5)
