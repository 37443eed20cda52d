"""The markers: who an outage answers, stacking, ``times``, aliases, parametrizing, and errors."""

from __future__ import annotations

import pytest
from conftest import CassetteWriter, needs_server_side_auto

from pytest_hfrouter.library import shipped_library


@needs_server_side_auto
def test_outage_answers_only_matching_provider_and_model(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import MODEL, auto_chat, chat, status_of

        OTHER_MODEL = "meta-llama/Llama-3.1-8B-Instruct"

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_provider_name(hfrouter):
            assert status_of(lambda: chat("novita")) == 500
            assert status_of(lambda: chat("together")) == 200
            assert status_of(lambda: chat("novita", model=OTHER_MODEL)) == 500

        @pytest.mark.hfrouter_outage("provider-500", provider="n*ta")
        def test_provider_glob(hfrouter):
            assert status_of(lambda: chat("novita")) == 500
            assert status_of(lambda: chat("nscale")) == 200

        @pytest.mark.hfrouter_outage("provider-500", model="Qwen/*-72B-*")
        def test_model_glob_any_provider(hfrouter):
            assert status_of(lambda: chat("novita")) == 500
            assert status_of(lambda: chat("together")) == 500
            assert status_of(lambda: chat("novita", model=OTHER_MODEL)) == 200

        @pytest.mark.hfrouter_outage("provider-500", provider="together", model=MODEL)
        def test_provider_and_model(hfrouter):
            assert status_of(lambda: chat("together")) == 500
            assert status_of(lambda: chat("novita")) == 200
            assert status_of(lambda: chat("together", model=OTHER_MODEL)) == 200

        @pytest.mark.hfrouter_outage("provider-500", model=MODEL + ":novita")
        def test_model_provider_suffix_on_the_auto_route(hfrouter):
            assert status_of(lambda: auto_chat(MODEL + ":novita")) == 500
            assert status_of(lambda: auto_chat(MODEL + ":together")) == 200
            assert status_of(lambda: auto_chat(OTHER_MODEL + ":novita")) == 200
            assert [c.route for c in hfrouter.calls] == ["auto"] * 3

        @pytest.mark.hfrouter_outage("provider-500", provider="together")
        def test_provider_suffix_on_the_auto_route(hfrouter):
            assert status_of(lambda: auto_chat(MODEL + ":together")) == 500
            assert status_of(lambda: auto_chat(MODEL + ":cerebras")) == 200
            assert hfrouter.tried == ["together", "cerebras"]
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=6)


def test_stacked_outages_closest_wins(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat, status_of

        # The farther rules are shadowed in some tests on purpose: optional, or they would be findings.
        pytestmark = [
            pytest.mark.hfrouter_outage("provider-500", provider="novita", optional=True),
            pytest.mark.hfrouter_outage("bad-gateway-502", provider="cerebras", optional=True),
        ]

        def test_module_level():
            assert status_of(lambda: chat("novita")) == 500
            assert status_of(lambda: chat("cerebras")) == 502
            assert status_of(lambda: chat("together")) == 200

        @pytest.mark.hfrouter_outage("rate-limited-429", provider="novita", optional=True)
        class TestClassLevel:
            def test_class_beats_module(self):
                assert status_of(lambda: chat("novita")) == 429
                assert status_of(lambda: chat("cerebras")) == 502

            @pytest.mark.hfrouter_outage("invalid-token-401", provider="novita")
            def test_function_beats_class(self):
                assert status_of(lambda: chat("novita")) == 401
                assert status_of(lambda: chat("cerebras")) == 502

            @pytest.mark.hfrouter_outage("invalid-token-401", provider="novita", times=1)
            def test_exhausted_closest_hands_over_to_the_next(self):
                assert status_of(lambda: chat("novita")) == 401
                assert status_of(lambda: chat("novita")) == 429
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=4)


def test_times_then_recovery(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat, status_of

        @pytest.mark.hfrouter_outage("provider-500", provider="novita", times=1)
        def test_once(hfrouter):
            assert status_of(chat) == 500
            assert status_of(chat) == 200
            assert status_of(chat) == 200
            assert [c.status for c in hfrouter.inference_calls] == [500, 200, 200]
            hfrouter.assert_answered_by("novita")

        @pytest.mark.hfrouter_outage("service-unavailable-503", provider="novita", times=2)
        def test_twice(hfrouter):
            assert [status_of(chat) for _ in range(3)] == [503, 503, 200]

        def test_next_test_starts_fresh(hfrouter):
            assert status_of(chat) == 200
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=3)


