"""Cassette hygiene: recordings dated and expired, orphan cassettes, interactions never played.

Inner runs replay hand-written vcrpy cassettes to the real ``huggingface_hub`` client
(``hfapp.py`` from conftest); the xdist cases (``inner_run``) run in subprocesses with ``-n 2``.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import InnerRun

from pytest_hfrouter.cassettes import load_cassette
from pytest_hfrouter.hygiene import expired, recorded_at
from pytest_hfrouter.recorder import write_cassette

NOVITA_URL = "https://router.huggingface.co/novita/v3/openai/chat/completions"
EXAMPLE_URL = "https://example.com/api/recorded"
OLD_STAMP = "2020-01-02T03:04:05+00:00"
OLD_DATE = "Wed, 01 Jan 2020 00:00:00 GMT"


def novita_interaction(content: str = "from the cassette", date: str | None = None) -> dict[str, Any]:
    """A successful novita chat completion, as vcrpy records it."""
    completion = {
        "id": "rec-1",
        "object": "chat.completion",
        "created": 1739800000,
        "model": "Qwen/Qwen2.5-72B-Instruct",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
    }
    headers: dict[str, list[str]] = {"Content-Type": ["application/json"]}
    if date is not None:
        headers["Date"] = [date]
    body = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    return {
        "request": {
            "body": json.dumps(body),
            "headers": {"Content-Type": ["application/json"]},
            "method": "POST",
            "uri": NOVITA_URL,
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": headers,
            "body": {"string": json.dumps(completion)},
        },
    }


def example_interaction() -> dict[str, Any]:
    """A recorded answer from another host (matched on its exact URL)."""
    return {
        "request": {"body": None, "headers": {}, "method": "GET", "uri": EXAMPLE_URL},
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Type": ["text/plain"]},
            "body": {"string": "recorded example.com page"},
        },
    }


def write(root: Path, relative: str, *interactions: dict[str, Any], recorded: str | None = None) -> Path:
    """A vcrpy cassette at ``root/relative``; ``recorded``: its ``metadata.hfrouter.recorded_at``."""
    document: dict[str, Any] = {"interactions": list(interactions or [novita_interaction()]), "version": 1}
    if recorded is not None:
        document["metadata"] = {"hfrouter": {"recorded_at": recorded, "recorded_with": {"python": "3.11.7"}}}
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def section(result: pytest.RunResult, title: str) -> list[str]:
    """The lines of a terminal summary section ([] when it is absent)."""
    lines = result.stdout.lines
    start = next((n for n, line in enumerate(lines) if f" {title} " in line and line.startswith("-")), None)
    if start is None:
        return []
    found = []
    for line in lines[start + 1 :]:
        if line.startswith(("===", "---")):
            break
        found.append(line)
    return found


def days_since(stamp: datetime.datetime) -> float:
    return (datetime.datetime.now(datetime.timezone.utc) - stamp).total_seconds() / 86400


# -- what the plugin writes ------------------------------------------------------------------------
def test_written_cassettes_say_when_and_with_what_they_were_recorded(tmp_path: Path) -> None:
    from vcr.serializers import yamlserializer

    from pytest_hfrouter.live import Observed
    from pytest_hfrouter.recorder import interaction
    from pytest_hfrouter.traffic import Request

    target = tmp_path / "cassettes" / "recorded.yaml"
    observed = Observed(200, "OK", (("Content-Type", "application/json"),), b"{}", elapsed=0.1)
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    write_cassette(target, [interaction(Request("GET", EXAMPLE_URL), observed)], rewrite=False, run_id="run-1")

    data = yaml.load(target.read_text(), Loader=yamlserializer._CassetteLoader)  # vcrpy's own reader
    meta = data["metadata"]["hfrouter"]
    assert set(meta) >= {"recorded_at", "recorded_with"}
    assert meta["recorded_with"]["huggingface_hub"]
    assert meta["recorded_with"]["vcrpy"]
    assert len(yamlserializer.deserialize(target.read_text())["interactions"]) == 1
    stamp = recorded_at(load_cassette(target))
    assert stamp is not None
    assert before <= stamp <= datetime.datetime.now(datetime.timezone.utc)


def test_recorded_at_reads_the_metadata_else_the_newest_date(tmp_path: Path) -> None:
    stamped = write(tmp_path, "stamped.yaml", novita_interaction(date=OLD_DATE), recorded=OLD_STAMP)
    dated = write(
        tmp_path,
        "dated.yaml",
        novita_interaction(date=OLD_DATE),
        novita_interaction(date="Fri, 03 Jan 2020 10:00:00 GMT"),
    )
    undated = write(tmp_path, "undated.yaml")

    assert recorded_at(load_cassette(stamped)) == datetime.datetime.fromisoformat(OLD_STAMP)
    assert recorded_at(load_cassette(dated)) == datetime.datetime(2020, 1, 3, 10, tzinfo=datetime.timezone.utc)
    assert recorded_at(load_cassette(undated)) is None
    # "-0000", as email.utils.formatdate writes it, is UTC (an audit: a naive time crashed every test using it)
    zone = write(tmp_path, "zone.yaml", novita_interaction(date="Wed, 01 Jan 2020 00:00:00 -0000"))
    assert recorded_at(load_cassette(zone)) == datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    mixed = write(
        tmp_path,
        "mixed.yaml",
        novita_interaction(date=OLD_DATE),
        novita_interaction(date="Wed, 01 Jan 2020 00:00:00 -0000"),
    )
    assert recorded_at(load_cassette(mixed)) is not None


def test_a_recording_whose_age_cannot_be_told_says_why(tmp_path: Path) -> None:
    """An audit: with ``hfrouter_max_age``, a cassette with no readable date, or one dated in the future, passed
    without a word, under ``hfrouter_on_expiry = fail`` too."""
    now = datetime.datetime.now(datetime.timezone.utc)
    by_hand = write(tmp_path, "by_hand.yaml", recorded="1 January 2024")
    future = write(tmp_path, "future.yaml", recorded="2099-01-01T00:00:00+00:00")
    fresh = write(tmp_path, "fresh.yaml", recorded=now.isoformat())

    assert expired(load_cassette(by_hand), 86400, now) == (
        "its metadata.hfrouter.recorded_at '1 January 2024' is no ISO 8601 time, and no answer has a readable Date"
    )
    assert "in the future" in str(expired(load_cassette(future), 86400, now))
    assert expired(load_cassette(fresh), 86400, now) is None


def test_recorded_at_written_by_hand_as_a_yaml_timestamp(tmp_path: Path) -> None:
    """Unquoted, YAML reads the stamp as a datetime (or a date), not a string: still the recording's date."""
    path = write(tmp_path, "by_hand.yaml")
    path.write_text(path.read_text() + "metadata:\n  hfrouter:\n    recorded_at: 2020-01-02T03:04:05Z\n")
    day = write(tmp_path, "day.yaml")
    day.write_text(day.read_text() + "metadata:\n  hfrouter:\n    recorded_at: 2020-01-02\n")

    assert recorded_at(load_cassette(path)) == datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert recorded_at(load_cassette(day)) == datetime.datetime(2020, 1, 2, tzinfo=datetime.timezone.utc)


