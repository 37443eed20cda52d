"""What each scenario looks like to a client: the ``hfrouter scenarios`` table and ``show`` page.

The exceptions per huggingface_hub major come from docs/ROUTER-FACTS.md (§ numbers below); where a
case was never observed, the text says it was inferred.
"""

from __future__ import annotations

import json

from .bodies import sse_data
from .library import Library, Scenario
from .routes import MAPPING, PROVIDER

MAJORS = ("0.x (requests)", "1.x (httpx)", "2.x (httpx2)")
_HTTP_ERROR_BASE = ("requests.HTTPError", "httpx.HTTPError", "httpx2.HTTPError")


def kind(scenario: Scenario) -> str:
    if scenario.fault is not None:
        return "transport"
    return "hub" if PROVIDER not in scenario.routes and "auto" not in scenario.routes else "http"


def status_or_fault(scenario: Scenario) -> str:
    if scenario.fault is not None:
        fields = scenario.fault.kind.fields
        extra = f" after {scenario.fault.after_chunks} chunks" if "after_chunks" in fields else ""
        extra += f" {scenario.fault.delay:g}s" if "delay" in fields else ""
        return f"{scenario.fault.type}{extra}"
    return str(scenario.status)


def routes(scenario: Scenario) -> str:
    mode = {True: " (stream only)", False: " (plain only)", None: ""}[scenario.stream]
    return ",".join(scenario.routes) + mode


