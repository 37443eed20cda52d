"""Nothing leaks: the scrubber's rules, and a seeded property test that plants random secrets in
every field of a record run against the router double and looks for them everywhere the plugin
writes — cassettes (decoded too), the JSON report, the Markdown summary, the terminal.

Secrets are generated at run time from a seeded random generator: no literal here is a key.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import yaml
from conftest import InnerRun

from pytest_hfrouter import scrub
from pytest_hfrouter.double import RouterDouble
from pytest_hfrouter.engine import Engine
from pytest_hfrouter.library import shipped_library
from pytest_hfrouter.lint import main as lint_main
from pytest_hfrouter.report import Report
from pytest_hfrouter.traffic import Answer, Exchange, Request

ALNUM = string.ascii_letters + string.digits
#: a real router request id (docs/ROUTER-FACTS.md §2.1) and a Hub commit id: both must survive scrubbing
REQUEST_ID = "Root=1-688b8386-259e81a24556b80a163e3d17;5ec89b2d-e0da-4255-90b6-f0c7e9577b38"
COMMIT = "34bb25d9d8bf5b433fe0d87516c36e98e5d548de"


#: the provider key prefixes of `scrub.KEY_SHAPES`, each with a separator its keys use
PROVIDER_PREFIXES = (("xai", "-"), ("pplx", "-"), ("csk", "-"), ("nvapi", "-"), ("fw", "_"), ("r8", "_"))


def _prefixes_in(key: str) -> set[str]:
    return {prefix for _, prefix, _ in scrub._re.shapes if key.startswith(prefix)}


def tail(rng: random.Random, size: int) -> str:
    """Random letters and digits, with at least one digit (as every real key has)."""
    return "".join(rng.choice(ALNUM) for _ in range(size - 1)) + rng.choice(string.digits)


# -- the rules ----------------------------------------------------------------------------------
def test_key_shapes_are_scrubbed_wherever_they_stand() -> None:
    rng = random.Random(7)
    keys = {
        "hf_" + tail(rng, 34): "hf_REDACTED",
        "sk-proj-" + tail(rng, 40): "REDACTED",
        "sk-ant-api03-" + tail(rng, 60): "REDACTED",
        "gsk_" + tail(rng, 48): "REDACTED",
        "AIza" + tail(rng, 35): "REDACTED",
        "ghp_" + tail(rng, 36): "REDACTED",
        "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)): "REDACTED",
        "api_org_" + tail(rng, 30): "REDACTED",
        "github_pat_" + tail(rng, 40): "REDACTED",
        "xoxb-" + tail(rng, 24): "REDACTED",
        **{f"{prefix}{sep}" + tail(rng, 32): "REDACTED" for prefix, sep in PROVIDER_PREFIXES},
    }
    # every shape's prefix has a key here: a text holding only that prefix must reach its pattern
    assert {prefix for _, prefix, _ in scrub._re.shapes} <= {p for key in keys for p in _prefixes_in(key)}
    for key, marker in keys.items():
        assert scrub.text(f"error: {key}, retry") == f"error: {marker}, retry", key
        assert scrub.text(f'{{"k":"{key}"}}') == f'{{"k":"{marker}"}}', key
    hf = next(iter(keys))
    assert scrub.text(hf.replace("_", "%5F")) == "hf_REDACTED"
    assert scrub.text(hf.replace("_", "\\u005f")) == "hf_REDACTED"


def test_a_record_shared_by_many_tests_is_scrubbed_wherever_it_stands() -> None:
    rng = random.Random(11)
    key = "hf_" + tail(rng, 34)
    call = {"url": f"https://router.huggingface.co/v1/models?api_key={key}", "status": 200}
    report = {"tests": [{"test": "t::a", "calls": (call, call)}, {"test": "t::b", "calls": (call,)}], "calls": [call]}
    scrubbed = scrub.payload(report)
    urls = [c["url"] for t in scrubbed["tests"] for c in t["calls"]] + [scrubbed["calls"][0]["url"]]
    assert len(urls) == 4 and all(key not in url and "REDACTED" in url for url in urls)
    assert call["url"].endswith(key)  # the run's own record is left as it was
    assert json.loads(json.dumps(scrubbed))["tests"][0]["calls"][1]["url"] == urls[0]


def test_a_workers_scrubbed_part_is_not_walked_again_and_the_rest_is_scrubbed(tmp_path: Path) -> None:
    key = "hf_" + tail(random.Random(13), 34)
    report = Report(mode="replay", started=1.0)
    part = {"tests": [{"test": "t::a", "outcome": "passed", "calls": [{"url": "https://router.huggingface.co/v1/x"}]}]}
    report.merge_payload(part, scrubbed=True)  # as the controller reads it from a worker's spool
    report.merge_payload({"outside_tests": [{"request": f"GET https://huggingface.co/api?token={key}"}]})

    scrubbed = scrub.payload(report.to_payload(), report.clean)
    assert scrubbed["tests"][0] is part["tests"][0]
    assert key not in scrubbed["outside_tests"][0]["request"]
    report.finished = 2.0
    report.write(tmp_path / "report.json")
    written = (tmp_path / "report.json").read_text()
    assert key not in written and "REDACTED" in written and '"t::a"' in written


def test_records_made_clean_are_not_walked_again_unless_a_secret_was_registered_since(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test's record is scrubbed as it is made (`_session._record`): writing the report trusts it
    only while the scrubber that made it clean is the one that scrubs now."""
    monkeypatch.setattr(scrub, "_current", scrub.Scrubber())
    key = "x" + tail(random.Random(19), 30)  # no key shape: only a registered secret finds it
    report = Report(mode="replay", started=1.0)
    report.finished = 2.0
    record = {"test": f"t::a[{key}]", "outcome": "passed"}
    report.merge_payload({"tests": [record]})
    report.made_clean([record], scrub.current())
    assert report.scrubbed_entries() == [record]  # trusted: written as it is
    scrub.register([key])  # as the recorder does with a token
    assert report.scrubbed_entries() == []
    report.write(tmp_path / "report.json")
    written = (tmp_path / "report.json").read_text()
    assert key not in written and "REDACTED" in written


