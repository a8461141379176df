#!/usr/bin/env python3
"""Write a copy of an OpenAPI spec with the quirks that make Prism reject valid requests fixed.

Usage: scripts/fix-openapi-for-prism.py SPEC OUT

Why: OpenAPI says a required readOnly property applies to responses only, but Prism 5
enforces it on requests too. Cloudflare's spec marks e.g. `id`, `version`, `last_updated` of
rulesets_Rule / rulesets_Ruleset as required *and* readOnly, so every valid ruleset PUT
would be rejected (see shared/provider-apis/CONFORMANCE.md).

Also: where a spec defines a bearer-token scheme (Cloudflare's `api_token`) but an operation
lists only the legacy key schemes, the token scheme is added as an alternative. Cloudflare's
2024 document does that for IP access rules and Logpush jobs, which the live API serves to
API tokens (permissions "Firewall Services" and "Logs"). Tests run Prism on this fixed
copy; the committed spec stays as published. Undeclared schemes (Supabase's spec declares
none) are handled by `declare_undeclared`. Standard library only for JSON specs; a YAML
spec needs PyYAML (run it with .venv/bin/python). The copy is always written as JSON.

Also: gRPC-Gateway documents (Qdrant Cloud's, Swagger 2.0) bind path segments to fields of
the body (`PUT /accounts/{cluster.accountId}/clusters/{cluster.id}`). Prism matches such a
request to the GET template of the same shape (`/accounts/{accountId}/clusters/{clusterId}`)
and then finds no PUT there; `undot_path_templates` moves the operation onto that template
(or, without a twin, replaces the dots), renaming its path parameters to match.
"""
import json
import re
import sys


