"""Seeded chaos: the choice per call, the reproduction lines, the run-level behaviour, the examples."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_hfrouter.chaos import ChaosPlan, draw, marker_line
from pytest_hfrouter.library import Library, shipped_library
from pytest_hfrouter.routes import AUTO, MAPPING, PROVIDER, Route

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def library() -> Library:
    return shipped_library()


# -- the choice per call -------------------------------------------------------------------------
def test_draw_depends_on_seed_node_id_and_ordinal_only() -> None:
    assert draw(7, "t.py::a", 0) == draw(7, "t.py::a", 0)
    others = {draw(8, "t.py::a", 0), draw(7, "t.py::b", 0), draw(7, "t.py::a", 1)}
    assert draw(7, "t.py::a", 0) not in others and len(others) == 3
    shares = [draw(1, "t", n)[0] for n in range(2000)]
    assert all(0 <= s < 1 for s in shares)
    assert 0.25 < sum(s < 0.3 for s in shares) / len(shares) < 0.35  # rate 0.3 hits about 30 % of calls


def test_picks_replay_and_respect_rate_and_routes(library: Library) -> None:
    plain, stream = Route(PROVIDER, "novita", "m"), Route(PROVIDER, "novita", "m", stream=True)

    def picks(plan: ChaosPlan, nodeid: str, routes: list[Route]) -> list[str | None]:
        chaos = plan.for_test(nodeid)
        return [s.name if (s := chaos.pick(r)) else None for r in routes]

    plan = ChaosPlan.build(library, seed=42, rate=0.5)
    calls = [plain] * 40
    first = picks(plan, "t.py::x", calls)
    assert first == picks(ChaosPlan.build(library, 42, 0.5), "t.py::x", calls)  # same seed, same outages
    assert first != picks(ChaosPlan.build(library, 43, 0.5), "t.py::x", calls)
    assert 5 < sum(p is not None for p in first) < 35
    stream_only = {s.name for s in library.scenarios.values() if s.stream is True}
    assert not stream_only & set(first)  # stream-only scenarios never hit a plain call
    assert any(p in stream_only for p in picks(ChaosPlan.build(library, 42, 1.0), "t", [stream] * 60))
    assert picks(ChaosPlan.build(library, 42, 0.0), "t", calls) == [None] * 40
    every = picks(ChaosPlan.build(library, 42, 1.0), "t", calls)
    assert None not in every and "model-not-supported-400" not in every  # auto-route only
    auto = picks(ChaosPlan.build(library, 42, 1.0), "t", [Route(AUTO, None, "m")] * 80)
    assert "model-not-supported-400" in auto
    mapping = set(picks(ChaosPlan.build(library, 42, 1.0), "t", [Route(MAPPING, model="m")] * 40))
    # the Hub-only ones, but no provider flagged unavailable: only the auto route acts on that, and it looks nothing up
    assert mapping == {"hub-unavailable", "mapping-missing-provider"}
    subset = ChaosPlan.build(library, 42, 1.0, ["bad-gateway-502", "novita-500"])
    assert set(picks(subset, "t", calls)) == {"bad-gateway-502", "provider-500"}
    assert picks(subset, "t", [stream] * 3) != [None] * 3


def test_reproduction_lines_fold_repeats_and_say_when_inexact(library: Library) -> None:
    chaos = ChaosPlan.build(library, 1, 1.0, ["bad-gateway-502"]).for_test("t")
    route = Route(PROVIDER, "novita", "m")
    for call in range(2):
        chaos.record(chaos.pick(route), route, "novita", "m", call)
    together = Route(PROVIDER, "together", "m")
    chaos.record(chaos.pick(together), together, "together", "m", 2)
    # the order to paste them in: the lowest marker is the closest, the first call's
    assert chaos.reproduction() == [
        '@pytest.mark.hfrouter_outage("bad-gateway-502", provider="together", times=1)',
        '@pytest.mark.hfrouter_outage("bad-gateway-502", provider="novita", times=2)',
    ]
    assert all(i.exact for i in chaos.injected)
    # a novita call chaos spared, then one it hit: the marker (times=1) would hit the spared one
    spared = ChaosPlan.build(library, 1, 1.0, ["bad-gateway-502"]).for_test("u")
    spared.record(None, route, "novita", "m", 0)
    spared.record(library.get("bad-gateway-502"), route, "novita", "m", 1)
    assert [i.exact for i in spared.injected] == [False]
    assert marker_line("hub-unavailable", None, "Qwen/X", 1) == (
        '@pytest.mark.hfrouter_outage("hub-unavailable", model="Qwen/X", times=1)'
    )


# -- a chaos run ---------------------------------------------------------------------------------
SUITE = """
import pytest

