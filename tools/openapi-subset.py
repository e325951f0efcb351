#!/usr/bin/python3
"""Cut Rootly's published OpenAPI document down to what the mock serves.

usage: tools/openapi-subset.py FULL.json > t/mock/rootly-openapi.json

Keeps the /v1/alerts, /v1/incidents and /v1/teams paths and every
component they reference (transitively), so the mock validates request
bodies against the same schemas without the whole 2.9 MB document.
"""

import json
import sys

KEEP = ("/v1/alerts", "/v1/incidents", "/v1/teams")


def main():
    doc = json.load(open(sys.argv[1]))
    paths = {p: v for p, v in doc["paths"].items() if p.startswith(KEEP)}
    components = doc.get("components", {})
    needed = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and value.startswith("#/components/"):
                    _, _, section, name = value.split("/", 3)
                    if (section, name) not in needed:
                        needed.add((section, name))
                        walk(components[section][name])
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(paths)

    kept = {}
    for section, name in needed:
        kept.setdefault(section, {})[name] = components[section][name]
    if "securitySchemes" in components:
        kept["securitySchemes"] = components["securitySchemes"]

    out = {k: v for k, v in doc.items() if k not in ("paths", "components")}
    out["paths"] = paths
    out["components"] = kept
    sys.stdout.write(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