def test_a_key_in_a_test_id_is_scrubbed_from_the_record_made_clean(
    pytester: pytest.Pytester, inner_run: InnerRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test's record is scrubbed as it is made and not walked again: its test id too, in one
    process and from a worker's spool."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    key = "hf_" + tail(random.Random(23), 34)
    pytester.makepyfile(
        test_ids=f"""
import pytest

@pytest.mark.parametrize("n", [1, 2], ids=["{key}", "plain"])
def test_id(n):
    assert n
"""
    )
    result = inner_run(pytester, "-p", "hfrouter", "--hfrouter-report=report.json")
    result.assert_outcomes(passed=2)
    report = (pytester.path / "report.json").read_text()
    tests = [record["test"] for record in json.loads(report)["tests"]]
    assert key not in report and sorted(tests) == ["test_ids.py::test_id[hf_REDACTED]", "test_ids.py::test_id[plain]"]


def test_the_report_json_is_json_dumps_of_it_with_shared_records_written_once() -> None:
    from pytest_hfrouter.report import dumps

    shared = (("novita", "provider-500"),)
    calls = ({"url": "https://router.huggingface.co/novita/v3/openai/chat/completions", "status": 500},)
    odd = 't::b["quoted" \\ back\nline \x01 ünï 🤖]'
    tests = [
        {"test": "t::a", "outcome": "passed", "met": shared, "calls": calls},
        {"test": odd, "outcome": "passed", "met": shared, "calls": calls},  # the same rest: written once
        {"test": "t::c", "outcome": "failed", "met": shared, "calls": calls},
        {"outcome": "passed", "test": "t::d"},  # its test id not first: written as json writes it
        {"test": "t::e"},
        {"test": "t::f", "calls": [dict(calls[0])]},  # a copy (a walked record): its own rest
    ]
    payload = {"schema": "s", "calls": [{"test": "\x00hfrouter-tests-\x00"}], "tests": tests, "coverage": {"k": 1}}
    assert dumps(payload) == json.dumps(payload, ensure_ascii=False)
    assert dumps({"tests": tests[:1]}) == json.dumps({"tests": tests[:1]}, ensure_ascii=False)


def test_the_strings_a_scrubber_remembers_across_payloads_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scrub, "_PAYLOAD_TEXTS", 3)
    key = "hf_" + tail(random.Random(17), 34)
    scrubber = scrub.Scrubber([key])
    assert scrubber.payload([key, "b"]) == ["hf_REDACTED", "b"]
    assert scrubber.payload({"k": key}) == {"k": "hf_REDACTED"}  # remembered, scrubbed the same
    assert len(scrubber._payload_texts) == 3
    scrubber.payload([str(n) for n in range(5)])
    assert scrubber._payload_texts == {}


