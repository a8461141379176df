"""Validate manifests rendered by `helm template` (scripts/check-chart), offline.

    validate.py RENDERED.yaml [--expect KIND ...]

- Kubernetes kinds: against the Kubernetes JSON schemas bundled in the PyPI package
  kubernetes-validate, strict (unknown fields are errors), for the Kubernetes version below.
- monitoring.coreos.com kinds (no bundled schema): a structural check of the fields the chart
  sets, and the PrometheusRule's groups must equal files/alerts.yaml (one source of truth).
- The chart's own rules: restricted security context, probes, dashboard ConfigMap equal to
  dashboards/perimeter.json, CRDs equal to crds/perimeter.yaml, no two objects with the same
  kind, namespace and name (the second would overwrite the first on install).
Exits 1 naming every problem.
"""

import json
import pathlib
import sys

import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.33.0"
CHART = pathlib.Path(__file__).resolve().parents[2] / "charts" / "perimeter"
problems = []


def problem(doc, msg):
    meta = doc.get("metadata", {})
    problems.append(f"{doc.get('kind')} {meta.get('name')}: {msg}")


def check_service_monitor(doc):
    spec = doc.get("spec", {})
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        problem(doc, "apiVersion must be monitoring.coreos.com/v1")
    allowed = {"jobLabel", "selector", "namespaceSelector", "endpoints", "targetLabels",
               "podTargetLabels", "sampleLimit", "attachMetadata"}
    for key in spec:
        if key not in allowed:
            problem(doc, f"unknown spec field {key}")
    if not spec.get("selector", {}).get("matchLabels"):
        problem(doc, "spec.selector.matchLabels is required")
    endpoint_fields = {"port", "path", "interval", "scrapeTimeout", "honorLabels",
                       "relabelings", "metricRelabelings", "scheme"}
    for ep in spec.get("endpoints") or [problem(doc, "spec.endpoints is empty")] or []:
        for key in ep:
            if key not in endpoint_fields:
                problem(doc, f"unknown endpoint field {key}")
        if ep.get("port") != "metrics":
            problem(doc, "endpoint must scrape the metrics port")
        for r in ep.get("relabelings", []) + ep.get("metricRelabelings", []):
            if not isinstance(r, dict):
                problem(doc, "relabeling must be an object")


def check_prometheus_rule(doc):
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        problem(doc, "apiVersion must be monitoring.coreos.com/v1")
    groups = doc.get("spec", {}).get("groups")
    source = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())["groups"]
    if groups != source:
        problem(doc, "spec.groups differ from files/alerts.yaml")
    for group in groups or []:
        for rule in group.get("rules", []):
            if not isinstance(rule.get("expr"), str) or not (rule.get("alert") or rule.get("record")):
                problem(doc, f"rule without alert/record or expr: {rule}")


def check_deployment(doc):
    pod = doc["spec"]["template"]["spec"]
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem(doc, "pod securityContext must set runAsNonRoot and seccomp RuntimeDefault")
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        ok = (sc.get("allowPrivilegeEscalation") is False and sc.get("readOnlyRootFilesystem") is True
              and sc.get("capabilities", {}).get("drop") == ["ALL"] and sc.get("runAsNonRoot") is True)
        if not ok:
            problem(doc, f"container {c['name']}: securityContext is not restricted")
        if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
            problem(doc, "liveness probe must be /healthz")
        if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
            problem(doc, "readiness probe must be /readyz")
        if not c.get("resources", {}).get("requests"):
            problem(doc, "resources.requests missing")
        env = {e["name"] for e in c.get("env", [])}
        if not {"POD_NAME", "POD_NAMESPACE"} <= env:
            problem(doc, "POD_NAME and POD_NAMESPACE must come from the downward API")
        if doc["spec"]["replicas"] > 1 and "--leader-elect" not in c.get("args", []):
            problem(doc, "several replicas without --leader-elect")


def check_configmap(doc):
    data = doc.get("data", {})
    if "perimeter.json" in data:
        if json.loads(data["perimeter.json"]) != json.loads((CHART / "dashboards" / "perimeter.json").read_text()):
            problem(doc, "dashboard ConfigMap differs from dashboards/perimeter.json")


def main():
    args = sys.argv[1:]
    path = args[0]
    expect = set(args[args.index("--expect") + 1:]) if "--expect" in args else set()
    docs = [d for d in yaml.safe_load_all(pathlib.Path(path).read_text()) if d]
    kinds = set()
    seen = set()
    for doc in docs:
        kind = doc.get("kind")
        kinds.add(kind)
        meta = doc.get("metadata", {})
        key = (doc.get("apiVersion", "").split("/")[0], kind, meta.get("namespace"), meta.get("name"))
        if key in seen:
            problem(doc, f"rendered twice in namespace {meta.get('namespace')}")
        seen.add(key)
        if doc.get("apiVersion", "").startswith("monitoring.coreos.com/"):
            {"ServiceMonitor": check_service_monitor, "PrometheusRule": check_prometheus_rule}.get(
                kind, lambda d: problem(d, "unexpected monitoring.coreos.com kind"))(doc)
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            problem(doc, f"schema: {e.message} at {'/'.join(str(p) for p in e.path)}")
        except Exception as e:  # unknown kind/version: never silently skipped
            problem(doc, f"cannot validate: {e}")
        if kind == "Deployment":
            check_deployment(doc)
        if kind == "ConfigMap":
            check_configmap(doc)
        if kind == "CustomResourceDefinition":
            source = list(yaml.safe_load_all((CHART / "crds" / "perimeter.yaml").read_text()))
            if doc not in source:
                problem(doc, "CRD not in crds/perimeter.yaml")
    for kind in sorted(expect - kinds):
        problems.append(f"expected a {kind} in the rendered manifests, found none")
    for p in problems:
        print(f"  {path}: {p}")
    if problems:
        sys.exit(1)
    print(f"  {path}: {len(docs)} manifests valid ({', '.join(sorted(kinds))})")


main()