from hfapp import chat


def call_novita():
    return chat("novita").choices[0].message.content


@pytest.mark.parametrize("n", range(4))
def test_fragile(n):
    assert call_novita()


def test_falls_back():
    for provider in ("novita", "together", "cerebras"):
        try:
            return chat(provider)
        except Exception:
            continue
    raise AssertionError("every provider failed")


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_marked(hfrouter):
    with pytest.raises(Exception):
        call_novita()
    assert [c.status for c in hfrouter.inference_calls] == [500]


@pytest.mark.hfrouter_no_chaos
def test_healthy_only(hfrouter):
    assert call_novita()
    assert [c.answered_by for c in hfrouter.inference_calls] == ["healthy"]
"""


def chaos_report(path: Path) -> dict[str, dict[str, Any]]:
    data = json.loads(path.read_text())
    return {t["test"]: t for t in data["tests"]}


def test_chaos_run_reports_injections_and_a_working_reproduction(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(test_suite=SUITE)
    args = [
        "-p",
        "hfrouter",
        "--hfrouter-chaos-seed=1234",
        "--hfrouter-chaos-rate=1",
        "--hfrouter-chaos-scenarios=bad-gateway-502",
        "--hfrouter-report=r.json",
    ]
    result = hfapp.runpytest(*args)
    result.assert_outcomes(passed=2, failed=5)  # at rate 1 even the fallback chain runs out
    result.stdout.fnmatch_lines(
        [
            "hfrouter: mode=replay scope=all (*) chaos: seed=1234 rate=1 scenarios=bad-gateway-502",
            "*- hfrouter chaos -*",
            "chaos (seed 1234) injected into this test:",
            "  call 2 (provider novita): bad-gateway-502",
            "reproduce it without chaos (add above the test, in this order: the lowest meets the first call):",
            '  @pytest.mark.hfrouter_outage("bad-gateway-502", provider="novita", times=1)',
            "*- hfrouter chaos -*",
            "seed 1234, rate 1: 5 test(s) ran under chaos, 7 outage(s) injected into 5 test(s)",
            "failed under chaos: 5 (by scenario)",
            "  bad-gateway-502:",
            "    test_suite.py::test_fragile[[]0[]]",
            '      @pytest.mark.hfrouter_outage("bad-gateway-502", provider="novita", times=1)',
            "*",
            "    test_suite.py::test_falls_back",
            '      @pytest.mark.hfrouter_outage("bad-gateway-502", provider="cerebras", times=1)',
            '      @pytest.mark.hfrouter_outage("bad-gateway-502", provider="together", times=1)',
            '      @pytest.mark.hfrouter_outage("bad-gateway-502", provider="novita", times=1)',
            "replay this run: --hfrouter-chaos-seed=1234",
        ]
    )
    tests = chaos_report(hfapp.path / "r.json")
    assert "chaos" not in tests["test_suite.py::test_marked"]  # marked tests keep their own rules
    assert "chaos" not in tests["test_suite.py::test_healthy_only"]
    falls_back = tests["test_suite.py::test_falls_back"]
    assert falls_back["outcome"] == "failed"
    assert [(i["call"], i["provider"], i["scenario"]) for i in falls_back["chaos"]] == [
        (1, "novita", "bad-gateway-502"),
        (2, "together", "bad-gateway-502"),
        (3, "cerebras", "bad-gateway-502"),
    ]
    # The reproduction line, pasted above the test, fails it the same way without chaos.
    reproduced = SUITE.replace(
        "@pytest.mark.parametrize",
        '@pytest.mark.hfrouter_outage("bad-gateway-502", provider="novita", times=1)\n@pytest.mark.parametrize',
    )
    hfapp.makepyfile(test_suite=reproduced)
    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-report=again.json", "-k", "fragile")
    result.assert_outcomes(failed=4)
    assert "hfrouter chaos" not in result.stdout.str()
    again = chaos_report(hfapp.path / "again.json")
    assert [c["status"] for c in again["test_suite.py::test_fragile[0]"]["calls"] if c["route"] == "provider"] == [502]
    # And without the line or chaos, the suite is green.
    hfapp.makepyfile(test_suite=SUITE)
    hfapp.runpytest("-p", "hfrouter").assert_outcomes(passed=7)


def test_same_seed_same_outages_under_xdist_and_after_lf(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(test_suite=SUITE)
    args = ["-p", "hfrouter", "--hfrouter-chaos-seed=99"]
    plain = hfapp.runpytest_subprocess(*args, "--hfrouter-report=plain.json")
    spread = hfapp.runpytest_subprocess(*args, "--hfrouter-report=spread.json", "-n", "2")
    failed_again = hfapp.runpytest_subprocess(*args, "--hfrouter-report=lf.json", "--lf")

    def injections(name: str) -> dict[str, list[Any]]:
        return {test: record.get("chaos") for test, record in chaos_report(hfapp.path / name).items()}

    once, twice = injections("plain.json"), injections("spread.json")
    assert once == twice
    assert sum(len(v or []) for v in once.values()) > 0  # the seed did inject something
    failed = {t for t, r in chaos_report(hfapp.path / "plain.json").items() if r["outcome"] == "failed"}
    assert failed, "seed 99 should break one of the fragile tests"
    assert plain.ret == spread.ret == failed_again.ret == pytest.ExitCode.TESTS_FAILED
    rerun = injections("lf.json")
    assert set(rerun) == failed
    assert {t: once[t] for t in failed} == rerun
    spread.stdout.fnmatch_lines(["hfrouter: mode=replay scope=all (*) chaos: seed=99 *"])


def test_a_drawn_seed_is_printed_and_replays(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(test_suite=SUITE)
    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-chaos", "--hfrouter-report=a.json", "-n", "2")
    seed = re.search(r"chaos: seed=(\d+) rate=0.3 scenarios=every scenario that applies", result.stdout.str())
    assert seed is not None, result.stdout.str()
    result.stdout.fnmatch_lines([f"replay this run: --hfrouter-chaos-seed={seed.group(1)}"])
    hfapp.runpytest("-p", "hfrouter", f"--hfrouter-chaos-seed={seed.group(1)}", "--hfrouter-report=b.json")
    first, second = chaos_report(hfapp.path / "a.json"), chaos_report(hfapp.path / "b.json")
    assert {t: r.get("chaos") for t, r in first.items()} == {t: r.get("chaos") for t, r in second.items()}


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("--hfrouter-chaos-rate=1.5", "*--hfrouter-chaos-rate: expected a share between 0 and 1, got 1.5"),
        ("--hfrouter-chaos-rate=lots", "*--hfrouter-chaos-rate: expected a number >= 0, got 'lots'"),
        ("--hfrouter-chaos-seed=abc", "*--hfrouter-chaos-seed: expected an integer*got 'abc'"),
        (
            "--hfrouter-chaos-scenarios=bad-gateway",
            "*--hfrouter-chaos-scenarios: unknown scenario 'bad-gateway'. Did you mean 'bad-gateway-502'?*",
        ),
    ],
)
def test_chaos_usage_errors(pytester: pytest.Pytester, option: str, expected: str) -> None:
    pytester.makepyfile(test_x="def test_x(): pass")
    result = pytester.runpytest("-p", "hfrouter", "--hfrouter-chaos", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


def test_without_chaos_nothing_is_injected(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(test_suite=SUITE)
    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-report=r.json")
    result.assert_outcomes(passed=7)
    assert "hfrouter chaos" not in result.stdout.str() and "chaos:" not in result.stdout.str()
    data = json.loads((hfapp.path / "r.json").read_text())
    assert data["chaos"] is None and all("chaos" not in t for t in data["tests"])


# -- the examples ----------------------------------------------------------------------------------
@pytest.fixture
def examples(pytester: pytest.Pytester) -> pytest.Pytester:
    """The example apps and their test folders, copied as they are."""
    for name in ("chatapp", "imageapp", "tests", "fragile"):
        shutil.copytree(EXAMPLES / name, pytester.path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(EXAMPLES / "conftest.py", pytester.path / "conftest.py")
    return pytester


@pytest.mark.parametrize("chaos", ["--hfrouter-chaos-seed=3", "--hfrouter-chaos-seed=11", "--hfrouter-chaos-rate=1"])
def test_the_example_app_survives_chaos(examples: pytest.Pytester, chaos: str) -> None:
    args = ["-p", "hfrouter", "tests", "--hfrouter-chaos", chaos, "--hfrouter-report=r.json"]
    result = examples.runpytest(*args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    result.stdout.fnmatch_lines(["failed under chaos: 0"])
    under = [t for t in chaos_report(examples.path / "r.json").values() if "chaos" in t]
    assert len(under) == 3  # the chaos-ready test (chat, stream) and the outage() one; not the healthy one
    assert sum(len(t["chaos"]) for t in under) > 0, "no outage injected: this run proved nothing"


@pytest.mark.parametrize(
    "option", ["--hfrouter-chaos-rate=1", "--hfrouter-chaos-scenarios=provider-500,rate-limited-429"]
)
def test_a_chaos_option_alone_asks_for_chaos(examples: pytest.Pytester, option: str) -> None:
    """The README's command, as written: ``--hfrouter-chaos-rate=1`` without ``--hfrouter-chaos``.
    Ignored, it ran no chaos and the fragile app passed; a rate in an ini file stays a default."""
    result = examples.runpytest("-p", "hfrouter", "fragile", option)
    result.stdout.fnmatch_lines(["hfrouter: mode=replay * chaos: seed=* rate=* scenarios=*", "*- hfrouter chaos -*"])
    if "rate=1" in option:  # every call is hit (which outage, the drawn seed decides: the app may survive it)
        result.stdout.fnmatch_lines(["seed *, rate 1: 1 test(s) ran under chaos, * outage(s) injected into 1 test(s)"])
    examples.makeini("[pytest]\nhfrouter_chaos_rate = 1\n")
    examples.runpytest("-p", "hfrouter", "fragile").assert_outcomes(passed=1)


def test_the_fragile_example_is_caught_and_its_reproduction_fails_it(examples: pytest.Pytester) -> None:
    result = examples.runpytest("-p", "hfrouter", "fragile")
    result.assert_outcomes(passed=1)  # a plain run is green
    result = examples.runpytest("-p", "hfrouter", "fragile", "--hfrouter-chaos-seed=7", "--hfrouter-chaos-rate=1")
    result.assert_outcomes(failed=1)
    lines = result.stdout.lines
    at = lines.index("reproduce it without chaos (add above the test, in this order: the lowest meets the first call):")
    marker = lines[at + 1].strip()
    assert marker.startswith("@pytest.mark.hfrouter_outage(") and "times=1" in marker
    test_file = examples.path / "fragile" / "test_fragile_title.py"
    source = test_file.read_text()
    test_file.write_text(
        source.replace("from chatapp import", "import pytest\nfrom chatapp import").replace(
            "def test_a_conversation_gets_a_title", f"{marker}\ndef test_a_conversation_gets_a_title"
        )
    )
    examples.runpytest("-p", "hfrouter", "fragile").assert_outcomes(failed=1)  # red without chaos
    # The good app's chaos-ready test meets the same outage and stays green.
    good = examples.path / "tests" / "test_outage_contract.py"
    good.write_text(
        good.read_text().replace(
            '@pytest.mark.parametrize("mode", ["chat", "stream"])\ndef test_every_question',
            f'{marker}\n@pytest.mark.parametrize("mode", ["chat", "stream"])\ndef test_every_question',
        )
    )
    examples.runpytest("-p", "hfrouter", "tests", "-k", "every_question").assert_outcomes(passed=2)


def test_a_test_meets_the_same_outages_whichever_test_ran_before_it(hfapp: pytest.Pytester) -> None:
    """huggingface_hub caches the Hub's mapping per process: a chaos test starts with a cold cache,
    or its call ordinals (and so its outages) would depend on the test that ran before it."""
    hfapp.makepyfile(
        test_order="""
        from hfapp import chat, status_of

        def test_first():
            status_of(lambda: chat("novita"))

        def test_second():
            for _ in range(6):
                status_of(lambda: chat("novita"))
        """
    )
    args = [
        "-p",
        "hfrouter",
        "--hfrouter-chaos-seed=2",
        "--hfrouter-chaos-rate=0.5",
        "--hfrouter-chaos-scenarios=bad-gateway-502",
    ]
    # Plain subprocesses, as a user runs pytest: the client's cache lives as long as the process.
    for extra in (["--hfrouter-report=both.json"], ["--hfrouter-report=alone.json", "-k", "second"]):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, *extra],
            cwd=hfapp.path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout
    both = chaos_report(hfapp.path / "both.json")["test_order.py::test_second"]
    alone = chaos_report(hfapp.path / "alone.json")["test_order.py::test_second"]
    assert both["chaos"] and both["chaos"] == alone["chaos"]
    assert [c["route"] for c in both["calls"]] == [c["route"] for c in alone["calls"]]


def test_every_chaos_test_starts_with_cold_client_caches(library: Library) -> None:
    from pytest_hfrouter.engine import Engine
    from pytest_hfrouter.traffic import Exchange

    engine = Engine(library)
    engine.hub_answers_changed = False  # the test before left the clients' Hub caches as a healthy run would
    assert not engine.must_reset_client_caches(Exchange())
    assert engine.must_reset_client_caches(Exchange(chaos=ChaosPlan.build(library, 1, 0.3).for_test("t")))


def test_at_rate_1_every_call_is_hit_by_a_scenario_of_its_provider(pytester: pytest.Pytester) -> None:
    """job-failed is replicate's answer: drawn for a novita call it was dropped, and the call went
    untouched at rate 1. The draw is among the scenarios that can hit the call's provider."""
    pytester.makepyfile(
        test_calls="""
        import pytest
        from huggingface_hub import InferenceClient
        from huggingface_hub.errors import HfHubHTTPError

        @pytest.mark.parametrize("n", range(20))
        def test_ask(n):
            client = InferenceClient(provider="novita", api_key="hf_fake", timeout=5)
            with pytest.raises(HfHubHTTPError):
                client.chat_completion(messages=[{"role": "user", "content": "hi"}], model="Qwen/Qwen2.5-72B-Instruct")
        """
    )
    chaos = ("--hfrouter-chaos-seed=1", "--hfrouter-chaos-rate=1", "--hfrouter-chaos-scenarios=job-failed,provider-500")
    result = pytester.runpytest("-p", "hfrouter", *chaos)
    result.stdout.fnmatch_lines(["seed 1, rate 1: 20 test(s) ran under chaos, 20 outage(s) injected into 20 test(s)"])
    result.assert_outcomes(passed=20)


