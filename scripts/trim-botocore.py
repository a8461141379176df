#!/usr/bin/env python3
"""Trim a botocore service model to some operations, for tests/conformance/aws/.

    trim-botocore.py SRC DEST Operation [Operation ...]

SRC is a botocore `service-2.json` or `service-2.json.gz` (e.g. from the botocore wheel pinned
in tests/requirements.txt: `botocore/data/ec2/2016-11-15/service-2.json.gz`). DEST keeps the
`metadata`, the listed operations and every shape reachable from their input, output and
errors. Kept values are unchanged; documentation strings are dropped. Fails on an operation
that is not in the model.
"""

import gzip
import json
import sys


def load(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def strip_docs(value):
    if isinstance(value, dict):
        return {k: strip_docs(v) for k, v in value.items() if k != "documentation"}
    if isinstance(value, list):
        return [strip_docs(v) for v in value]
    return value


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    src, dest, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
    model = load(src)
    missing = [op for op in wanted if op not in model["operations"]]
    if missing:
        sys.exit(f"not in the model: {', '.join(missing)}")
    operations = {op: model["operations"][op] for op in wanted}
    shapes, todo = {}, []
    for op in operations.values():
        for key in ("input", "output"):
            if key in op:
                todo.append(op[key]["shape"])
        todo.extend(e["shape"] for e in op.get("errors", []))
    while todo:
        name = todo.pop()
        if name in shapes:
            continue
        shape = model["shapes"][name]
        shapes[name] = shape
        for ref in ("member", "key", "value"):
            if ref in shape:
                todo.append(shape[ref]["shape"])
        for member in shape.get("members", {}).values():
            todo.append(member["shape"])
    out = {
        "version": model.get("version"),
        "metadata": model["metadata"],
        "operations": operations,
        "shapes": dict(sorted(shapes.items())),
    }
    with open(dest, "w", encoding="utf-8") as f:
        json.dump(strip_docs(out), f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