# -- expiry ------------------------------------------------------------------------------------------
EXPIRY_TESTS = """
from hfapp import chat

def test_old_metadata(hfrouter):
    assert chat().choices[0].message.content == "stamped in 2020"

def test_old_date_header(hfrouter):
    assert chat().choices[0].message.content == "dated 2020"

def test_fresh(hfrouter):
    assert chat().choices[0].message.content == "recorded today"

def test_undated(hfrouter):
    assert chat().choices[0].message.content == "no date at all"
"""


def expiry_project(hfapp: pytest.Pytester, on_expiry: str | None) -> dict[str, Path]:
    ini = "[pytest]\nhfrouter_max_age = 90d\n" + (f"hfrouter_on_expiry = {on_expiry}\n" if on_expiry else "")
    hfapp.makeini(ini)
    hfapp.makepyfile(test_hy_expiry=EXPIRY_TESTS)
    folder = "cassettes/test_hy_expiry"
    today = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {
        "metadata": write(
            hfapp.path, f"{folder}/test_old_metadata.yaml", novita_interaction("stamped in 2020"), recorded=OLD_STAMP
        ),
        "date": write(hfapp.path, f"{folder}/test_old_date_header.yaml", novita_interaction("dated 2020", OLD_DATE)),
        "fresh": write(
            hfapp.path, f"{folder}/test_fresh.yaml", novita_interaction("recorded today", OLD_DATE), recorded=today
        ),
        "undated": write(hfapp.path, f"{folder}/test_undated.yaml", novita_interaction("no date at all")),
    }


