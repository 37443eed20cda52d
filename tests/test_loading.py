"""Loading the plugin: ``-p hfrouter``, ``-p no:hfrouter``, its help, imports and the wheel."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

USES_FIXTURE = """
def test_uses_the_fixture(hfrouter):
    from hfapp import chat

    chat()
    hfrouter.assert_tried("novita")
    hfrouter.assert_answered_by("novita")
"""


def test_p_hfrouter_loads_it_with_autoload_disabled(hfapp: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    hfapp.makepyfile(USES_FIXTURE)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")

    result = hfapp.runpytest_subprocess("-p", "hfrouter")
    result.assert_outcomes(passed=1)

    # Control: with autoload off and no -p, nothing provides the fixture.
    result = hfapp.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'hfrouter' not found*"])


def test_p_no_hfrouter_turns_it_off(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(USES_FIXTURE)

    result = hfapp.runpytest("-p", "no:hfrouter")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'hfrouter' not found*"])


def test_markers_are_listed_with_their_signatures(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "hfrouter", "--markers")

    assert result.ret == 0
    result.stdout.fnmatch_lines_random(
        [
            "@pytest.mark.hfrouter_outage(scenario, [*], provider=None, model=None, times=None*): *",
            "@pytest.mark.hfrouter_cassette([*]paths): *",
            "@pytest.mark.hfrouter_each_outage([*]scenarios, provider, model=None, retry_after=*): *",
            "@pytest.mark.hfrouter_live: *",
        ]
    )


def test_help_shows_the_option_group_and_ini_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-p", "hfrouter", "--help")

    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "pytest-hfrouter: upstream-outage tests for the Hugging Face router:",
            "  --hfrouter-cassette-dir=DIR*",
        ]
    )
    result.stdout.fnmatch_lines_random(
        [
            "  hfrouter_cassette_dir (string):*",
            "  hfrouter_strict (bool):*",
            "  hfrouter_allow_loopback (bool):*",
        ]
    )


def test_importing_the_plugin_imports_no_http_or_client_library(pytester: pytest.Pytester) -> None:
    code = (
        "import sys, pytest_hfrouter.plugin\n"
        "heavy = ('vcr', 'huggingface_hub', 'httpx', 'httpx2')\n"
        "print('loaded:', sorted(m for m in sys.modules if m.split('.')[0] in heavy) or 'none')\n"
    )

    result = pytester.run(sys.executable, "-c", code)

    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["loaded: none"])


LOADED_PROBE = """
import atexit
import sys

# after the plugin's unconfigure too: what the run imported by its end (the router's URL reader among it)
atexit.register(lambda: print("routes at exit:", "pytest_hfrouter.routes" in sys.modules))

def pytest_collection_finish(session):
    ours = sorted(m for m in sys.modules if m.startswith("pytest_hfrouter."))
    print("yaml:", "yaml" in sys.modules, "engine:", "pytest_hfrouter.engine" in sys.modules,
          "running:", "pytest_hfrouter._running" in sys.modules, "coverage:", "pytest_hfrouter.coverage" in sys.modules)
    print("faces:", [m for m in ours if m.startswith("pytest_hfrouter.faces.") and m.endswith("_face")])
