"""Healthy answers that fit the request: the model it named, the JSON or the tool call it asked for;
for tasks other than chat, the number of results it asked for.

The healthy library holds real recorded answers (2025 prose). A request that asks for
structured output gets the same recording with its content replaced:

- ``response_format`` ``json_object``: an instance of the JSON Schema the messages quote (instructor's
  JSON mode), else ``{}``; ``json_schema`` (and the
  TGI grammar ``{"type": "json", "value": schema}`` of older clients): a minimal instance
  valid against the schema (`schema_instance`);
- ``tools`` with ``tool_choice`` ``"required"`` or a named function: a call to that tool
  (the first one offered for ``"required"``) with arguments valid against its
  ``parameters``. With ``tool_choice`` ``"auto"`` or absent the answer stays a plain
  message, as real models often answer (an app must handle both);
- every healthy answer carries the ``model`` the request named.

No real recording holds a tool call (shared/real-cassettes has ``"tool_calls": []`` and
``null`` only), so tool calls are synthesised in the OpenAI shape the router's providers
send (hub-docs chat-completion "Response", docs/ROUTER-FACTS.md §4.1): the message's ``tool_calls``
with ``finish_reason: "tool_calls"``; streamed, a first delta naming the call and later
deltas carrying pieces of ``arguments``. Everything else (ids, headers, usage, the
provider's extra keys, ``data: [DONE]`` or its absence) is the recording's.

Parsing the request costs something, so it happens only when the body holds the bytes
``"response_format"`` or ``"tools"``; the engine caches the built answer per fit.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, NamedTuple

from .bodies import json_object
from .schema_instance import SchemaUnsupported, instance

__all__ = [
    "Fit",
    "cut_point",
    "fit_of",
    "fitted_body",
    "fitted_task_body",
    "numbered_call",
    "task_fit",
    "with_defect",
    "with_model",
]

_MARKERS = (b'"response_format"', b'"tools"')
_PIECE = 12  # characters of content or arguments per streamed delta


class Fit(NamedTuple):
    """What the answer must carry: JSON content, or a call to ``tool`` with ``arguments``."""

    content: str | None = None
    tool: str | None = None
    arguments: str | None = None

    @property
    def describe(self) -> str:
        return f"tool call {self.tool}" if self.tool else "JSON content"


def fit_of(body: bytes | None) -> Fit | None:
    """The fit a chat request asks for, or None (a plain answer). Raises `SchemaUnsupported`."""
    if not body or (_MARKERS[0] not in body and _MARKERS[1] not in body):  # every chat request asks
        return None
    data = json_object(body)
    if data is None:
        return None
    tool = _tool_fit(data.get("tools"), data.get("tool_choice"))
    if tool is not None:
        return tool
    return _format_fit(data.get("response_format"), data.get("messages"))


def _format_fit(spec: Any, messages: Any = None) -> Fit | None:
    if not isinstance(spec, dict):
        return None
    kind = spec.get("type")
    if kind == "json_object":  # with a "schema" beside it (langchain-huggingface's json_schema method): its instance
        # or a "value" (huggingface_hub's hf-inference rewrite of json_schema, inference/_providers/hf_inference.py)
        schema = spec.get("schema", spec.get("value"))
        if not isinstance(schema, dict):
            schema = _quoted_schema(messages)
            if schema is not None:
                try:
                    return Fit(content=_dumps(instance(schema)))
                except SchemaUnsupported:
                    pass  # a schema the prompt quotes that no instance is made of: the object with nothing in it
        return Fit(content=_dumps(instance(schema)) if isinstance(schema, dict) else "{}")
    if kind == "json_schema":
        inner = spec.get("json_schema") or {}
        schema = inner.get("schema") if isinstance(inner, dict) else None
        if schema is None:  # flattened: huggingface_hub's together rewrite (inference/_providers/together.py)
            schema = spec.get("schema")
        return Fit(content=_dumps(instance(schema if schema is not None else {"type": "object"})))
    if kind == "json":  # TGI's grammar, sent by older huggingface_hub clients
        return Fit(content=_dumps(instance(spec.get("value") or {"type": "object"})))
    return None


def _quoted_schema(messages: Any) -> dict[str, Any] | None:
    """The JSON Schema a prompt quotes for a ``json_object`` answer (instructor's JSON mode puts the model's
    schema in the system message), the last one: an object with ``properties``. An audit: such an app got
    ``{}``, which its own validation refused, in a healthy test."""
    decoder = json.JSONDecoder()
    for message in reversed(messages if isinstance(messages, list) else []):
        content = message.get("content") if isinstance(message, dict) else None
        parts = content if isinstance(content, list) else [{"text": content}]
        for part in reversed(parts):
            text = part.get("text") if isinstance(part, dict) else None
            if not isinstance(text, str) or '"properties"' not in text:
                continue
            found, start = None, text.find("{")
            while start != -1:
                try:
                    value, end = decoder.raw_decode(text, start)
                except ValueError:
                    start = text.find("{", start + 1)
                    continue
                if isinstance(value, dict) and isinstance(value.get("properties"), dict):
                    found = value
                start = text.find("{", end)
            if found is not None:
                return found
    return None


def _tool_fit(tools: Any, choice: Any) -> Fit | None:
    if not isinstance(tools, list) or not tools:
        return None
    offered: list[dict[str, Any]] = [
        t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    if not offered:
        return None
    if isinstance(choice, dict):  # {"type": "function", "function": {"name": ...}}
        wanted = (choice.get("function") or {}).get("name")
        named = [f for f in offered if f.get("name") == wanted]
        if not named:
            raise NotOffered(wanted, [str(f.get("name")) for f in offered])
        function = named[0]
    elif choice == "required":
        function = offered[0]
    else:  # "auto", "none" or absent: a plain message
        return None
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    return Fit(tool=str(function.get("name")), arguments=_dumps(instance(parameters)))


class NotOffered(SchemaUnsupported):
    """A ``tool_choice`` that names a tool the request does not offer: the app's mistake, not a shape
    the plugin cannot build (the real router's answer to it, an error, was never recorded)."""

    def __init__(self, wanted: object, offered: list[str]) -> None:
        from .errors import did_you_mean

        super().__init__(f"tool_choice names {wanted!r}, which is not among the offered tools {offered}")
        close = did_you_mean(wanted, offered)
        self.hint = f"fix the app's tool_choice: it must name one of the tools the request offers.{close}"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# -- the answer's body ---------------------------------------------------------------------
_MODEL = re.compile(rb'("model"\s*:\s*)"(?:[^"\\]|\\.)*"')


def with_model(body: bytes, model: str | None) -> bytes:
    """The recorded body with every ``"model"`` value replaced by ``model`` (bytes kept otherwise)."""
    if not model:
        return body
    value = json.dumps(model).encode()
    return _MODEL.sub(lambda m: m.group(1) + value, body)


def fitted_body(body: bytes, stream: bool, fit: Fit) -> bytes:
    """The recorded healthy body, its content replaced by what ``fit`` asks for."""
    return _fitted_stream(body, fit) if stream else _fitted_plain(body, fit)


def _fitted_plain(body: bytes, fit: Fit) -> bytes:
    data = json.loads(body)
    choice = data["choices"][0]
    message = choice.setdefault("message", {})
    if fit.tool is not None:
        message["content"] = None
        message["tool_calls"] = [_tool_call(data, fit)]
        choice["finish_reason"] = "tool_calls"
    else:
        message["content"] = fit.content
        choice["finish_reason"] = "stop"
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _tool_call(data: dict[str, Any], fit: Fit) -> dict[str, Any]:
    return {
        "id": f"call_{str(data.get('id') or 'hfrouter')[-24:]}",
        "type": "function",
        "function": {"name": fit.tool, "arguments": fit.arguments},
    }


_CALL_ID = re.compile(rb'"id":"call_[^"]{4}')


def numbered_call(body: bytes, number: int) -> bytes:
    """A fitted tool call's answer with an id of its own: the built answer is cached per fit, and real providers
    mint an id per call (an audit: every step of an agent loop got the same id, which apps and agent frameworks
    key tool results by)."""
    return _CALL_ID.sub(b'"id":"call_%04x' % (number % 0x10000), body, count=1)


def _fitted_stream(body: bytes, fit: Fit) -> bytes:
    """Deltas built on the recording's own chunks: its first for the content, its last finishing one."""
    events = [e for e in body.split(b"\n\n") if e.strip()]
    prefix = b"data: "
    parsed: list[dict[str, Any]] = []
    done = False
    for event in events:
        line = event.strip()
        if line.startswith(b"data:"):
            prefix = b"data: " if line.startswith(b"data: ") else b"data:"
            payload = line[5:].strip()
            if payload == b"[DONE]":
                done = True
                continue
            try:
                parsed.append(json.loads(payload))
            except ValueError:
                continue
    with_choices = [p for p in parsed if p.get("choices")]
    if not with_choices:
        raise SchemaUnsupported("the recorded stream has no chunk with choices to build on")
    first = with_choices[0]
    finishing = next((p for p in reversed(with_choices) if p["choices"][0].get("finish_reason")), with_choices[-1])
    trailing = [p for p in parsed[parsed.index(finishing) + 1 :] if not p.get("choices")]  # a usage chunk
    out: list[dict[str, Any]] = []
    if fit.tool is not None:
        arguments = fit.arguments or ""
        call_id = _tool_call(first, fit)["id"]
        named = {"index": 0, "id": call_id, "type": "function", "function": {"name": fit.tool, "arguments": ""}}
        out.append(_delta(first, {"role": "assistant", "content": None, "tool_calls": [named]}))
        # the id, type and name once, in the first delta, as OpenAI-shaped streams send them: the openai SDK's
        # stream helper joins every string it is sent again (an audit: a 116-character id, four ids long)
        out += [_delta(first, {"tool_calls": [{"index": 0, "function": {"arguments": p}}]}) for p in _pieces(arguments)]
        reason = "tool_calls"
    else:
        content = fit.content or ""
        for number, piece in enumerate(_pieces(content)):
            delta: dict[str, Any] = {"role": "assistant", "content": piece} if number == 0 else {"content": piece}
            out.append(_delta(first, delta, text=piece))
        reason = "stop"
    end = _delta(finishing, {}, text="")
    end["choices"][0]["finish_reason"] = reason
    out.append(end)
    out += trailing
    lines = [prefix + json.dumps(chunk, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n" for chunk in out]
    if done:
        lines.append(prefix + b"[DONE]\n\n")
    return b"".join(lines)


def _pieces(text: str) -> list[str]:
    """``text`` in the deltas it streams in: `_PIECE` characters each, and at least two where it has two
    characters, so that a stream broken at its `cut_point` never carries all of it (an audit: a tool call
    whose arguments fit in one piece was cut before any of them arrived)."""
    size = min(_PIECE, (len(text) + 1) // 2) or 1
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def cut_point(fitted: bytes) -> int:
    """Where a fitted stream breaks: how many of its events arrive, half of its deltas rounded up (a
    tool call's name and the first pieces of its arguments; half the JSON), never its finishing chunk."""
    return max(1, (len(_opening(fitted)) + 1) // 2)


def _opening(fitted: bytes) -> list[bytes]:
    """A fitted stream's events before its finishing chunk, each with its blank line."""
    kept = [e + b"\n\n" for e in fitted.split(b"\n\n") if e.strip()]
    finishing = next((n for n, e in enumerate(kept) if b'"finish_reason":"' in e or b"[DONE]" in e), len(kept))
    return kept[:finishing]


def with_defect(fitted: bytes, broken: bytes) -> bytes:
    """A scenario's broken stream played on a fitted one: the fitted stream up to its `cut_point`,
    then what breaks the scenario's stream after its good chunks (a half-JSON line, an error event;
    nothing for a stream that just stops), and its ``[DONE]`` if it has one. The good chunks: JSON
    with ``choices`` and no ``finish_reason``."""
    tail = [e + b"\n\n" for e in broken.split(b"\n\n") if e.strip()]
    while tail and _good_chunk(tail[0]):
        tail.pop(0)
    return b"".join([*_opening(fitted)[: cut_point(fitted)], *tail])


def _good_chunk(event: bytes) -> bool:
    line = event.strip()
    if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
        return False
    try:
        data = json.loads(line[5:])
    except ValueError:
        return False
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return False
    return not choices[0].get("finish_reason")


def _delta(template: dict[str, Any], delta: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    """A copy of a recorded chunk with this delta (and ``text``, for providers that repeat it there)."""
    chunk = copy.deepcopy(template)
    choice = chunk["choices"][0]
    choice["delta"] = delta
    choice["finish_reason"] = None
    if "text" in choice and text is not None:
        choice["text"] = text
    for key in ("logprobs",):
        if key in choice:
            choice[key] = None
    return chunk


# -- tasks other than chat: the recording's values, in the size the request asks for ----------------
#: the tasks whose healthy answer is sized by the request: what to read, and how to build the answer
_SIZED_TASKS = frozenset(
    {"feature-extraction", "sentence-similarity", "zero-shot-classification", "zero-shot-image-classification"}
)


def task_fit(task: str | None, body: bytes | None) -> tuple[Any, ...] | None:
    """What a call of a task other than chat asks the answer's size to be, or None (the recording as it is):

    - ``feature-extraction`` of a list of N texts: N embeddings (the recording's one, N times);
    - ``sentence-similarity`` of N sentences: N scores (the recording's, in turn);
    - ``zero-shot-classification`` / ``zero-shot-image-classification``: the candidate labels asked
      (the recording's scores, best first, to the labels in the order given).
    """
    if task not in _SIZED_TASKS:
        return None
    data = json_object(body)
    if data is None:
        return None
    inputs = data.get("inputs")
    if task == "feature-extraction":
        return ("batch", len(inputs)) if isinstance(inputs, list) else None
    if task == "sentence-similarity":
        sentences = data.get("sentences")  # huggingface_hub 1.x and 2.x, at the top level
        if sentences is None and isinstance(inputs, dict):  # 0.x, inside ``inputs``
            sentences = inputs.get("sentences")
        return ("scores", len(sentences)) if isinstance(sentences, list) else None
    parameters = data.get("parameters")
    labels = parameters.get("candidate_labels") if isinstance(parameters, dict) else None
    if isinstance(labels, str):  # a comma-separated string, as the pipeline also takes
        labels = [label.strip() for label in labels.split(",") if label.strip()]
    if not isinstance(labels, list) or not labels:
        return None
    return ("labels", *(str(label) for label in labels))


def fitted_task_body(body: bytes, fit: tuple[Any, ...]) -> bytes:
    """The recorded answer of a task other than chat, in the size ``fit`` (`task_fit`) asks for.
    Raises ``ValueError`` where the recording has no item to size it from."""
    data = json.loads(body)
    kind = fit[0]
    if not isinstance(data, list) or not data:
        raise ValueError(f"the recorded answer is not a list of results to size ({kind})")
    if kind == "batch":  # the recording embedded one text: its batch holds one embedding, encoded once (an
        # audit: a batch of 300 texts encoded one 119 KB vector 300 times, a second a call)
        one = json.dumps(data[0], separators=(",", ":"))
        return ("[" + ",".join([one] * fit[1]) + "]").encode()
    sized: list[Any]
    if kind == "scores":
        sized = [data[n % len(data)] for n in range(fit[1])]
    else:  # labels: the recording's items (their key order kept), the asked labels, scores best first
        labels = fit[1:]
        items = sorted((i for i in data if isinstance(i, dict) and "score" in i), key=lambda i: -float(i["score"]))
        if not items:
            raise ValueError("the recorded answer holds no scored labels")
        sized = []
        for n, label in enumerate(labels):
            item = dict(items[min(n, len(items) - 1)])
            if n >= len(items):  # more labels than the recording scored: each one after it scores less
                item["score"] = float(items[-1]["score"]) / 2 ** (n - len(items) + 1)
            item["label"] = label
            sized.append(item)
    return json.dumps(sized, separators=(",", ":")).encode()