def assert_age(line: str, stamp: str) -> None:
    days = days_since(datetime.datetime.fromisoformat(stamp.replace(" GMT", "+00:00")))
    match = re.search(r"\((\d+) days old\)", line)
    assert match is not None, line
    assert abs(int(match.group(1)) - days) <= 1


@pytest.mark.parametrize("on_expiry", [None, "warn"])
def test_expired_recordings_are_named_with_the_rerecord_command(hfapp: pytest.Pytester, on_expiry: str | None) -> None:
    paths = expiry_project(hfapp, on_expiry)

    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-report=report.json")

    result.assert_outcomes(passed=4)
    lines = section(result, "hfrouter expired recordings")
    assert lines[0].startswith(f"{paths['metadata']} (")
    assert lines[0].endswith(" days old), used by test_hy_expiry.py::test_old_metadata")
    assert_age(lines[0], OLD_STAMP)
    assert lines[1] == (
        "  re-record: pytest -p hfrouter --hfrouter-mode=rewrite 'test_hy_expiry.py::test_old_metadata'"
    )
    assert lines[2].startswith(f"{paths['date']} (")
    assert lines[2].endswith(" days old), used by test_hy_expiry.py::test_old_date_header")
    assert_age(lines[2], "2020-01-01T00:00:00 GMT")
    assert lines[3] == (
        "  re-record: pytest -p hfrouter --hfrouter-mode=rewrite 'test_hy_expiry.py::test_old_date_header'"
    )
    # the fresh cassette is not named; one whose age cannot be told is (an audit: it was never judged)
    assert lines[4] == (
        f"{paths['undated']} (age unknown: it has no metadata.hfrouter.recorded_at, and no answer has a readable "
        "Date), used by test_hy_expiry.py::test_undated"
    )
    assert len(lines) == 6
    expired = json.loads((hfapp.path / "report.json").read_text())["expired"]
    assert [(e["test"], e["cassette"]) for e in expired] == [
        ("test_hy_expiry.py::test_old_metadata", str(paths["metadata"])),
        ("test_hy_expiry.py::test_old_date_header", str(paths["date"])),
        ("test_hy_expiry.py::test_undated", str(paths["undated"])),
    ]
    assert all(e["age_days"] > 90 for e in expired[:2])
    assert expired[2]["age_days"] is None and "no answer has a readable Date" in expired[2]["undated"]


def test_expired_recordings_fail_their_tests_at_setup(hfapp: pytest.Pytester) -> None:
    paths = expiry_project(hfapp, "fail")

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1, errors=3)
    result.stdout.fnmatch_lines([f"  - {paths['undated']} (age unknown: *)"])
    for name, key in (("test_old_metadata", "metadata"), ("test_old_date_header", "date")):
        result.stdout.fnmatch_lines(
            [
                f"*ERROR at setup of {name}*",
                "pytest-hfrouter: expired recordings (hfrouter_max_age):",
                f"  - {paths[key]} (* days old)",
                f"  re-record: pytest -p hfrouter --hfrouter-mode=rewrite 'test_hy_expiry.py::{name}'",
            ]
        )
    result.stdout.fnmatch_lines(["ERROR test_hy_expiry.py::test_old_metadata - *", "ERROR *::test_old_date_header - *"])


