"""``python -m pytest_hfrouter lint PATH...``: secrets, malformed cassettes and bodies that cannot
round-trip, for pre-commit and CI.

Each file is parsed once, with libyaml (``yaml.CSafeLoader``) where PyYAML has it: the node
tree gives every scalar with its line, and the cassette is built from the same tree. Every
scalar is looked at as YAML gives it (escapes such as ``\\x5F`` and folded lines undone) and
decoded further — ``!!binary`` and other base64, gzip and zlib, URL- and JSON-escapes — before
the scrubber's patterns (`scrub`) look for keys. A file that cannot be read or parsed is one
finding; the other files are still checked.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from . import scrub
from .bodies import content_encoding
from .cassette_paths import cassettes_under
from .cassettes import Cassette, cassette_from_data, header_pairs
from .errors import CassetteError, ScenarioError

_BINARY_TAG = "tag:yaml.org,2002:binary"
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_URL_ESCAPED = re.compile(r"[A-Za-z0-9_.~+\-]*(?:%[0-9A-Fa-f]{2}[A-Za-z0-9_.~+\-]*)+")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
#: how many decodings deep a value is followed (base64 of gzip of base64 …)
_DEPTH = 3
#: content types whose bodies are bytes, not text: stored as text they have lost bytes
_BINARY_TYPES = ("image/", "audio/", "video/", "application/octet-stream", "application/pdf", "application/zip")


def cassette_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from cassettes_under(path)
        else:
            yield path


# -- decoding --------------------------------------------------------------------------------
def _views(value: str | bytes, depth: int = 0) -> Iterator[tuple[str, str]]:
    """``(how it was decoded, text)`` for a value and everything it decodes to."""
    if isinstance(value, bytes):
        for how, data in _unpacked(value):
            text = data.decode("latin-1")  # byte for byte: the patterns are ASCII
            yield how, text
            if depth < _DEPTH:
                yield from ((f"{how}, {inner}" if how else inner, t) for inner, t in _text_views(text, depth + 1))
        return
    yield "", value
    if depth < _DEPTH:
        yield from _text_views(value, depth + 1)


def _text_views(text: str, depth: int) -> Iterator[tuple[str, str]]:
    if "%" in text:  # only the runs that hold an escape are decoded: whole texts would cost too much
        decoded = _URL_ESCAPED.sub(lambda m: unquote(m.group()), text)
        if decoded != text:
            yield "URL-decoded", decoded
    if "\\u" in text:
        yield "JSON-unescaped", _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    for run in _BASE64_RUN.findall(text):
        data = _base64(run)
        if data is not None:
            for how, view in _views(data, depth):
                yield ("base64, " + how) if how else "base64", view


def _base64(run: str) -> bytes | None:
    padded = run + "=" * (-len(run) % 4)
    try:
        data = base64.urlsafe_b64decode(padded) if ("-" in run or "_" in run) else base64.b64decode(padded)
    except (binascii.Error, ValueError):
        return None
    # Text that happens to be base64-shaped decodes to noise: follow only what looks like data.
    printable = sum(32 <= b < 127 for b in data[:256])
    return data if data[:2] == b"\x1f\x8b" or printable >= 0.9 * min(len(data), 256) else None


#: how much of a compressed body is unpacked to look for secrets (an audit: a 1.4 MB gzip body of 1 GiB took
#: lint to 2 GB of memory); a secret past it in a body that large is not seen
UNPACKED_BYTES = 16 * 1024 * 1024


def _unpacked(data: bytes) -> Iterator[tuple[str, bytes]]:
    yield "", data
    if data[:2] == b"\x1f\x8b" or data[:1] == b"\x78":
        label, window = ("gzip", 16 + zlib.MAX_WBITS) if data[:1] == b"\x1f" else ("zlib", zlib.MAX_WBITS)
        with contextlib.suppress(zlib.error):
            unpacked = zlib.decompressobj(window).decompress(data, UNPACKED_BYTES)
            if unpacked:
                yield label, unpacked


# -- the walk ----------------------------------------------------------------------------------
def _scalars(node: yaml.Node, where: str = "") -> Iterator[tuple[str, yaml.ScalarNode]]:
    """Every scalar of the document (keys too) with where it stands."""
    stack: list[tuple[str, yaml.Node]] = [(where, node)]
    seen: set[int] = set()  # an alias is the node it names: walked once (a "billion laughs" never ended)
    while stack:
        where, node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            yield where, node
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((f"{where}[{n}]", item) for n, item in reversed(list(enumerate(node.value))))
        elif isinstance(node, yaml.MappingNode):
            for key, item in reversed(node.value):
                yield where, key
                name = key.value if isinstance(key, yaml.ScalarNode) else "?"
                stack.append((f"{where}.{name}" if where else str(name), item))


def _secrets_in(path: Path, source: str, where: str, node: yaml.ScalarNode) -> list[str]:
    value: str | bytes = node.value
    if node.tag == _BINARY_TAG:
        try:
            value = base64.decodebytes(node.value.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return []  # the construction of the document reports it
    scrubber = scrub.current()
    found: dict[tuple[str, str], tuple[str, int]] = {}
    for how, text in _views(value):
        if scrubber.text(text) == text:
            continue
        hits = scrub.findings(text) or [(-1, "a secret-named parameter or field with its value")]
        for position, kind in hits:
            shown = f" ({text[position : position + 7]}…)" if position >= 0 and kind.startswith("a Hugging") else ""
            if (kind, shown) not in found:
                seen = text[position : position + 12] if position >= 0 and not how else ""
                found[kind, shown] = (how, _line(source, node, seen))
    return [
        f"{path}:{line}: {kind}{shown} in {where or 'the document'}" + (f" ({how})" if how else "")
        for (kind, shown), (how, line) in found.items()
    ]


def _line(source: str, node: yaml.Node, seen: str) -> int:
    """The line of ``seen`` in the file when it stands there as it is, else the line the value starts on."""
    start, end = node.start_mark.index, node.end_mark.index
    at = source.find(seen, start, end) if seen else -1
    return node.start_mark.line + 1 + (source.count("\n", start, at) if at >= 0 else 0)


# -- interactions: secret headers and bodies that cannot round-trip ----------------------------
def _headers(raw: Any) -> list[tuple[str, str]]:
    """The header values as replay reads them (`cassettes.header_pairs`); a damaged value is said there."""
    if not isinstance(raw, Mapping):
        return []
    try:
        return list(header_pairs(raw, "headers"))
    except CassetteError:
        return []


def _interaction_problems(path: Path, number: int, interaction: Any) -> list[str]:
    if not isinstance(interaction, Mapping):
        return []
    problems = []
    for part in ("request", "response"):
        side = interaction.get(part)
        if not isinstance(side, Mapping):
            continue
        where = f"{path}: interactions[{number}].{part}"
        if side.get("headers") is not None and not isinstance(side.get("headers"), Mapping):
            problems.append(f"{where}.headers must be a mapping of name to list of values")
        headers = _headers(side.get("headers"))
        scrubber = scrub.current()
        for name, value in headers:
            if scrubber.header(name, value) != value:
                problems.append(f"{where} header {name} keeps a secret value")
        body = side.get("body")
        if part == "response":
            body = body.get("string") if isinstance(body, Mapping) else body
        problems += [f"{where}.body {problem}" for problem in _round_trip_problems(body, headers)]
    return problems


def _compressed(data: bytes, encoding: str) -> bool:
    """Whether ``data`` is whole gzip or deflate, read in bounded steps (nothing kept: an audit's 1 GiB bomb)."""
    # deflate: zlib-wrapped, or raw as some servers send it
    windows = (zlib.MAX_WBITS, -zlib.MAX_WBITS) if encoding == "deflate" else (16 + zlib.MAX_WBITS,)
    for window in windows:
        decompressor, rest = zlib.decompressobj(window), data
        try:
            while True:
                out = decompressor.decompress(rest, UNPACKED_BYTES)
                rest = decompressor.unconsumed_tail
                if decompressor.eof:
                    more = decompressor.unused_data
                    if more[:2] != b"\x1f\x8b" or window < 16:
                        return True
                    decompressor, rest = zlib.decompressobj(window), more  # several gzip members
                elif not out and not rest:
                    break
        except zlib.error:
            continue
    return False


def _round_trip_problems(body: Any, headers: list[tuple[str, str]]) -> list[str]:
    if not isinstance(body, (str, bytes)) or not body:
        return []
    encoding = content_encoding(headers)
    if encoding:
        data = body.encode("utf-8") if isinstance(body, str) else body
        decoded_text = isinstance(body, str) and "\ufffd" not in body  # as vcrpy through requests stores it
        if encoding in ("gzip", "x-gzip", "deflate") and not decoded_text and not _compressed(data, encoding):
            return [
                f"is not {encoding} although Content-Encoding says so: replay cannot hand the client what "
                "the server sent; record it again"
            ]
        return []
    kind = next((v.lower() for k, v in headers if k.lower() == "content-type"), "")
    if isinstance(body, str) and "\ufffd" in body and kind.startswith(_BINARY_TYPES):
        return [f"is {kind} stored as text with U+FFFD replacement characters: its bytes are lost; record it again"]
    return []


# -- files -------------------------------------------------------------------------------------
def lint_file(path: Path) -> list[str]:
    """Problems of one cassette file, each naming the file (and the line for a secret)."""
    try:
        return _lint_file(path)
    except Exception as exc:  # never a traceback that hides the other files' findings
        return [f"{path}: could not be checked: {type(exc).__name__}: {exc}"]


def _lint_file(path: Path) -> list[str]:
    if not path.is_file():  # a pipe named on the command line was read until it closed: never, in CI
        return [f"{path}: not a regular file (a pipe, a device): not a cassette"]
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return [f"{path}: cannot read: {exc}"]
    if path.suffix == ".json":
        import json

        try:
            json.loads(raw)
        except ValueError:  # said, and checked as the YAML it is
            not_json = (
                f"{path}: a .json cassette that is not JSON (YAML, say): pytest-recording's JSON serializer cannot "
                "read it; record it again (--hfrouter-mode=rewrite writes a .json cassette as JSON)"
            )
            return [not_json, *_lint_raw(path, raw)]
    return _lint_raw(path, raw)


def _lint_raw(path: Path, raw: bytes) -> list[str]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            what = "holds no YAML document (comments at most)" if raw.strip() else "the file is empty"
            return [f"{path}: malformed cassette: {what}"]
        source = raw.decode("utf-8", "replace")  # libyaml's marks count characters
        problems = [problem for where, scalar in _scalars(node) for problem in _secrets_in(path, source, where, scalar)]
        try:
            data = loader.construct_document(node)
        except yaml.YAMLError as exc:
            return [*problems, f"{path}: malformed cassette: {_one_line(exc)}"]
    except yaml.YAMLError as exc:
        return [f"{path}: malformed cassette: not valid YAML: {_one_line(exc)}"]
    finally:
        loader.dispose()
    try:
        cassette = cassette_from_data(data, path)
    except CassetteError as exc:
        problems.append(f"{path}: malformed cassette: {exc.problem}")
    else:
        if not cassette.interactions:  # replay: a test that names it fails (it answers none of its calls)
            problems.append(f"{path}: holds no interactions: it answers nothing (record it, or delete it)")
        problems += [f"{path}: {line}" for line in cassette.unmatchable()]
        if cassette.is_scenario:
            problems += _scenario_problems(cassette)
    interactions = data.get("interactions") if isinstance(data, Mapping) else None
    for number, interaction in enumerate(interactions if isinstance(interactions, list) else []):
        problems += _interaction_problems(path, number, interaction)
    # what makes it malformed is said once (the interaction check may find the same)
    said = {problem.replace("malformed cassette: ", "", 1) for problem in problems if "malformed cassette: " in problem}
    return [p for p in problems if "malformed cassette: " in p or p not in said]


def _scenario_problems(cassette: Cassette) -> list[str]:
    """A scenario file (shipped or the user's): its format, and a shipped name claimed without ``shadow: true``."""
    from .library import library_dir, scenario_from_cassette, shipped_library

    try:
        scenario = scenario_from_cassette(cassette)
    except ScenarioError as exc:
        return [str(exc)]
    shipped_dir = (library_dir() / "scenarios").resolve()
    if cassette.path.resolve().parent == shipped_dir or scenario.shadow:
        return []
    names = shipped_library().names
    return [
        f"{cassette.path}: {name!r} is a shipped scenario ({names[name].path.name}); rename yours, or set "
        "`shadow: true` in its metadata.hfrouter to replace the shipped one on purpose"
        for name in (scenario.name, *scenario.aliases)
        if name in names
    ]


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).replace('"<byte string>", ', "").split())


def main(paths: list[str]) -> int:
    scrub.register(scrub.environment_secrets(os.environ))  # HF_TOKEN's value, in any encoding, is a finding
    files = list(cassette_files(Path(p) for p in paths))
    problems = 0
    for path in files:  # each file's findings as soon as it is checked
        for problem in lint_file(path):
            print(problem, flush=True)
            problems += 1
    print(f"{len(files)} cassette(s) checked, {problems} problem(s)")
    return 1 if problems else 0
