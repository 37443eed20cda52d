"""Harvest: live failures of an unknown shape become candidate scenarios — against the router double."""
# ruff: noqa: F811  (the double's fixtures are imported from test_live and used as arguments)

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_live import (  # noqa: F401
    PLANTED,
    TOKEN,
    Double,
    double,
    double_server,
    environment,
    is_chat,
    library,
    load_yaml,
    report,
)

from pytest_hfrouter.harvest import FailureShape, fault_of, known_shapes, nearest, promote, shape_of
from pytest_hfrouter.library import Library
from pytest_hfrouter.traffic import Answer, Request

#: a 503 the library does not know: an overloaded provider's JSON error object, with a rate-limit hint
OVERLOADED = json.dumps(
    {"error": {"message": f"Provider overloaded, key {PLANTED} throttled", "type": "overloaded_error"}}
).encode()
OVERLOADED_HEADERS = (
    ("Content-Type", "application/json"),
    ("x-request-id", "req-harvest-1"),
    ("x-ratelimit-remaining-requests", "0"),
)

FALLBACK_APP = """
from hfapp import chat, status_of

def test_novita_overloaded(hfrouter):
    assert status_of(lambda: chat("novita")) == 503
"""


def overloaded(request: Request) -> Answer | None:
    if is_chat(request) and "/novita/" in request.url:
        return Answer(503, "Service Unavailable", OVERLOADED_HEADERS, OVERLOADED, source="script")
    return None


# -- units -----------------------------------------------------------------------------------
def test_every_shipped_http_scenario_has_a_known_shape(library: Library) -> None:
    known = known_shapes(library.scenarios.values())
    assert set(known.values()) >= {"bad-gateway-502", "rate-limited-429", "error-in-200", "stream-cut"}
    unknown = shape_of(503, "Service Unavailable", OVERLOADED_HEADERS, OVERLOADED)
    assert unknown not in known
    assert unknown.headers == ("x-ratelimit-remaining-requests",)


def test_shapes_ignore_values_ids_and_a_missing_reason_phrase() -> None:
    a = shape_of(429, "Too Many Requests", (("Retry-After", "55"),), b'{"error": "slow down"}')
    b = shape_of(429, "", (("retry-after", "3"),), b'{"error": "other words"}')
    assert a == b
    assert a != shape_of(429, "", (), b'{"error": "slow down"}')  # Retry-After changes what a client does


@pytest.mark.parametrize(
    ("error", "fault"),
    [
        ("ReadTimeout: timed out", "read-timeout"),
        ("ConnectTimeout: ", "connect-timeout"),
        ("RemoteProtocolError: peer closed connection", "stream-cut"),
        ("ChunkedEncodingError: ('Connection broken: ...')", "stream-cut"),
        ("ReadError: [Errno 104] Connection reset by peer", "connection-reset"),
        ("ValueError: nothing to do with the network", None),
    ],
)
def test_transport_errors_are_the_fault_scenarios(error: str, fault: str | None) -> None:
    assert fault_of(error) == fault


# -- a live run harvests, a second night counts, promote makes it a scenario ---------------------
def test_live_run_harvests_an_unknown_failure_once(hfapp: pytest.Pytester, double: Double, library: Library) -> None:
    double.engine.script = overloaded
    hfapp.makepyfile(test_nightly=FALLBACK_APP)
    args = double.args("--hfrouter-report=night.json")

    first = hfapp.runpytest(*args)
    first.assert_outcomes(passed=1)
    harvested = sorted((hfapp.path / "cassettes" / "harvested").glob("*.yaml"))
    assert [p.name.rsplit("-", 3)[0] for p in harvested] == ["novita-503-json"]
    first.stdout.fnmatch_lines(["failure shape novita Qwen/Qwen2.5-72B-Instruct: 503, json body (new) — kept as *"])
    entry = report(hfapp.path / "night.json")["harvest"][0]
    assert entry["new"] is True and entry["candidate"] == str(harvested[0])

    text = harvested[0].read_text()
    assert PLANTED not in text and TOKEN not in text  # scrubbed
    meta = load_yaml(harvested[0])["metadata"]["hfrouter"]
    assert meta["status"] == 503 and meta["routes"] == ["provider"]
    assert meta["provenance"]["seen"] == 1 and meta["provenance"]["request_id"] == "req-harvest-1"
    assert meta["provenance"]["provider"] == "novita"

    second = hfapp.runpytest(*args)  # the next night: counted, not duplicated
    second.assert_outcomes(passed=1)
    second.stdout.fnmatch_lines(["failure shape novita *: 503, json body (seen again) — kept as *"])
    assert sorted((hfapp.path / "cassettes" / "harvested").glob("*.yaml")) == harvested
    assert load_yaml(harvested[0])["metadata"]["hfrouter"]["provenance"]["seen"] == 2


