"""``python -m pytest_hfrouter lint``: every planted token found however it is encoded, every
file's findings reported even when one file is malformed, bodies that cannot round-trip flagged.

Tokens are built at run time from pieces, so no literal in this file looks like one."""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_hfrouter.lint import lint_file
from pytest_hfrouter.lint import main as lint_main

PLANTED = "hf_" + "Lint" * 4 + "Planted" * 2 + "42"
SK = "sk-" + "ant-" + "api03-" + "Xy9" * 8
BODY = json.dumps({"id": "lint-1", "choices": [{"message": {"role": "assistant", "content": "ok"}}]})


def cassette(
    request_headers: Any = None,
    response_headers: Any = None,
    body: Any = BODY,
    uri: str = "https://router.huggingface.co/novita/v3/openai/chat/completions",
    request_body: Any = '{"model": "org/m"}',
    message: str = "OK",
) -> dict[str, Any]:
    return {
        "interactions": [
            {
                "request": {
                    "body": request_body,
                    "headers": request_headers or {"Content-Type": ["application/json"]},
                    "method": "POST",
                    "uri": uri,
                },
                "response": {
                    "body": {"string": body},
                    "status": {"code": 200, "message": message},
                    "headers": response_headers or {"Content-Type": ["application/json"]},
                },
            }
        ],
        "version": 1,
    }


def dumped(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=yaml.CDumper)


def with_body_line(raw: str) -> str:
    """A cassette whose response body is written as ``raw`` YAML (for escapes and folding)."""
    text = dumped(cassette(body="PLACEHOLDER"))
    return text.replace("string: PLACEHOLDER", f"string: {raw}")


#: the 13 places and encodings a token was planted in when lint missed 6 of them
PLANTED_CASES: dict[str, Callable[[], str]] = {
    "response body": lambda: dumped(cassette(body=f'{{"content": "the key is {PLANTED}"}}')),
    "request body": lambda: dumped(cassette(request_body=json.dumps({"api": PLANTED}))),
    "query string": lambda: dumped(
        cassette(uri=f"https://router.huggingface.co/v1/chat/completions?api_key={PLANTED}")
    ),
    "request header": lambda: dumped(cassette(request_headers={"X-Custom": [f"Bearer {PLANTED}"]})),
    "response header": lambda: dumped(cassette(response_headers={"X-Echo": [PLANTED]})),
    "secret header kept": lambda: dumped(cassette(request_headers={"Authorization": ["Bearer abc123def"]})),
    "status message": lambda: dumped(cassette(message=f"OK {PLANTED}")),
    "base64 !!binary body": lambda: dumped(cassette(body=f"\x89 binary {PLANTED}".encode("latin-1"))),
    "gzip body": lambda: dumped(
        cassette(body=gzip.compress(f'{{"t": "{PLANTED}"}}'.encode()), response_headers={"Content-Encoding": ["gzip"]})
    ),
    "base64 header": lambda: dumped(cassette(response_headers={"X-Blob": [b64(PLANTED)]})),
    "YAML \\x5F escape": lambda: with_body_line('"the key is ' + PLANTED.replace("_", "\\x5F") + '"'),
    "folded double-quoted line": lambda: with_body_line('"the key is ' + PLANTED[:9] + "\\\n  " + PLANTED[9:] + '"'),
    "%5F in the URI": lambda: dumped(cassette(uri="https://router.huggingface.co/v1?t=" + PLANTED.replace("_", "%5F"))),
}
#: more shapes and encodings the scrubber promises
MORE_CASES: dict[str, Callable[[], str]] = {
    "JSON \\u005f escape": lambda: dumped(cassette(body='{"t": "' + PLANTED.replace("_", "\\u005f") + '"}')),
    "Basic base64(user:token)": lambda: dumped(
        cassette(response_headers={"X-Forwarded-Auth": ["Basic " + b64(f"user:{PLANTED}")]})
    ),
    "deflate body": lambda: dumped(
        cassette(body=zlib.compress(PLANTED.encode()), response_headers={"Content-Encoding": ["deflate"]})
    ),
    "Anthropic key": lambda: dumped(cassette(body=f"key {SK}")),
    "X-Provider-Token header": lambda: dumped(cassette(request_headers={"X-Provider-Token": ["abc"]})),
    "secret JSON field": lambda: dumped(cassette(request_body=json.dumps({"api_key": "plain-value"}))),
    "base64 of gzip in a body": lambda: dumped(
        cassette(body='{"blob": "' + base64.b64encode(gzip.compress(PLANTED.encode())).decode() + '"}')
    ),
}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name.replace(' ', '-').replace('/', '-')}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_clean_cassette_has_no_finding(tmp_path: Path) -> None:
    assert lint_file(write(tmp_path, "clean", dumped(cassette()))) == []


