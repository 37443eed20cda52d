"""Build cassettes/tasks/{provider}/{task}.yaml from the real non-chat recordings in shared/real-cassettes.

Run from the repository root: python tools/build_task_library.py ../shared/real-cassettes
(needs Pillow: pip install pillow).

Each output holds one real exchange for one provider and task: the inference call and what
follows it (the image download of fal-ai and replicate, black-forest-labs' polls and download),
in recorded order. The Hub look-ups are left out (the plugin answers them for any model and
task). What is changed, and only that:
- request bodies over 2 kB (uploaded audio and images) are replaced by a note of their size:
  the request part of a cassette is documentation, never matched;
- images are scaled down to 64 pixels wide in their own format (PNG stays PNG, JPEG JPEG,
  WebP WebP), raw or base64 inside JSON; the JSON around them is unchanged;
- the signature of black-forest-labs' signed delivery URL is replaced (the same in the poll
  answer and the download's URL, so the exchange still links up);
- Set-Cookie values are redacted.
Everything else — statuses, reasons, headers, JSON bodies, audio — is copied as recorded.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

COMMIT = "34bb25d9d8bf5b433fe0d87516c36e98e5d548de"
WIDTH = 64
_SIG = re.compile(r"sig=[^&\"']+")
_HUB = "https://huggingface.co/api/"

# The extra recording for hf-inference text-generation (non-TGI shape) from the chat folder.
EXTRA = {
    ("hf-inference", "text-generation"): (
        "huggingface_hub",
        "TestTextGenerationClientVCR.test_generate_non_tgi_endpoint_regression_test.yaml",
    ),
}


def shrink_image(data: bytes) -> tuple[bytes, str] | None:
    """The image scaled to WIDTH pixels wide in its own format, or None if it is no image."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception:
        return None
    fmt = image.format or "PNG"
    height = max(1, round(image.height * WIDTH / image.width))
    small = image.convert("RGB" if fmt == "JPEG" else image.mode).resize((WIDTH, height))
    out = io.BytesIO()
    small.save(out, format=fmt)
    return out.getvalue(), f"{fmt} {image.width}x{image.height} ({len(data)} bytes) -> {WIDTH}x{height}"