@pytest.mark.parametrize(
    "text",
    [
        f"x-request-id: {REQUEST_ID}",
        "x-request-id: 1aaebb16-ebf7-42c0-8f44-6743c40fc694",
        "Request ID: 21DsMRrush2AMn6er2XMD",
        f"https://huggingface.co/org/m/resolve/{COMMIT}/config.json",
        "cf-ray: 9b21e27a7a858de7-IAD",
        "risk-assessment-of-the-2024-long-report and task-classification-2025-benchmark-suite",
        '{"usage": {"prompt_tokens": 10, "total_tokens": 12}, "max_tokens": 5}',
        '{"logprobs": {"content": [{"token": "Hello", "logprob": -0.1}]}}',
        '{"eos_token": "</s>", "pad_token": "[PAD]"}',
        "https://router.huggingface.co/v1/chat/completions?max_tokens=5&keyword=dog",
        "re-record: pytest -p hfrouter --hfrouter-mode=rewrite",
        'WWW-Authenticate: Bearer realm="Authentication required"',
        "the bearer standards of the token economy",
    ],
    ids=lambda text: text[:30],
)
def test_what_is_no_secret_is_kept(text: str) -> None:
    assert scrub.text(text) == text


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("Authorization", "Bearer abc", False),
        ("Cookie", "a=b", False),
        ("Set-Cookie", "sid=x", False),
        ("Proxy-Authorization", "Basic x", False),
        ("X-Provider-Token", "abc", False),
        ("x-api-key", "abc", False),
        ("X-Client-Secret", "abc", False),
        ("x-amz-security-token", "abc", False),
        ("x-ratelimit-remaining-tokens", "59925", True),
        ("x-time-per-token", "20", True),
        ("fireworks-server-time-to-first-token", "0.028", True),
        ("Access-Control-Allow-Credentials", "true", True),
        ("X-Repo-Commit", COMMIT, True),
        ("x-request-id", REQUEST_ID, True),
        ("Content-Type", "application/json", True),
    ],
)
def test_secret_named_headers(name: str, value: str, kept: bool) -> None:
    assert (scrub.current().header(name, value) == value) is kept
    assert scrub.is_secret_name(name) is (not kept) or value.replace(".", "").isdigit() or value == "true"


def test_a_known_secret_in_every_encoding() -> None:
    secret = 'odd "sécret"/+ value 42'
    scrubber = scrub.Scrubber([secret])
    encodings = {
        "raw": secret,
        "url": quote(secret, safe=""),
        "url-plus": secret.replace(" ", "+"),
        "json": json.dumps(secret)[1:-1],
        "json-ascii": json.dumps(secret, ensure_ascii=True)[1:-1],
        "base64": base64.b64encode(secret.encode()).decode(),
        "base64 at offset 1": base64.b64encode(b"u:" + secret.encode()).decode(),
        "base64 at offset 2": base64.b64encode(b"us:" + secret.encode()).decode(),
        "urlsafe base64": base64.urlsafe_b64encode(b"u:" + secret.encode()).decode(),
    }
    for how, form in encodings.items():
        scrubbed = scrubber.text(f"before {form} after")
        assert scrubbed.startswith("before ") and scrubbed.endswith(" after"), how
        assert form not in scrubbed and "REDACTED" in scrubbed, how
    assert scrub.Scrubber(["short"]).text("short") == "short"  # too short to scrub by value: it would eat words


def test_a_registered_token_is_scrubbed_without_its_kind_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that echoes the token's secret part alone (``hf_`` dropped) leaks it all the same."""
    monkeypatch.setattr(scrub, "_current", scrub.Scrubber(()))
    token = "hf_" + "ZyXwVuTsRqPoNmLkJiHgFeDcBa987654"
    scrub.register([token])
    echoed = scrub.current().text(f"your key is {token[3:]}, or {token}")
    assert token[3:] not in echoed and echoed.count("REDACTED") == 2, echoed


def test_bodies_keep_their_bytes_unless_a_secret_is_in_them() -> None:
    key = "hf_" + tail(random.Random(3), 34)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    assert scrub.current().body(png, (("Content-Type", "image/png"),)) == png
    packed = gzip.compress(b'{"ok": true}', mtime=0)
    assert scrub.current().body(packed, (("Content-Encoding", "gzip"),)) is packed
    leaky = gzip.compress(f'{{"key": "{key}"}}'.encode())
    cleaned = scrub.current().body(leaky, (("Content-Encoding", "gzip"),))
    assert gzip.decompress(cleaned) == b'{"key": "hf_REDACTED"}'  # still gzip: replay decodes it


