"""Every input checked at start-up: refused before any test runs, naming the option or the ini
key exactly as the user wrote it, with the fix. One table row per input."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

#: a fake token the shape of a real one, built so no literal looks like one
TOKEN = "hf_" + "Fake" * 8 + "Tk"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...] = ()
    ini: str = ""
    env: dict[str, str] = field(default_factory=dict)
    folders: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    #: the whole ``ERROR:`` line pytest prints on stderr (fnmatch)
    expected: str = ""


LIVE = ("--live",)
USAGE = {
    # -- paths the run writes or reads -------------------------------------------------------------
    "report-is-a-folder": Case(
        ("--hfrouter-report=out",),
        folders=("out",),
        expected=(
            "ERROR: --hfrouter-report=out: is a folder; name a file in it,"
            " e.g. --hfrouter-report=out/hfrouter-report.json"
        ),
    ),
    "report-under-a-file": Case(
        ("--hfrouter-report=notes.txt/r.json",),
        files=("notes.txt",),
        expected=(
            "ERROR: --hfrouter-report=notes.txt/r.json: */notes.txt is a file, so no folder can be made there; "
            "name a file in a folder"
        ),
    ),
    "report-in-ini-is-a-folder": Case(
        ini="hfrouter_report = out",
        folders=("out",),
        expected=(
            "ERROR: hfrouter_report=out: is a folder; name a file in it, e.g. hfrouter_report=out/hfrouter-report.json"
        ),
    ),
    "summary-under-a-file": Case(
        ("--hfrouter-summary=notes.txt/deeper/s.md",),
        files=("notes.txt",),
        expected=(
            "ERROR: --hfrouter-summary=notes.txt/deeper/s.md: */notes.txt is a file, so no folder can be made there; *"
        ),
    ),
    "summary-in-ini-is-a-folder": Case(
        ini="hfrouter_summary = out",
        folders=("out",),
        expected=(
            "ERROR: hfrouter_summary=out: is a folder; name a file in it, e.g. hfrouter_summary=out/hfrouter-summary.md"
        ),
    ),
    "github-step-summary-is-a-folder": Case(
        LIVE,
        env={"GITHUB_STEP_SUMMARY": "out"},
        folders=("out",),
        expected=(
            "ERROR: GITHUB_STEP_SUMMARY=out: is a folder; name a file in it, e.g. GITHUB_STEP_SUMMARY=out/summary.md"
        ),
    ),
    "baseline-is-a-folder": Case(
        ("--hfrouter-baseline=out",),
        folders=("out",),
        expected=(
            "ERROR: --hfrouter-baseline=out: is a folder;"
            " pass the JSON file an earlier run wrote with --hfrouter-report"
        ),
    ),
    "baseline-in-a-missing-folder": Case(
        ("--hfrouter-baseline=missing/b.json",),
        expected=(
            "ERROR: --hfrouter-baseline missing/b.json: no such file. Pass a report written by --hfrouter-report *"
        ),
    ),
    "baseline-in-ini-missing": Case(
        ini="hfrouter_baseline = b.json",
        # under rootdir, as every ini path: the message says where it looked
        expected=("ERROR: hfrouter_baseline /*/b.json: no such file. Pass a report written by --hfrouter-report *"),
    ),
    "cassette-dir-is-a-file": Case(
        ("--hfrouter-cassette-dir=c.yaml",),
        files=("c.yaml",),
        expected=(
            "ERROR: --hfrouter-cassette-dir=c.yaml: is a file, not a folder; name the folder that holds the cassettes"
        ),
    ),
    "cassette-dir-in-ini-is-a-file": Case(
        ini="hfrouter_cassette_dir = c.yaml",
        files=("c.yaml",),
        expected=(
            "ERROR: hfrouter_cassette_dir=c.yaml: is a file, not a folder; name the folder that holds the cassettes"
        ),
    ),
    "cassette-dir-in-ini-is-a-typo": Case(
        ini="hfrouter_cassette_dir = tests/casettes",
        folders=("tests/cassettes",),
        expected=(
            "ERROR: hfrouter_cassette_dir=tests/casettes: no such folder, so no test would find its cassettes; did you "
            "mean tests/cassettes? (a recording run, --hfrouter-mode=record, makes the folder it names)"
        ),
    ),
    "harvest-dir-in-ini-is-a-file": Case(
        ini="hfrouter_harvest_dir = c.yaml",
        files=("c.yaml",),
        expected=(
            "ERROR: hfrouter_harvest_dir=c.yaml: is a file, not a folder; name a folder for the candidate scenarios"
        ),
    ),
    # -- URLs --------------------------------------------------------------------------------------
    "router-url-without-a-host": Case(
        (*LIVE, "--hfrouter-router-url=http://"),
        expected=(
            "ERROR: --hfrouter-router-url: expected an http(s) URL with a host, such as http://127.0.0.1:8765, "
            "got 'http://'"
        ),
    ),
    "hub-url-with-a-bad-port": Case(
        (*LIVE, "--hfrouter-hub-url=http://127.0.0.1:99999"),
        expected=("ERROR: --hfrouter-hub-url: expected an http(s) URL with a host, * got 'http://127.0.0.1:99999'"),
    ),
    "hub-url-in-ini-even-in-replay": Case(
        ini="hfrouter_hub_url = huggingface.co",
        expected=("ERROR: hfrouter_hub_url: expected an http(s) URL with a host, * got 'huggingface.co'"),
    ),
    "router-url-in-ini": Case(
        LIVE,
        ini="hfrouter_router_url = https://",
        expected=("ERROR: hfrouter_router_url: expected an http(s) URL with a host, * got 'https://'"),
    ),
    # -- numbers -----------------------------------------------------------------------------------
    "probe-timeout-nan": Case(
        (*LIVE, "--hfrouter-probe-timeout=nan"),
        expected=("ERROR: --hfrouter-probe-timeout: expected a number >= 0.1, got 'nan'"),
    ),
    "probe-timeout-inf": Case(
        (*LIVE, "--hfrouter-probe-timeout=inf"),
        expected=("ERROR: --hfrouter-probe-timeout: expected a number >= 0.1, got 'inf'"),
    ),
    "probe-timeout-negative-in-ini": Case(
        ini="hfrouter_probe_timeout = -5",
        expected=("ERROR: hfrouter_probe_timeout: expected a number >= 0.1, got '-5*'"),
    ),
    "probe-concurrency-zero": Case(
        ("--hfrouter-probe-concurrency=0",),
        expected=("ERROR: --hfrouter-probe-concurrency: expected a whole number >= 1, got '0'"),
    ),
    "probe-budget-negative-in-ini": Case(
        ini="hfrouter_probe_budget = -3",
        expected=("ERROR: hfrouter_probe_budget: expected a whole number >= 0, got '-3'"),
    ),
    "retry-storm-zero-in-ini": Case(
        ini="hfrouter_retry_storm = 0", expected=("ERROR: hfrouter_retry_storm: expected a whole number >= 1, got '0'")
    ),
    "retry-storm-nan-in-ini": Case(
        ini="hfrouter_retry_storm = nan",
        expected=("ERROR: hfrouter_retry_storm: expected a whole number >= 1, got 'nan'"),
    ),
    # -- probes ----------------------------------------------------------------------------------------
    "probe-with-a-space-for-the-colon": Case(
        ini="hfrouter_probes =\n    novita Qwen/Qwen2.5-72B-Instruct",
        expected=(
            "ERROR: hfrouter_probes: 'novita Qwen/Qwen2.5-72B-Instruct' is not a probe: write provider:model "
            "(novita:Qwen/Qwen2.5-72B-Instruct) or a model alone for the auto route, one a line or between commas"
        ),
    ),
    "probe-without-a-model": Case(
        ini="hfrouter_probes = novita:", expected="ERROR: hfrouter_probes: 'novita:' is not a probe: *"
    ),
    "probe-with-a-semicolon": Case(
        ini="hfrouter_probes = together:a/b;together:x/y",
        expected="ERROR: hfrouter_probes: 'together:a/b;together:x/y' is not a probe: *",
    ),
    "probe-twice": Case(
        ini="hfrouter_probes =\n    novita:a/b\n    novita:a/b, together:a/b",
        expected="ERROR: hfrouter_probes: novita:a/b named twice: name each probe once",
    ),
    # -- chaos -----------------------------------------------------------------------------------------
    "chaos-while-recording": Case(
        args=("--hfrouter-mode=record", "--hfrouter-chaos-seed=1"),
        expected=(
            "ERROR: a chaos run and --hfrouter-mode=record contradict each other: the cassettes would hold the path "
            "the app took around the injected outages, not its healthy one. Record without chaos, then replay with it."
        ),
    ),
    "chaos-while-rewriting": Case(
        args=("--hfrouter-mode=rewrite", "--hfrouter-chaos"),
        expected="ERROR: a chaos run and --hfrouter-mode=rewrite contradict each other: *",
    ),
    "chaos-scenarios-empty": Case(  # an unset shell variable: it ran no chaos, in silence
        args=("--hfrouter-chaos-scenarios=",),
        expected="ERROR: --hfrouter-chaos-scenarios= is given with no value (a variable unset in a CI script?)*",
    ),
    "chaos-scenarios-commas-in-ini": Case(
        ini="hfrouter_chaos_scenarios = , ,",
        expected="ERROR: hfrouter_chaos_scenarios=', ,' names no scenario: *",
    ),
    "chaos-while-recording-in-ini": Case(
        args=("--hfrouter-chaos",),
        ini="hfrouter_mode = record",
        expected="ERROR: a chaos run and hfrouter_mode = record (ini) contradict each other: *",
    ),
    # -- two outputs on one file: the later write replaced the other ------------------------------
    "report-and-html-on-one-file": Case(
        args=("--hfrouter-report=out.json", "--hfrouter-html=./out.json"),
        expected="ERROR: --hfrouter-report and --hfrouter-html both name out.json: each output needs a file *",
    ),
    "summary-on-the-step-summary": Case(
        args=("--hfrouter-summary=steps.md",),
        env={"GITHUB_STEP_SUMMARY": "steps.md"},
        expected="ERROR: --hfrouter-summary and GITHUB_STEP_SUMMARY both name steps.md: *",
    ),
    # -- booleans in the ini -----------------------------------------------------------------------
    "strict-maybe": Case(
        ini="hfrouter_strict = maybe",
        expected=(
            "ERROR: hfrouter_strict (ini): invalid truth value 'maybe'; "
            "expected true or false (pytest also reads yes/no, on/off, 1/0)"
        ),
    ),
    "allow-loopback-perhaps": Case(
        ini="hfrouter_allow_loopback = perhaps",
        expected=(
            "ERROR: hfrouter_allow_loopback (ini): invalid truth value 'perhaps'; "
            "expected true or false (pytest also reads yes/no, on/off, 1/0)"
        ),
    ),
    # -- the token ---------------------------------------------------------------------------------
    "token-blank": Case(
        LIVE,
        env={"HF_TOKEN": "   "},
        expected=("ERROR: HF_TOKEN is set but blank (only whitespace): set it in the environment, *"),
    ),
    "token-with-a-newline": Case(
        LIVE,
        env={"HF_TOKEN": TOKEN + "\n"},
        expected=("ERROR: HF_TOKEN has whitespace around it (a newline read from a file?): set it without, *"),
    ),
    # an audit: a printed command's ``HF_TOKEN=hf_...``, pasted, replaced the exported token, and a rewrite stored
    # the router's 401s over the cassette
    "token-placeholder": Case(
        LIVE,
        env={"HF_TOKEN": "hf_..."},
        expected=("ERROR: HF_TOKEN is 'hf_...', a placeholder from the docs or a printed command, not a token: *"),
    ),
}


@pytest.mark.parametrize("case", USAGE.values(), ids=USAGE.keys())
def test_bad_input_is_refused_before_any_test_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    for folder in case.folders:
        (pytester.path / folder).mkdir(parents=True)
    for name in case.files:
        (pytester.path / name).write_text("not a folder\n")
    if case.ini:
        pytester.makeini(f"[pytest]\n{case.ini}\n")
    pytester.makepyfile(test_never_runs="def test_never(): open('ran', 'w').close()")
    before = sorted(p.name for p in pytester.path.rglob("*"))
    result = pytester.runpytest("-p", "hfrouter", *case.args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()
    result.stderr.fnmatch_lines([case.expected])
    assert not (pytester.path / "ran").exists()
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert TOKEN not in output
    assert "--hfrouter-retry-storm" not in output  # an option that does not exist
    # Nothing written (the report path was a folder: no stray temporary file beside it)
    assert sorted(p.name for p in pytester.path.rglob("*") if "__pycache__" not in p.parts) == [
        n for n in before if n != "__pycache__"
    ]


def test_missing_folders_of_the_report_and_the_summary_are_made(pytester: pytest.Pytester) -> None:
    (pytester.path / "base.json").write_text('{"schema": "pytest-hfrouter/report/1"}')
    pytester.makepyfile(test_fine="def test_fine(): pass")
    result = pytester.runpytest(
        "-p",
        "hfrouter",
        "--hfrouter-report=reports/tonight/r.json",
        "--hfrouter-summary=summaries/s.md",
        "--hfrouter-baseline=base.json",
    )
    result.assert_outcomes(passed=1)
    assert (pytester.path / "reports" / "tonight" / "r.json").read_text().startswith("{")
    # a replay run compares nothing with a baseline: the summary is the coverage matrix alone
    assert (pytester.path / "summaries" / "s.md").read_text().startswith("## pytest-hfrouter: outage coverage")


def test_an_output_that_cannot_be_written_at_the_end_is_said_and_the_others_are_written(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path the start-up check passed can still fail at the end (``/sys``, a full disk; here a folder
    made in its place by the test): an audit met a traceback after every test had passed, and no
    summary line. The run fails for an output it was asked for, not for CI's step summary."""
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(pytester.path / "steps.md"))
    pytester.makepyfile(
        test_fine="""
        import pathlib
        import httpx

        def test_fine(hfrouter):
            httpx.get("https://huggingface.co/api/models/Qwen/Qwen2.5-72B-Instruct?expand=inferenceProviderMapping")
            pathlib.Path("r.json").mkdir()
            pathlib.Path("steps.md").mkdir()
        """
    )
    result = pytester.runpytest("-p", "hfrouter", "--hfrouter-report=r.json", "--hfrouter-html=page.html")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines_random(
        [
            "pytest-hfrouter: could not write the JSON report to r.json: Is a directory (the run fails for it); *",
            "pytest-hfrouter: could not write GITHUB_STEP_SUMMARY to */steps.md: Is a directory; name a file *",
            "*= 1 passed in *",
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert (pytester.path / "page.html").read_text().startswith("<!DOCTYPE html>")
    assert not list(pytester.path.glob(".*.tmp"))


def test_outputs_reach_a_pipe_and_a_links_target(pytester: pytest.Pytester) -> None:
    """Written as the path names them (an audit: a link, a pipe, /dev/full each became a regular file)."""
    import os
    import threading

    (pytester.path / "artifacts").mkdir()
    (pytester.path / "r.json").symlink_to(pytester.path / "artifacts" / "r.json")
    os.mkfifo(pytester.path / "summary.pipe")
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append((pytester.path / "summary.pipe").read_text()), daemon=True)
    reader.start()
    pytester.makepyfile(test_fine="def test_fine(hfrouter):\n    pass\n")
    result = pytester.runpytest("-p", "hfrouter", "--hfrouter-report=r.json", "--hfrouter-summary=summary.pipe")
    reader.join(30)
    result.assert_outcomes(passed=1)
    assert (pytester.path / "r.json").is_symlink()
    assert (pytester.path / "artifacts" / "r.json").read_text().startswith("{")
    assert received and received[0].startswith("## pytest-hfrouter: outage coverage")
    assert (pytester.path / "summary.pipe").is_fifo()


# -- marker arguments: a collection error pointing at the test ------------------------------------
@pytest.mark.parametrize("delay", ['float("nan")', 'float("inf")', "-1"])
def test_outage_delay_must_be_a_finite_number(pytester: pytest.Pytester, delay: str) -> None:
    pytester.makepyfile(
        test_delay=f"""
        import pytest

        @pytest.mark.hfrouter_outage("slow-first-token", provider="novita", delay={delay})
        def test_slow():
            pass
        """
    )
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(errors=1)
    shown = {'float("nan")': "nan", 'float("inf")': "inf", "-1": "-1"}[delay]
    result.stdout.fnmatch_lines([f"*test_delay.py::test_slow: *delay must be a number of seconds >= 0, got {shown}*"])


# -- statuses in cassettes: the test fails, naming the file ----------------------------------------
CASSETTE = """\
interactions:
- request:
    body: null
    headers: {{}}
    method: POST
    uri: https://router.huggingface.co/novita/v3/openai/chat/completions
  response:
    body:
      string: '{{}}'
    headers: {{}}
    status:
      code: {code}
      message: Odd
version: 1
"""


@pytest.mark.parametrize("code", [-1, 99, 600, 999])
def test_a_cassette_status_out_of_range_is_a_malformed_cassette(pytester: pytest.Pytester, code: int) -> None:
    (pytester.path / "odd.yaml").write_text(CASSETTE.format(code=code))
    pytester.makepyfile(
        test_odd="""
        import pytest

        @pytest.mark.hfrouter_cassette("odd.yaml")
        def test_odd():
            pass
        """
    )
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            f"*pytest-hfrouter: malformed cassette: {pytester.path / 'odd.yaml'}: "
            f"interactions[[]0[]].response.status.code must be an HTTP status (100-599), got {code}"
        ]
    )


