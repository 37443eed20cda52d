"""``python -m pytest_hfrouter lint PATH...``: tokens and malformed cassettes, for pre-commit and CI."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from .cassettes import parse_cassette
from .errors import CassetteError
from .recorder import REDACTED, TOKEN, is_secret_header

_SAFE_VALUES = ("<redacted>", REDACTED, "", "Bearer " + REDACTED)


def cassette_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            yield path


def lint_file(path: Path) -> list[str]:
    """Problems of one cassette file, each naming the file (and the line for a token)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{path}: cannot read: {exc}"]
    problems = [
        f"{path}:{text.count(chr(10), 0, match.start()) + 1}: a Hugging Face token ({match.group()[:7]}…)"
        for match in TOKEN.finditer(text)
        if match.group() != REDACTED
    ]
    try:
        parse_cassette(text, path)
    except CassetteError as exc:
        return [*problems, f"{path}: malformed cassette: {exc.problem}"]
    data = yaml.safe_load(text)
    for number, interaction in enumerate(data["interactions"]):
        for part in ("request", "response"):
            headers = interaction[part].get("headers") or {}
            for name, values in headers.items():
                kept = [v for v in (values if isinstance(values, list) else [values]) if str(v) not in _SAFE_VALUES]
                if is_secret_header(str(name)) and kept:
                    problems.append(f"{path}: interactions[{number}].{part} header {name} keeps a secret value")
    return problems


def main(paths: list[str]) -> int:
    files = list(cassette_files(Path(p) for p in paths))
    problems = [problem for path in files for problem in lint_file(path)]
    for problem in problems:
        print(problem)
    print(f"{len(files)} cassette(s) checked, {len(problems)} problem(s)")
    return 1 if problems else 0