def test_environment_secrets() -> None:
    environ = {
        "HF_TOKEN": " value-of-the-token ",
        "OPENAI_API_KEY": "sk-something-long",
        "HOME": "/root",
        "TOKENIZERS_PARALLELISM": "false",
        "MY_SECRET": "short",
        "GITHUB_TOKEN": "gh-token-value",
        "HF_TOKEN_PATH": "/nonexistent/token",
        "NOVITA_KEY": "nk0123456789abcdef",  # any *_KEY that looks like a key (an audit: shown in a failure)
        "SORT_KEY": "timestamp",  # a word: scrubbing it would rewrite every "timestamp" of a recording
        "CACHE_KEY": "Linux pip 3.11",
    }
    assert sorted(scrub.environment_secrets(environ)) == [
        "gh-token-value",
        "nk0123456789abcdef",
        "sk-something-long",
        "value-of-the-token",
    ]


def test_the_token_hf_auth_login_stored_is_a_known_secret_too(tmp_path: Path) -> None:
    # audit S (stop 36): huggingface_hub sends the stored token when HF_TOKEN is unset; its part after hf_,
    # echoed alone by a server, was not scrubbed
    (tmp_path / "token").write_text(LEAK + "\n")
    assert scrub.environment_secrets({"HF_HOME": str(tmp_path)}) == [LEAK]
    assert scrub.environment_secrets({"HOME": str(tmp_path / "nobody")}) == []
    oauth = "hf_oauth_" + "Zx9" * 12
    assert oauth[9:] not in scrub.text(f"Authorization failed for {oauth}")  # "Sign in with HF" tokens


# -- the property test --------------------------------------------------------------------------
class Plants:
    """One seed's secrets: what the app sends, what the server answers with, and HF_TOKEN."""

    def __init__(self, rng: random.Random) -> None:
        self.token = rng.choice(
            [
                "hf_" + tail(rng, 34),
                "".join(rng.choice(ALNUM + "-._~+/=") for _ in range(rng.randint(20, 48))) + "9",  # any shape at all
            ]
        )
        self.app = {
            "hf": "hf_" + tail(rng, 34),
            "sk": "sk-proj-" + tail(rng, 40),
            "google": "AIza" + tail(rng, 35),
            "query": tail(rng, rng.randint(12, 40)),
            "query2": tail(rng, rng.randint(12, 40)),
            "header": tail(rng, rng.randint(12, 40)),
            "cookie": tail(rng, rng.randint(12, 40)),
            "field": tail(rng, rng.randint(12, 40)),
            "hub": tail(rng, rng.randint(12, 40)),
            "miss": tail(rng, rng.randint(12, 40)),
            "printed": tail(rng, rng.randint(12, 40)),
        }
        self.server = {
            "ant": "sk-ant-api03-" + tail(rng, 60),
            "gsk": "gsk_" + tail(rng, 48),
            "hf": "hf_" + tail(rng, 34),
            "field": tail(rng, 30),
            "header": tail(rng, 30),
            "cookie": tail(rng, 30),
            "reason": "xai-" + tail(rng, 40),
        }

    def all(self) -> dict[str, str]:
        return {
            "HF_TOKEN": self.token,
            **{f"app {k}": v for k, v in self.app.items()},
            **{f"server {k}": v for k, v in self.server.items()},
        }


def forms(secret: str) -> set[str]:
    """The ways a secret may be written down."""
    raw = secret.encode()
    return {
        secret,
        quote(secret, safe=""),
        json.dumps(secret)[1:-1],
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }


