"""pytest run more than once in one process (a notebook's ipytest, a watcher, a script of several
``pytest.main`` calls): a run with the plugin leaves nothing behind that changes the next run, or the
app after it (an audit's findings, each run in-process here)."""

from __future__ import annotations

import sys

import pytest
from conftest import CassetteWriter

MAPPING_OUTAGE = """
import pytest
from hfapp import chat

@pytest.mark.hfrouter_outage("mapping-missing-provider", provider="novita")
def test_mapping_outage():
    with pytest.raises(ValueError, match="not supported by provider novita"):
        chat("novita")
"""

#: the mapping look-up huggingface_hub caches per process (0.x to 2.x)
CACHED = """
import socket

from huggingface_hub.inference._providers import _common


def test_after():
    assert _common._fetch_inference_provider_mapping.cache_info().currsize == 0
    try:  # no network here: the resolver's own error, not the plugin's refusal
        socket.getaddrinfo("router.huggingface.co", 443)
    except OSError as exc:
        assert type(exc).__name__ != "BlockedLookup", exc
"""


def test_a_later_run_without_the_plugin_gets_no_hub_answer_it_served_and_no_refusal(hfapp: pytest.Pytester) -> None:
    """Run 1 replays a mapping outage; run 2, in the same process with ``-p no:hfrouter``, finds
    huggingface_hub's mapping cache empty (it would have raised the outage again, with no look-up) and the
    router's name not refused (the block after a replay session is for the app's leftover threads, not a
    later run's tests). A process of its own: this one's session has the plugin acting."""
    hfapp.makepyfile(test_outage=MAPPING_OUTAGE, check_after=CACHED)
    hfapp.makeconftest("")  # not hfapp's, which clears the client's caches before each test
    hfapp.makepyfile(
        runs="""
        import sys

        import pytest

        first = pytest.main(["-p", "hfrouter", "-p", "no:cacheprovider", "test_outage.py"])
        second = pytest.main(["-p", "no:hfrouter", "-p", "no:cacheprovider", "check_after.py"])
        sys.exit(10 * int(first) + int(second))
        """
    )
    with pytest.MonkeyPatch.context() as patch:  # a process of its own: not refused the router as this test's
        patch.delenv("PYTEST_HFROUTER_CHILD", raising=False)
        done = hfapp.run(sys.executable, "runs.py")
    assert done.ret == 0, done.stdout.str()


def test_a_cassette_written_between_runs_answers_the_next_run(hfapp: pytest.Pytester) -> None:
    """The cassette folders were listed once per process: a cassette recorded by another process (or deleted)
    between two runs in this one was not seen, and its test ran on the healthy library."""
    hfapp.makepyfile(
        test_chat="""
        import os

        from hfapp import chat

        def test_chat():
            answered = chat("novita").choices[0].message.content
            assert (answered == "from the new cassette") == (os.environ["ANSWERED_BY"] == "cassette"), answered
        """
    )
    write = CassetteWriter(hfapp.path)
    write("cassettes/test_chat/test_other.yaml")  # the folder exists, and is listed by the first run
    for answered_by in ("healthy", "cassette"):
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("ANSWERED_BY", answered_by)
            hfapp.runpytest_inprocess("-p", "hfrouter").assert_outcomes(passed=1)
        write("cassettes/test_chat/test_chat.yaml", content="from the new cassette")
