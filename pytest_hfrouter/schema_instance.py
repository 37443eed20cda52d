"""A small, valid instance of a JSON Schema: the content of a healthy structured answer.

Covers what apps put in ``response_format`` and tool ``parameters``: ``type`` (one or a
list), ``properties`` and ``required``, ``enum``, ``const``, arrays (``items``,
``prefixItems``, ``minItems``, ``uniqueItems``, ``contains``), ``minProperties``,
``anyOf`` / ``oneOf`` / ``allOf``, ``$ref`` into ``$defs`` / ``definitions``, string lengths and
common ``format`` values, number bounds and ``multipleOf``. Every declared property is filled in
(optional ones too: apps read them), each with the smallest value its schema accepts. What it cannot satisfy
(``pattern``, ``not``, a ``$ref`` outside the document) raises `SchemaUnsupported`, so a
test never receives an answer that breaks the schema it asked for.
"""

from __future__ import annotations

import math
from typing import Any

_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "duration": "PT1S",  # ISO 8601 (pydantic's timedelta)
    "idn-email": "user@example.com",
    "iri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri-reference": "https://example.com/",
    "idn-hostname": "example.com",
    "json-pointer": "/a",
    "relative-json-pointer": "0",
    "regex": "a",
}
_MAX_DEPTH = 32


class SchemaUnsupported(ValueError):
    """The schema asks for something this generator cannot produce (the message says what)."""


def instance(schema: Any) -> Any:
    """A minimal value valid against ``schema`` (a JSON Schema as parsed JSON)."""
    return _Generator(schema).value(schema, "#", 0, 0)


class _Generator:
    def __init__(self, root: Any) -> None:
        self.root = root

    def resolve(self, ref: str, where: str) -> Any:
        if not ref.startswith("#"):
            raise SchemaUnsupported(f"{where}: $ref {ref!r} points outside the schema")
        node = self.root
        for part in [p for p in ref[1:].split("/") if p]:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise SchemaUnsupported(f"{where}: $ref {ref!r} does not resolve")
            node = node[part]
        return node

    def value(self, schema: Any, where: str, depth: int, variant: int) -> Any:
        """The ``variant``-th smallest value (variants differ, for ``uniqueItems``)."""
        if depth > _MAX_DEPTH:
            raise SchemaUnsupported(f"{where}: nested deeper than {_MAX_DEPTH} levels (a recursive $ref?)")
        if schema is True or schema == {}:
            return None if variant == 0 else variant
        if schema is False:
            raise SchemaUnsupported(f"{where}: the schema 'false' accepts no value")
        if not isinstance(schema, dict):
            raise SchemaUnsupported(f"{where}: not a schema: {schema!r}")
        if "$ref" in schema:
            target = self.resolve(schema["$ref"], where)
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return self.value(_merge([target, rest]) if rest else target, schema["$ref"], depth + 1, variant)
        if "not" in schema:
            raise SchemaUnsupported(f"{where}: 'not' is not supported")
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            choices = schema["enum"]
            if not choices:
                raise SchemaUnsupported(f"{where}: an empty enum accepts no value")
            return choices[variant % len(choices)]
        if "allOf" in schema:
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            parts = [
                self.resolve(p["$ref"], where) if isinstance(p, dict) and "$ref" in p else p for p in schema["allOf"]
            ]
            return self.value(_merge([rest, *parts]), where, depth + 1, variant)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                rest = {k: v for k, v in schema.items() if k != key}
                return self._first_branch(schema[key], rest, f"{where}/{key}", depth, variant)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or ["null"]
            kind = kinds[0]
        if kind is None:
            if "properties" in schema or "required" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            else:
                return None if variant == 0 else variant
        builder = getattr(self, f"_{kind}", None)
        if builder is None:
            raise SchemaUnsupported(f"{where}: unknown type {kind!r}")
        return builder(schema, where, depth, variant)

    def _first_branch(self, branches: list[Any], rest: dict[str, Any], where: str, depth: int, variant: int) -> Any:
        problems = []
        # A non-null branch first: an app that asked for "X or null" wants to see an X.
        ordered = sorted(branches, key=lambda b: isinstance(b, dict) and b.get("type") == "null")
        for number, branch in enumerate(ordered):
            try:
                target = branch
                if isinstance(branch, dict) and "$ref" in branch:
                    target = self.resolve(branch["$ref"], where)
                merged = _merge([rest, target]) if rest and isinstance(target, dict) else target
                return self.value(merged, f"{where}/{number}", depth + 1, variant)
            except SchemaUnsupported as exc:
                problems.append(str(exc))
        raise SchemaUnsupported("; ".join(problems) or f"{where}: no branch")

    def _object(self, schema: dict[str, Any], where: str, depth: int, variant: int) -> Any:
        properties = schema.get("properties") or {}
        required = schema.get("required") or []
        result = {
            name: self.value(sub, f"{where}/properties/{name}", depth + 1, variant)
            for name, sub in properties.items()
            if sub is not False or name in required  # a property the schema forbids is left out
        }
        extra = schema.get("additionalProperties", True)
        for name in required:
            if name not in result:
                if extra is False:
                    raise SchemaUnsupported(f"{where}: {name!r} is required but not allowed (additionalProperties)")
                result[name] = self.value(extra if isinstance(extra, dict) else True, where, depth + 1, variant)
        wanted = int(schema.get("minProperties", 0))
        if len(result) < wanted:  # a mapping that must hold entries (pydantic's dict[str, X] with min_length)
            if extra is False:
                raise SchemaUnsupported(f"{where}: {wanted} properties are required but no more are allowed")
            for number in range(wanted):
                if len(result) >= wanted:
                    break
                key = f"key{number}"
                if key not in result:
                    sub = extra if isinstance(extra, dict) else True
                    result[key] = self.value(sub, f"{where}/additionalProperties", depth + 1, variant)
        return result

    def _array(self, schema: dict[str, Any], where: str, depth: int, variant: int) -> Any:
        prefix = schema.get("prefixItems") or []
        items = schema.get("items", True)
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems", True)
        contains = schema.get("contains")
        holding = int(schema.get("minContains", 1)) if contains is not None else 0
        count = max(int(schema.get("minItems", 0)), len(prefix) if schema.get("minItems") else 0, holding)
        unique = bool(schema.get("uniqueItems"))
        result = []
        for index in range(count):
            sub = prefix[index] if index < len(prefix) else items
            if index < holding:  # the first items are those ``contains`` asks for
                sub = _merge([sub, contains]) if isinstance(sub, dict) and isinstance(contains, dict) else contains
            result.append(self.value(sub, f"{where}/items/{index}", depth + 1, index if unique else variant))
        if unique and len({repr(v) for v in result}) != len(result):
            raise SchemaUnsupported(f"{where}: cannot make {count} distinct items")
        return result

    def _string(self, schema: dict[str, Any], where: str, depth: int, variant: int) -> str:
        if "pattern" in schema:
            raise SchemaUnsupported(f"{where}: 'pattern' is not supported")
        text = _FORMATS.get(schema.get("format", ""), "text")
        if variant:
            text = f"{text}{variant}"
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        if len(text) < low:
            text += "x" * (low - len(text))
        if high is not None and len(text) > int(high):
            if variant:
                text = str(variant)[: int(high)]
                if len(text) < low or (variant and not text):
                    raise SchemaUnsupported(f"{where}: cannot make distinct strings of at most {high} characters")
            else:
                text = text[: int(high)]
        return text

    def _integer(self, schema: dict[str, Any], where: str, depth: int, variant: int) -> int:
        return int(self._number(schema, where, depth, variant, integer=True))

    def _number(self, schema: dict[str, Any], where: str, depth: int, variant: int, integer: bool = False) -> Any:
        low, high = schema.get("minimum"), schema.get("maximum")
        above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        above = None if isinstance(above, bool) else above  # draft 4's boolean form: ignored
        below = None if isinstance(below, bool) else below
        value: float = 0
        if low is not None:
            value = low
        if above is not None and value <= above:
            value = above + 1
        if below is not None and value >= below and not integer:  # squeeze into an open interval
            value = (max(low if low is not None else below - 2, above if above is not None else below - 2) + below) / 2
        if low is None and above is None:  # only an upper bound: the largest value under it
            if high is not None and value > high:
                value = math.floor(high) if integer else high
            if below is not None and value >= below:
                value = math.ceil(below) - 1 if integer else below - 1
        if integer:
            value = math.ceil(value)
        value += variant
        multiple = schema.get("multipleOf")
        if multiple:
            value = _multiple(value, multiple, where)
        fits = (low is None or value >= low) and (high is None or value <= high)
        fits = fits and (above is None or value > above) and (below is None or value < below)
        if not fits:
            raise SchemaUnsupported(f"{where}: no {'integer' if integer else 'number'} fits its bounds")
        return value

    def _boolean(self, schema: dict[str, Any], where: str, depth: int, variant: int) -> bool:
        if variant > 1:
            raise SchemaUnsupported(f"{where}: only two distinct booleans")
        return bool(variant)

    def _null(self, schema: dict[str, Any], where: str, depth: int, variant: int) -> None:
        if variant:
            raise SchemaUnsupported(f"{where}: only one null")
        return None