def shrink_json(text: str, notes: list[str]) -> str:
    """Scale down base64 images inside a JSON body (together, nebius, hyperbolic)."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    changed = False

    def walk(value: Any) -> Any:
        nonlocal changed
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and len(value) > 4096:
            try:
                raw = base64.b64decode(value, validate=True)
            except ValueError:
                return value
            shrunk = shrink_image(raw)
            if shrunk is None:
                return value
            changed = True
            notes.append(f"base64 image in the JSON body: {shrunk[1]}")
            return base64.b64encode(shrunk[0]).decode("ascii")
        return value

    result = walk(data)
    if not changed:
        return text
    # as compact as the provider sent it, unless it sent it indented (together)
    indented = text.lstrip().startswith("{\n")
    return json.dumps(result, indent=2) if indented else json.dumps(result, separators=(",", ":"))


def reshape_zero_shot(interaction: dict[str, Any], notes: list[str]) -> None:
    """Today's shape of hf-inference's zero-shot answer: a list of {label, score}.

    The 2025 recording has the older {"sequence", "labels", "scores"}; since 2025-11 the router
    answers a list (huggingface_hub issue #3557, which shows one, and PR #3561 that made
    huggingface_hub 1.x parse it; 0.36 still reads the old keys and fails on today's answer).
    """
    body = interaction["response"]["body"]
    data = json.loads(body["string"])
    reshaped = [{"label": label, "score": score} for label, score in zip(data["labels"], data["scores"], strict=True)]
    body["string"] = json.dumps(reshaped, separators=(",", ":"))
    notes.append(
        "the body is today's list shape [{label, score}] (huggingface/huggingface_hub issue #3557, 2025-11-19, "
        "fixed by PR #3561), built from the recording's own labels and scores, which had the older "
        '{"sequence", "labels", "scores"} shape'
    )


def _scrub(text: str) -> str:
    return _SIG.sub("sig=REDACTED", text)


def _body_text(body: Any) -> Any:
    return body.get("string") if isinstance(body, dict) else body


def convert(interaction: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    request, response = interaction["request"], interaction["response"]
    request["uri"] = _scrub(request["uri"])
    body = request.get("body")
    if isinstance(body, (bytes, str)) and len(body) > 2048:
        kind = "binary" if isinstance(body, bytes) else "JSON"
        request["body"] = f"<{kind} request body of {len(body)} bytes left out (uploaded audio or image)>"
    headers = response["headers"]
    for name in [n for n in headers if n.lower() == "set-cookie"]:
        headers[name] = ["<redacted>"]
    content = _body_text(response.get("body"))
    if isinstance(content, bytes):
        shrunk = shrink_image(content)
        if shrunk is not None:
            notes.append(f"image body of {request['uri']}: {shrunk[1]}")
            content = shrunk[0]
    elif isinstance(content, str):
        content = shrink_json(_scrub(content), notes)
    response["body"] = {"string": content}
    for name in [n for n in headers if n.lower() == "content-length"]:
        del headers[name]
    return interaction


def build(source: Path, provider: str, task: str, out: Path) -> Path:
    data = yaml.load(source.read_text(), Loader=yaml.CSafeLoader)
    notes: list[str] = []
    kept = []
    for interaction in data["interactions"]:
        if interaction["request"]["uri"].startswith(_HUB):
            continue
        if interaction["response"]["status"]["code"] >= 400:  # the 400 a non-TGI model answers first
            continue
        kept.append(interaction)
    if (provider, task) == ("hf-inference", "text-generation"):
        kept = kept[-1:]
    kept = [convert(i, notes) for i in kept]
    if (provider, task) == ("hf-inference", "zero-shot-classification"):
        reshape_zero_shot(kept[0], notes)
    dates = sorted({d for i in kept for k, v in i["response"]["headers"].items() if k.lower() == "date" for d in v})
    relative = source.parent.name + "/" + source.name
    document = {
        "version": 1,
        "metadata": {
            "hfrouter": {
                "healthy": True,
                "provider": provider,
                "task": task,
                "provenance": {
                    "observed": "partly-real" if notes else "real",
                    "source": f"huggingface_hub tests/cassettes/{source.name} at commit {COMMIT} (Apache-2.0), "
                    f"copied from shared/real-cassettes/{relative} by tools/build_task_library.py",
                    "recorded": dates,
                    "notes": "Hub look-ups left out; request bodies over 2 kB replaced by their size; "
                    "Set-Cookie redacted; signed-URL signatures replaced."
                    + (" Scaled down: " + "; ".join(notes) + "." if notes else " Responses otherwise unedited."),
                },
            }
        },
        "interactions": kept,
    }
    target = out / provider / f"{task}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100))
    return target


def main(shared: Path) -> None:
    out = Path("cassettes/tasks")
    done: set[tuple[str, str]] = set()
    sources = sorted((shared / "huggingface_hub-tasks").glob("TestInferenceClient.*[[]*,*[]].yaml"))
    pairs = [(p, *p.name.split("[", 1)[1].removesuffix("].yaml").split(",", 1)) for p in sources]
    pairs += [(shared / folder / name, provider, task) for (provider, task), (folder, name) in EXTRA.items()]
    for path, provider, task in pairs:
        if (provider, task) in done:
            continue  # a second recording of the same pair (with other parameters): one is enough
        if (provider, task) == ("replicate", "text-to-speech"):
            continue  # recorded direct to api.replicate.com and unfinished (output null): no healthy answer
        done.add((provider, task))
        target = build(path, provider, task, out)
        print(f"{target} {target.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