class LeakyEngine(Engine):
    """A server that echoes everything it receives and adds secrets of its own, in every field."""

    plants: Plants

    def answer(self, request: Request) -> Answer:
        path = urlsplit(request.url).path
        if not path.endswith("/chat/completions"):
            return super().answer(request)
        server = self.plants.server
        auth = next((v for k, v in request.headers if k.lower() == "authorization"), "")
        echoed = {
            "url": request.url,
            "headers": {k.lower(): v for k, v in request.headers},
            "body": (request.body or b"").decode(),
            "auth": base64.b64encode(auth.encode()).decode(),
        }
        if "/together/" in path or b':together"' in (request.body or b""):  # a failing pair (or probe): its error
            # text reaches the report, the summary and the terminal
            error = f"invalid key {server['hf']} ({server['ant']}) for {request.url}; you sent {auth}"
            headers = (("Content-Type", "application/json"), ("x-request-id", REQUEST_ID))
            return Answer(500, "Internal Server Error", headers, json.dumps({"error": error}).encode(), source="leaky")
        body = {
            "id": "leak-1",
            "object": "chat.completion",
            "created": 1,
            "model": "org/m",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"keys {server['gsk']}"},
                    "finish_reason": "stop",
                }
            ],
            "echo": echoed,
            "api_key": server["field"],
            "commit": COMMIT,
        }
        headers = (
            ("Content-Type", "application/json"),
            ("Content-Encoding", "gzip"),
            ("x-request-id", REQUEST_ID),
            ("x-inference-provider", "novita"),
            ("Set-Cookie", f"sid={server['cookie']}; Path=/"),
            ("X-Upstream-Key", server["header"]),
            ("X-Echo-Auth", base64.b64encode(auth.encode()).decode()),
            ("X-Repo-Commit", COMMIT),
        )
        reason = f"OK {server['reason']}"  # even the status line's reason phrase
        return Answer(200, reason, headers, gzip.compress(json.dumps(body).encode()), source="leaky")


LEAKY_APP = """
import json
import logging
import os

import httpx
import requests

P = json.load(open("plants.json"))
ROUTER = "https://router.huggingface.co"
MESSAGES = [{"role": "user", "content": "my keys " + P["hf"] + " " + P["google"]}]


def test_leaks(hfrouter):
    answer = httpx.post(
        ROUTER + "/novita/v3/openai/chat/completions?api_key=" + P["query"] + "&token=" + P["query2"],
        headers={"X-Provider-Token": P["header"], "X-Custom": "Bearer " + P["sk"], "Cookie": "s=" + P["cookie"]},
        json={"model": "org/m", "messages": MESSAGES, "api_key": P["field"]},
    )
    assert answer.status_code == 200
    failed = requests.post(ROUTER + "/together/v1/chat/completions?key=" + P["query"],
                           json={"model": "org/m", "messages": MESSAGES})
    assert failed.status_code == 500
    httpx.get("https://huggingface.co/api/models/org/m?expand=inferenceProviderMapping&access_token=" + P["hub"])
    # what the app itself prints and logs is shown with its failure: "Captured stdout/log call"
    print("called", ROUTER + "/v1/chat/completions?api_key=" + P["printed"])
    logging.getLogger("app").warning("the token is %s", os.environ["HF_TOKEN"])
    hfrouter.assert_tried("groq")  # fails on purpose (groq is never called): the call log goes to the terminal
"""

MISS_APP = """
import json

import httpx

P = json.load(open("plants.json"))


def test_miss():
    httpx.get("https://example.com/api?token=" + P["miss"])
"""


@pytest.fixture(scope="module")
def leaky() -> Iterator[tuple[RouterDouble, LeakyEngine]]:
    engine = LeakyEngine(shipped_library())
    engine.begin(Exchange())
    double = RouterDouble(engine).start()
    try:
        yield double, engine
    finally:
        double.stop()


def cassette_texts(folder: Path) -> list[str]:
    """Every cassette as written, and every body in it decoded (``!!binary``, gzip)."""
    texts = []
    for path in folder.rglob("*.yaml"):
        texts.append(path.read_text(encoding="utf-8"))
        for interaction in yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)["interactions"]:
            for body in (interaction["request"]["body"], interaction["response"]["body"]["string"]):
                if isinstance(body, bytes):
                    texts.append((gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).decode("latin-1"))
    return texts