def _multiple(value: float, multiple: float, where: str) -> float:
    """The smallest multiple of ``multiple`` at or above ``value`` that reads as one: ``0.1 * 3`` is
    0.30000000000000004, and a validator dividing it back by 0.1 gets no whole number."""
    from decimal import Decimal

    step = Decimal(str(multiple))
    start = math.ceil(Decimal(str(value)) / step)
    for k in range(start, start + 100):
        candidate = float(Decimal(k) * step)
        quotient = candidate / multiple
        if quotient == int(quotient):
            return int(candidate) if candidate == int(candidate) and isinstance(multiple, int) else candidate
    raise SchemaUnsupported(f"{where}: no number near {value} is a multiple of {multiple} in floating point")


#: bounds two ``allOf`` parts both set: the tighter one holds
_LOWER = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties", "minContains")
_UPPER = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties", "maxContains")


def _merge(parts: list[Any]) -> dict[str, Any]:
    """``allOf`` (and a ``$ref`` with siblings) as one schema: properties and required united, a property
    both parts constrain merged the same way, the tighter of two bounds."""
    merged: dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            before = merged.get(key)
            if key == "properties" and isinstance(before, dict) and isinstance(value, dict):
                both = {**before}
                for name, sub in value.items():
                    old = both.get(name)
                    both[name] = _merge([old, sub]) if isinstance(old, dict) and isinstance(sub, dict) else sub
                merged[key] = both
            elif key == "required" and isinstance(before, list):
                merged[key] = [*before, *[v for v in value if v not in before]]
            elif key in _LOWER and _number(before) and _number(value):
                merged[key] = max(before, value)
            elif key in _UPPER and _number(before) and _number(value):
                merged[key] = min(before, value)
            else:
                merged[key] = value
    return merged


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
