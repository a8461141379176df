#!/usr/bin/env python3
"""Trim a Google API discovery document down to a list of methods, leaving the rest unmodified.

Usage:
    scripts/trim-discovery.py DOC OUT compute.firewalls.list compute.firewalls.insert ...

Method ids are the discovery `id`s (e.g. `compute.securityPolicies.addRule`,
`monitoring.projects.alertPolicies.list`). Keeps the document's top-level identity fields
(`name`, `version`, `revision`, `rootUrl`, `servicePath`, `baseUrl`, `batchPath`), the resource
tree down to the kept methods only, and every schema reachable from them through `$ref`
(transitively). Kept nodes are the original JSON values, re-serialised with indentation.
Fails if a listed method is not in the document. Standard library only.
"""
import json
import sys

TOP = ["kind", "discoveryVersion", "id", "name", "version", "revision", "title", "rootUrl",
       "servicePath", "baseUrl", "batchPath", "parameters"]


def refs(node, found):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str):
            found.add(r)
        for v in node.values():
            refs(v, found)
    elif isinstance(node, list):
        for v in node:
            refs(v, found)


def trim_resources(resources, wanted, kept):
    out = {}
    for name, res in resources.items():
        node = {}
        methods = {m: body for m, body in res.get("methods", {}).items() if body.get("id") in wanted}
        for body in methods.values():
            kept.add(body["id"])
        if methods:
            node["methods"] = methods
        sub = trim_resources(res.get("resources", {}), wanted, kept)
        if sub:
            node["resources"] = sub
        if node:
            out[name] = node
    return out


def main():
    src, dst, *wanted = sys.argv[1:]
    doc = json.load(open(src))
    wanted = set(wanted)
    kept = set()
    out = {k: doc[k] for k in TOP if k in doc}
    out["resources"] = trim_resources(doc.get("resources", {}), wanted, kept)
    missing = wanted - kept
    if missing:
        sys.exit(f"not in {src}: {sorted(missing)}")
    names = set()
    refs(out["resources"], names)
    todo = list(names)
    while todo:
        n = todo.pop()
        found = set()
        refs(doc["schemas"][n], found)
        for f in found - names:
            names.add(f)
            todo.append(f)
    out["schemas"] = {n: doc["schemas"][n] for n in sorted(names)}
    with open(dst, "w") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"{dst}: {len(kept)} methods, {len(names)} schemas", file=sys.stderr)


if __name__ == "__main__":
    main()