def test_outage_context_manager_takes_precedence(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from pytest_hfrouter import HFRouterError
        from hfapp import chat, status_of

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_with_block_beats_the_marker(hfrouter):
            assert status_of(chat) == 500
            with hfrouter.outage("rate-limited-429", provider="novita"):
                assert status_of(chat) == 429
                with hfrouter.outage("invalid-token-401", provider="nov*", times=1):
                    assert status_of(chat) == 401
                    assert status_of(chat) == 429
            assert status_of(chat) == 500

        def test_without_marker(hfrouter):
            with hfrouter.outage("novita-500", provider="novita"):
                assert status_of(chat) == 500
                assert status_of(lambda: chat("together")) == 200
            assert status_of(chat) == 200

        def test_bad_arguments_raise(hfrouter):
            with pytest.raises(HFRouterError, match="Did you mean 'provider-500'"):
                with hfrouter.outage("provider-50"):
                    pass
            with pytest.raises(HFRouterError, match="times must be a positive int"):
                with hfrouter.outage("provider-500", times=0):
                    pass
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=3)


def test_alias_names_the_same_scenario(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat, status_of

        @pytest.mark.hfrouter_outage("novita-500", provider="novita")
        def test_alias(hfrouter):
            assert status_of(chat) == 500
            assert hfrouter.inference_calls[-1].answered_by == "scenario:provider-500"

        @pytest.mark.hfrouter_outage("novita-500", provider="together")
        def test_alias_never_met():
            chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1, failed=1)
    # a finding shows the rule as written (the README's words), the alias included
    result.stdout.fnmatch_lines(
        ["  - @pytest.mark.hfrouter_outage('novita-500', provider='together') answered no call*"]
    )


EACH_OUTAGE_TESTS = """
import pytest
from hfapp import MODEL, auto_chat, chat, status_of

EXPECTED = {"provider-500": 500, "rate-limited-429": 429, "staging-auth": 401}

@pytest.mark.hfrouter_each_outage("provider-500", "rate-limited-429", "hyperbolic-staging", provider="novita")
def test_named(hfrouter, hfrouter_scenario):
    assert hfrouter.scenario == hfrouter_scenario
    assert status_of(chat) == EXPECTED[hfrouter_scenario]
    assert status_of(lambda: chat("together")) == 200

@pytest.mark.hfrouter_each_outage(provider="together")
def test_all(hfrouter, hfrouter_scenario):
    status_of(lambda: chat("together"))
    status_of(lambda: list(chat("together", stream=True)))
    status_of(lambda: auto_chat(MODEL + ":together"))
    assert f"scenario:{hfrouter_scenario}" in [c.answered_by for c in hfrouter.calls]

def test_plain(hfrouter, hfrouter_scenario):
    assert hfrouter_scenario is None
    assert hfrouter.scenario is None
"""


def test_each_outage_ids_name_the_scenarios(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(test_each=EACH_OUTAGE_TESTS)
    # every HTTP scenario that can happen to together (job-failed is replicate's answer only)
    every_http = [s.name for s in shipped_library().http_scenarios() if s.applies_to("together")]
    assert "job-failed" not in every_http
    transport = [s.name for s in shipped_library().scenarios.values() if not s.is_http]
    assert "provider-500" in every_http
    assert not set(transport) & set(every_http)

    result = hfapp.runpytest("-p", "hfrouter", "--collect-only", "-q")

    assert result.ret == 0
    ids = [line for line in result.stdout.lines if "::" in line]
    assert ids == [
        "test_each.py::test_named[provider-500]",
        "test_each.py::test_named[rate-limited-429]",
        "test_each.py::test_named[staging-auth]",
        *[f"test_each.py::test_all[{name}]" for name in every_http],
        "test_each.py::test_plain",
    ]


@needs_server_side_auto
def test_each_outage_runs_every_case(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(test_each=EACH_OUTAGE_TESTS)

    result = hfapp.runpytest("-p", "hfrouter", "-v", "-rs")

    cases = len([s for s in shipped_library().http_scenarios() if s.applies_to("together")])
    # provider-unavailable changes nothing for an app that names its provider (the router still serves it), nor
    # mapping-task-conversational for a chat call
    result.assert_outcomes(passed=4 + cases - 2, skipped=2)
    result.stdout.fnmatch_lines(["*test_named?staging-auth? PASSED*"])
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED *provider-unavailable flags the provider unavailable in the Hub's mapping*",
            "SKIPPED *mapping-task-conversational wrote into each of the test's mapping look-ups the entry it already*",
        ]
    )
    result.stdout.no_fnmatch_line("*HFRouterWarning*")  # every case was exercised


