"""Per-test clearing of the caches that hold Hub answers: the built-in list and ini ``hfrouter_reset``."""

from __future__ import annotations

import functools
import sys
import types

import pytest

from pytest_hfrouter import resets
from pytest_hfrouter.resets import Reset, parse


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    module = types.ModuleType("hfrouter_fake_hub_client")

    @functools.cache
    def mapping(model: str) -> str:
        return f"mapping of {model}"

    module.mapping = mapping  # type: ignore[attr-defined]
    module.cleared = []  # type: ignore[attr-defined]
    module.clear_all = lambda: module.cleared.append(True)  # type: ignore[attr-defined]
    module.NOT_CALLABLE = 3  # type: ignore[attr-defined]
    module.needs_a_model = lambda model: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module


def test_an_lru_cache_is_cleared_and_a_callable_is_called(fake_module: types.ModuleType) -> None:
    fake_module.mapping("Qwen/Qwen2.5-7B-Instruct")
    assert fake_module.mapping.cache_info().currsize == 1
    resets.reset_client_caches(parse(["hfrouter_fake_hub_client:mapping", "hfrouter_fake_hub_client:clear_all"]))
    assert fake_module.mapping.cache_info().currsize == 0
    assert fake_module.cleared == [True]


def test_builtin_resets_import_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for reset in resets.BUILTIN:
        monkeypatch.delitem(sys.modules, reset.module, raising=False)
    resets.reset_client_caches()
    assert not any(reset.module in sys.modules for reset in resets.BUILTIN)


def test_a_name_a_library_dropped_is_skipped(fake_module: types.ModuleType) -> None:
    Reset("hfrouter_fake_hub_client", "gone_in_this_version")()  # no error


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("no_colon_here", "'no_colon_here' is not module:callable"),
        ("hfrouter_no_such_module_xyz:clear", "cannot import module 'hfrouter_no_such_module_xyz'"),
        ("hfrouter_fake_hub_client:missing", "module 'hfrouter_fake_hub_client' has no attribute 'missing'"),
        ("hfrouter_fake_hub_client:NOT_CALLABLE", "is a int, not a callable"),
        # called with no arguments before each test: it would have errored every test's setup
        (
            "hfrouter_fake_hub_client:needs_a_model",
            "cannot be called with no arguments (missing a required argument: 'model')",
        ),
    ],
)
def test_bad_lines_say_what_is_wrong(fake_module: types.ModuleType, line: str, message: str) -> None:
    with pytest.raises(ValueError, match="hfrouter_reset: ") as raised:
        parse([line])
    assert message in str(raised.value)


def test_blank_lines_and_comments_are_skipped() -> None:
    assert parse(["", "  ", "# a comment"]) == ()


def test_hfrouter_reset_is_cleared_with_the_client_caches(pytester: pytest.Pytester) -> None:
    """The user's caches are cleared exactly when huggingface_hub's are: before a test whose rules
    answer Hub look-ups (or after one that met such answers), and around an outage() block that does."""
    pytester.makepyfile(
        appcache="""
        import functools

        CALLS = []

        @functools.lru_cache(maxsize=None)
        def mapping(model):
            CALLS.append(model)
            return {"novita": "live"}
        """
    )
    pytester.makeini(
        """
        [pytest]
        hfrouter_reset =
            appcache:mapping
        # the outages below only set when caches are cleared: no router call is made
        hfrouter_on_unmatched = ignore
        """
    )
    pytester.makepyfile(
        """
        import pytest

        import appcache

        def test_one(hfrouter):
            appcache.mapping("m")
            appcache.mapping("m")
            assert appcache.CALLS == ["m"]

        @pytest.mark.hfrouter_outage("staging-auth", provider="novita")
        def test_two_answers_hub_look_ups(hfrouter):
            appcache.mapping("m")  # fetched again: cleared before this test
            assert appcache.CALLS == ["m", "m"]

        def test_three_agrees_on_the_mapping(hfrouter):
            appcache.mapping("m")  # kept: nothing changed what the Hub answers
            assert appcache.CALLS == ["m", "m"]
            with hfrouter.outage("mapping-missing-provider", provider="novita"):
                appcache.mapping("m")  # cleared on entering the block
            appcache.mapping("m")  # and on leaving it
            assert appcache.CALLS == ["m", "m", "m", "m"]
        """
    )
    pytester.syspathinsert()
    result = pytester.runpytest("-p", "hfrouter", "-p", "no:randomly")
    result.assert_outcomes(passed=3)


def test_a_bad_hfrouter_reset_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        hfrouter_reset =
            hfrouter_no_such_module_xyz:clear
        """
    )
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("-p", "hfrouter")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*hfrouter_reset: 'hfrouter_no_such_module_xyz:clear': cannot import module*"])


def test_a_builtin_name_that_is_no_longer_a_cache_is_not_called(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("hfrouter_fake_builtin")
    calls: list[str] = []
    module.helper = lambda model: calls.append(model)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(resets, "BUILTIN", (Reset("hfrouter_fake_builtin", "helper"),))
    resets.reset_client_caches()
    assert calls == []