def test_the_command_an_expired_recording_prints_records_it(
    hfapp: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regression audit: the printed ``--hfrouter-mode=rewrite`` command failed at setup on the same expiry, so
    nothing could be re-recorded. A recording run does not judge the age of what it records afresh."""
    from pytest_hfrouter.double import RouterDouble
    from pytest_hfrouter.engine import Engine
    from pytest_hfrouter.library import shipped_library

    paths = expiry_project(hfapp, "fail")
    monkeypatch.setenv("HF_TOKEN", "hf_" + "q" * 34)
    double = RouterDouble(Engine(shipped_library())).start()
    try:
        urls = [f"--hfrouter-router-url={double.base_url}", f"--hfrouter-hub-url={double.base_url}"]
        result = hfapp.runpytest(
            "-p", "hfrouter", "--hfrouter-mode=rewrite", *urls, "test_hy_expiry.py::test_old_metadata"
        )
    finally:
        double.stop()
    # its body checks the 2020 answer, which the double does not give: it fails; its setup no longer errs
    result.assert_outcomes(failed=1, errors=0)
    result.stdout.no_fnmatch_line("*expired recordings*")
    assert recorded_at(load_cassette(paths["metadata"])).year >= 2026  # type: ignore[union-attr]


def test_no_max_age_no_expiry(hfapp: pytest.Pytester) -> None:
    expiry_project(hfapp, None)
    hfapp.makeini("[pytest]\n")

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=4)
    assert section(result, "hfrouter expired recordings") == []


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("hfrouter_max_age = 90", "hfrouter_max_age: '90' is not an age: a number and a unit, e.g. 90d, *"),
        ("hfrouter_max_age = 3 months", "hfrouter_max_age: '3 months' is not an age: *(units s, m, h, d, w)"),
        ("hfrouter_on_expiry = error", "hfrouter_on_expiry = 'error' is not valid. Valid values: warn, fail"),
        ("hfrouter_on_unplayed = warning", "hfrouter_on_unplayed = 'warning' is not valid. Did you mean 'warn'? *"),
        ("hfrouter_on_unplayed = loud", "hfrouter_on_unplayed = 'loud' is not valid. Valid values: ignore, warn, fail"),
    ],
)
def test_invalid_hygiene_ini_values_are_usage_errors(pytester: pytest.Pytester, ini: str, message: str) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_hy_usage="def test_it():\n    pass\n")

    result = pytester.runpytest("-p", "hfrouter")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


# -- orphans -----------------------------------------------------------------------------------------
ORPHAN_TESTS = """
import pytest
from hfapp import chat

def test_default(hfrouter):
    assert chat().choices[0].message.content == "default"

@pytest.mark.hfrouter_cassette("shared.yaml")
def test_marked(hfrouter):
    assert chat().choices[0].message.content == "shared"

@pytest.mark.parametrize("n", [1, 2])
def test_param(hfrouter, n):
    chat()

def test_without_cassette(hfrouter):
    chat()

def test_json(hfrouter):
    assert chat().choices[0].message.content == "json"
"""


def orphan_project(root: pytest.Pytester, orphans: bool) -> list[Path]:
    root.makepyfile(test_hy_orphans=ORPHAN_TESTS)
    write(root.path, "cassettes/test_hy_orphans/test_default.yaml", novita_interaction("default"))
    write(root.path, "cassettes/shared.yaml", novita_interaction("shared"))
    write(root.path, "cassettes/test_hy_orphans/test_param[1].yaml")
    write(root.path, "cassettes/test_hy_orphans/test_param[2].yaml")
    # pytest-recording's json serializer: a used one, a stale one, and JSON that is no cassette
    used_json = root.path / "cassettes/test_hy_orphans/test_json.json"
    used_json.write_text(json.dumps({"interactions": [novita_interaction("json")], "version": 1}, indent=4))
    if not orphans:
        return []
    (root.path / "cassettes/old").mkdir(parents=True, exist_ok=True)
    (root.path / "cassettes/old/fixture-data.json").write_text('{"prompts": ["hi"]}')
    stale_json = root.path / "cassettes/old/stale.json"
    stale_json.write_text(json.dumps({"interactions": [novita_interaction("stale")], "version": 1}))
    return [
        stale_json,
        write(root.path, "cassettes/old/stale.yml"),
        write(root.path, "cassettes/test_hy_orphans/test_removed.yaml"),
    ]


def test_orphan_cassettes_fail_the_run(hfapp: pytest.Pytester, inner_run: InnerRun) -> None:
    orphans = orphan_project(hfapp, orphans=True)
    args = ["-p", "hfrouter", "--hfrouter-check-orphans"]

    result = inner_run(hfapp, *args)

    result.assert_outcomes(passed=6)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert section(result, "hfrouter orphan cassettes") == [
        f"{len(orphans)} cassette(s) no collected test uses:",
        *[f"  {path}" for path in orphans],
    ]


def test_no_orphans_no_failure(hfapp: pytest.Pytester, inner_run: InnerRun) -> None:
    orphan_project(hfapp, orphans=False)
    # the live run's harvest (its default folder is under the cassette dir): candidates, not cassettes
    write(hfapp.path, "cassettes/harvested/novita-418-json-0a1b2c3d.yaml")
    args = ["-p", "hfrouter", "--hfrouter-check-orphans"]

    result = inner_run(hfapp, *args)

    result.assert_outcomes(passed=6)
    assert result.ret == pytest.ExitCode.OK
    assert section(result, "hfrouter orphan cassettes") == ["0 cassette(s) no collected test uses"]


def test_orphans_are_only_checked_with_the_flag(hfapp: pytest.Pytester) -> None:
    orphan_project(hfapp, orphans=True)

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=6)
    assert result.ret == pytest.ExitCode.OK
    assert section(result, "hfrouter orphan cassettes") == []


def test_orphans_under_the_configured_cassette_dir(hfapp: pytest.Pytester) -> None:
    hfapp.makeini("[pytest]\nhfrouter_cassette_dir = recordings\n")
    hfapp.makepyfile(test_hy_orphans_dir="from hfapp import chat\n\ndef test_used(hfrouter):\n    chat()\n")
    write(hfapp.path, "recordings/test_hy_orphans_dir/test_used.yaml")
    orphan = write(hfapp.path, "recordings/test_hy_orphans_dir/test_gone.yaml")
    write(hfapp.path, "cassettes/elsewhere.yaml")  # not under the cassette dir: not this run's business

    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-check-orphans")

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert section(result, "hfrouter orphan cassettes") == ["1 cassette(s) no collected test uses:", f"  {orphan}"]


def test_a_deselected_test_s_cassette_is_no_orphan(hfapp: pytest.Pytester, inner_run: InnerRun) -> None:
    orphans = orphan_project(hfapp, orphans=True)
    args = ["-p", "hfrouter", "--hfrouter-check-orphans", "-k", "test_default"]

    result = inner_run(hfapp, *args)

    # xdist's workers deselect: the controller sees none
    result.assert_outcomes(passed=1, deselected=0 if inner_run.xdist else 5)
    assert section(result, "hfrouter orphan cassettes") == [
        f"{len(orphans)} cassette(s) no collected test uses:",
        *[f"  {path}" for path in orphans],
    ]


def test_a_test_named_by_node_id_leaves_its_module_s_cassettes_unjudged(
    hfapp: pytest.Pytester, inner_run: InnerRun
) -> None:
    """An audit: ``pytest test.py::test_param[1]`` collects one case and says nothing of the others (``-k``
    deselects them, a hook says so), so their cassettes were listed as orphans and the run failed; a user who
    trusted the list deleted recordings. That folder is not judged now, and the summary says why."""
    orphan_project(hfapp, orphans=False)

    result = inner_run(hfapp, "-p", "hfrouter", "--hfrouter-check-orphans", "test_hy_orphans.py::test_param[1]")

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    assert section(result, "hfrouter orphan cassettes") == [
        "0 cassette(s) no collected test uses",
        f"not judged: {hfapp.path / 'cassettes'} (this run named some of its tests by node id; run their modules "
        "whole to judge it)",
    ]


def test_a_run_of_some_files_or_of_the_last_failures_judges_only_the_modules_it_collected(
    hfapp: pytest.Pytester, inner_run: InnerRun
) -> None:
    """An audit: ``--lf`` skips the files with no failure, and a run of one file collects no other; the other
    modules' cassettes were orphans, and a run whose only test passed failed. Those of a module the run
    collected still are."""
    orphans = orphan_project(hfapp, orphans=True)
    hfapp.makepyfile(test_other="from hfapp import chat\n\ndef test_other(hfrouter):\n    chat()\n")
    write(hfapp.path, "cassettes/test_other/test_other.yaml")
    in_module = hfapp.path / "cassettes/test_hy_orphans/test_removed.yaml"
    outside = [path for path in orphans if path != in_module]

    result = inner_run(hfapp, "-p", "hfrouter", "--hfrouter-check-orphans", "test_other.py")

    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    unjudged = len(orphans) + 5  # and the five the other module uses (default, shared, two params, json)
    assert section(result, "hfrouter orphan cassettes") == [
        "0 cassette(s) no collected test uses",
        f"not judged: {unjudged} cassette(s) outside the modules this run collected (it named files, or ran "
        "--lf); run the whole suite to judge them",
    ]
    result = inner_run(hfapp, "-p", "hfrouter", "--hfrouter-check-orphans", "test_hy_orphans.py")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert section(result, "hfrouter orphan cassettes")[:2] == [
        "1 cassette(s) no collected test uses:",
        f"  {in_module}",
    ]
    assert outside and all(str(path) not in result.stdout.str() for path in outside)


# -- unplayed interactions ---------------------------------------------------------------------------
def test_a_recorded_agent_harness_fetch_is_no_unplayed_interaction(tmp_path: Path) -> None:
    """huggingface_hub's agent-harness registry fetch is answered by the plugin, never from a cassette: a
    recording holding it read "never requested" though the client requested it (an audit)."""
    from pytest_hfrouter.hygiene import unplayed

    harness = {
        "request": {"method": "GET", "uri": "https://huggingface.co/api/agent-harnesses", "body": None, "headers": {}},
        "response": {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": "{}"}},
    }
    cassette = load_cassette(write(tmp_path, "c.yaml", harness, novita_interaction()))
    assert cassette is not None
    assert unplayed(cassette, {})[1] == 1  # the novita call only


UNPLAYED_TESTS = """
import httpx
import pytest
from hfapp import chat, status_of

@pytest.mark.hfrouter_cassette("with_example.yaml")
def test_skips_an_interaction(hfrouter):
    assert chat().choices[0].message.content == "from the cassette"

@pytest.mark.hfrouter_cassette("with_example.yaml")
def test_plays_everything(hfrouter):
    chat()
    assert httpx.get("https://example.com/api/recorded").text == "recorded example.com page"

@pytest.mark.hfrouter_cassette("two_answers.yaml")
def test_asks_once_of_two(hfrouter):
    assert chat().choices[0].message.content == "first"

@pytest.mark.hfrouter_cassette("two_answers.yaml")
def test_asks_twice_of_two(hfrouter):
    assert [chat().choices[0].message.content for _ in range(2)] == ["first", "second"]

@pytest.mark.hfrouter_cassette("two_answers.yaml")
@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_outage_answers_both(hfrouter):
    assert status_of(chat) == 500
    assert status_of(chat) == 500
"""


def unplayed_project(root: pytest.Pytester, on_unplayed: str | None) -> dict[str, Path]:
    if on_unplayed is not None:
        root.makeini(f"[pytest]\nhfrouter_on_unplayed = {on_unplayed}\n")
    root.makepyfile(test_hy_unplayed=UNPLAYED_TESTS)
    return {
        "example": write(root.path, "cassettes/with_example.yaml", novita_interaction(), example_interaction()),
        "two": write(
            root.path, "cassettes/two_answers.yaml", novita_interaction("first"), novita_interaction("second")
        ),
    }


def unplayed_warning(path: Path, line: str) -> list[str]:
    return [f"*HFRouterWarning: {path}: the test never requested 1 of its interactions:", f"    {line}"]


@pytest.mark.parametrize("on_unplayed", [None, "warn"])
def test_unplayed_interactions_warn(hfapp: pytest.Pytester, on_unplayed: str | None, inner_run: InnerRun) -> None:
    paths = unplayed_project(hfapp, on_unplayed)
    args = ["-p", "hfrouter"]

    result = inner_run(hfapp, *args)

    result.assert_outcomes(passed=5, warnings=2)
    result.stdout.fnmatch_lines(
        [
            "test_hy_unplayed.py::test_skips_an_interaction",
            *unplayed_warning(paths["example"], f"interactions[1] GET {EXAMPLE_URL}"),
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "test_hy_unplayed.py::test_asks_once_of_two",
            *unplayed_warning(paths["two"], f"interactions[1] POST {NOVITA_URL}"),
        ]
    )
    for name in ("test_plays_everything", "test_asks_twice_of_two", "test_outage_answers_both"):
        result.stdout.no_fnmatch_line(f"test_hy_unplayed.py::{name}")


def test_unplayed_interactions_fail(hfapp: pytest.Pytester, inner_run: InnerRun) -> None:
    paths = unplayed_project(hfapp, "fail")
    args = ["-p", "hfrouter"]

    result = inner_run(hfapp, *args)

    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            f"pytest-hfrouter: {paths['example']}: the test never requested 1 of its interactions:",
            f"  interactions[1] GET {EXAMPLE_URL}",
            "call log:",
            "  1. GET https://huggingface.co/api/models/*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            f"pytest-hfrouter: {paths['two']}: the test never requested 1 of its interactions:",
            f"  interactions[1] POST {NOVITA_URL}",
        ]
    )
    for name in ("test_skips_an_interaction", "test_asks_once_of_two"):  # in the order xdist finished them
        result.stdout.fnmatch_lines([f"FAILED *::{name} - *"])


def test_unplayed_interactions_ignored(hfapp: pytest.Pytester) -> None:
    unplayed_project(hfapp, "ignore")

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=5)
    result.stdout.no_fnmatch_line("*HFRouterWarning*")
    result.stdout.no_fnmatch_line("*never requested*")


def test_a_failing_test_shows_its_unplayed_interactions_as_a_warning(hfapp: pytest.Pytester) -> None:
    """They may be why it failed: warned (not a second failure) even with hfrouter_on_unplayed = fail."""
    unplayed_project(hfapp, "fail")
    hfapp.makepyfile(
        test_hy_unplayed="""
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_cassette("two_answers.yaml")
        def test_fails_on_its_own(hfrouter):
            chat()
            assert False, "the test's own failure"
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines(["*AssertionError: the test's own failure", "*HFRouterWarning*never requested 1 of*"])
    result.stdout.no_fnmatch_line("*pytest-hfrouter: *two_answers.yaml: the test never requested*")


def test_a_large_cassettes_unplayed_interactions_are_counted_and_the_first_ten_listed(
    hfapp: pytest.Pytester,
) -> None:
    """A speed audit: a cassette of 1,600 interactions named by each of 200 tests printed every interaction a test
    left, for each test (29 MB of warnings, 18 ms a test): the first ten are listed, and the rest counted."""
    from pytest_hfrouter.cassettes import load_cassette

    lines = ["interactions:"]
    for n in range(25):
        lines += [
            "- request:",
            "    method: GET",
            f"    uri: https://example.com/item/{n}",
            "    body: null",
            "    headers: {}",
            "  response:",
            "    status: {code: 200, message: OK}",
            "    headers: {}",
            "    body: {string: 'ok'}",
        ]
    (hfapp.path / "cassettes").mkdir()
    (hfapp.path / "cassettes" / "many.yaml").write_text("\n".join(lines) + "\nversion: 1\n")
    assert len(load_cassette(hfapp.path / "cassettes" / "many.yaml").interactions) == 25
    hfapp.makepyfile(
        test_many="""
        import httpx
        import pytest

        @pytest.mark.hfrouter_cassette("many.yaml")
        def test_one():
            assert httpx.get("https://example.com/item/3").text == "ok"
        """
    )
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*the test never requested 24 of its interactions:", "*interactions[[]0] GET *"])
    result.stdout.fnmatch_lines(["*interactions[[]10] GET https://example.com/item/10", "*... and 14 more"])
    result.stdout.no_fnmatch_line("*interactions[[]11] GET*")


def test_a_recording_younger_than_a_day_past_a_max_age_in_hours_says_its_age(hfapp: pytest.Pytester) -> None:
    """The regression audit: ``hfrouter_max_age = 1h`` and a cassette 65 minutes old read "age unknown: None" (its
    age in days rounds to 0.0, which the summary took for none)."""
    hfapp.makeini("[pytest]\nhfrouter_max_age = 1h\n")
    hfapp.makepyfile(test_recent="from hfapp import chat\n\n\ndef test_recent(hfrouter):\n    chat()\n")
    stamp = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=65)).isoformat()
    path = write(hfapp.path, "cassettes/test_recent/test_recent.yaml", novita_interaction(), recorded=stamp)

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1)
    assert (
        section(result, "hfrouter expired recordings")[0] == f"{path} (0 days old), used by test_recent.py::test_recent"
    )