def test_stacked_each_outage_markers_are_a_collection_error(hfapp: pytest.Pytester) -> None:
    """A test runs one matrix: a second marker (on the test, or its module's) would have had its cases
    silently never run (an audit)."""
    hfapp.makepyfile(
        test_stacked="""
        import pytest

        pytestmark = pytest.mark.hfrouter_each_outage("bad-gateway-502", provider="novita")

        @pytest.mark.hfrouter_each_outage("rate-limited-429", provider="novita")
        def test_chat(hfrouter):
            pass
        """
    )
    result = hfapp.runpytest("-p", "hfrouter", "--collect-only")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_stacked.py::test_chat: @pytest.mark.hfrouter_each_outage: 2 of these markers apply to this test "
            "(on it, its class or its module), and a test runs one matrix*",
            "*signature: @pytest.mark.hfrouter_each_outage(*",
        ]
    )


def test_an_each_outage_marker_pytest_never_parametrized_fails_the_test(hfapp: pytest.Pytester) -> None:
    """pytest makes no cases for a unittest.TestCase method, nor for a marker added after collection:
    the test ran once, with no outage, green (found by a new user's audit)."""
    hfapp.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                if item.name == "test_added_late":
                    item.add_marker(pytest.mark.hfrouter_each_outage(provider="novita"))
        """
    )
    hfapp.makepyfile(
        test_late="""
        import unittest

        import pytest
        from hfapp import chat, status_of

        class TestChat(unittest.TestCase):
            @pytest.mark.hfrouter_each_outage(provider="novita")
            def test_method(self):
                self.assertEqual(status_of(chat), 200)

        def test_added_late():
            assert status_of(chat) == 200
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*test_late.py::TestChat::test_method is marked @pytest.mark.hfrouter_each_outage, but no case of it "
            "was made: pytest does not parametrize the methods of a unittest.TestCase.*",
            "*test_late.py::test_added_late is marked @pytest.mark.hfrouter_each_outage, but no case of it was "
            "made: the marker came after pytest parametrized the tests at collection*",
        ]
    )


def test_unknown_scenario_is_a_collection_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_unknown="""
        import pytest

        @pytest.mark.hfrouter_outage("provider-50", provider="novita")
        def test_it():
            pass
        """
    )

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting test_unknown.py*",
            "test_unknown.py::test_it: @pytest.mark.hfrouter_outage: unknown scenario 'provider-50'."
            " Did you mean 'provider-500'? Valid scenarios: *provider-500*",
        ]
    )


WRONG_ARGS = {
    "no_scenario": (
        '@pytest.mark.hfrouter_outage(provider="novita")',
        "hfrouter_outage: takes exactly one scenario, got 0*",
    ),
    "two_scenarios": (
        '@pytest.mark.hfrouter_outage("provider-500", "rate-limited-429")',
        "hfrouter_outage: takes exactly one scenario, got 2*",
    ),
    "times_zero": (
        '@pytest.mark.hfrouter_outage("provider-500", times=0)',
        "hfrouter_outage: times must be a positive int or None, got 0",
    ),
    "unknown_kwarg": (
        '@pytest.mark.hfrouter_outage("provider-500", providers="novita")',
        "hfrouter_outage: unexpected keyword argument(s) providers (did you mean 'provider'?)",
    ),
    "unknown_kwargs_each": (
        '@pytest.mark.hfrouter_each_outage(provider="novita", retry_afer=1, colour="red")',
        "hfrouter_each_outage: unexpected keyword argument(s) colour, retry_afer (did you mean 'retry_after'?)",
    ),
    "each_alias_twice": (
        '@pytest.mark.hfrouter_each_outage("provider-500", "novita-500", provider="novita")',
        "hfrouter_each_outage: 'provider-500' and 'novita-500' name the scenario 'provider-500' twice*",
    ),
    "each_without_provider": (
        '@pytest.mark.hfrouter_each_outage("provider-500")',
        "hfrouter_each_outage: provider is required*",
    ),
}