# -- serve --host / --port: one line, exit 2 ---------------------------------------------------------
SERVE = {
    "port-too-big": (["--port", "99999"], "hfrouter: error: --port 99999: a port is 0-65535 (0: any free port)"),
    "port-negative": (["--port", "-1"], "hfrouter: error: --port -1: a port is 0-65535 (0: any free port)"),
    "host-not-an-address": (
        ["--host", "256.1.1.1", "--port", "0"],
        "hfrouter: error: --host 256.1.1.1: not an address to listen on (*); use 127.0.0.1 (the default) *",
    ),
    "host-of-another-machine": (
        ["--host", "192.0.2.1", "--port", "0"],
        "hfrouter: error: --host 192.0.2.1 --port 0: cannot listen there (*)",
    ),
    "outage-key-twice": (  # the last was kept, in silence
        ["--outage", "provider-500:provider=novita,provider=together"],
        "hfrouter: error: --outage 'provider-500:provider=novita,provider=together': provider is given twice; *",
    ),
}


@pytest.mark.parametrize(("args", "expected"), SERVE.values(), ids=SERVE.keys())
def test_serve_refuses_a_bad_host_or_port_in_one_line(args: list[str], expected: str) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "serve", *args], capture_output=True, text=True, timeout=60
    )
    assert process.returncode == 2
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    from fnmatch import fnmatch

    assert fnmatch(lines[0], expected), lines[0]
    assert process.stdout == ""


