"""Copy the real successful chat completions from shared/real-cassettes into cassettes/healthy/.

Run from the repository root: python tools/build_healthy_library.py ../shared/real-cassettes
Interactions are copied whole and unedited (Set-Cookie values redacted); the provider-mapping look-ups are left out
(the plugin synthesises mappings for any model id) and a metadata block records provenance.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

COMMIT = "34bb25d9d8bf5b433fe0d87516c36e98e5d548de"


def main(shared: Path) -> None:
    out = Path("cassettes/healthy")
    out.mkdir(parents=True, exist_ok=True)
    for plain in sorted((shared / "huggingface_hub").glob("TestInferenceClient.test_chat_completion_no_stream[[]*")):
        provider = plain.name.split("[", 1)[1].split(",", 1)[0]
        streamed = plain.with_name(plain.name.replace("no_stream", "with_stream"))
        interactions, sources, dates = [], [], []
        for source in (plain, streamed):
            data = yaml.safe_load(source.read_text())
            for interaction in data["interactions"]:
                if interaction["request"]["method"] != "POST":
                    continue
                headers = interaction["response"]["headers"]
                for name in [n for n in headers if n.lower() == "set-cookie"]:
                    headers[name] = ["<redacted>"]  # a Cloudflare __cf_bm cookie: no secret, but no data
                interactions.append(interaction)
                dates += (
                    interaction["response"]["headers"].get("Date")
                    or interaction["response"]["headers"].get("date")
                    or []
                )
            sources.append(f"tests/cassettes/{source.name}")
        document = {
            "version": 1,
            "metadata": {
                "hfrouter": {
                    "healthy": True,
                    "provider": provider,
                    "provenance": {
                        "observed": "real",
                        "source": (
                            f"huggingface_hub {', '.join(sources)} at commit {COMMIT} (Apache-2.0), "
                            f"copied from shared/real-cassettes/huggingface_hub/"
                        ),
                        "recorded": sorted(set(dates)),
                        "notes": "Interactions copied whole and unedited but for Set-Cookie values (redacted); "
                        "the Hub mapping look-ups of the same files are left out because the plugin answers "
                        "mapping look-ups for any model.",
                    },
                }
            },
            "interactions": interactions,
        }
        target = out / f"{provider}.yaml"
        target.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100))
        print(target, len(interactions))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
