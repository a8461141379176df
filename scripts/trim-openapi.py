#!/usr/bin/env python3
"""Trim an OpenAPI 3 (or Swagger 2.0) document down to a list of operations, leaving the rest unmodified.

Usage:
    scripts/trim-openapi.py [--allow-undeclared-schemes] SPEC OUT 'GET /zones/{zone_id}' ...

`--allow-undeclared-schemes`: keep `security` requirements that name a scheme the document
does not declare (Supabase's spec names `bearer` and `fga_permissions` but declares no
`securitySchemes` at all) instead of failing; the quirk is for the conformance test to handle.

Keeps `openapi`, `info`, `servers`, `security` and, for each kept path, its path-level
fields (`parameters`, `summary`, ...) plus only the listed methods. Every component reachable
through `$ref` (transitively) is kept, as are the security schemes named by any kept
`security` requirement. Nothing is rewritten: kept nodes are byte-for-byte the same JSON
values as in the original (only re-serialised with indentation so diffs stay readable).
Fails if a listed operation is not in the spec, so a typo never silently drops an endpoint.
Standard library only, so it runs before `scripts/setup`.

A Swagger 2.0 document (Qdrant Cloud's, generated from gRPC; Slack's) keeps `swagger`, `host`,
`basePath`, `schemes`, `consumes` and `produces` as well, its `#/definitions/...` references
the same way, and the `securityDefinitions` its kept requirements name.
"""
import json
import sys

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def unescape(token):
    # JSON pointer escaping (RFC 6901).
    return token.replace("~1", "/").replace("~0", "~")


def walk_refs(node, found):
    """Collect every `$ref` string below `node`."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            walk_refs(value, found)
    elif isinstance(node, list):
        for value in node:
            walk_refs(value, found)


def security_names(requirements, names):
    for requirement in requirements or []:
        names.update(requirement.keys())


def trim(spec, operations, allow_undeclared_schemes=False):
    wanted = {}
    for op in operations:
        method, _, path = op.strip().partition(" ")
        method, path = method.lower(), path.strip()
        if method not in HTTP_METHODS or path not in spec["paths"] or method not in spec["paths"][path]:
            raise SystemExit(f"operation not found in spec: {op!r}")
        wanted.setdefault(path, set()).add(method)

    top = ("openapi", "swagger", "info", "host", "basePath", "schemes", "servers", "consumes",
           "produces", "security")
    out = {key: spec[key] for key in top if key in spec}
    out["paths"] = {}
    scheme_names = set()
    security_names(spec.get("security"), scheme_names)
    for path, item in spec["paths"].items():  # original order
        if path not in wanted:
            continue
        kept = {k: v for k, v in item.items() if k not in HTTP_METHODS or k in wanted[path]}
        out["paths"][path] = kept
        for method in wanted[path]:
            security_names(kept[method].get("security"), scheme_names)

    # Transitive closure over component references.
    components = dict(spec.get("components", {}))
    if "definitions" in spec:  # Swagger 2.0: one section, at the top level
        components["definitions"] = spec["definitions"]
    if "securityDefinitions" in spec:  # Swagger 2.0's security schemes
        components["securitySchemes"] = spec["securityDefinitions"]
    needed = {}  # section -> set of names
    pending = set()
    walk_refs(out["paths"], pending)
    seen = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        parts = ref.split("/")
        if len(parts) == 3 and parts[:2] == ["#", "definitions"]:
            parts = ["#", "components", "definitions", parts[2]]
        if len(parts) < 4 or parts[0] != "#" or parts[1] != "components":
            raise SystemExit(f"unsupported $ref (not a local component): {ref}")
        section, name = parts[2], unescape(parts[3])
        if name not in components.get(section, {}):
            raise SystemExit(f"dangling $ref: {ref}")
        if name not in needed.setdefault(section, set()):
            needed[section].add(name)
            walk_refs(components[section][name], pending)
    for name in scheme_names:
        if name not in components.get("securitySchemes", {}):
            if allow_undeclared_schemes:
                continue
            raise SystemExit(f"security requirement names unknown scheme: {name}")
        needed.setdefault("securitySchemes", set()).add(name)

    out["components"] = {
        section: {name: value for name, value in entries.items() if name in needed[section]}
        for section, entries in components.items()  # original order of sections and names
        if section in needed
    }
    if "definitions" in out["components"]:
        out["definitions"] = out["components"].pop("definitions")
    if "securityDefinitions" in spec and "securitySchemes" in out["components"]:
        out["securityDefinitions"] = out["components"].pop("securitySchemes")
    if not out["components"]:
        del out["components"]
    return out


def main(argv):
    allow = "--allow-undeclared-schemes" in argv
    argv = [a for a in argv if a != "--allow-undeclared-schemes"]
    if len(argv) < 4:
        raise SystemExit(__doc__)
    spec_path, out_path, operations = argv[1], argv[2], argv[3:]
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    out = trim(spec, operations, allow)
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2, ensure_ascii=False)
        f.write("\n")
    sections = dict(out.get("components", {}))
    if "definitions" in out:
        sections["definitions"] = out["definitions"]
    counts = ", ".join(f"{len(v)} {k}" for k, v in sections.items())
    ops = sum(1 for item in out["paths"].values() for k in item if k in HTTP_METHODS)
    print(f"{out_path}: {len(out['paths'])} paths, {ops} operations; components: {counts}")


if __name__ == "__main__":
    main(sys.argv)
