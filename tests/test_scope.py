"""Installed is not active: the scope the plugin acts in, and non-router hosts.

Auto-loaded (no ``-p hfrouter``), the plugin acts only in tests that use its markers or
fixtures; unmarked tests make their requests as without the plugin. The proofs run the same
suite with the plugin auto-loaded and with ``-p no:hfrouter`` and compare every outcome; the
same suite under ``-p hfrouter`` (scope all) is the control that shows the comparison can fail.
"""

from __future__ import annotations

import pytest
from conftest import LOOPBACK

from pytest_hfrouter.scope import ALL, MARKED, ScopeError, decide, loaded_on_purpose, opted_in

# -- the decision (unit) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plugins", "env", "expected"),
    [
        ([], "", MARKED),
        (["xdist.looponfail"], "", MARKED),
        (["hfrouter"], "", ALL),
        (["no:cacheprovider", "pytest_hfrouter.plugin"], "", ALL),
        ([], "other, pytest_hfrouter.plugin", ALL),
        (["no:hfrouter"], "", MARKED),
    ],
)
def test_the_scope_follows_how_the_plugin_was_loaded(plugins: list[str], env: str, expected: str) -> None:
    assert decide("", plugins, env).name == expected


def test_the_ini_wins_over_how_it_was_loaded() -> None:
    assert decide("marked", ["hfrouter"]).name == MARKED
    assert decide(" all ", []).name == ALL
    assert decide("all", []).because == "ini hfrouter_scope"


def test_a_bad_ini_value_names_the_key_and_the_valid_values() -> None:
    with pytest.raises(ScopeError, match=r"hfrouter_scope = 'every' is not valid\. Valid values: all, marked"):
        decide("every", [])


def test_how_it_was_loaded_is_said() -> None:
    assert loaded_on_purpose(["hfrouter"]) == "-p hfrouter"
    assert loaded_on_purpose([], "pytest_hfrouter.plugin") == "PYTEST_PLUGINS=pytest_hfrouter.plugin"
    assert loaded_on_purpose(["hfrouter_other"]) is None


def test_markers_and_fixtures_opt_a_test_in() -> None:
    markers = ("hfrouter_outage", "hfrouter_cassette")
    assert opted_in(["hfrouter_outage"], [], markers)
    assert opted_in(["parametrize"], ["request", "hfrouter_server"], markers)
    assert not opted_in(["parametrize", "hfrouter_mine"], ["request", "tmp_path"], markers)


# -- how pytest says it: the header, the ini error ----------------------------------------------
SCOPE_HEADER = "hfrouter: mode=replay scope={}"


def test_auto_loaded_the_header_says_marked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")

    result = pytester.runpytest()

    result.stdout.fnmatch_lines(
        [
            "hfrouter: mode=replay scope=marked (auto-loaded: acts only in tests that use its markers or fixtures; "
            "-p hfrouter or ini hfrouter_scope = all for every test)"
        ]
    )