def test_known_failures_count_as_seen_in_the_wild(hfapp: pytest.Pytester, double: Double) -> None:
    double.outage("bad-gateway-502", provider="novita")
    hfapp.makepyfile(test_nightly=FALLBACK_APP.replace("== 503", "== 502"))

    result = hfapp.runpytest(*double.args("--hfrouter-summary=summary.md"))

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["known scenarios seen in the wild this run: bad-gateway-502 x1"])
    assert not (hfapp.path / "cassettes" / "harvested").exists()
    assert "- known scenarios seen in the wild this run: bad-gateway-502 x1" in (hfapp.path / "summary.md").read_text()


def test_xdist_workers_write_one_candidate(hfapp: pytest.Pytester, double: Double) -> None:
    double.engine.script = overloaded
    hfapp.makepyfile(
        test_nightly="""
        import pytest
        from hfapp import chat, status_of

        @pytest.mark.parametrize("n", range(4))
        def test_overloaded(n):
            assert status_of(lambda: chat("novita")) == 503
        """
    )
    result = hfapp.runpytest(*double.args("-n", "2"))
    result.assert_outcomes(passed=4)
    harvested = list((hfapp.path / "cassettes" / "harvested").glob("*.yaml"))
    assert len(harvested) == 1
    assert load_yaml(harvested[0])["metadata"]["hfrouter"]["provenance"]["seen"] == 4


def test_promote_makes_a_valid_scenario_and_diff_names_the_nearest(
    hfapp: pytest.Pytester, double: Double, library: Library
) -> None:
    double.engine.script = overloaded
    hfapp.makepyfile(test_nightly=FALLBACK_APP)
    hfapp.runpytest(*double.args()).assert_outcomes(passed=1)
    (candidate,) = (hfapp.path / "cassettes" / "harvested").glob("*.yaml")

    promoted = promote(candidate, "novita-overloaded-503", hfapp.path / "scenarios", library)

    from pytest_hfrouter.cassettes import load_cassette
    from pytest_hfrouter.library import scenario_from_cassette

    scenario = scenario_from_cassette(load_cassette(promoted))
    assert scenario.name == "novita-overloaded-503" and scenario.status == 503
    assert scenario.response("provider").body == candidate_body(candidate)
    name, differences = nearest(candidate, library)
    assert name in ("service-unavailable-503", "hub-unavailable")  # one shape: a 503 with an HTML body
    assert any(d.startswith("content_type:") for d in differences)


def candidate_body(path: Path) -> bytes:
    from pytest_hfrouter.cassettes import load_cassette

    return load_cassette(path).interactions[0].response.body


def test_promote_refuses_a_shipped_name_and_a_bad_one(tmp_path: Path, library: Library) -> None:
    from pytest_hfrouter.harvest import PromoteError

    with pytest.raises(PromoteError, match="already has a scenario of that name"):
        promote(tmp_path / "x.yaml", "provider-500", tmp_path, library)
    with pytest.raises(PromoteError, match="lower-case letters"):
        promote(tmp_path / "x.yaml", "Bad Name", tmp_path, library)


def test_failure_shape_key_is_stable() -> None:
    shape = FailureShape(503, "service unavailable", "application/json", '["json", {}]', ())
    assert shape.key == FailureShape(503, "service unavailable", "application/json", '["json", {}]', ()).key