def test_wrong_marker_arguments_are_collection_errors(pytester: pytest.Pytester) -> None:
    for name, (marker, _) in WRONG_ARGS.items():
        pytester.makepyfile(**{f"test_{name}": f"import pytest\n\n{marker}\ndef test_it():\n    pass\n"})

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(errors=len(WRONG_ARGS))
    for name, (marker, problem) in WRONG_ARGS.items():
        signature = (  # the contract's arguments; later keyword arguments may follow
            "hfrouter_each_outage([*]scenarios, provider, model=None*)"
            if "each_outage" in marker
            else "hfrouter_outage(scenario, [*], provider=None, model=None, times=None*)"
        )
        result.stdout.fnmatch_lines(
            [
                f"*ERROR collecting test_{name}.py*",
                f"test_{name}.py::test_it: @pytest.mark.{problem}",
                f"  signature: @pytest.mark.{signature}",
            ]
        )


def test_a_marker_of_the_plugins_prefix_it_does_not_know_is_a_collection_error(pytester: pytest.Pytester) -> None:
    """``hfrouter_outages`` (a typo) left the test without its outage: green, with only pytest's
    generic unknown-mark warning. ``hfrouter_live`` and ``hfrouter_no_chaos`` take no arguments."""
    wrong = {
        "plural": '@pytest.mark.hfrouter_outages("provider-500", provider="novita")',
        "live": '@pytest.mark.hfrouter_live("needs the router")',
        "no_chaos": "@pytest.mark.hfrouter_no_chaos(1)",
    }
    for name, marker in wrong.items():
        # (module names of their own: an in-process run imports them beside this suite's test_live)
        pytester.makepyfile(**{f"test_wrong_{name}": f"import pytest\n\n{marker}\ndef test_it():\n    pass\n"})
    pytester.makepyfile(
        test_fine="""
        import pytest

        @pytest.mark.hfroutr_outage("provider-500")  # not the plugin's prefix: pytest's own warning only
        def test_other_prefix():
            pass
        """
    )
    result = pytester.runpytest("-p", "hfrouter", "--continue-on-collection-errors")
    result.assert_outcomes(errors=3, passed=1)
    result.stdout.fnmatch_lines(
        [
            "test_wrong_plural.py::test_it: @pytest.mark.hfrouter_outages is no marker of pytest-hfrouter: as written "
            "the test would run without it. Did you mean @pytest.mark.hfrouter_outage? Its markers: hfrouter_outage, *"
        ]
    )
    result.stdout.fnmatch_lines(["test_wrong_live.py::test_it: @pytest.mark.hfrouter_live: takes no arguments"])
    result.stdout.fnmatch_lines(["test_wrong_no_chaos.py::test_it: @pytest.mark.hfrouter_no_chaos: takes no arguments"])


def test_cassette_marker_with_a_missing_file_names_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_missing="""
        import pytest

        @pytest.mark.hfrouter_cassette("nowhere/missing.yaml")
        def test_it():
            pass

        def test_other():
            pass
        """
    )

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(errors=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*hfrouter_cassette('nowhere/missing.yaml'): no such cassette; looked at:",
            f"  - {pytester.path}/cassettes/test_missing/nowhere/missing.yaml",
        ]
    )