@pytest.mark.parametrize("case", [*PLANTED_CASES, *MORE_CASES])
def test_every_planted_token_is_found(tmp_path: Path, case: str) -> None:
    text = {**PLANTED_CASES, **MORE_CASES}[case]()
    path = write(tmp_path, case, text)
    yaml.safe_load(text)  # the planted cassette is valid YAML: a finding is about the token, not the syntax
    problems = lint_file(path)
    assert problems, f"{case}: nothing found in\n{text}"
    assert not any("malformed" in p for p in problems), problems
    assert all(str(path) in p for p in problems)
    assert not any(PLANTED in p or SK in p for p in problems)  # a finding never prints what it found


def test_the_findings_say_where_and_how(tmp_path: Path) -> None:
    found = lint_file(write(tmp_path, "gzip", PLANTED_CASES["gzip body"]()))
    where = "interactions[0].response.body.string"
    assert found == [f"{tmp_path}/gzip.yaml:11: a Hugging Face token (hf_Lint…) in {where} (gzip)"]
    folded = with_body_line('"the key is ' + PLANTED[:9] + "\\\n  " + PLANTED[9:] + '"')
    assert lint_file(write(tmp_path, "folded", folded)) == [
        f"{tmp_path}/folded.yaml:11: a Hugging Face token (hf_Lint…) in interactions[0].response.body.string"
    ]
    header = lint_file(write(tmp_path, "header", MORE_CASES["X-Provider-Token header"]()))
    assert header == [f"{tmp_path}/header.yaml: interactions[0].request header X-Provider-Token keeps a secret value"]


def test_the_hf_token_value_is_found_in_any_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "not-token-shaped." + "Qz7" * 5
    monkeypatch.setenv("HF_TOKEN", secret)
    for name, value in {
        "raw": secret,
        "base64": base64.b64encode(secret.encode()).decode(),
        "url": secret.replace(".", "%2E"),
    }.items():
        write(tmp_path, name, dumped(cassette(body=f"echo {value}")))
    assert lint_main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.count("the value of a secret environment variable") == 3, out
    assert secret not in out
    assert out.splitlines()[-1] == "3 cassette(s) checked, 3 problem(s)"


def test_a_malformed_file_is_a_finding_and_the_others_are_still_checked(tmp_path: Path) -> None:
    listed = cassette()
    listed["interactions"][0]["request"]["headers"] = [["Content-Type", "application/json"]]  # headers as a list
    write(tmp_path, "a-headers-as-list", dumped(listed))
    write(tmp_path, "b-not-yaml", "interactions: [oops\n")
    write(tmp_path, "c-empty", "")
    write(tmp_path, "d-not-a-cassette", "just: a mapping\n")
    write(tmp_path, "e-bad-binary", "interactions: []\nversion: 1\nx: !!binary 'not base64 at all ~~'\n")
    write(tmp_path, "f-planted", PLANTED_CASES["response body"]())
    (tmp_path / "g-not-utf8.yaml").write_bytes(b"interactions: []\nx: '\xff\xfe'\n")
    write(tmp_path, "h-clean", dumped(cassette()))
    write(tmp_path, "i-comments-only", "# recorded by hand, see README\n")
    upper = cassette()
    upper["interactions"][0]["response"]["headers"] = [["Content-Type", "application/json"]]
    (tmp_path / "j-upper-case.YAML").write_text(dumped(upper))  # a folder's walk finds it too
    write(tmp_path, "k-no-interactions", "interactions: []\nversion: 1\n")  # a test that names it fails in replay
    run = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "lint", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1
    assert run.stderr == ""  # no traceback
    lines = run.stdout.splitlines()
    by_file = {
        name: [line for line in lines if f"/{name}.yaml" in line]
        for name in (
            "a-headers-as-list",
            "b-not-yaml",
            "c-empty",
            "d-not-a-cassette",
            "e-bad-binary",
            "f-planted",
            "g-not-utf8",
            "h-clean",
            "i-comments-only",
            "k-no-interactions",
        )
    }
    by_file["j-upper-case"] = [line for line in lines if "/j-upper-case.YAML" in line]
    assert by_file["a-headers-as-list"] == [
        f"{tmp_path}/a-headers-as-list.yaml: interactions[0].request.headers must be a mapping of name to list of "
        "values"
    ]
    assert by_file["b-not-yaml"][0].startswith(f"{tmp_path}/b-not-yaml.yaml: malformed cassette: not valid YAML")
    assert by_file["c-empty"] == [f"{tmp_path}/c-empty.yaml: malformed cassette: the file is empty"]
    assert by_file["d-not-a-cassette"] == [
        f"{tmp_path}/d-not-a-cassette.yaml: malformed cassette: not a vcrpy cassette: no top-level 'interactions' list"
    ]
    assert len(by_file["e-bad-binary"]) == 1 and "malformed cassette" in by_file["e-bad-binary"][0]
    assert len(by_file["f-planted"]) == 1 and "a Hugging Face token" in by_file["f-planted"][0]
    assert len(by_file["g-not-utf8"]) == 1 and "malformed cassette" in by_file["g-not-utf8"][0]
    assert by_file["h-clean"] == []
    assert by_file["i-comments-only"] == [
        f"{tmp_path}/i-comments-only.yaml: malformed cassette: holds no YAML document (comments at most)"
    ]
    assert by_file["j-upper-case"] == [  # said once, as what makes it malformed
        f"{tmp_path}/j-upper-case.YAML: malformed cassette: interactions[0].response.headers must be a mapping of "
        "name to list of values"
    ]
    assert by_file["k-no-interactions"] == [
        f"{tmp_path}/k-no-interactions.yaml: holds no interactions: it answers nothing (record it, or delete it)"
    ]
    assert lines[-1] == f"11 cassette(s) checked, {len(lines) - 1} problem(s)"


