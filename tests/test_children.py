"""Router and Hub requests from the processes a test starts: refused in replay, and the test fails for
them (an audit: a ``spawn`` or ``forkserver`` pool's calls and a ``subprocess``'s went to the real
router; a ``fork`` pool made in one test answered later tests with that test's outages)."""

from __future__ import annotations

import os
import sys

import pytest

POOL_SUITE = """
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import pytest
from hfapp import chat


def ask(provider):
    try:
        chat(provider)
        return "answered"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_in_a_child():
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("{method}")) as pool:
        said = pool.submit(ask, "novita").result(timeout=120)
    print("CHILD SAID", said)
"""


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_a_childs_router_call_is_refused_and_fails_the_test(hfapp: pytest.Pytester, method: str) -> None:
    if method not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip(f"no {method} here")
    hfapp.makepyfile(test_pool=POOL_SUITE.replace("{method}", method))
    result = hfapp.runpytest_subprocess("-p", "hfrouter", "-s")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    forked = method == "fork"
    # the child met the refusal (its look-up of the Hub: the first request InferenceClient makes) ...
    said = "refused in a process forked from the test's" if forked else "refused in a process the test started"
    assert f"pytest-hfrouter: huggingface.co {said}" in output
    # ... and the test's own failure names it, with the fix
    result.stdout.fnmatch_lines(
        [
            "pytest-hfrouter: refused in a child process: GET huggingface.co",
            "  the process * the test started asked for huggingface.co, and was refused: in replay a process the "
            "test starts is not replayed, *point that process at the router double*",
        ]
    )


SUBPROCESS_SUITE = """
import subprocess
import sys

import pytest


@pytest.mark.hfrouter_outage("provider-500", provider="novita", optional=True)
def test_a_script(hfrouter):
    done = subprocess.run([sys.executable, "script.py"], capture_output=True, text=True, timeout=120)
    print("SCRIPT SAID", done.stdout.strip(), done.stderr.strip().splitlines()[-1:])


def test_a_script_on_the_double(hfrouter_server):
    env = {**__import__("os").environ, **hfrouter_server.env()}
    done = subprocess.run([sys.executable, "script.py"], capture_output=True, text=True, timeout=120, env=env)
    assert done.stdout.strip() == "200", done.stderr
"""

SCRIPT = """
import os
import urllib.request

base = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
try:
    with urllib.request.urlopen(base + "/api/models/Qwen/Qwen2.5-72B-Instruct?expand=inferenceProviderMapping") as r:
        print(r.status)
except Exception as exc:
    print(type(exc).__name__)
"""


def test_a_subprocess_is_refused_and_the_double_still_answers_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sub=SUBPROCESS_SUITE, script=SCRIPT)
    result = pytester.runpytest_subprocess("-p", "hfrouter", "-s")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*SCRIPT SAID URLError *",
            "pytest-hfrouter: refused in a child process: GET huggingface.co",
        ]
    )


CHILD_ENVIRONMENT = """
import os

import pytest


def test_unmarked():
    assert "PYTEST_HFROUTER_CHILD" not in os.environ
    assert "_child_site" not in os.environ.get("PYTHONPATH", "")


@pytest.mark.hfrouter_outage("provider-500", provider="novita", optional=True)
def test_marked():
    assert "_child_site" in os.environ["PYTHONPATH"].split(os.pathsep)[0]
    assert os.environ["PYTEST_HFROUTER_CHILD"].startswith("api-inference.huggingface.co,huggingface.co,")


def test_unmarked_after():
    assert "PYTEST_HFROUTER_CHILD" not in os.environ
"""


def test_scope_marked_hands_the_refusal_down_in_its_tests_only(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Auto-loaded (scope "marked"): a test that did not ask keeps its environment as without the plugin."""
    monkeypatch.delenv("PYTEST_HFROUTER_CHILD", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in sys.path if "_child_site" not in p))
    pytester.makepyfile(test_env=CHILD_ENVIRONMENT)
    result = pytester.runpytest_subprocess("-p", "no:randomly")  # plugin auto-loaded: scope "marked"
    result.assert_outcomes(passed=3)


def test_the_child_site_loads_the_next_sitecustomize(pytester: pytest.Pytester) -> None:
    """A project's (or a virtualenv's) own ``sitecustomize`` still runs in the child, after ours."""
    import subprocess

    from pytest_hfrouter import _children

    (pytester.path / "theirs").mkdir()
    (pytester.path / "theirs" / "sitecustomize.py").write_text("import os\nos.environ['THEIRS'] = 'ran'\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([_children.SITE, str(pytester.path / "theirs")]),
        _children.ENV: "huggingface.co;",
    }
    code = (
        "import os, socket\n"
        "print(os.environ.get('THEIRS'))\n"
        "try:\n    socket.getaddrinfo('huggingface.co', 443)\n"
        "except socket.gaierror as e:\n    print('refused', 'pytest-hfrouter' in str(e))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.split("\n")[:2] == ["ran", "refused True"], done.stderr


def test_huggingface_hubs_agent_registry_fetch_in_a_child_is_refused_without_failing_the_test(
    pytester: pytest.Pytester,
) -> None:
    """huggingface_hub (1.33, 2.x) fetches its agent-harness registry from the Hub on a process's first request,
    wherever that request goes: a child pointed at a local server with ``base_url`` failed its test for it (an
    audit)."""
    import subprocess

    from pytest_hfrouter import _children

    pytest.importorskip("huggingface_hub.utils._detect_agent")
    log = pytester.path / "refused.log"
    env = {
        **os.environ,
        "PYTHONPATH": _children.SITE,
        _children.ENV: f"huggingface.co;{log}",
        "HF_HOME": str(pytester.path / "hf-home"),  # no cached registry: the client fetches it
    }
    env.pop("HF_HUB_OFFLINE", None)
    code = (
        "import socket\n"
        "from huggingface_hub.utils._detect_agent import detect_agent\n"
        "print(detect_agent())\n"
        "try:\n    socket.getaddrinfo('huggingface.co', 443)\n"
        "except socket.gaierror as e:\n    print('refused')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)

    assert done.stdout.split() == ["None", "refused"], done.stderr
    # the app's own look-up is said and logged; the registry's is neither
    assert done.stderr.count("pytest-hfrouter: huggingface.co refused") == 1, done.stderr
    assert len(log.read_text().splitlines()) == 1
    assert not (pytester.path / "hf-home" / ".agent_harnesses.json").exists()