@pytest.mark.parametrize("seed", [11, 22, 33])
def test_no_planted_secret_survives_in_any_output(
    pytester: pytest.Pytester, leaky: Any, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    double, engine = leaky
    plants = engine.plants = Plants(random.Random(seed))
    monkeypatch.setenv("HF_TOKEN", plants.token)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    (pytester.path / "plants.json").write_text(json.dumps(plants.app))
    pytester.makepyfile(test_leaky=LEAKY_APP, test_miss=MISS_APP)
    urls = [f"--hfrouter-router-url={double.base_url}", f"--hfrouter-hub-url={double.base_url}"]
    recorded = pytester.runpytest(
        "-p",
        "hfrouter",
        "--hfrouter-mode=record",
        *urls,
        "--hfrouter-report=report.json",
        "--hfrouter-summary=summary.md",
        "test_leaky.py",
    )
    recorded.assert_outcomes(failed=1)
    missed = pytester.runpytest("-p", "hfrouter", "-p", "no:xdist", "test_miss.py")
    missed.assert_outcomes(failed=1)
    pytester.makeini("[pytest]\nhfrouter_probes =\n    together:org/m\n")
    probed = pytester.runpytest(
        "-p",
        "hfrouter",
        "--live",
        *urls,
        "--hfrouter-report=probes.json",
        "test_miss.py",
        "--deselect",
        "test_miss.py::test_miss",
    )
    probed.assert_outcomes(failed=2, deselected=1)  # the plain and the streamed probe

    report = (pytester.path / "report.json").read_text()
    probes = (pytester.path / "probes.json").read_text()
    summary = (pytester.path / "summary.md").read_text()
    outputs = {
        "report": report,
        "summary": summary,
        "terminal (record run)": recorded.stdout.str() + recorded.stderr.str(),
        "terminal (replay run)": missed.stdout.str() + missed.stderr.str(),
        "probe report": probes,
        "terminal (probes)": probed.stdout.str() + probed.stderr.str(),
        **{f"cassette {n}": text for n, text in enumerate(cassette_texts(pytester.path / "cassettes"))},
    }
    # the run did produce every output, and each holds the entries the secrets were planted in
    payload = json.loads(report)
    assert {c["route"] for c in payload["calls"]} >= {"provider", "mapping"}
    assert payload["drift"] and any(c["error"] for c in payload["calls"])
    assert any(c["request_id"] == REQUEST_ID for c in payload["calls"])  # request ids survive
    assert "| together | org/m | ❌ 500 |" in summary
    recorded.stdout.fnmatch_lines(
        [
            "*expected the chain to try ?'groq'?, it tried*",
            "*call log:*",
            "*Captured stdout call*",
            "called *?api_key=REDACTED",
            "*Captured log call*",
            "*the token is *REDACTED*",
            "*failing: together org/m: 500 invalid key hf_REDACTED*",
            "drift in *",
        ]
    )
    missed.stdout.fnmatch_lines(["*pytest-hfrouter: no answer for GET https://example.com/api?token=REDACTED*"])
    probed.stdout.fnmatch_lines(["*probe failed: together:org/m:plain: invalid key hf_REDACTED*"])
    assert [p["outcome"] for p in json.loads(probes)["probes"]] == ["failed", "failed"]
    recorded.stdout.fnmatch_lines(["FAILED test_leaky.py::test_leaks - AssertionError: expected the chain to try*"])
    assert any(COMMIT in text for name, text in outputs.items() if name.startswith("cassette"))  # commit ids survive
    leaks = [
        (name, where)
        for name, secret in plants.all().items()
        for where, text in outputs.items()
        if any(form in text for form in forms(secret))
    ]
    assert leaks == []
    assert lint_main([str(pytester.path / "cassettes")]) == 0  # and lint, which decodes everything, agrees


PASSING_PRINTS = """
import logging
import os


def test_passes_and_prints():
    print("the app printed", os.environ["HF_TOKEN"], "and", "hf_" + "Q" * 34)
    logging.getLogger("app").warning("GET https://router.huggingface.co/v1/models?api_key=%s", "x" * 24)
"""


@pytest.mark.parametrize("shown", [("-rP",), ("-rA",), ("--junitxml=out.xml",)], ids=["rP", "rA", "junitxml"])
def test_a_passing_tests_output_is_scrubbed_where_it_is_shown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, shown: tuple[str, ...]
) -> None:
    token = "hf_" + "T" * 34
    monkeypatch.setenv("HF_TOKEN", token)
    pytester.makepyfile(test_prints=PASSING_PRINTS)
    result = pytester.runpytest("-p", "hfrouter", "-o", "junit_logging=all", *shown)
    result.assert_outcomes(passed=1)
    xml = pytester.path / "out.xml"
    shown_text = result.stdout.str() + (xml.read_text() if xml.exists() else "")
    assert "the app printed" in shown_text  # the passing test's output is shown (or written) ...
    for secret in (token, "hf_" + "Q" * 34, "x" * 24):
        assert secret not in shown_text  # ... scrubbed


# -- leaks a new user found (audit S, stop 36) ------------------------------------------------------
LEAK = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