def resolve(root, node):
    """Follow a local `$ref` chain to the schema it names."""
    seen = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if ref in seen or not ref.startswith("#/"):
            break
        seen.add(ref)
        target = root
        for token in ref[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            target = target.get(token) if isinstance(target, dict) else None
        if target is None:
            break
        node = target
    return node


def read_only(root, schema, depth=0):
    """True if the schema, or any `allOf` part of it, is marked readOnly (following $refs)."""
    schema = resolve(root, schema)
    if not isinstance(schema, dict) or depth > 20:
        return False
    if schema.get("readOnly") is True:
        return True
    return any(read_only(root, part, depth + 1) for part in schema.get("allOf", []))


def fix(root):
    removed = 0

    def visit(node):
        nonlocal removed
        if isinstance(node, dict):
            props = node.get("properties")
            required = node.get("required")
            if isinstance(props, dict) and isinstance(required, list):
                keep = [
                    name for name in required
                    if not (name in props and read_only(root, props[name]))
                ]
                removed += len(required) - len(keep)
                if keep:
                    node["required"] = keep
                else:
                    del node["required"]  # OpenAPI 3.0 forbids an empty `required` array
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(root)
    return removed


def allow_bearer(spec, scheme="api_token"):
    """Add `scheme` as an alternative to operations whose security omits it."""
    if scheme not in spec.get("components", {}).get("securitySchemes", {}):
        return 0
    added = 0
    for ops in spec.get("paths", {}).values():
        for op in ops.values():
            security = op.get("security") if isinstance(op, dict) else None
            if isinstance(security, list) and security and not any(scheme in alt for alt in security):
                security.append({scheme: []})
                added += 1
    return added


def declare_undeclared(spec):
    """Supabase's spec names security schemes it never declares (`bearer`, `fga_permissions`;
    it has no `securitySchemes` at all). `bearer` is declared as an HTTP bearer scheme; a
    requirement naming any other undeclared scheme (`fga_permissions` is an internal
    permission list, not a credential) is dropped, never left empty (that would mean "no
    credential needed")."""
    schemes = spec.setdefault("components", {}).setdefault("securitySchemes", {})
    fixed = 0
    requirement_lists = [spec.get("security")] + [
        op.get("security")
        for ops in spec.get("paths", {}).values()
        for op in (ops.values() if isinstance(ops, dict) else [])
        if isinstance(op, dict)
    ]
    for security in requirement_lists:
        if not isinstance(security, list):
            continue
        kept = []
        for alt in security:
            names = set(alt) - set(schemes)
            if names == {"bearer"}:
                schemes["bearer"] = {"type": "http", "scheme": "bearer"}
            elif names:
                fixed += 1
                continue
            kept.append(alt)
        security[:] = kept
    if not schemes:
        del spec["components"]["securitySchemes"]
    return fixed


PARAM = re.compile(r"\{([^}]+)\}")


def undot_path_templates(spec):
    """Path templates with dotted parameters (`{cluster.id}`) moved onto their twin template
    of the same shape, or undotted (`{cluster_id}`). Returns how many templates moved."""
    paths = spec.get("paths") or {}

    def shape(template):
        return PARAM.sub("{}", template)

    moved = 0
    for template in [t for t in list(paths) if any("." in n for n in PARAM.findall(t))]:
        item = paths.pop(template)
        dotted = PARAM.findall(template)
        twin = next((t for t in paths if shape(t) == shape(template)), None)
        names = PARAM.findall(twin) if twin else [n.replace(".", "_") for n in dotted]
        rename = dict(zip(dotted, names))
        new = twin or PARAM.sub(lambda m: "{" + rename[m.group(1)] + "}", template)
        for op in item.values():
            for param in (op.get("parameters") or []) if isinstance(op, dict) else []:
                if param.get("in") == "path" and param.get("name") in rename:
                    param["name"] = rename[param["name"]]
        target = paths.setdefault(new, {})
        for key, value in item.items():
            if key in target:
                raise SystemExit(f"{template}: {key} already defined on {new}")
            target[key] = value
        moved += 1
    return moved


def any_of_in_answers(spec):
    """Answer schemas: `oneOf` → `anyOf`. Vercel's generated spec types several answers as a
    `oneOf` of overlapping branches (a drain with or without integration metadata, an attack
    status whose `endTime` is nullable in one branch only), which every real answer matches
    twice, so Prism's proxy would reject all of them. An answer must still match one branch.
    Schemas that requests use too (through `$ref`) are left alone, so request checks keep
    `oneOf`."""
    used_by_requests = set()

    def refs(node, out):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/") and ref not in out:
                out.add(ref)
                refs(resolve(spec, node), out)
            for v in node.values():
                refs(v, out)
        elif isinstance(node, list):
            for v in node:
                refs(v, out)

    answers = []
    for item in (spec.get("paths") or {}).values():
        if not isinstance(item, dict):
            continue
        for op in item.values():
            if not isinstance(op, dict):
                continue
            refs(op.get("requestBody"), used_by_requests)
            refs(op.get("parameters"), used_by_requests)
            for response in (op.get("responses") or {}).values():
                for media in ((response or {}).get("content") or {}).values():
                    if isinstance(media, dict) and "schema" in media:
                        answers.append(media)
    changed = 0
    seen = set()

    def visit(node):
        nonlocal changed
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                if ref in used_by_requests or ref in seen:
                    return
                seen.add(ref)
                visit(resolve(spec, node))
                return
            if isinstance(node.get("oneOf"), list):
                node["anyOf"] = node.pop("oneOf")
                changed += 1
            for v in node.values():
                visit(v)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    for media in answers:
        visit(media["schema"])
    return changed


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__)
    with open(argv[1], encoding="utf-8") as f:
        text = f.read()
    try:
        spec = json.loads(text)
    except ValueError:
        import yaml  # only YAML specs need it; .venv has it

        spec = yaml.safe_load(text)
    removed = fix(spec)
    dropped = declare_undeclared(spec)
    bearer = allow_bearer(spec)
    any_of = any_of_in_answers(spec)
    undotted = undot_path_templates(spec)
    if "swagger" in spec and not spec.get("components"):
        spec.pop("components", None)  # Swagger 2.0 has no such section
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False, default=str)  # default: YAML dates
    print(f"{argv[2]}: removed {removed} read-only entries from required lists; "
          f"allowed the bearer token on {bearer} operation(s); "
          f"dropped {dropped} requirement(s) naming undeclared schemes; "
          f"made {any_of} oneOf of answers anyOf; "
          f"moved {undotted} dotted path template(s)")


if __name__ == "__main__":
    main(sys.argv)