def test_bodies_that_cannot_round_trip_are_flagged(tmp_path: Path) -> None:
    mangled = gzip.compress(BODY.encode()).decode("utf-8", "replace")  # what the old recorder stored
    gz = write(
        tmp_path,
        "gzip-as-text",
        dumped(
            cassette(
                body=mangled, response_headers={"Content-Type": ["application/json"], "Content-Encoding": ["gzip"]}
            )
        ),
    )
    assert lint_file(gz) == [
        f"{gz}: interactions[0].response.body is not gzip although Content-Encoding says so: replay cannot hand the "
        "client what the server sent; record it again"
    ]
    image = write(
        tmp_path,
        "png-as-text",
        dumped(cassette(body="\ufffdPNG\r\n\x1a\n\ufffd", response_headers={"Content-Type": ["image/png"]})),
    )
    assert lint_file(image) == [
        f"{image}: interactions[0].response.body is image/png stored as text with U+FFFD replacement characters: "
        "its bytes are lost; record it again"
    ]
    sound = write(
        tmp_path,
        "audio-as-bytes",
        dumped(cassette(body=bytes(range(256)), response_headers={"Content-Type": ["audio/flac"]})),
    )
    assert lint_file(sound) == []  # stored as !!binary: it round-trips


def test_a_path_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    """A typo'd path was "1 cassette(s) checked, 1 problem(s)": a finding about a cassette that is not
    there (found by an audit of the command line)."""
    write(tmp_path, "clean", dumped(cassette()))
    run = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "lint", str(tmp_path), str(tmp_path / "casettes")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (run.returncode, run.stdout) == (2, "")
    missing = tmp_path / "casettes"
    expected = f"hfrouter: error: {missing}: no such file or folder (lint takes cassette files or folders of them)"
    assert run.stderr == expected + "\n"


def test_a_folders_json_cassettes_are_checked_and_other_json_is_not(tmp_path: Path) -> None:
    """pytest-recording's ``serializer: json`` writes ``<test>.json`` and replay reads it; a folder's walk
    skipped it: "0 cassette(s) checked, 0 problem(s)" over a cassette holding a token (an audit's finding)."""
    (tmp_path / "test_app").mkdir()
    leaked = cassette(request_headers={"Authorization": [f"Bearer {PLANTED}"]})
    (tmp_path / "test_app" / "test_chat.json").write_text(json.dumps(leaked, indent=4))  # as vcrpy's json serializer
    (tmp_path / "package.json").write_text(json.dumps({"name": "not-a-cassette", "token": "x"}))
    (tmp_path / "notes.json").write_text("{not json")
    run = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "lint", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1, run.stdout
    lines = run.stdout.splitlines()
    checked = tmp_path / "test_app" / "test_chat.json"
    assert lines == [
        f"{checked}:8: a Hugging Face token (hf_Lint…) in interactions[0].request.headers.Authorization[0]",
        f"{checked}: interactions[0].request header Authorization keeps a secret value",
        "1 cassette(s) checked, 2 problem(s)",
    ]
    assert PLANTED not in run.stdout


#: nine levels of nine aliases: 748 bytes that a str() of the header would grow to 9**9 leaves (an audit)
LAUGHS = 'x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"x{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)
LAUGHS_CASSETTE = (
    "version: 1\n"
    + LAUGHS
    + """interactions:
- request: {method: POST, uri: 'https://router.huggingface.co/novita/v3/openai/chat/completions', body: x}
  response: {status: {code: 500, message: x}, headers: {X-B: *a9}, body: {string: x}}
"""
)