@pytest.mark.parametrize("where", ["command line", "addopts", "PYTEST_ADDOPTS", "ini hfrouter_scope"])
def test_asked_for_on_purpose_the_header_says_all(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    args: list[str] = []
    if where == "command line":
        args = ["-p", "hfrouter"]
    elif where == "addopts":
        pytester.makeini("[pytest]\naddopts = -p hfrouter\n")
    elif where == "PYTEST_ADDOPTS":
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p hfrouter")
    else:
        pytester.makeini("[pytest]\nhfrouter_scope = all\n")

    result = pytester.runpytest(*args)

    because = "ini hfrouter_scope" if where == "ini hfrouter_scope" else "loaded with -p hfrouter"
    result.stdout.fnmatch_lines([f"hfrouter: mode=replay scope=all ({because})"])


@pytest.mark.parametrize(
    ("conftest", "autoload"),
    [
        ('pytest_plugins = ["hfrouter"]\n', True),
        ('pytest_plugins = "pytest_hfrouter.plugin"\n', False),
        ("", False),  # pytest.main(plugins=[the module])
    ],
)
def test_loaded_by_a_conftest_or_pytest_main_the_header_says_all(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, conftest: str, autoload: bool
) -> None:
    """Asked for by name in code, not only installed (an audit: "auto-loaded", and an unmarked test's calls
    went out)."""
    import pytest_hfrouter.plugin

    pytester.makeconftest(conftest)
    pytester.makepyfile("def test_nothing():\n    pass\n")
    if not autoload:
        monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    plugins = [] if conftest else [pytest_hfrouter.plugin]

    result = pytester.runpytest_inprocess(plugins=plugins)

    result.stdout.fnmatch_lines(["hfrouter: mode=replay scope=all (loaded with pytest_plugins *)"])


def test_ini_marked_wins_over_p_hfrouter(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhfrouter_scope = marked\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")

    result = pytester.runpytest("-p", "hfrouter")

    result.stdout.fnmatch_lines(["hfrouter: mode=replay scope=marked (ini hfrouter_scope)"])


def test_a_bad_scope_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhfrouter_scope = everything\n")
    pytester.makepyfile("def test_nothing():\n    pass\n")

    result = pytester.runpytest()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: hfrouter_scope = 'everything' is not valid. Valid values: all, marked (or leave it unset: *"]
    )


# -- what acting means: answering, blocking, clearing caches -----------------------------------------
SERVER = """
import pytest
from loopback import serving

@pytest.fixture(scope="session")
def server():
    with serving() as url:
        yield url
"""

ACTING = """
import urllib.error
import urllib.request

import httpx
import pytest

def get(url):
    with httpx.Client(trust_env=False) as client:
        return client.get(url).text

def test_marked_first(hfrouter, server):
    # loopback blocked by the ini: the plugin acts here
    with pytest.raises(Exception, match="loopback traffic is blocked"):
        get(server)
    hfrouter._exchange.misses.clear()  # the miss was the point; let the test pass

def test_unmarked_after(server):
    assert get(server) == "hello from loopback"

@pytest.mark.hfrouter_outage("provider-500")
def test_marker_opts_in(server):
    with pytest.raises(Exception, match="loopback traffic is blocked"):
        get(server)

@pytest.mark.hfrouter_outage("provider-500")
def test_the_guard_acts_in_it_too(server):
    with pytest.raises(urllib.error.URLError, match="blocked a connection"):
        urllib.request.urlopen(server)

def test_unmarked_last(server):
    assert get(server) == "hello from loopback"
    assert urllib.request.urlopen(server).read() == b"hello from loopback"  # the guard is off again
"""


def test_only_tests_that_ask_are_acted_in(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhfrouter_allow_loopback = false\n")
    pytester.makeconftest(SERVER)
    pytester.makepyfile(loopback=LOOPBACK)
    pytester.makepyfile(test_acting=ACTING)

    result = pytester.runpytest("-p", "no:randomly", "-rA")

    # the marked tests fail on their misses (the plugin acted: face and guard); the unmarked ones
    # passed untouched
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(["FAILED test_acting.py::test_marker_opts_in - Failed: pytest-hfrouter: no answ*"])
    result.stdout.fnmatch_lines(["*blocked a connection to 127.0.0.1:*"])
    for name in ("test_marked_first", "test_unmarked_after", "test_unmarked_last"):
        result.stdout.fnmatch_lines([f"PASSED test_acting.py::{name}"])

    # scope all (-p hfrouter): every test is acted in, so the unmarked ones meet the block too
    control = pytester.runpytest("-p", "hfrouter", "-p", "no:randomly")
    control.assert_outcomes(passed=1, failed=4)
    # ini hfrouter_scope = marked beats -p hfrouter
    pytester.makeini("[pytest]\nhfrouter_allow_loopback = false\nhfrouter_scope = marked\n")
    forced = pytester.runpytest("-p", "hfrouter", "-p", "no:randomly")
    forced.assert_outcomes(passed=3, failed=2)


SERVED = """
import http.server
import threading
import urllib.request

import pytest
from hfapp import chat


class App(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"up"
        if self.path == "/chat":
            try:
                chat("novita")
                body = b"answered"
            except Exception as exc:
                body = f"failed: {type(exc).__name__}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}"


AT_IMPORT = start()  # a server some suites start in a conftest


@pytest.fixture(scope="module")
def app():
    return start()


def get(url):
    return urllib.request.urlopen(url, timeout=30).read().decode()


def test_plain_first(app):  # sets the module's server up, and asks nothing of the plugin
    assert get(app + "/") == "up"


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_the_outage_reaches_the_shared_server(app):
    assert get(app + "/chat") == "failed: HfHubHTTPError"


def test_a_server_started_at_import_is_answered_at_session_level(hfrouter):
    assert get(AT_IMPORT + "/chat") == "answered"
    assert hfrouter.calls == []  # not this test's calls
"""


def test_auto_loaded_a_server_a_plain_test_set_up_serves_the_tests_that_ask(hfapp: pytest.Pytester) -> None:
    """Auto-loaded (scope "marked"), a module's server first set up by a test that asked nothing was "no
    test's" thread: in the next test, which asked for an outage, its router calls went to the real network
    and the outage never happened; a server started at import went out too (an audit of web apps)."""
    hfapp.makepyfile(test_served=SERVED)

    # a process of its own: an in-process run would see the outer run's test as the one running
    result = hfapp.runpytest_subprocess("-p", "no:randomly", "-rA")

    result.stdout.fnmatch_lines(["hfrouter: mode=replay scope=marked*"])
    result.assert_outcomes(passed=3)


CLEARS = """
import pytest

_seen = {}

@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    from huggingface_hub.inference._providers import _common

    cached = _common._fetch_inference_provider_mapping
    counter = {"n": 0}
    original = type(cached).cache_clear

    def counting():
        counter["n"] += 1
        original(cached)

    cached.cache_clear = counting
    try:
        return (yield)
    finally:
        del cached.cache_clear
        _seen[item.nodeid] = counter["n"]

def pytest_terminal_summary(terminalreporter):
    for nodeid, n in _seen.items():
        terminalreporter.write_line(f"cache clears {nodeid}: {n}")
"""


def test_unmarked_tests_keep_the_client_caches(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CLEARS)
    pytester.makepyfile(
        test_caches="""
        def test_unmarked():
            pass

        def test_with_the_fixture(hfrouter):
            pass

        def test_unmarked_again():
            pass
        """
    )

    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "cache clears test_caches.py::test_unmarked: 0",
            # before it (a fresh start) and after it (its mappings must not reach the next test)
            "cache clears test_caches.py::test_with_the_fixture: 2",
            "cache clears test_caches.py::test_unmarked_again: 0",
        ]
    )


def test_a_fixture_asked_for_at_run_time_says_how_to_opt_in(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_dynamic="""
        def test_dynamic(request):
            request.getfixturevalue("hfrouter")
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*asked for the hfrouter fixture at run time (getfixturevalue), but the plugin does not act in it "
            "(scope=marked (auto-loaded*). Name the fixture in the test's arguments*"
        ]
    )
    # a doctest has no arguments to name it in (an audit: the advice could not be followed)
    pytester.makepyfile(app='def ask():\n    """\n    >>> hfrouter = getfixture("hfrouter")\n    """\n')
    doctest = pytester.runpytest("--doctest-modules", "app.py")
    doctest.assert_outcomes(failed=1)
    doctest.stdout.fnmatch_lines(["*A doctest names no fixtures: load the plugin with -p hfrouter*"])


# -- non-router hosts in a test that opted in ---------------------------------------------------------
FOREIGN = """
import httpx
import pytest

@pytest.mark.hfrouter_outage("provider-500")
def test_pkg_version():
    httpx.get("https://api.gradio.app/pkg-version")
"""


def test_a_non_router_host_offers_allow_hosts_not_a_token(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_foreign=FOREIGN)

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-hfrouter: no answer for GET https://api.gradio.app/pkg-version",
            "  api.gradio.app is not the router; in replay nothing leaves the process unless you let it",
            "  this is gradio's analytics and version check, not the app's work: turn it off with the environment "
            "variable GRADIO_ANALYTICS_ENABLED=False (in the CI job, or in os.environ at the top of conftest.py, "
            "before the app is imported); else answer it from a cassette (offline, the same every run): "
            '@pytest.mark.hfrouter_cassette("<file>.yaml"), '
            "or let it go to the real network: ini hfrouter_allow_hosts = api.gradio.app (globs, e.g. *.gradio.app)",
        ]
    )
    assert "HF_TOKEN" not in result.stdout.str()


def test_a_hub_request_it_does_not_synthesise_says_so(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_telemetry="""
        import httpx

        def test_telemetry(hfrouter):
            httpx.head("https://huggingface.co/api/telemetry/gradio/initiated")
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  huggingface.co is a Hub request pytest-hfrouter does not synthesise; *",
            "  this is huggingface_hub's telemetry * turn it off with the environment variable "
            "HF_HUB_DISABLE_TELEMETRY=1 *; else answer it from a cassette *, or let it go to the real network: "
            "ini hfrouter_allow_hosts = huggingface.co *",
        ]
    )