def test_lint_scrubs_the_uri_of_an_interaction_that_can_never_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cassette = {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": f"https://router.huggingface.co/v1/chat/completions?api_key={LEAK}",
                    "body": None,
                    "headers": {},
                },
                "response": {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": "{}"}},
            }
        ],
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cassette))
    lint_main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "can never match" in out or "no request body" in out  # the finding is there ...
    assert LEAK[3:] not in out  # ... without the token (before: the raw URI, whole token in it)


def test_a_cassette_name_made_of_a_test_id_holds_no_token() -> None:
    from pytest_hfrouter.cassette_paths import default_cassette_name

    name = default_cassette_name(None, f"test_chat[{LEAK}]")
    assert LEAK[3:] not in name and name.startswith("test_chat[")


COLLECTION_LEAK = f"""
import httpx

httpx.get("https://config.example.org/boot?api_key={LEAK}")


def test_never():
    pass
"""


def test_the_miss_raised_into_an_app_at_import_holds_no_token(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_boot=COLLECTION_LEAK)
    result = pytester.runpytest("-p", "hfrouter", "--junitxml=out.xml")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error
    shown = result.stdout.str() + (pytester.path / "out.xml").read_text()
    assert "no answer for GET https://config.example.org/boot" in shown
    assert LEAK[3:] not in shown


SCOPE_ALL_LEAKS = f"""
import logging
import warnings


def test_warns_and_logs():
    warnings.warn("deprecated token {LEAK}")
    logging.getLogger("app").warning("calling with %s", "{LEAK}")
"""


def test_live_logs_and_the_warnings_summary_hold_no_token_where_the_plugin_acts_in_every_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_leaks=SCOPE_ALL_LEAKS)
    result = pytester.runpytest("-p", "hfrouter", "-o", "log_cli=true", "--log-file=app.log")
    result.assert_outcomes(passed=1)
    shown = result.stdout.str() + (pytester.path / "app.log").read_text()
    assert "calling with" in shown and "deprecated token" in shown
    assert LEAK[3:] not in shown


def _observed(body: bytes, encoding: str) -> Any:
    from pytest_hfrouter.live import Observed

    return Observed(200, "OK", (("content-type", "application/json"), ("content-encoding", encoding)), body, 0.1)


def test_a_recorded_body_is_scrubbed_under_stacked_and_cut_short_encodings() -> None:
    from pytest_hfrouter.bodies import content
    from pytest_hfrouter.recorder import interaction

    request = Request("POST", "https://router.huggingface.co/v1/chat/completions", (), b"{}")
    text = json.dumps({"error": f"Invalid token {LEAK}", "pad": "x" * 2000}).encode()
    twice = interaction(request, _observed(gzip.compress(gzip.compress(text)), "gzip, gzip"))
    stored = twice["response"]["body"]["string"]
    assert LEAK[3:].encode() not in content(stored, (("content-encoding", "gzip, gzip"),))
    assert b"Invalid token" in content(stored, (("content-encoding", "gzip, gzip"),))
    cut = interaction(request, _observed(gzip.compress(text)[:-40], "gzip"))  # a stream the app closed early
    assert "content-encoding" not in {name.lower() for name in cut["response"]["headers"]}  # stored decoded
    assert LEAK[3:] not in cut["response"]["body"]["string"] and "Invalid token" in cut["response"]["body"]["string"]


def test_a_body_whose_coding_cannot_be_read_here_is_refused_not_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_hfrouter import bodies
    from pytest_hfrouter.errors import CassetteError
    from pytest_hfrouter.recorder import interaction

    monkeypatch.setattr(bodies, "_zstd", lambda: None)  # neither Python 3.14 nor the zstandard package
    request = Request("POST", "https://router.huggingface.co/v1/chat/completions", (), b"{}")
    with pytest.raises(CassetteError, match=r"Content-Encoding 'zstd'.*pip install zstandard"):
        interaction(request, _observed(b"(\xb5/\xfd opaque frame", "zstd"))


# -- channels a second secrets audit found (stop 43) --------------------------------------------------
WRITES_EVERY_REPORT = """
import json


def pytest_addoption(parser):  # pytest-reportlog's option
    parser.addoption("--report-log", dest="report_log")


def pytest_runtest_logreport(report):  # as pytest-reportlog does: every report, a passing one too
    with open("reports.jsonl", "a") as out:
        out.write(json.dumps({"sections": report.sections, "user_properties": report.user_properties}) + "\\n")
"""