def test_an_alias_bomb_is_a_malformed_cassette_in_lint_and_in_replay(pytester: pytest.Pytester) -> None:
    """A cassette of 748 bytes hung replay and lint, memory past 3 GB: a list where a string belongs is said."""
    (pytester.path / "cassettes").mkdir()
    (pytester.path / "cassettes" / "laughs.yaml").write_text(LAUGHS_CASSETTE)
    said = "interactions[0].response.headers.X-B must be a string, got a list"
    linted = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "lint", "cassettes/laughs.yaml"],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert linted.returncode == 1
    assert said in linted.stdout
    pytester.makepyfile(
        """
        import httpx
        import pytest

        @pytest.mark.hfrouter_cassette("laughs.yaml")
        def test_it():
            httpx.post("https://router.huggingface.co/novita/v3/openai/chat/completions", json={"model": "m"})
        """
    )
    replayed = pytester.runpytest_subprocess("-p", "hfrouter", "--hfrouter-cassette-dir=cassettes", timeout=120)
    replayed.assert_outcomes(errors=1)
    replayed.stdout.fnmatch_lines([f"*{said.replace('[', '[[]')}*"])


def test_lint_reads_a_compressed_body_in_bounded_steps(tmp_path: Path) -> None:
    """A 256 MiB gzip body (about 250 KB stored) is checked without holding it (an audit: 1 GiB took lint
    to 2 GB of memory); a body cut short is still not gzip."""
    packer, chunk = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS), b"\0" * (1024 * 1024)
    bomb = b"".join(packer.compress(chunk) for _ in range(256)) + packer.flush()  # never 256 MiB held here
    for name, body in (("bomb", bomb), ("cut", bomb[: len(bomb) // 2])):
        document = cassette(body=body, response_headers={"Content-Encoding": ["gzip"]})
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(document))
    code = (
        "import json, sys\nfrom pathlib import Path\nfrom pytest_hfrouter.lint import lint_file\n"
        "problems = [lint_file(Path(p)) for p in sys.argv[1:]]\n"
        "peak = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:'))\n"
        "print(json.dumps([problems, int(peak.split()[1])]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "bomb.yaml"), str(tmp_path / "cut.yaml")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    (bomb_problems, cut_problems), peak = json.loads(done.stdout)
    assert bomb_problems == []
    assert any("is not gzip although Content-Encoding says so" in p for p in cut_problems), cut_problems
    assert peak < 200 * 1024, f"lint's peak memory was {peak // 1024} MiB"  # VmHWM, in KiB: this process's own


def test_a_pipe_is_no_cassette_to_lint_nor_to_replay(tmp_path: Path) -> None:
    """Named on the command line, a pipe was read until it closed (never, in CI); at a test's cassette path
    it was "a folder" (an audit)."""
    import os

    from pytest_hfrouter.cassettes import load_cassette
    from pytest_hfrouter.errors import CassetteError

    pipe = tmp_path / "pipe.yaml"
    os.mkfifo(pipe)
    linted = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "lint", str(pipe)], capture_output=True, text=True, timeout=120
    )
    assert linted.returncode == 1
    assert f"{pipe}: not a regular file (a pipe, a device): not a cassette" in linted.stdout
    with pytest.raises(CassetteError, match="is not a regular file"):
        load_cassette(pipe)


def test_a_cassette_cut_short_names_the_field() -> None:
    """A file cut mid-interaction said "string indices must be integers" (an audit)."""
    from pytest_hfrouter.cassettes import cassette_from_data
    from pytest_hfrouter.errors import CassetteError

    cut = {"version": 1, "interactions": [{"request": "POST https://router.huggingface.co/v1", "response": {}}]}
    with pytest.raises(CassetteError, match=r"interactions\[0\]\.request must be a mapping, as vcrpy writes it"):
        cassette_from_data(cut, Path("cut.yaml"))


def test_header_values_yaml_reads_as_null_or_a_date_are_text(tmp_path: Path) -> None:
    """An empty header value (YAML's null) and an unquoted date were "malformed" once lists were refused
    there (an audit of that change): they are text, as before."""
    from pytest_hfrouter.cassettes import load_cassette

    path = tmp_path / "dated.yaml"
    text = yaml.safe_dump(cassette(response_headers={"Content-Type": ["application/json"]}))
    before, line, after = text.rpartition("      Content-Type:\n")  # the response's
    path.write_text(before + "      X-Debug:\n      X-Reset-Date: [2025-06-01]\n" + line + after)
    assert lint_file(path) == []
    headers = dict(load_cassette(path).interactions[0].response.headers)
    assert headers["X-Debug"] == ""
    assert headers["X-Reset-Date"] == "2025-06-01"