def test_a_cassette_path_with_a_backslash_is_told_to_use_a_slash(
    pytester: pytest.Pytester, write_cassette: CassetteWriter
) -> None:
    """A paths audit: ``hfrouter_cassette("cassettes\\x.yaml")`` (a Windows habit) named no file, and the message
    did not say why."""
    write_cassette("cassettes/test_slash/sub/x.yaml")
    pytester.makepyfile(
        test_slash='import pytest\n\n@pytest.mark.hfrouter_cassette("sub\\\\x.yaml")\ndef test_it():\n    pass\n'
    )
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*(write / between folders: a backslash is part of a file's name on Linux and macOS)"])


MALFORMED = {
    "yaml_error": ("interactions: [\n  - {request: \n", "not valid YAML*"),
    "no_interactions": (
        "version: 1\nrecorded_with: nothing\n",
        "not a vcrpy cassette: no top-level 'interactions' list",
    ),
    "no_response": (
        "version: 1\ninteractions:\n- request: {method: GET, uri: 'https://example.com/', body: null}\n",
        "interactions[0] needs a 'request' and a 'response'",
    ),
}


def test_malformed_cassettes_name_the_file_and_the_problem(pytester: pytest.Pytester) -> None:
    for name, (text, _) in MALFORMED.items():
        (pytester.path / f"{name}.yaml").write_text(text)
    pytester.makepyfile(
        test_malformed="\n".join(
            f"@pytest.mark.hfrouter_cassette({name + '.yaml'!r})\ndef test_{name}():\n    pass\n" for name in MALFORMED
        ).join(["import pytest\n\n", "\ndef test_fine():\n    pass\n"])
    )

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(errors=len(MALFORMED), passed=1)
    for name, (_, problem) in MALFORMED.items():
        result.stdout.fnmatch_lines([f"pytest-hfrouter: malformed cassette: {pytester.path}/{name}.yaml: {problem}"])
    result.stdout.no_fnmatch_line("*During handling of the above exception*")


def test_replay_leaves_the_cassette_untouched(hfapp: pytest.Pytester, write_cassette: CassetteWriter) -> None:
    cassette = write_cassette("cassettes/recorded.yaml")
    before = cassette.read_bytes()
    before_mtime = cassette.stat().st_mtime_ns
    hfapp.makepyfile(
        test_untouched="""
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_cassette("recorded.yaml")
        def test_replayed(hfrouter):
            assert chat().choices[0].message.content == "from the cassette"
            assert chat("together").choices[0].message.content != "from the cassette"

        def test_without_cassette(hfrouter):
            chat()
        """
    )
    files_before = sorted(hfapp.path.joinpath("cassettes").rglob("*"))

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2)
    assert cassette.read_bytes() == before
    assert cassette.stat().st_mtime_ns == before_mtime
    # Nothing recorded: no cassette written for the test without one, none beside the used one.
    assert sorted(hfapp.path.joinpath("cassettes").rglob("*")) == files_before


def test_the_plugin_s_markers_on_one_pytest_param_are_checked_as_the_test_s(pytester: pytest.Pytester) -> None:
    """An audit: ``pytest.param(1, marks=pytest.mark.hfrouter_outages(...))`` (a typo) passed with no outage,
    and ``times="2"`` there failed at setup with a traceback through the plugin. A near miss of the prefix
    (``HFRouter_outage``, ``hf_router_outage``) on the test went unseen too."""
    pytester.makepyfile(
        test_typo="""
        import pytest

        @pytest.mark.parametrize("n", [pytest.param(1, marks=pytest.mark.hfrouter_outages("provider-500"))])
        def test_it(n):
            pass
        """
    )
    typo = pytester.runpytest("-p", "hfrouter", "test_typo.py")
    assert typo.ret == pytest.ExitCode.USAGE_ERROR
    typo.stderr.fnmatch_lines(
        ["ERROR: test_typo.py::test_it[[]1[]]: @pytest.mark.hfrouter_outages is no marker of pytest-hfrouter*"
         "Did you mean @pytest.mark.hfrouter_outage?*"]
    )  # fmt: skip
    pytester.makepyfile(
        test_args="""
        import pytest

        @pytest.mark.parametrize("n", [pytest.param(1, marks=pytest.mark.hfrouter_outage("provider-500", times="2"))])
        def test_it(n):
            pass
        """
    )
    args = pytester.runpytest("-p", "hfrouter", "test_args.py")
    assert args.ret == pytest.ExitCode.USAGE_ERROR
    args.stderr.fnmatch_lines(["*test_it[[]1[]]: @pytest.mark.hfrouter_outage: times must be a positive int*"])
    assert "Traceback" not in args.stdout.str() + args.stderr.str()
    for name in ("HFRouter_outage", "hf_router_outage"):
        pytester.makepyfile(
            test_near=f"""
            import pytest

            @pytest.mark.{name}("provider-500", provider="novita")
            def test_it():
                pass
            """
        )
        near = pytester.runpytest("-p", "hfrouter", "test_near.py")
        near.stdout.fnmatch_lines(
            [f"*@pytest.mark.{name} is no marker of pytest-hfrouter*Did you mean*hfrouter_outage*"]
        )