@pytest.mark.parametrize("hosts", ["\n    127.0.0.*\n    *.invalid", " 127.0.0.*, *.invalid"], ids=["lines", "commas"])
def test_allowed_hosts_pass_through_in_replay(pytester: pytest.Pytester, hosts: str) -> None:
    # Globs let hosts through: the requests really leave. Loopback is blocked by the ini, so the
    # server answering proves the allow-list let it through; a .invalid name (RFC 6761: never
    # resolves) fails as it would without the plugin, instead of meeting a miss. The globs one a
    # line or on one line between commas: the same list.
    pytester.makeini(f"[pytest]\nhfrouter_allow_loopback = false\nhfrouter_allow_hosts ={hosts}\n")
    pytester.makeconftest(SERVER)
    pytester.makepyfile(loopback=LOOPBACK)
    pytester.makepyfile(
        test_allowed="""
        import httpx
        import pytest
        import requests

        def test_allowed(hfrouter, server):
            with httpx.Client(trust_env=False) as client:
                assert client.get(server).text == "hello from loopback"
            session = requests.Session()
            session.trust_env = False
            assert session.get(server).text == "hello from loopback"
            with pytest.raises(httpx.ConnectError):
                httpx.get("http://hfrouter-neighbour.invalid/", trust_env=False)
            # passed through: logged (the test sees what went to the network), their status not read
            assert [(c.route, c.answered_by, c.status) for c in hfrouter.calls] == [("other", "passthrough", None)] * 3

        def test_not_allowed(hfrouter):
            httpx.get("http://other.example/")
        """
    )

    # In a subprocess: in-process runs re-import httpx beside an httpcore an earlier run left behind.
    result = pytester.runpytest_subprocess("-p", "hfrouter", "-rA")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*other.example is not the router*"])
    result.stdout.fnmatch_lines(["PASSED test_allowed.py::test_allowed"])