def test_a_cassette_dir_that_does_not_exist_is_said(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a typo of a folder beside it (that is an error): a project may name its cassette dir before
    it records anything. Replay says it finds nothing there; a recording run makes it, silently."""
    pytester.makeini("[pytest]\nhfrouter_cassette_dir = recordings\n")
    pytester.makepyfile(test_x="def test_x(): pass")
    said = (
        f"*HFRouterWarning: pytest-hfrouter: the cassette dir {pytester.path / 'recordings'} does not exist, so no "
        "test finds a default cassette there (a recording run makes it: --hfrouter-mode=record)"
    )
    result = pytester.runpytest_subprocess("-p", "hfrouter")
    result.assert_outcomes(passed=1)
    assert fnmatch.filter(result.outlines + result.errlines, said), result.errlines
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    result = pytester.runpytest_subprocess(
        "-p", "hfrouter", "--hfrouter-mode=record", "--hfrouter-router-url=http://127.0.0.1:9"
    )
    result.assert_outcomes(passed=1)  # a recording run makes the folder: nothing to say
    assert not fnmatch.filter(result.outlines + result.errlines, said)
    # warnings as errors (an audit: an INTERNALERROR, no test run): a usage error that says why
    pytester.makeini("[pytest]\nhfrouter_cassette_dir = recordings\nfilterwarnings = error\n")
    # pytest-asyncio, where installed, warns at configure of an ini key this project does not set: not ours
    result = pytester.runpytest_subprocess("-p", "hfrouter", "-p", "no:asyncio")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: pytest-hfrouter: the cassette dir * (a warning your warnings filter turns *"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.skipif(
    tuple(int(p) for p in pytest.__version__.split(".")[:2]) < (9, 2), reason="numbers in [tool.pytest]: pytest 9.2"
)
def test_numbers_in_native_toml_are_read(pytester: pytest.Pytester) -> None:
    """pytest 9's ``[tool.pytest]`` gives an int or a float: an audit met "expects a string, got int: 5;
    expected true or false" for each number key."""
    pytester.makepyprojecttoml(
        "[tool.pytest]\nhfrouter_retry_storm = 1\nhfrouter_chaos_rate = 0.5\nhfrouter_probe_budget = 5\n"
        "hfrouter_probe_timeout = 2\nhfrouter_probe_concurrency = 3\n"
    )
    pytester.makepyfile(
        test_storm="""
        import httpx
        import pytest

        URL = "https://router.huggingface.co/novita/v3/openai/chat/completions"

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        @pytest.mark.hfrouter_resilient
        def test_twice(hfrouter):
            for _ in range(2):
                httpx.post(URL, json={"model": "Qwen/Qwen2.5-72B-Instruct", "messages": []})
        """
    )
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(failed=1)  # two calls are a storm at hfrouter_retry_storm = 1: the number was read
    result.stdout.fnmatch_lines(["*retry-storm: 2 calls to novita*"])


def test_ini_paths_are_under_rootdir_and_option_paths_under_the_start_folder(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: the ini's report, summary and baseline went under the folder pytest was started in (from
    ``tests/``: ``tests/reports/``), where its cassette dir is under rootdir; and ``~`` was a folder named ``~``."""
    home = pytester.path / "home"
    monkeypatch.setenv("HOME", str(home))
    pytester.makeini("[pytest]\nhfrouter_report = reports/r.json\nhfrouter_summary = reports/s.md\n")
    pytester.mkpydir("tests").joinpath("test_one.py").write_text("def test_one():\n    pass\n")
    monkeypatch.chdir(pytester.path / "tests")
    result = pytester.runpytest("-p", "hfrouter", "--hfrouter-html=~/page.html", "--junitxml=~/junit.xml")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "reports" / "r.json").is_file() and (pytester.path / "reports" / "s.md").is_file()
    assert not (pytester.path / "tests" / "reports").exists()
    assert (home / "page.html").is_file() and (home / "junit.xml").is_file()  # as pytest's own option
    assert not (pytester.path / "tests" / "~").exists()
    again = pytester.runpytest("-p", "hfrouter", "--hfrouter-report=r2.json")  # an option: where pytest started
    again.assert_outcomes(passed=1)
    assert (pytester.path / "tests" / "r2.json").is_file()
