"""Validate manifests rendered by `helm template` (scripts/check-chart), offline.

    validate.py RENDERED.yaml [--expect KIND ...]

- Kubernetes kinds: against the Kubernetes JSON schemas bundled in the PyPI package
  kubernetes-validate, strict (unknown fields are errors), for the Kubernetes version below.
- monitoring.coreos.com kinds (no bundled schema): a structural check of the fields the chart
  sets, and the PrometheusRule's groups must equal files/alerts.yaml (one source of truth).
  An AlertmanagerConfig must send to the channel the Deployment tells the operator
  (--alerts-slack-channel); with --alertmanager-out FILE it is also written out as the
  Alertmanager configuration the Prometheus Operator makes of it (matcher strategy None), for
  `amtool check-config` and `amtool config routes test`.
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


MATCH_TYPES = {"=", "!=", "=~", "!~"}
alertmanager_configs = []


def check_alertmanager_config(doc):
    """The AlertmanagerConfig CRD's fields the chart uses (monitoring.coreos.com/v1alpha1)."""
    if doc.get("apiVersion") != "monitoring.coreos.com/v1alpha1":
        problem(doc, "apiVersion must be monitoring.coreos.com/v1alpha1")
    spec = doc.get("spec", {})
    for key in spec:
        if key not in {"route", "receivers", "inhibitRules"}:
            problem(doc, f"unknown spec field {key}")
    route = spec.get("route") or {}
    for key in route:
        if key not in {"receiver", "groupBy", "groupWait", "groupInterval", "repeatInterval",
                       "matchers", "continue", "routes"}:
            problem(doc, f"unknown route field {key}")
    for m in route.get("matchers", []):
        if set(m) - {"name", "value", "matchType"} or m.get("matchType", "=") not in MATCH_TYPES:
            problem(doc, f"bad matcher {m}")
    names = []
    for r in spec.get("receivers", []):
        names.append(r.get("name"))
        for key in r:
            if key not in {"name", "slackConfigs"}:
                problem(doc, f"unknown receiver field {key}")
        for c in r.get("slackConfigs", []):
            for key in c:
                if key not in {"apiURL", "channel", "sendResolved", "title", "text", "username"}:
                    problem(doc, f"unknown slackConfigs field {key}")
            if set(c.get("apiURL", {})) != {"name", "key"}:
                problem(doc, "slackConfigs apiURL must be a Secret key selector {name, key}")
    if route.get("receiver") not in names:
        problem(doc, f"route receiver {route.get('receiver')} is not among {names}")
    alertmanager_configs.append(doc)


def alertmanager_equivalent(doc):
    """The configuration the Prometheus Operator generates, for amtool (secrets as files)."""
    spec = doc["spec"]
    route = spec["route"]
    ns, name = doc["metadata"]["namespace"], doc["metadata"]["name"]
    prefix = f"{ns}/{name}/"

    def matcher(m):
        return f'{m["name"]}{m.get("matchType", "=")}"{m["value"]}"'

    child = {
        "receiver": prefix + route["receiver"],
        "matchers": [matcher(m) for m in route.get("matchers", [])],
        "continue": True,
    }
    for src, dst in [("groupBy", "group_by"), ("groupWait", "group_wait"),
                     ("groupInterval", "group_interval"), ("repeatInterval", "repeat_interval")]:
        if src in route:
            child[dst] = route[src]
    receivers = [{"name": "null"}]
    for r in spec["receivers"]:
        receivers.append({"name": prefix + r["name"], "slack_configs": [
            {"api_url_file": f"/etc/alertmanager/secrets/{c['apiURL']['name']}/{c['apiURL']['key']}",
             "channel": c["channel"], "send_resolved": c.get("sendResolved", False),
             "title": c.get("title", ""), "text": c.get("text", "")}
            for c in r.get("slackConfigs", [])]})
    return {"route": {"receiver": "null", "routes": [child]}, "receivers": receivers}


def check_alerts_channel(deployments):
    """The receiver's channel is the one the operator verifies."""
    for doc in alertmanager_configs:
        channels = {c["channel"] for r in doc["spec"].get("receivers", [])
                    for c in r.get("slackConfigs", [])}
        flags = {a.split("=", 1)[1].split("/")[-1] for d in deployments
                 for c in d["spec"]["template"]["spec"]["containers"]
                 for a in c.get("args", []) if a.startswith("--alerts-slack-channel=")}
        if not flags:
            problem(doc, "the Deployment does not pass --alerts-slack-channel: DE.CM-1 would not "
                         "verify this receiver")
        elif channels != flags:
            problem(doc, f"sends to {sorted(channels)} but the operator verifies {sorted(flags)}")


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
    expect = set()
    if "--expect" in args:
        for a in args[args.index("--expect") + 1:]:
            if a.startswith("--"):
                break
            expect.add(a)
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
            {"ServiceMonitor": check_service_monitor, "PrometheusRule": check_prometheus_rule,
             "AlertmanagerConfig": check_alertmanager_config}.get(
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
    check_alerts_channel([d for d in docs if d.get("kind") == "Deployment"])
    if "--alertmanager-out" in args:
        out = pathlib.Path(args[args.index("--alertmanager-out") + 1])
        if len(alertmanager_configs) != 1:
            problems.append(f"--alertmanager-out needs one AlertmanagerConfig, found "
                            f"{len(alertmanager_configs)}")
        else:
            out.write_text(yaml.safe_dump(alertmanager_equivalent(alertmanager_configs[0])))
    for kind in sorted(expect - kinds):
        problems.append(f"expected a {kind} in the rendered manifests, found none")
    for p in problems:
        print(f"  {path}: {p}")
    if problems:
        sys.exit(1)
    print(f"  {path}: {len(docs)} manifests valid ({', '.join(sorted(kinds))})")


main()
