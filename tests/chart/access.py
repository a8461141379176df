"""Check what a `helm template` render lets the operator do (scripts/check-chart), offline.

    access.py RENDERED.yaml --release-namespace NS [--watch NS,NS...] [--values FILE [--all-features]]
              [--shards NAME,NAME...]

--watch is the intent (the namespaces given to security.watchNamespaces; none = cluster mode).
--values: the values file rendered; its `security` block gives --watch and the flags the
Deployment must pass (FLAGS below); with --all-features every key of the chart's `security`
block must be set there to something other than its default (so CI exercises each).
The rendered ClusterRoles, Roles and bindings are evaluated as the API server's RBAC authorizer
would for the operator's ServiceAccount, then:
- every API call the operator makes in that mode is allowed (NEEDED below, from src/controller/);
- calls it never makes are denied (DENIED below): writing Secrets, Secrets outside the served
  namespaces, the namespaced kinds or Events cluster-wide in namespaced mode, deleting anything;
- in namespaced mode no ClusterRole rule names Secrets or a namespaced kind at all (a ClusterRole
  may be bound by a RoleBinding elsewhere later); in cluster mode a ClusterRole names
  clustercloudproviders;
- no wildcard, no privilege verbs (escalate, bind, impersonate), every binding names a rendered
  role and only the operator's ServiceAccount, every role is bound;
- the Deployment passes --cluster-resource-namespace=<release namespace>, exactly one
  --watch-namespace per served namespace, and one flag per value of the `security` block;
- with shards (--shards or the values' `shards`): one Deployment per shard plus the main one,
  each passing the same flags; their --shard-selector's partition the policies (a policy
  labelled for each shard, with another value, or not at all is taken by exactly one), exactly
  one runs the cluster-wide controllers, and no two share a Lease.
Exits 1 naming every problem.
"""

import argparse
import pathlib
import sys

import yaml

P = "perimeter.dev"
NAMESPACED_KINDS = ["cloudproviders", "addresssets", "firewallpolicies", "monitoringpolicies"]
POLICIES = ["firewallpolicies", "monitoringpolicies"]
CLUSTER_KINDS = ["clustercloudproviders", "controlassessments"]
# Never granted by a ClusterRole in namespaced mode (base names; subresources included).
NAMESPACED_ONLY = {"secrets", "events", "configmaps", "leases", *NAMESPACED_KINDS}
# A namespace the operator does not serve, and one with the cluster's own secrets.
OTHER = ["some-other-namespace", "kube-system"]
CHART = pathlib.Path(__file__).resolve().parents[2] / "charts" / "perimeter"
# values.yaml `security` key -> the operator flag (src/main.rs, `perimeter operator`).
FLAGS = {
    "watchNamespaces": "--watch-namespace",
    "ambientCredentialNamespaces": "--ambient-namespace",
    "allowedEndpointHosts": "--allow-endpoint-host",
    "allowedTokenHosts": "--allow-token-host",
    "credentialSourceDirs": "--credential-source-dir",
    "allowedCredentialSourceHosts": "--allow-credential-source-host",
    "syncTimeoutSeconds": "--sync-timeout",
}
# values.yaml `security` booleans -> the bare operator flag, and the environment variable set
# with it (Google's library runs credential executables only with it).
SWITCHES = {
    "allowCredentialExecutables": ("--allow-credential-executables", "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"),
}


def needed(watch, release):
    """(verb, group, resource, namespace) the operator calls; namespace None = cluster-wide."""
    calls = []
    served = watch or [None]
    for ns in served:
        for kind in NAMESPACED_KINDS:
            calls += [(v, P, kind, ns) for v in ("list", "watch")]
            calls.append(("patch", P, f"{kind}/status", ns))
        # A cluster-wide watch may still patch and get in any one namespace.
        at = ns or "team-x"
        calls += [("patch", P, kind, at) for kind in POLICIES]
        calls += [(v, "", "secrets", ns) for v in ("list", "watch")]
        calls.append(("get", "", "secrets", at))
        calls += [(v, "events.k8s.io", "events", at) for v in ("create", "patch")]
    # ClusterCloudProvider Secrets, and Events of cluster-scoped objects.
    calls += [(v, "", "secrets", release) for v in ("get", "list", "watch")]
    calls += [(v, "events.k8s.io", "events", "default") for v in ("create", "patch")]
    for kind in CLUSTER_KINDS:
        calls += [(v, P, kind, None) for v in ("get", "list", "watch")]
        calls.append(("patch", P, f"{kind}/status", None))
    calls += [(v, "coordination.k8s.io", "leases", release) for v in ("get", "create", "update")]
    calls += [(v, "", "configmaps", release) for v in ("get", "create", "update")]
    return calls