def table(library: Library, seen: dict[str, str] | None = None) -> str:
    """The library as a table; ``seen`` (scenario → when and how often a live run met it) adds a column."""
    extra = ("seen in the wild",) if seen is not None else ()
    rows = [("name", "kind", "status/fault", "routes", "provenance", *extra)]
    for scenario in library.scenarios.values():
        observed = str(scenario.provenance.get("observed") or "?")
        if scenario.user:
            observed = f"yours: {scenario.path}" + (" (shadows the shipped one)" if scenario.shadow else "")
        row = (scenario.name, kind(scenario), status_or_fault(scenario), routes(scenario), observed)
        rows.append((*row, seen.get(scenario.name, "-")) if seen is not None else row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.append("")
    lines.append(
        "provenance: real = seen in a real answer; partly-real = some parts seen, the rest chosen; "
        "inferred = shape chosen from client code (details: hfrouter scenarios show NAME)"
    )
    return "\n".join(lines)


def seen_in_the_wild(report: dict[str, object]) -> dict[str, str]:
    """From a live run's report: each known scenario its failures matched, with the run's date and count."""
    when = str(report.get("finished") or report.get("started") or "")[:10] or "?"
    counts: dict[str, int] = {}
    for entry in report.get("harvest") or []:  # type: ignore[attr-defined]
        if isinstance(entry, dict) and entry.get("scenario"):
            counts[entry["scenario"]] = counts.get(entry["scenario"], 0) + 1
    return {name: f"{when} (x{count})" for name, count in counts.items()}


def raised(scenario: Scenario) -> list[tuple[str, str]]:
    """(huggingface_hub major, what ``InferenceClient.chat_completion`` raises or returns)."""

    def same(text: str, source: str) -> list[tuple[str, str]]:
        return _per_major((text,) * len(MAJORS), source)

    fault = scenario.fault.type if scenario.fault else None
    hang = " (with timeout=None, the default, the call would wait forever: the test fails saying so)"
    if fault == "read-timeout":
        return _per_major(
            (
                "requests.exceptions.ReadTimeout (not converted)" + hang,
                "httpx.ReadTimeout: timed out (not converted)" + hang,
                "huggingface_hub.errors.InferenceTimeoutError: Inference call timed out: <url> (2.3 and later; 2.0 to "
                "2.2: httpx2.ReadTimeout)" + hang,
            ),
            "docs/ROUTER-FACTS.md §3.2 (observed with timeout=1)",
        )
    if fault == "connect-timeout":
        return _per_major(
            (
                "requests.exceptions.ConnectTimeout" + hang,
                "httpx.ConnectTimeout" + hang,
                "huggingface_hub.errors.InferenceTimeoutError (2.3 and later convert every httpx2.TimeoutException; "
                "2.0 to 2.2: httpx2.ConnectTimeout)" + hang,
            ),
            "inferred from docs/ROUTER-FACTS.md §3.2 (read timeouts observed; the same except clauses)",
        )
    if fault == "connection-reset":
        return _per_major(
            (
                "requests.exceptions.ConnectionError (Connection aborted, Connection reset by peer)",
                "httpx.ReadError: [Errno 104] Connection reset by peer",
                "httpx2.ReadError: [Errno 104] Connection reset by peer (only timeouts are converted)",
            ),
            "inferred from client code (docs/ROUTER-FACTS.md §3.2); the parity suite checks it on a real socket",
        )
    if fault == "stream-cut":
        return _per_major(
            (
                "requests.exceptions.ChunkedEncodingError: Response ended prematurely"
                " (after the chunks before the cut)",
                "httpx.RemoteProtocolError: peer closed connection without sending complete message body",
                "httpx2.RemoteProtocolError (same text)",
            ),
            "docs/ROUTER-FACTS.md §2.11 (observed)",
        )
    name = scenario.name
    if name == "job-failed":  # a replicate job: the task call that polls it, not a chat call
        return same(
            "(text_to_image on replicate, the calls it answers) TimeoutError: Inference request timed out after 60 "
            "seconds. No output generated for model <id>... (huggingface_hub's own message, raised at once in replay)",
            "what the task matrix observes (tests/test_tasks.py); its answers: cassettes/scenarios/job-failed.yaml",
        )
    if fault == "body-cut":
        return _per_major(
            (
                "requests.exceptions.ChunkedEncodingError: ('Connection broken: IncompleteRead(<read> bytes read, "
                "<left> more expected)', ...)",
                "httpx.RemoteProtocolError: peer closed connection without sending complete message body (received "
                "<read> bytes, expected <length>)",
                "httpx2.RemoteProtocolError (same text; only timeouts are converted)",
            ),
            "what each major's HTTP library raises on a Content-Length body cut short (seen in replay and through "
            "the router double's socket); docs/ROUTER-FACTS.md §2.11 for a cut stream",
        )
    if fault == "slow-first-token":
        return same(
            "nothing when the client's read timeout is longer than the delay (a slow success); "
            "otherwise the read-timeout exceptions (see `hfrouter scenarios show read-timeout`)",
            "docs/ROUTER-FACTS.md §3.2",
        )
    if fault == "slow-stream":
        slow = "nothing when the read timeout is longer than the delay; otherwise the first event, then "
        return _per_major(
            (
                slow + "requests.exceptions.ConnectionError (urllib3 wraps the read timeout)",
                slow + "httpx.ReadTimeout",
                slow + "httpx2.ReadTimeout (raised while iterating: not converted)",
            ),
            "what the parity suite (tests/test_parity.py) observes; docs/ROUTER-FACTS.md §3.2, §4.2",
        )
    ending = _ending_of_200(scenario)
    if ending is not None:
        return same(*ending)
    if scenario.flags_unavailable:
        return same(
            "nothing on a call that names its provider: huggingface_hub logs the mapping's status at the look-up and "
            "the router serves the call; on the auto route without a :provider suffix the router's pick moves on to "
            "the next provider",
            "docs/ROUTER-FACTS.md §1.3 (client code); README, No silent green",
        )
    if scenario.pins_task is not None:
        return same(
            f"nothing on a {scenario.pins_task} call; a call of another task (text_generation on a chat model): "
            f"ValueError: Model ... is not supported for task ... and provider .... Supported task: "
            f"{scenario.pins_task}. (before any router call)",
            "docs/ROUTER-FACTS.md §1.3 (client code)",
        )
    if scenario.routes == (MAPPING,) and scenario.status == 200:
        return same(
            "ValueError: Model ... is not supported by provider ... (before any router call)",
            "docs/ROUTER-FACTS.md §1.3 (client code)",
        )
    status = scenario.status or 0
    prefix = ""
    if MAPPING in scenario.routes and scenario.routes != (MAPPING,):
        prefix = "a warning logged at the mapping look-up, then "
    where = " from the Hub's mapping look-up" if scenario.routes == (MAPPING,) else ""
    cls = (
        "huggingface_hub.errors.BadRequestError (HfHubHTTPError, ValueError)"
        if status == 400
        else ("huggingface_hub.errors.HfHubHTTPError")
    )
    texts = tuple(
        f"{prefix}{cls}{where} (subclass of {base}); e.response.status_code == {status}, no e.status_code"
        for base in _HTTP_ERROR_BASE
    )
    return _per_major(texts, "docs/ROUTER-FACTS.md §3.1, §3.3 (message formats per major)")


#: huggingface_hub's class for an in-band error's ``error_type`` (inference/_common.py,
#: ``_parse_text_generation_error``, the same in 0.36, 1.x and 2.x); any other: UnknownError
_ERROR_TYPES = {
    "generation": "GenerationError",
    "incomplete_generation": "IncompleteGenerationError",
    "overloaded": "OverloadedError",
    "validation": "ValidationError",
}


def _ending_of_200(scenario: Scenario) -> tuple[str, str] | None:
    """What a 200 whose body is not a whole answer does to the client, read from the body (not the
    scenario's name: a user's scenario is read the same way): an in-band error event, a half JSON line,
    a stream with no ``[DONE]``, a JSON error body. None for any other answer."""
    if scenario.fault is not None or scenario.status != 200:
        return None
    for interactions in scenario.answers.values():
        for interaction in interactions:
            response = interaction.response
            if response.status != 200:
                continue
            if response.is_stream:
                data, done = sse_data(response.content)
                last = data[-1] if data else ""
                try:
                    event = json.loads(last) if last else None
                except ValueError:
                    return (
                        "json.decoder.JSONDecodeError, after the chunks before it; where the line is cut decides its "
                        "text (a line cut after a key's comma: Expecting property name enclosed in double quotes; "
                        "one cut inside a string: Unterminated string)",
                        "docs/ROUTER-FACTS.md §2.11",
                    )
                if isinstance(event, dict) and event.get("error") is not None:
                    name = _ERROR_TYPES.get(str(event.get("error_type")), "UnknownError")
                    return (
                        f"huggingface_hub.errors.{name}: {event['error']} (a TextGenerationError, not an "
                        "HfHubHTTPError), after the chunks before it",
                        "docs/ROUTER-FACTS.md §2.10, §2.11",
                    )
                if not done:
                    return "nothing: iteration just stops (half an answer looks whole)", "docs/ROUTER-FACTS.md §2.11"
                continue
            try:
                payload = json.loads(response.content)
            except ValueError:
                continue
            if isinstance(payload, dict) and payload.get("error") is not None:
                return (
                    "nothing: ChatCompletionOutput(choices=None, error='...'); apps fail later with TypeError",
                    "docs/ROUTER-FACTS.md §2.10",
                )
    return None


def _per_major(texts: tuple[str, ...], source: str) -> list[tuple[str, str]]:
    return [*zip(MAJORS, texts, strict=True), ("source", source)]


def show(library: Library, name: str) -> str:
    scenario = library.get(name)
    lines = [f"{scenario.name}" + (f" (aliases: {', '.join(scenario.aliases)})" if scenario.aliases else "")]
    lines.append(f"  {scenario.description}")
    lines.append(f"  kind: {kind(scenario)}   routes: {routes(scenario)}   file: {scenario.path}")
    silent = not scenario.sends_status
    if scenario.fault is not None:
        note = " (the client never gets a status line)" if silent else ""
        lines.append(f"  fault: {status_or_fault(scenario)}{note}")
    for kind_name, interactions in {} if silent else scenario.answers.items():
        for interaction in interactions:
            response = interaction.response
            mode = " (stream)" if interaction.route.stream else ""
            lines.append("")
            lines.append(f"  {kind_name}{mode}: {response.status} {response.reason}")
            lines += [f"    {header}: {value}" for header, value in response.headers]
            body = response.body.decode("utf-8", "replace")
            shown = body if len(body) <= 600 else body[:600] + f"... ({len(body)} bytes)"
            lines.append("    body: " + (shown.replace("\n", "\n          ") or "(empty)"))
    lines.append("")
    lines.append("  what InferenceClient.chat_completion raises (per huggingface_hub major):")
    lines += [f"    {major}: {text}" for major, text in raised(scenario)]
    provenance = scenario.provenance
    if provenance:
        lines.append("")
        lines.append(f"  provenance: {provenance.get('observed', '?')}")
        for key in ("source", "notes"):
            if provenance.get(key):
                lines.append(f"    {key}: {' '.join(str(provenance[key]).split())}")
    return "\n".join(lines)
