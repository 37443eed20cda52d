"""The shipped library is parsed once per version of its files (their sizes and times) and unpickled after that."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pytest_hfrouter.library import KEPT_VERSIONS, cached_library, library_dir


def test_parsed_once_then_read_from_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = cached_library(library_dir(), cache)
    (pickled,) = cache.glob("library-*.pickle")
    again = cached_library(library_dir(), cache)
    assert sorted(again.scenarios) == sorted(first.scenarios)
    assert again.get("provider-500").response("provider").body == first.get("provider-500").response("provider").body
    assert list(cache.glob("library-*.pickle")) == [pickled]


def test_a_change_in_the_data_is_a_new_cache_entry(tmp_path: Path) -> None:
    data = tmp_path / "cassettes"
    shutil.copytree(library_dir(), data)
    cache = tmp_path / "cache"
    cached_library(data, cache)
    scenario = data / "scenarios" / "provider-500.yaml"
    scenario.write_text(scenario.read_text().replace("description:", "description: (edited)", 1))
    edited = cached_library(data, cache)
    assert len(list(cache.glob("library-*.pickle"))) == 2
    assert edited.get("provider-500").description.startswith("(edited)")


def test_an_edit_of_the_same_size_is_a_new_cache_entry(tmp_path: Path) -> None:
    """The cache is keyed by each file's size and modification time: an edit that keeps the size
    still changes the time."""
    data = tmp_path / "cassettes"
    shutil.copytree(library_dir(), data)
    cache = tmp_path / "cache"
    cached_library(data, cache)
    scenario = data / "scenarios" / "provider-500.yaml"
    text = scenario.read_text()
    assert "description: The provider" in text
    edited = text.replace("description: The provider", "description: XYZ provider", 1)
    assert len(edited) == len(text)
    before = scenario.stat().st_mtime_ns
    scenario.write_text(edited)
    os.utime(scenario, ns=(before + 1_000_000, before + 1_000_000))  # a later time, however coarse the clock
    assert cached_library(data, cache).get("provider-500").description.startswith("XYZ provider")
    assert len(list(cache.glob("library-*.pickle"))) == 2


def test_a_broken_cache_file_is_parsed_again_and_replaced(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cached_library(library_dir(), cache)
    (pickled,) = cache.glob("library-*.pickle")
    pickled.write_bytes(b"not a pickle")
    library = cached_library(library_dir(), cache)
    assert "provider-500" in library.scenarios
    assert pickled.read_bytes() != b"not a pickle"


def test_an_unwritable_cache_still_loads(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    assert "provider-500" in cached_library(library_dir(), blocker / "cache").scenarios


def test_the_cache_keeps_the_newest_versions_only(tmp_path: Path) -> None:
    """Each edit of the data and each upgrade writes a new version: writing one removes the oldest
    beyond `KEPT_VERSIONS`, so the folder stays bounded."""
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = []
    for n in range(KEPT_VERSIONS + 4):
        old = cache / f"library-old{n:02d}.pickle"
        old.write_bytes(b"an older version")
        os.utime(old, ns=(n * 1_000_000_000, n * 1_000_000_000))  # old01 is newer than old00, and so on
        stale.append(old)
    unrelated = cache / "notes.txt"
    unrelated.write_text("not the plugin's")
    cached_library(library_dir(), cache)
    kept = sorted(cache.glob("library-*.pickle"))
    assert len(kept) == KEPT_VERSIONS
    (new,) = [p for p in kept if p not in stale]
    assert sorted(p for p in kept if p != new) == stale[-(KEPT_VERSIONS - 1) :]  # the newest of the old ones
    assert unrelated.exists()
    assert "provider-500" in cached_library(library_dir(), cache).scenarios  # read from the one it wrote
    assert sorted(cache.glob("library-*.pickle")) == kept


def test_an_old_version_that_cannot_be_removed_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A shared cache folder may hold another user's files: pruning skips what it may not remove."""
    cache = tmp_path / "cache"
    cache.mkdir()
    for n in range(KEPT_VERSIONS + 2):
        old = cache / f"library-old{n:02d}.pickle"
        old.write_bytes(b"an older version")
        os.utime(old, ns=(n * 1_000_000_000, n * 1_000_000_000))

    def refused(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refused)
    assert "provider-500" in cached_library(library_dir(), cache).scenarios
    assert len(list(cache.glob("library-*.pickle"))) == KEPT_VERSIONS + 3


def test_each_python_keeps_its_own_cache_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pickle written by 3.13 names classes 3.11 lacks (pathlib._local): two Pythons sharing a checkout
    threw each other's cache away at every run (an audit of Python versions)."""
    import sys

    cache = tmp_path / "cache"
    cached_library(library_dir(), cache)
    monkeypatch.setattr(sys, "version_info", (sys.version_info[0], sys.version_info[1] + 1, 0, "final", 0))
    cached_library(library_dir(), cache)
    assert len(list(cache.glob("library-*.pickle"))) == 2


class _Planted:
    """A pickle that runs code when loaded: what anyone who can write to the cache folder could plant."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (self.marker, "ran"))  # type: ignore[return-value]


def _plant(cache: Path, marker: Path) -> None:
    import pickle

    (pickled,) = cache.glob("library-*.pickle")
    pickled.write_bytes(pickle.dumps(_Planted(marker)))


def test_a_cache_folder_others_may_write_to_is_not_read(tmp_path: Path) -> None:
    """Unpickling runs code (an audit: a shared /tmp/pytest-hfrouter was read by whoever ran next)."""
    cache = tmp_path / "cache"
    cached_library(library_dir(), cache)
    marker = tmp_path / "marker"
    _plant(cache, marker)
    cache.chmod(0o777)
    assert "provider-500" in cached_library(library_dir(), cache).scenarios
    assert not marker.exists()
    cache.chmod(0o700)  # the control: the same file in a private folder is read (and runs)
    cached_library(library_dir(), cache)
    assert marker.read_text() == "ran"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root, to give a file away")
def test_a_cache_file_of_another_user_is_not_read(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cached_library(library_dir(), cache)
    marker = tmp_path / "marker"
    _plant(cache, marker)
    (pickled,) = cache.glob("library-*.pickle")
    os.chown(pickled, 12345, 12345)
    assert "provider-500" in cached_library(library_dir(), cache).scenarios
    assert not marker.exists()


def test_without_a_writable_home_the_cache_is_this_users_own_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    from pytest_hfrouter.library import _cache_home

    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent-hfrouter-home/user")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    assert _cache_home() == Path(tempfile.gettempdir()) / f"pytest-hfrouter-{uid}"
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
    assert _cache_home() == Path("/somewhere/pytest-hfrouter")