def denied(watch, release):
    calls = []
    for ns in [None, release, "team-x", *(watch or [])]:
        calls += [(v, "", "secrets", ns) for v in ("create", "update", "patch", "delete", "deletecollection")]
        calls += [("delete", P, k, ns) for k in NAMESPACED_KINDS]
        calls += [("update", P, k, ns) for k in NAMESPACED_KINDS]
        # CloudProviders and AddressSets carry no finalizer: only their status is written.
        calls.append(("patch", P, "cloudproviders", ns))
        calls.append(("patch", P, "addresssets", ns))
        calls += [("create", "", "pods/exec", ns), ("create", "", "serviceaccounts/token", ns)]
    calls += [("delete", P, k, None) for k in CLUSTER_KINDS]
    calls += [("patch", P, k, None) for k in CLUSTER_KINDS]
    calls += [(v, "rbac.authorization.k8s.io", r, None)
              for v in ("escalate", "bind") for r in ("clusterroles", "roles")]
    calls += [("impersonate", "", "serviceaccounts", None), ("impersonate", "", "users", None)]
    for ns in OTHER:
        calls += [("get", "", "configmaps", ns), ("update", "coordination.k8s.io", "leases", ns)]
    if watch:
        calls += [(v, "", "secrets", None) for v in ("get", "list", "watch")]
        calls += [(v, P, k, None) for k in NAMESPACED_KINDS for v in ("list", "watch")]
        calls += [("create", "events.k8s.io", "events", None)]
        for ns in OTHER:
            if ns in watch or ns == release:
                continue
            calls += [(v, "", "secrets", ns) for v in ("get", "list", "watch")]
            calls += [("list", P, k, ns) for k in NAMESPACED_KINDS]
            calls.append(("create", "events.k8s.io", "events", ns))
    return calls


