"""Reads YAML files with PyYAML's safe loader (YAML 1.1, independent of Perimeter's loader)
and prints {path: [documents]} as JSON. A value that JSON cannot hold (a date, NaN) is
printed as {"!python": type, "repr": ...}, so that a comparison shows it instead of failing
to parse."""

import json
import math
import sys

import yaml


def tagged(value):
    return {"!python": type(value).__name__, "repr": repr(value)}


def clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return tagged(value)
    if isinstance(value, dict):
        return {str(k) if isinstance(k, str) else json.dumps(tagged(k)): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value


out = {}
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        out[path] = [clean(d) for d in yaml.safe_load_all(f) if d is not None]
json.dump(out, sys.stdout, default=tagged, allow_nan=False)