def test_chaos_outages_are_judged_like_markers(hfapp: pytest.Pytester) -> None:
    """A chaos run's injections get the resilience verdicts a marker's would (an audit: an app that
    retried a 402, or showed a cut stream as whole, passed hfrouter_resilient under chaos)."""
    hfapp.makepyfile(
        flawed="""
        from hfapp import chat

        def retries_a_402():
            for _ in range(3):
                try:
                    return chat("novita")
                except Exception:
                    pass

        def shows_half_a_stream():
            pieces = []
            try:
                for chunk in chat("novita", stream=True):
                    pieces.append(chunk.choices[0].delta.content or "")
            except Exception:
                pass
            return "".join(pieces)
        """,
        test_judged="""
        import pytest
        import flawed

        @pytest.mark.hfrouter_resilient()
        def test_retries_a_402(hfrouter):
            flawed.retries_a_402()

        @pytest.mark.hfrouter_resilient()
        def test_shows_half_a_stream(hfrouter):
            flawed.shows_half_a_stream()
        """,
    )
    args = ("-p", "hfrouter", "--hfrouter-chaos-seed=1", "--hfrouter-chaos-rate=1")
    result = hfapp.runpytest(*args, "--hfrouter-chaos-scenarios=credits-exhausted-402", "-k", "402")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*retried-non-retryable: novita * was called again after a 402*"])
    result = hfapp.runpytest(*args, "--hfrouter-chaos-scenarios=stream-cut", "-k", "stream")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*truncated-stream-accepted: novita * sent a truncated stream (stream-cut)*"])