def test_workers_follow_the_controllers_scope(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhfrouter_allow_loopback = false\n")
    pytester.makeconftest(SERVER)
    pytester.makepyfile(loopback=LOOPBACK)
    pytester.makepyfile(test_acting=ACTING)

    autoloaded = pytester.runpytest_subprocess("-n", "2", "-p", "no:randomly")
    everywhere = pytester.runpytest_subprocess("-n", "2", "-p", "hfrouter", "-p", "no:randomly")

    autoloaded.assert_outcomes(passed=3, failed=2)  # as without xdist: the unmarked tests untouched
    everywhere.assert_outcomes(passed=1, failed=4)


SHARED_FIXTURE_SETUP = """
import pytest
from huggingface_hub.errors import HfHubHTTPError
from hfapp import chat

@pytest.fixture(scope="module")
def warmed():
    chat("novita")  # a start-up check, made once for the module's tests
    return "ready"

@pytest.fixture
def per_test():
    try:
        chat("novita")  # made for each test: the test's own setup
    except HfHubHTTPError:
        return "failed"
    return "answered"

@pytest.mark.hfrouter_outage("provider-500", provider="novita", times=1)
def test_outage(warmed, hfrouter):
    with pytest.raises(HfHubHTTPError):
        chat("novita")
    assert [c.status for c in hfrouter.inference_calls][-1:] == [500]  # after the fixture's, when set up here

def test_healthy(warmed, hfrouter):
    assert chat("novita").choices

@pytest.mark.hfrouter_outage("provider-500", provider="novita", times=1)
def test_function_fixture_meets_it(per_test, hfrouter):
    assert per_test == "failed"
    assert chat("novita").choices
    assert [c.status for c in hfrouter.inference_calls] == [500, 200]
"""


@pytest.mark.parametrize("order", ["outage first", "healthy first"])
def test_a_fixture_of_wider_scope_is_set_up_outside_the_test_that_first_uses_it(
    hfapp: pytest.Pytester, order: str
) -> None:
    """An audit: a module's client fixture made a start-up call in the setup of whichever test used it
    first; that test's outage answered it, the fixture failed, and pytest replayed its error for every test
    of the module (healthy first, all passed). Its set-up calls now meet none of the test's outages; a
    function-scoped fixture's still do."""
    hfapp.makepyfile(test_shared=SHARED_FIXTURE_SETUP)

    args = ["-p", "hfrouter", "-p", "no:randomly"]
    if order == "healthy first":
        args += [
            "test_shared.py::test_healthy",
            "test_shared.py::test_outage",
            "test_shared.py::test_function_fixture_meets_it",
        ]
    result = hfapp.runpytest(*args)

    result.assert_outcomes(passed=3)


def test_an_outage_only_a_wider_scope_fixtures_setup_could_meet_says_so(hfapp: pytest.Pytester) -> None:
    """An audit: the finding said "answered by healthy first (a closer rule ... wins)" when the only call the
    outage could answer was made by a module fixture set up for the test."""
    hfapp.makepyfile(
        test_only_setup="""
        import pytest
        from hfapp import chat

        @pytest.fixture(scope="module")
        def warmed():
            return chat("novita").choices[0].message.content

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_outage(warmed):
            assert warmed
        """
    )
    result = hfapp.runpytest("-p", "hfrouter", "-p", "no:randomly")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the 1 call(s) it could answer were made while a fixture of wider scope than the*"])
    result.stdout.no_fnmatch_line("*a closer rule*")