class Rbac:
    def __init__(self, docs, sa, release, problems):
        self.problems = problems
        self.cluster_roles = {d["metadata"]["name"]: d.get("rules") or []
                              for d in docs if d["kind"] == "ClusterRole"}
        self.roles = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d.get("rules") or []
                      for d in docs if d["kind"] == "Role"}
        # (namespace or None for cluster-wide, rules)
        self.grants = []
        used = set()
        for d in docs:
            if d["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
                continue
            where = f"{d['kind']} {d['metadata'].get('namespace', '')}/{d['metadata']['name']}"
            for s in d.get("subjects") or []:
                if (s.get("kind"), s.get("name"), s.get("namespace")) != ("ServiceAccount", sa, release):
                    problems.append(f"{where}: binds {s}, not the operator's ServiceAccount {release}/{sa}")
            ref = d["roleRef"]
            ns = d["metadata"].get("namespace") if d["kind"] == "RoleBinding" else None
            if ref["kind"] == "ClusterRole":
                rules = self.cluster_roles.get(ref["name"])
                key = ("ClusterRole", ref["name"])
            else:
                rules = self.roles.get((ns, ref["name"]))
                key = ("Role", ns, ref["name"])
            if rules is None:
                problems.append(f"{where}: its {ref['kind']} {ref['name']} is not rendered")
                continue
            used.add(key)
            self.grants.append((ns, rules))
        for name, rules in self.cluster_roles.items():
            if ("ClusterRole", name) not in used:
                problems.append(f"ClusterRole {name} is bound by nothing")
            self.check_rules(f"ClusterRole {name}", rules)
        for (ns, name), rules in self.roles.items():
            if ("Role", ns, name) not in used:
                problems.append(f"Role {ns}/{name} is bound by nothing")
            self.check_rules(f"Role {ns}/{name}", rules)

    def check_rules(self, where, rules):
        for r in rules:
            if r.get("nonResourceURLs"):
                self.problems.append(f"{where}: grants nonResourceURLs {r['nonResourceURLs']}")
            for field in ("apiGroups", "resources", "verbs"):
                if "*" in (r.get(field) or []):
                    self.problems.append(f"{where}: wildcard in {field}: {r}")
            for v in ("escalate", "bind", "impersonate", "delete", "deletecollection"):
                if v in (r.get("verbs") or []):
                    self.problems.append(f"{where}: grants {v} on {r.get('resources')}")

    def allows(self, verb, group, resource, ns):
        """ns None: a cluster-scoped object or a request across all namespaces."""
        for bound_ns, rules in self.grants:
            if bound_ns is not None and bound_ns != ns:
                continue
            for r in rules:
                if r.get("resourceNames"):
                    continue  # the operator's calls name no object ahead of time
                if (verb in r.get("verbs", []) or "*" in r.get("verbs", [])) \
                        and (group in r.get("apiGroups", []) or "*" in r.get("apiGroups", [])) \
                        and (resource in r.get("resources", []) or "*" in r.get("resources", [])):
                    return True
        return False


def call_text(call):
    verb, group, resource, ns = call
    return f"{verb} {resource}{'.' + group if group else ''} " + (f"in {ns}" if ns else "cluster-wide")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rendered")
    ap.add_argument("--release-namespace", required=True)
    ap.add_argument("--watch", default="")
    ap.add_argument("--values")
    ap.add_argument("--all-features", action="store_true")
    ap.add_argument("--shards", default="", help="the shards rendered (values `shards`), comma-separated")
    a = ap.parse_args()
    watch = [n for n in a.watch.split(",") if n]
    release = a.release_namespace
    problems = []
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["security"]
    if set(defaults) != set(FLAGS) | set(SWITCHES):
        problems.append(f"values.yaml security keys {sorted(defaults)} differ from {sorted([*FLAGS, *SWITCHES])}")
    security = dict(defaults)
    if a.values:
        given = yaml.safe_load(pathlib.Path(a.values).read_text()).get("security") or {}
        security.update(given)
        if not a.watch:
            watch = list(security["watchNamespaces"])
        if a.all_features:
            for key, default in defaults.items():
                if given.get(key, default) == default:
                    problems.append(f"{a.values}: security.{key} is not exercised (default or unset)")
    shards = []
    if a.values:
        shards = yaml.safe_load(pathlib.Path(a.values).read_text()).get("shards") or []
    shards = [x for x in a.shards.split(",") if x] or shards
    expect_args = []
    security["watchNamespaces"] = watch
    for key, flag in FLAGS.items():
        value = security.get(key)
        for v in value if isinstance(value, list) else [value]:
            expect_args.append(f"{flag}={v}")
    docs = [d for d in yaml.safe_load_all(pathlib.Path(a.rendered).read_text()) if d]

    deployments = [d for d in docs if d["kind"] == "Deployment"]
    if len(deployments) != 1 + len(shards):
        sys.exit(f"  {a.rendered}: expected {1 + len(shards)} Deployment(s) for shards {shards}, "
                 f"found {len(deployments)}")
    pods = [d["spec"]["template"]["spec"] for d in deployments]
    sa = pods[0].get("serviceAccountName", "default")
    if any(p.get("serviceAccountName", "default") != sa for p in pods):
        problems.append("the Deployments run as different ServiceAccounts")
    containers = [next(c for c in p["containers"] if c["name"] == "operator") for p in pods]
    check_shards(deployments, containers, shards, problems)

    rbac = Rbac(docs, sa, release, problems)
    if not rbac.grants:
        problems.append("no RBAC binding rendered for the operator")
    for call in needed(watch, release):
        if not rbac.allows(*call):
            problems.append(f"the operator needs to {call_text(call)}: not granted")
    for call in denied(watch, release):
        if rbac.allows(*call):
            problems.append(f"granted but never needed: {call_text(call)}")
    for name, rules in rbac.cluster_roles.items():
        named = {res.split("/")[0] for r in rules for res in r.get("resources", [])}
        if watch:
            for res in sorted(named & NAMESPACED_ONLY):
                problems.append(f"namespaced mode: ClusterRole {name} grants {res}")
    if not watch and not any("clustercloudproviders" in r.get("resources", [])
                             for rules in rbac.cluster_roles.values() for r in rules):
        problems.append("cluster mode: no ClusterRole grants clustercloudproviders")
    for ns in (watch + [release]) if watch else []:
        if not any(rns == ns and any("secrets" in r.get("resources", []) for r in rules)
                   for (rns, _), rules in rbac.roles.items()):
            problems.append(f"namespaced mode: no Role in {ns} grants secrets")

    for container in containers:
        check_flags(container, release, security, expect_args, problems)

    for p in problems:
        print(f"  {a.rendered}: {p}")
    if problems:
        sys.exit(1)
    mode = f"namespaced ({', '.join(watch)})" if watch else "cluster"
    sharded = f", {len(shards)} shard(s) partitioning the policies" if shards else ""
    print(f"  {a.rendered}: RBAC and flags fit {mode} mode "
          f"({len(needed(watch, release))} calls allowed, {len(denied(watch, release))} denied{sharded})")


def check_flags(container, release, security, expect_args, problems):
    """The flags every Deployment (main or shard) passes the same way."""
    args = container.get("args", [])
    want = f"--cluster-resource-namespace={release}"
    if want not in args:
        problems.append(f"Deployment args lack {want}: {' '.join(args)}")
    if any(x in FLAGS.values() for x in args):
        problems.append(f"a flag without =value: {args}")
    for x in expect_args:
        if x not in args:
            problems.append(f"Deployment args lack {x}: {' '.join(args)}")
    for x in args:
        flag = x.split("=", 1)[0]
        if flag in FLAGS.values() and x not in expect_args:
            problems.append(f"Deployment passes {x}, which no value asked for")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    for key, (flag, var) in SWITCHES.items():
        on = security.get(key) is True
        if (flag in args) != on:
            problems.append(f"security.{key}={security.get(key)} but the Deployment args {'lack' if on else 'pass'} {flag}")
        if any(x.startswith(flag + "=") for x in args):
            problems.append(f"{flag} takes no value: {args}")
        if (env.get(var) == "1") != on or (var in env and not on):
            problems.append(f"security.{key}={security.get(key)} but the environment has {var}={env.get(var)}")


def selector_matches(selector, labels):
    """A label selector as `perimeter operator --shard-selector` takes it (the forms the chart
    renders: `k=v`, `k in (..)`, `k notin (..)`), against a policy's labels."""
    terms, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += ch
    terms.append(cur)
    for term in (t.strip() for t in terms):
        if "(" in term:
            key, op = term[:term.index("(")].split()
            values = {v.strip() for v in term[term.index("(") + 1:-1].split(",")}
            if (labels.get(key) in values) != (op == "in"):
                return False
        elif "=" in term:
            key, value = (x.strip() for x in term.split("=", 1))
            if labels.get(key) != value:
                return False
        else:
            sys.exit(f"access.py: selector form not understood: {term!r}")
    return True


def check_shards(deployments, containers, shards, problems):
    """The Deployments partition the policies: every policy (labelled for each shard, labelled
    with another value, not labelled) is reconciled by exactly one of them; exactly one runs the
    cluster-wide controllers; each has its own Lease."""
    runs = []
    for d, c in zip(deployments, containers):
        args = c.get("args", [])
        value = lambda flag: next((x.split("=", 1)[1] for x in args if x.startswith(flag + "=")), None)
        selector, name = value("--shard-selector"), value("--shard")
        cluster = selector is None or "--cluster-controllers" in args
        if selector is not None and not cluster and name is None:
            problems.append(f"Deployment {d['metadata']['name']}: --shard-selector without --shard")
        runs.append((d["metadata"]["name"], selector, name, cluster))
    if sum(r[3] for r in runs) != 1:
        problems.append(f"{sum(r[3] for r in runs)} Deployments run the cluster-wide controllers; "
                        f"exactly one must: {[r[0] for r in runs if r[3]]}")
    leases = [r[2] for r in runs]
    if len(set(leases)) != len(leases):
        problems.append(f"two Deployments share a Lease (--shard): {leases}")
    selectors = {}
    for name, selector, _, _ in runs:
        selectors.setdefault(selector, []).append(name)
    for selector, names in selectors.items():
        if len(names) > 1:
            problems.append(f"Deployments {names} share the shard selector {selector!r}")
    samples = [{"perimeter.dev/shard": s} for s in shards] + [{"perimeter.dev/shard": "other"}, {}]
    for labels in samples:
        takers = [n for n, sel, _, _ in runs if sel is None or selector_matches(sel, labels)]
        if len(takers) != 1:
            problems.append(f"a policy labelled {labels} is reconciled by {takers or 'no Deployment'}; "
                            "exactly one must")


main()