def test_a_block_test_chaos_left_alone_is_judged_on_its_blocks(hfapp: pytest.Pytester) -> None:
    """A test whose outages are blocks is judged on the calls inside them; a chaos run that injects nothing
    into it judges it the same (an audit: every chaos run, rate 0 included, judged it whole, and the call
    after its 429 block read retry-after-ignored)."""
    hfapp.makepyfile(
        """
        from hfapp import chat, status_of

        def test_block_then_call(hfrouter):
            with hfrouter.outage("rate-limited-429", provider="novita"):
                assert status_of(lambda: chat("novita")) == 429
            chat("novita")
        """
    )
    for chaos in ((), ("--hfrouter-chaos", "--hfrouter-chaos-rate=0")):
        result = hfapp.runpytest("-p", "hfrouter", "-o", "hfrouter_verdicts=fail", *chaos)
        result.assert_outcomes(passed=1)


THREE_CALLS = """
import json
from pathlib import Path

import pytest
from hfapp import chat, status_of

def test_three_calls():
    seen = [status_of(lambda: chat("novita")) for _ in range(3)]
    Path("seen.json").write_text(json.dumps(seen))
    assert seen == []
"""


def test_the_reproduction_lines_pasted_as_printed_meet_the_calls_in_the_same_order(hfapp: pytest.Pytester) -> None:
    """An audit: a provider hit by several scenarios got one line each, in call order; pasted, the lowest (the
    closest marker) won the first call, so the outages came in reverse."""
    hfapp.makepyfile(test_three=THREE_CALLS)
    scenarios = "--hfrouter-chaos-scenarios=provider-500,bad-gateway-502,service-unavailable-503"
    for seed in range(1, 30):
        result = hfapp.runpytest(
            "-p", "hfrouter", f"--hfrouter-chaos-seed={seed}", "--hfrouter-chaos-rate=1", scenarios
        )
        seen = json.loads((hfapp.path / "seen.json").read_text())
        if len(set(seen)) == 3:  # three outages, each of its own
            break
    else:
        pytest.fail("no seed drew three different outages")
    lines = result.stdout.lines
    at = lines.index("reproduce it without chaos (add above the test, in this order: the lowest meets the first call):")
    markers = [line.strip() for line in lines[at + 1 : at + 4]]
    assert all(m.startswith("@pytest.mark.hfrouter_outage(") for m in markers), markers
    source = THREE_CALLS.replace("def test_three_calls", "\n".join(markers) + "\ndef test_three_calls")
    hfapp.makepyfile(test_three=source)
    hfapp.runpytest("-p", "hfrouter").assert_outcomes(failed=1)
    assert json.loads((hfapp.path / "seen.json").read_text()) == seen