PRINTS_AND_RECORDS = f"""
import logging


def test_passes(record_property):
    print("the app printed {LEAK}")
    logging.getLogger("app").warning("calling with Bearer %s", "{LEAK}")
    record_property("url", "https://router.huggingface.co/v1/models?api_key={LEAK}")


def test_fails():
    print("the app printed {LEAK} again")
    assert False
"""


def test_what_a_plugin_writes_of_every_report_holds_no_token(pytester: pytest.Pytester) -> None:
    """An audit: ``--report-log`` and pytest-html wrote a passing test's captured output (and a failing test's
    teardown report, which carries it again) with the token; ``record_property`` values reached JUnit XML."""
    pytester.makeconftest(WRITES_EVERY_REPORT)
    pytester.makepyfile(test_prints=PRINTS_AND_RECORDS)
    result = pytester.runpytest("-p", "hfrouter", "--report-log=log.jsonl")
    result.assert_outcomes(passed=1, failed=1)
    written = (pytester.path / "reports.jsonl").read_text()
    assert "the app printed" in written and "calling with" in written and "api_key=" in written
    assert LEAK[3:] not in written
    result = pytester.runpytest("-p", "hfrouter", "--junitxml=out.xml")
    result.assert_outcomes(passed=1, failed=1)
    written = (pytester.path / "out.xml").read_text()
    assert "api_key=" in written and LEAK[3:] not in written


SUBTESTS_PRINT = f"""
import pytest


def test_each(subtests, hfrouter):
    for n in (1, 2):
        with subtests.test(n=n):
            print("the app printed {LEAK}")
            assert n == 1
"""


@pytest.mark.skipif(not hasattr(pytest, "Subtests"), reason="pytest's own subtests: pytest 9")
def test_a_subtests_output_holds_no_token(pytester: pytest.Pytester) -> None:
    """An audit: a failing subtest's captured output is added after the report hook, and the parent's report
    turns into a failure after it ("contains 1 failed subtest"): both showed the token."""
    pytester.makepyfile(test_subtests=SUBTESTS_PRINT)
    result = pytester.runpytest("-p", "hfrouter")
    result.stdout.fnmatch_lines(["*contains 1 failed subtest*"])
    assert "the app printed" in result.stdout.str()
    assert LEAK[3:] not in result.stdout.str()


MARKED_AND_NOT = f"""
import logging
import warnings

import pytest


def test_asks(hfrouter):
    warnings.warn("asked, token {LEAK}")
    logging.getLogger("app").warning("asked, calling with %s", "{LEAK}")


def test_does_not_ask():
    warnings.warn("not asked, token {LEAK}")
    logging.getLogger("app").warning("not asked, calling with %s", "{LEAK}")
"""


def test_auto_loaded_the_logs_and_warnings_of_a_test_that_asked_hold_no_token(pytester: pytest.Pytester) -> None:
    """An audit: auto-loaded (scope "marked"), a marked test's live log, log file and warning showed the token.
    A test that did not ask keeps its output as it was: the plugin took no part in it."""
    pytester.makepyfile(test_leaks=MARKED_AND_NOT)
    result = pytester.runpytest_subprocess("-o", "log_cli=true", "--log-file=app.log", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    shown = result.stdout.str() + (pytester.path / "app.log").read_text()
    asked = [line for line in shown.splitlines() if "asked, " in line and "not asked" not in line]
    untouched = [line for line in shown.splitlines() if "not asked, " in line]
    assert len(asked) >= 4 and len(untouched) >= 4  # live log, log file and warnings summary (text and source line)
    assert not [line for line in asked if LEAK[3:] in line]
    assert all(LEAK in line for line in untouched if "token" in line or "calling" in line)


def test_a_known_secret_cut_by_pytests_shortened_repr_is_scrubbed() -> None:
    """An audit: ``-l`` showed a long local with its middle cut out, and 23 of the token's characters after it."""
    scrubber = scrub.Scrubber([LEAK])
    shown = f'body = \'{{"x": "aaaa...{LEAK[-23:]}", ...\''
    assert scrubber.text(shown) == 'body = \'{"x": "aaaa...REDACTED", ...\''
    assert scrubber.text(f"'{LEAK[:20]}...tail'") == "'REDACTED...tail'"
    assert scrubber.text(f"...{LEAK[-6:]} and ...abc") == f"...{LEAK[-6:]} and ...abc"  # too short to be one