def test_promoted_candidate_replays_what_the_live_run_saw(hfapp: pytest.Pytester, double: Double) -> None:
    """Night: a live run harvests it. Morning: `hfrouter scenarios promote`, then a replay test uses it."""
    import subprocess
    import sys

    double.engine.script = overloaded
    hfapp.makepyfile(test_nightly=FALLBACK_APP)
    hfapp.runpytest(*double.args()).assert_outcomes(passed=1)
    (candidate,) = (hfapp.path / "cassettes" / "harvested").glob("*.yaml")

    cli = [sys.executable, "-m", "pytest_hfrouter", "scenarios"]
    diff = subprocess.run([*cli, "diff", str(candidate)], capture_output=True, text=True, check=True)
    assert diff.stdout.startswith("nearest known scenario: ")
    done = subprocess.run(
        [*cli, "promote", str(candidate), "--name", "novita-overloaded", "--into", "my-scenarios"],
        cwd=hfapp.path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert '@pytest.mark.hfrouter_outage("novita-overloaded", provider=...)' in done.stdout
    refused = subprocess.run(
        [*cli, "promote", str(candidate), "--name", "provider-500"],
        cwd=hfapp.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2 and "already has a scenario of that name" in refused.stderr

    (candidate.parent).rename(hfapp.path / "kept")  # the candidate itself plays no part in replay
    hfapp.makeini("[pytest]\nhfrouter_scenario_dirs = my-scenarios\n")
    hfapp.makepyfile(
        test_morning="""
        import pytest
        from huggingface_hub.errors import HfHubHTTPError
        from hfapp import chat

        @pytest.mark.hfrouter_outage("novita-overloaded", provider="novita")
        def test_overloaded_novita(hfrouter):
            with pytest.raises(HfHubHTTPError) as caught:
                chat("novita")
            assert caught.value.response.status_code == 503
            assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"
            assert "Provider overloaded" in caught.value.response.text
            assert "overloaded_error" in caught.value.response.text
            assert hfrouter.calls[-1].answered_by == "scenario:novita-overloaded"
        """
    )
    morning = hfapp.runpytest("-p", "hfrouter", "test_morning.py")
    morning.assert_outcomes(passed=1)
    assert PLANTED not in (hfapp.path / "my-scenarios" / "novita-overloaded.yaml").read_text()


def test_scenarios_table_shows_when_each_was_seen_in_the_wild(hfapp: pytest.Pytester, double: Double) -> None:
    import subprocess
    import sys

    double.outage("bad-gateway-502", provider="novita")
    hfapp.makepyfile(test_nightly=FALLBACK_APP.replace("== 503", "== 502"))
    hfapp.runpytest(*double.args("--hfrouter-report=night.json")).assert_outcomes(passed=1)

    cli = [sys.executable, "-m", "pytest_hfrouter", "scenarios", "--report", str(hfapp.path / "night.json")]
    table = subprocess.run(cli, capture_output=True, text=True, check=True).stdout.splitlines()
    assert "seen in the wild" in table[0]
    (row,) = [line for line in table if line.startswith("bad-gateway-502 ")]
    assert row.rstrip().endswith("(x1)")
    (other,) = [line for line in table if line.startswith("rate-limited-429 ")]
    assert other.rstrip().endswith("-")
    missing = subprocess.run([*cli[:-1], "nowhere.json"], capture_output=True, text=True, check=False)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_a_harvested_stream_that_never_said_done_promotes_as_truncating(tmp_path: Path, library: Library) -> None:
    """A stream scenario that ends without [DONE] must say whether it truncates (or loading refuses it):
    a harvested in-band error stream says so, and promotes."""
    from pytest_hfrouter.harvest import _write, candidate, failure_shape
    from pytest_hfrouter.live import Observed
    from pytest_hfrouter.routes import classify
    from pytest_hfrouter.traffic import Request

    url = "https://router.huggingface.co/novita/v3/openai/chat/completions"
    body = b'{"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}], "stream": true}'
    request = Request("POST", url, (), body)
    stream = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\ndata: {"error":"Model overloaded"}\n\n'
    observed = Observed(200, "OK", (("Content-Type", "text/event-stream"),), stream, 0.1)
    shape = failure_shape(observed)
    assert shape is not None
    route = classify("POST", url, body)
    document = candidate("x", request, route, "novita", "Qwen/Qwen2.5-72B-Instruct", observed, shape, {})
    assert document["metadata"]["hfrouter"]["truncates_stream"] is True
    _write(tmp_path / "x.yaml", document)

    promoted = promote(tmp_path / "x.yaml", "novita-error-stream", tmp_path / "scenarios", library)

    from pytest_hfrouter.cassettes import load_cassette
    from pytest_hfrouter.library import scenario_from_cassette

    assert scenario_from_cassette(load_cassette(promoted)).truncates_stream
