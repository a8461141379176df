"""An independent cross-check of the structural half of manifest validation: the CRD schemas of
crds/perimeter.yaml (read by PyYAML) turned into strict JSON Schema (draft 4, as OpenAPI v3.0:
`nullable` becomes a null type, an object with properties admits no other field, int-or-string
is integer or string) and applied with Python's jsonschema to each document of the files given.
Prints {path: [error, ...]} as JSON; a document whose apiVersion/kind is no CRD's is an error.
List-map uniqueness, metadata and CEL are Perimeter's own checks and not covered here."""

import json
import sys

import jsonschema
import yaml

ROOT_FIELDS = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}


def strict(schema):
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-") and k not in ("nullable", "format")}
    if schema.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    if schema.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = types + ["null"]
    if "properties" in schema:
        out["properties"] = {k: strict(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            out[key] = strict(schema[key])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            out[key] = [strict(s) for s in schema[key]]
    return out


def validators(crd_path):
    out = {}
    with open(crd_path, encoding="utf-8") as f:
        for crd in yaml.safe_load_all(f):
            if not crd:
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                schema = strict(version["schema"]["openAPIV3Schema"])
                schema["properties"] = {**ROOT_FIELDS, **schema.get("properties", {})}
                key = (spec["group"] + "/" + version["name"], spec["names"]["kind"])
                out[key] = jsonschema.Draft4Validator(schema)
    return out


def main():
    crds, paths = sys.argv[1], sys.argv[2:]
    known = validators(crds)
    result = {}
    for path in paths:
        errors = []
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if not isinstance(doc, dict):
                    errors.append("not a mapping")
                    continue
                validator = known.get((doc.get("apiVersion"), doc.get("kind")))
                if validator is None:
                    errors.append("no CRD for %r %r" % (doc.get("apiVersion"), doc.get("kind")))
                    continue
                for e in validator.iter_errors(doc):
                    errors.append("%s: %s" % (".".join(str(p) for p in e.absolute_path), e.message))
        result[path] = errors
    json.dump(result, sys.stdout, default=str)


main()
