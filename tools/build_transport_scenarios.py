"""Write the transport-fault and broken-stream scenarios from a real recorded stream.

Run from the repository root: python tools/build_transport_scenarios.py
The bodies are the real together stream and plain answer in cassettes/healthy/together.yaml
(huggingface_hub's recordings against the real router, February 2025); what each scenario
does to them (a delay, a cut, a missing [DONE]) is a fault description, not an observation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pytest_hfrouter.faults import FAULTS

SOURCE = Path("cassettes/healthy/together.yaml")
TARGET = Path("cassettes/scenarios")
REAL = (
    "cassettes/healthy/together.yaml: huggingface_hub tests/cassettes/"
    "TestInferenceClient.test_chat_completion_{no,with}_stream[together,conversational].yaml at commit "
    "34bb25d9d8bf5b433fe0d87516c36e98e5d548de, recorded against the real router 2025-02-13"
)
CUT_AFTER = 5

SCENARIOS: list[dict[str, Any]] = [
    {
        "name": "connect-timeout",
        "description": "The TCP connection to the router never completes; the client's connect timeout fires.",
        "fault": {"type": "connect-timeout"},
        "source": "docs/ROUTER-FACTS.md §3.2 (timeouts per huggingface_hub major, measured with a real socket)",
        "notes": "No response is ever sent: the interaction's response is only there because vcrpy's format "
        "needs one, and is never delivered. A client with no connect timeout would wait for the operating "
        "system to give up; pytest-hfrouter fails such a test and says so.",
    },
    {
        "name": "read-timeout",
        "description": "The provider accepts the request and never answers; the client's read timeout fires.",
        "fault": {"type": "read-timeout"},
        "source": "docs/ROUTER-FACTS.md §3.2 (requests ReadTimeout on 0.36, httpx.ReadTimeout on 1.x, "
        "InferenceTimeoutError on 2.x) and §1.6 (the default timeout=None blocks forever)",
        "notes": "No response is ever sent (the response below is never delivered). With timeout=None, "
        "huggingface_hub's default, the real call would hang forever: the test fails saying so.",
    },
    {
        "name": "connection-reset",
        "description": "The connection is reset (TCP RST) after the request is sent, before any response.",
        "fault": {"type": "connection-reset"},
        "source": "shape inferred from client code: what httpx/httpx2 and requests raise when the peer resets "
        "(checked against a real socket by the parity suite)",
        "notes": "No response is ever sent (the response below is never delivered). The router double resets "
        "with SO_LINGER 0.",
    },
    {
        "name": "stream-cut",
        "description": f"A stream delivers {CUT_AFTER} events, then the connection dies inside the chunked body.",
        "fault": {"type": "stream-cut", "after_chunks": CUT_AFTER},
        "stream_only": True,
        "truncates_stream": True,
        "source": "docs/ROUTER-FACTS.md §2.11 (ChunkedEncodingError on 0.36, RemoteProtocolError on 1.x/2.x); "
        f"events from {REAL}",
        "notes": "The events are real; the cut is the fault. It comes before the finish_reason chunk, as a "
        "realistic cut must (docs/ROUTER-FACTS.md §4.2).",
    },
    {
        "name": "slow-first-token",
        "description": "The answer starts 20 s late: a read timeout under 20 s fires; a longer one, a slow success.",
        "fault": {"type": "slow-first-token", "delay": 20.0},
        "source": f"docs/ROUTER-FACTS.md §3.2 and §2.7 (hfh ≥1.33's 504 note on long generations); bodies from {REAL}",
        "notes": "The delay is a chosen value (override it per marker with delay=); the bodies are real. "
        "In replay nothing waits: the plugin compares the delay with the client's read timeout.",
    },
    {
        "name": "slow-stream",
        "description": "A stream whose events come 5 s apart: a read timeout under 5 s fires after the first event.",
        "fault": {"type": "slow-stream", "delay": 5.0},
        "stream_only": True,
        "source": f"docs/ROUTER-FACTS.md §4.2 (SSE shapes); events from {REAL}",
        "notes": "The delay is a chosen value (override it per marker with delay=); the events are real. "
        "In replay nothing waits.",
    },
    {
        "name": "stream-no-done",
        "description": f"A stream that ends cleanly after {CUT_AFTER} events: no finish_reason, no `data: [DONE]`.",
        "fault": None,
        "stream_only": True,
        "truncates_stream": True,
        "cut": "clean",
        "source": "docs/ROUTER-FACTS.md §2.11 (a clean end without [DONE]: iteration just stops, no error) and §4.2 "
        f"(TGI streams never send [DONE]); events from {REAL}",
        "notes": "The events are real; the early clean end is the fault. The client raises nothing: the app "
        "receives half an answer as if it were whole.",
    },
    {
        "name": "stream-half-json",
        "description": f"A stream whose last event, after {CUT_AFTER} good ones, is half a JSON line, then ends.",
        "fault": None,
        "stream_only": True,
        "truncates_stream": True,
        "cut": "half",
        "source": f"docs/ROUTER-FACTS.md §2.11 (json.JSONDecodeError on every major); events from {REAL}",
        "notes": "The events are real, including the first half of the cut one; the truncation is the fault.",
    },
]


def main() -> None:
    healthy = yaml.safe_load(SOURCE.read_text())["interactions"]
    plain = next(i for i in healthy if '"stream": false' in i["request"]["body"])
    streamed = next(i for i in healthy if '"stream": true' in i["request"]["body"])
    events = streamed["response"]["body"]["string"].split("\n\n")
    for spec in SCENARIOS:
        interactions = [] if spec.get("stream_only") else [plain]
        stream = dict(streamed, response=dict(streamed["response"], body=dict(streamed["response"]["body"])))
        if spec.get("cut") == "clean":
            stream["response"]["body"]["string"] = "\n\n".join(events[:CUT_AFTER]) + "\n\n"
        elif spec.get("cut") == "half":
            half = events[CUT_AFTER][: len(events[CUT_AFTER]) // 2]
            stream["response"]["body"]["string"] = "\n\n".join(events[:CUT_AFTER]) + "\n\n" + half
        interactions.append(stream)
        meta = {
            "name": spec["name"],
            "aliases": [],
            "description": spec["description"],
            "status": None if spec["fault"] and FAULTS[spec["fault"]["type"]].before_response else 200,
            "fault": spec["fault"],
            "routes": ["provider", "auto"],
            "stream": True if spec.get("stream_only") else None,
            **({"truncates_stream": True} if spec.get("truncates_stream") else {}),
            "provenance": {
                "observed": "partly-real" if spec.get("stream_only") or "slow" in spec["name"] else "inferred",
                "source": spec["source"],
                "notes": spec["notes"],
            },
        }
        document = {"version": 1, "metadata": {"hfrouter": meta}, "interactions": interactions}
        (TARGET / f"{spec['name']}.yaml").write_text(
            yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
        )
        print(spec["name"])


if __name__ == "__main__":
    main()