"""


def test_a_suite_without_an_http_client_builds_no_engine_and_reads_no_yaml(pytester: pytest.Pytester) -> None:
    """Loading the plugin (an IDE's ``--collect-only``, a suite of pure tests) pays for the guard
    and the import hook only: the engine, its library and PyYAML wait for a client library."""
    pytester.makeconftest(LOADED_PROBE)
    pytester.makepyfile(test_pure="def test_pure():\n    assert 1 + 1 == 2\n")

    # the HTTP mock plugins this project's tests install (tests/test_mocks.py) import httpx or requests
    # themselves when pytest loads them: off, as in a suite that does not have them
    others = ("-p", "no:pytest_httpx", "-p", "no:respx", "-p", "no:requests_mock")
    result = pytester.runpytest_subprocess("-p", "hfrouter", *others, "--collect-only", "-s")

    assert result.ret == 0, result.stdout.str()
    # pytest 8.0 evaluates a plugin's attributes, cached properties too, in its scan for fixtures
    result.stdout.fnmatch_lines(
        ["yaml: False engine: False running: False coverage: False", "faces: []", "routes at exit: False"]
    )

    # Control: importing a client library patches its face and builds the engine at once.
    pytester.makepyfile(test_client="import httpx2\n\ndef test_client():\n    assert httpx2\n")
    result = pytester.runpytest_subprocess("-p", "hfrouter", *others, "--collect-only", "-s")

    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["yaml: False engine: True *", "faces: ['pytest_hfrouter.faces.httpx_face']"])


SESSION_PROBE = """
import sys

def pytest_sessionfinish(session):
    print("loaded:", sorted(m for m in ("live", "task_library") if "pytest_hfrouter." + m in sys.modules))
"""

CHAT_AND_TASK = """
import pytest
from huggingface_hub import InferenceClient

MODEL = "Qwen/Qwen2.5-72B-Instruct"


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_chat_falls_back():
    with pytest.raises(Exception):
        InferenceClient(provider="novita", api_key="hf_fake", timeout=10).chat_completion(
            [{"role": "user", "content": "hi"}], model=MODEL
        )
    together = InferenceClient(provider="together", api_key="hf_fake", timeout=10)
    reply = together.chat_completion([{"role": "user", "content": "hi"}], model=MODEL)
    assert reply.choices[0].message.content


@pytest.mark.skipif("not config.getoption('--run-task')")
def test_image():
    image = InferenceClient(provider="fal-ai", api_key="hf_fake", timeout=10).text_to_image(
        "a cat", model="black-forest-labs/FLUX.1-dev"
    )
    assert image.size
"""


def test_a_chat_replay_loads_no_live_or_task_module(pytester: pytest.Pytester) -> None:
    """What replay of chat calls never needs stays unloaded (each module is import time in every
    process and xdist worker); the first non-chat task loads the task library."""
    pytest.importorskip("huggingface_hub")
    pytester.makeconftest(
        SESSION_PROBE + "\n\ndef pytest_addoption(parser):\n    parser.addoption('--run-task', action='store_true')\n"
    )
    pytester.makepyfile(test_app=CHAT_AND_TASK)

    result = pytester.runpytest_subprocess("-p", "hfrouter", "-s")

    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.re_match_lines([r".*loaded: \[\]$"])

    result = pytester.runpytest_subprocess("-p", "hfrouter", "-s", "--run-task")

    result.assert_outcomes(passed=2)
    result.stdout.re_match_lines([r".*loaded: \['task_library'\]$"])


def _build_wheel(pytester: pytest.Pytester, out: Path) -> Path:
    """Build the project's wheel; skip only when no build backend can be had at all."""
    args = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "-w", str(out)]
    if importlib.util.find_spec("hatchling") is not None:
        result = pytester.run(*args, "--no-build-isolation", str(ROOT))
    else:  # pip fetches the build backend (pyproject's build-system) itself
        result = pytester.run(*[a for a in args if a != "--no-index"], str(ROOT))
        if result.ret != 0:
            pytest.skip(f"cannot build the wheel here (no hatchling, no index): {result.stderr.str()[-500:]}")
    assert result.ret == 0, result.stderr.str()
    wheels = list(out.glob("pytest_hfrouter-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_installed_wheel_lists_the_shipped_library(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    wheel = _build_wheel(pytester, pytester.mkdir("dist"))
    unpacked = pytester.mkdir("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)
    code = (
        "import pytest_hfrouter.library as lib\n"
        "print('module:', lib.__file__)\n"
        "print('dir:', lib.library_dir())\n"
        "print('scenarios:', ' '.join(sorted(lib.shipped_library().scenarios)))\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(unpacked))

    result = pytester.run(sys.executable, "-c", code)

    assert result.ret == 0, result.stderr.str()
    lines = dict(line.split(": ", 1) for line in result.stdout.lines if ": " in line)
    assert Path(lines["module"]).is_relative_to(unpacked), lines  # the wheel's copy, not the source tree
    library = Path(lines["dir"])
    assert library.is_relative_to(unpacked), lines
    assert library == unpacked / "pytest_hfrouter" / "cassettes"
    names = lines["scenarios"].split()
    assert "provider-500" in names
    assert names == sorted(p.stem for p in (ROOT / "cassettes" / "scenarios").glob("*.yaml"))
