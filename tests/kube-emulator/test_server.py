"""Smoke tests of the Kubernetes API emulator, over HTTP, as kube-rs and kubectl use it.

Run: .venv/bin/python -m pytest tests/kube-emulator
"""
import http.client
import json
import pathlib
import re
import subprocess
import sys
import urllib.parse

import pytest

SERVER = pathlib.Path(__file__).with_name("server.py")
FP = "/apis/perimeter.dev/v1alpha1/namespaces/{ns}/firewallpolicies"
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"
JSONPATCH = "application/json-patch+json"
CA = "/apis/perimeter.dev/v1alpha1/controlassessments"
CM = "/api/v1/namespaces/{ns}/configmaps"


@pytest.fixture(scope="module")
def server():
    proc = subprocess.Popen([sys.executable, str(SERVER), "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:"), line
        yield urllib.parse.urlsplit(line.split()[1])
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


@pytest.fixture
def api(server):
    def call(method, path, body=None, content_type="application/json", accept=None, headers=None):
        conn = http.client.HTTPConnection(server.hostname, server.port, timeout=10)
        headers = dict(headers or {})
        if body is not None:
            headers["Content-Type"] = content_type
        if accept:
            headers["Accept"] = accept
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, (json.loads(data) if data else None)

    assert call("POST", "/_emulator/reset")[0] == 200
    return call


@pytest.fixture
def watch(server):
    """Open a watch; returns a function reading the next N events (each with a 10 s limit)."""
    conns = []

    def open_watch(path):
        conn = http.client.HTTPConnection(server.hostname, server.port, timeout=10)
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200
        conns.append(conn)
        return lambda n: [json.loads(resp.readline()) for _ in range(n)]

    yield open_watch
    for conn in conns:
        conn.close()


def policy(name, **spec):
    return {"apiVersion": "perimeter.dev/v1alpha1", "kind": "FirewallPolicy",
            "metadata": {"name": name}, "spec": spec or {"provider": "cloudflare"}}


def rv(obj):
    return int(obj["metadata"]["resourceVersion"])


def test_create_sets_server_metadata(api):
    body = policy("web")
    body["status"] = {"phase": "Faked"}
    status, obj = api("POST", FP.format(ns="team-a"), body)
    assert status == 201
    meta = obj["metadata"]
    assert meta["namespace"] == "team-a"  # from the URL
    assert meta["generation"] == 1
    assert meta["resourceVersion"].isdigit()
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert "status" not in obj  # status only through /status
    assert api("GET", FP.format(ns="team-a") + "/web")[1] == obj
    status, err = api("POST", FP.format(ns="team-a"), policy("web"))
    assert (status, err["reason"]) == (409, "AlreadyExists")
    assert api("GET", FP.format(ns="other") + "/web")[0] == 404


def test_generation_and_resource_version(api):
    url = FP.format(ns="default") + "/web"
    created = api("POST", FP.format(ns="default"), policy("web"))[1]

    spec = api("PATCH", url, {"spec": {"provider": "vercel"}}, MERGE)[1]
    assert spec["metadata"]["generation"] == 2 and rv(spec) > rv(created)

    labels = api("PATCH", url, {"metadata": {"labels": {"team": "a"}}}, MERGE)[1]
    assert labels["metadata"]["generation"] == 2 and rv(labels) > rv(spec)

    status = api("PATCH", url + "/status", {"status": {"phase": "Ready"}}, MERGE)[1]
    assert status["metadata"]["generation"] == 2 and rv(status) > rv(labels)

    # No-op writes of every kind keep the resourceVersion (and so emit no watch event).
    assert rv(api("PATCH", url, {"spec": {"provider": "vercel"}}, MERGE)[1]) == rv(status)
    assert rv(api("PATCH", url + "/status", {"status": {"phase": "Ready"}}, MERGE)[1]) == rv(status)
    assert rv(api("PATCH", url + "?fieldManager=perimeter&force=true", policy("web", provider="vercel"), APPLY)[1]) == rv(status)
    assert rv(api("PATCH", url, [{"op": "replace", "path": "/spec/provider", "value": "vercel"}], JSONPATCH)[1]) == rv(status)

    applied = api("PATCH", url + "?fieldManager=perimeter&force=true", policy("web", provider="aws"), APPLY)[1]
    assert applied["spec"]["provider"] == "aws" and applied["metadata"]["generation"] == 3
    patched = api("PATCH", url, [{"op": "add", "path": "/spec/zone", "value": "z1"}], JSONPATCH)[1]
    assert patched["metadata"]["generation"] == 4 and patched["status"] == {"phase": "Ready"}

    listing = api("GET", FP.format(ns="default"))[1]
    assert listing["kind"] == "FirewallPolicyList"
    assert isinstance(listing["metadata"]["resourceVersion"], str)
    assert int(listing["metadata"]["resourceVersion"]) >= rv(patched)


def test_status_subresource_isolation(api):
    url = FP.format(ns="default") + "/web"
    api("POST", FP.format(ns="default"), policy("web"))
    api("PATCH", url + "/status", {"status": {"phase": "Ready"}}, MERGE)

    # A main-resource write ignores .status ...
    obj = api("PATCH", url, {"spec": {"provider": "vercel"}, "status": {"phase": "Hacked"}}, MERGE)[1]
    assert obj["spec"]["provider"] == "vercel" and obj["status"] == {"phase": "Ready"}
    obj = api("PATCH", url, [{"op": "remove", "path": "/status"}], JSONPATCH)[1]
    assert obj["status"] == {"phase": "Ready"}

    # ... and a status write ignores everything else.
    obj = api("PATCH", url + "/status", {"spec": {"provider": "evil"}, "metadata": {"labels": {"x": "y"}},
                                         "status": {"phase": "Degraded"}}, MERGE)[1]
    assert obj["spec"]["provider"] == "vercel" and obj["status"] == {"phase": "Degraded"}
    assert "labels" not in obj["metadata"] and obj["metadata"]["generation"] == 2
    obj = api("PATCH", url + "/status?fieldManager=perimeter&force=true",
              dict(policy("web", provider="evil"), status={"phase": "Ready", "observedGeneration": 2}), APPLY)[1]
    assert obj["spec"]["provider"] == "vercel" and obj["status"]["observedGeneration"] == 2

    # PUT, with its resourceVersion precondition.
    current = api("GET", url)[1]
    stale = dict(current, spec={"provider": "gcp"})
    stale["metadata"] = dict(current["metadata"], resourceVersion="1")
    status, err = api("PUT", url, stale)
    assert (status, err["reason"]) == (409, "Conflict")
    replaced = api("PUT", url, dict(current, spec={"provider": "gcp"}, status={"phase": "Ignored"}))[1]
    assert replaced["spec"] == {"provider": "gcp"} and replaced["status"] == current["status"]
    assert replaced["metadata"]["generation"] == 3


def test_finalizers_defer_deletion(api, watch):
    url = FP.format(ns="default") + "/web"
    start = api("GET", FP.format(ns="default"))[1]["metadata"]["resourceVersion"]
    api("POST", FP.format(ns="default"), dict(policy("web"), metadata={"name": "web", "finalizers": ["perimeter.dev/cleanup"]}))

    status, obj = api("DELETE", url)
    assert status == 200 and obj["metadata"]["deletionTimestamp"]
    assert obj["metadata"]["generation"] == 2  # as the real server does when deletion starts
    assert api("GET", url)[1]["metadata"]["deletionTimestamp"] == obj["metadata"]["deletionTimestamp"]
    assert rv(api("DELETE", url)[1]) == rv(obj)  # deleting again changes nothing

    # Status can still be written while terminating; dropping the last finalizer deletes.
    api("PATCH", url + "/status", {"status": {"phase": "Deleting"}}, MERGE)
    api("PATCH", url, [{"op": "test", "path": "/metadata/finalizers", "value": ["perimeter.dev/cleanup"]},
                       {"op": "remove", "path": "/metadata/finalizers/0"}], JSONPATCH)
    assert api("GET", url)[0] == 404
    events = watch(FP.format(ns="default") + f"?watch=true&resourceVersion={start}")(4)
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]

    # Without finalizers an object goes at once; a failing json-patch `test` is a 422.
    api("POST", FP.format(ns="default"), policy("tmp"))
    # kube-rs's finalizer helper tests for null before adding the first finalizer; as on a
    # real API server, that passes on a missing path.
    added = api("PATCH", FP.format(ns="default") + "/tmp", [
        {"op": "test", "path": "/metadata/finalizers", "value": None},
        {"op": "add", "path": "/metadata/finalizers", "value": ["perimeter.dev/cleanup"]}], JSONPATCH)[1]
    assert added["metadata"]["finalizers"] == ["perimeter.dev/cleanup"]
    api("PATCH", FP.format(ns="default") + "/tmp", {"metadata": {"finalizers": None}}, MERGE)
    status, err = api("PATCH", FP.format(ns="default") + "/tmp",
                      [{"op": "test", "path": "/metadata/finalizers", "value": ["x"]}], JSONPATCH)
    assert status == 422
    assert api("DELETE", FP.format(ns="default") + "/tmp")[0] == 200
    assert api("GET", FP.format(ns="default") + "/tmp")[0] == 404


def test_watch_events(api, watch):
    base = FP.format(ns="default")
    api("POST", base, policy("existing"))
    listed = api("GET", base)[1]["metadata"]["resourceVersion"]

    # A watch from the list's resourceVersion sees live changes, in order, and no no-ops.
    live = watch(base + f"?watch=true&resourceVersion={listed}&allowWatchBookmarks=true&timeoutSeconds=30")
    api("POST", base, policy("web"))
    api("PATCH", base + "/web", {"spec": {"provider": "vercel"}}, MERGE)
    api("PATCH", base + "/web", {"spec": {"provider": "vercel"}}, MERGE)  # no-op: no event
    api("PATCH", base + "/web/status", {"status": {"phase": "Ready"}}, MERGE)
    api("POST", FP.format(ns="elsewhere"), policy("other"))  # another namespace: not seen
    api("DELETE", base + "/web")
    events = live(4)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "web"), ("MODIFIED", "web"), ("MODIFIED", "web"), ("DELETED", "web")]
    versions = [rv(e["object"]) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == 4
    assert events[2]["object"]["status"] == {"phase": "Ready"}

    # resourceVersion=0: the current state as synthetic ADDED events.
    initial = watch(base + "?watch=true&resourceVersion=0")(1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in initial] == [("ADDED", "existing")]

    # A single-object watch, all namespaces, with a label selector.
    api("PATCH", base + "/existing", {"metadata": {"labels": {"tier": "edge"}}}, MERGE)
    selected = watch("/apis/perimeter.dev/v1alpha1/firewallpolicies?watch=true&resourceVersion=0"
                     "&labelSelector=tier%20in%20(edge,core)")(1)
    assert selected[0]["object"]["metadata"]["name"] == "existing"
    assert [o["metadata"]["name"] for o in api("GET", base + "?labelSelector=tier%21%3Dedge")[1]["items"]] == []


def test_other_kinds_and_request_log(api):
    status, secret = api("POST", "/api/v1/namespaces/default/secrets",
                         {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cf"}, "stringData": {"token": "abc"}})
    assert status == 201 and secret["data"] == {"token": "YWJj"} and "stringData" not in secret
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "perimeter"},
             "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15}}
    status, lease = api("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", lease)
    assert status == 201
    event = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"generateName": "web."},
             "reason": "Reconciled", "action": "Reconcile", "type": "Normal", "eventTime": "2024-01-01T00:00:00.000000Z"}
    status, event = api("POST", "/apis/events.k8s.io/v1/namespaces/default/events", event)
    assert status == 201 and event["metadata"]["name"].startswith("web.")
    assert api("GET", "/api/v1/namespaces/default/nodes")[0] == 404  # not served

    log = api("GET", "/_emulator/requests")[1]
    assert [(r["method"], r["path"]) for r in log][:2] == [
        ("POST", "/api/v1/namespaces/default/secrets"), ("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases")]
    assert log[0]["content_type"] == "application/json" and log[0]["body"]["stringData"] == {"token": "abc"}

    api("POST", FP.format(ns="default"), policy("web"))
    api("PATCH", FP.format(ns="default") + "/web/status?fieldManager=perimeter", {"status": {"phase": "A"}}, MERGE)
    api("PATCH", FP.format(ns="default") + "/web/status?fieldManager=perimeter", {"status": {"phase": "B"}}, MERGE)
    log = api("GET", "/_emulator/requests")[1]
    status_patches = [r for r in log if r["method"] == "PATCH" and r["path"].endswith("/status")]
    assert len(status_patches) == 2 and status_patches[0]["query"] == {"fieldManager": "perimeter"}
    assert api("GET", f"/_emulator/requests?since={len(log) - 1}")[1] == log[-1:]


def test_discovery(api):
    resources = api("GET", "/apis/perimeter.dev/v1alpha1")[1]["resources"]
    by_name = {r["name"]: r for r in resources}
    assert by_name["firewallpolicies"]["kind"] == "FirewallPolicy" and by_name["firewallpolicies"]["namespaced"]
    assert "firewallpolicies/status" in by_name and "monitoringpolicies" in by_name and "cloudproviders" in by_name
    assert api("GET", "/api/v1")[1]["groupVersion"] == "v1"
    groups = {g["name"] for g in api("GET", "/apis")[1]["groups"]}
    assert {"perimeter.dev", "events.k8s.io", "coordination.k8s.io"} <= groups


def assessment(name, **spec):
    return {"apiVersion": "perimeter.dev/v1alpha1", "kind": "ControlAssessment",
            "metadata": {"name": name}, "spec": spec or {"control": "DE.CM-1"}}


def test_cluster_scoped_kind(api, watch):
    start = api("GET", CA)[1]["metadata"]["resourceVersion"]
    live = watch(CA + f"?watch=true&resourceVersion={start}&timeoutSeconds=30")
    body = assessment("de-cm-1")
    body["metadata"]["namespace"] = "ignored"  # cleared, as the real server does
    body["status"] = {"state": "Faked"}
    status, created = api("POST", CA, body)
    assert status == 201
    assert "namespace" not in created["metadata"] and "status" not in created
    assert created["metadata"]["generation"] == 1
    assert api("GET", CA + "/de-cm-1")[1] == created
    assert (api("POST", CA, assessment("de-cm-1"))[0]) == 409
    # Namespaced URLs do not exist for a cluster-scoped kind.
    assert api("GET", "/apis/perimeter.dev/v1alpha1/namespaces/default/controlassessments")[0] == 404
    assert api("GET", "/apis/perimeter.dev/v1alpha1/namespaces/default/controlassessments/de-cm-1")[0] == 404
    assert api("POST", "/apis/perimeter.dev/v1alpha1/namespaces/default/controlassessments",
               assessment("other"))[0] == 404

    # Status through /status only (server-side apply as kube-rs sends it), no-ops write nothing.
    applied = api("PATCH", CA + "/de-cm-1/status?fieldManager=perimeter&force=true",
                  {"apiVersion": "perimeter.dev/v1alpha1", "kind": "ControlAssessment",
                   "status": {"state": "PartiallyImplemented", "gapCount": 1}}, APPLY)[1]
    assert applied["status"] == {"state": "PartiallyImplemented", "gapCount": 1}
    assert applied["metadata"]["generation"] == 1 and rv(applied) > rv(created)
    assert "namespace" not in applied["metadata"]
    again = api("PATCH", CA + "/de-cm-1/status", {"status": {"state": "PartiallyImplemented"}}, MERGE)[1]
    assert rv(again) == rv(applied)
    spec = api("PATCH", CA + "/de-cm-1", {"spec": {"scope": {"namespaces": ["a"]}}, "status": None}, MERGE)[1]
    assert spec["metadata"]["generation"] == 2 and spec["status"] == applied["status"]

    # Listing and watching need no namespace; objects from every namespace never mix in.
    api("POST", FP.format(ns="default"), policy("web"))
    api("POST", CA, assessment("second"))
    listing = api("GET", CA)[1]
    assert listing["kind"] == "ControlAssessmentList"
    assert [o["metadata"]["name"] for o in listing["items"]] == ["de-cm-1", "second"]
    events = live(4)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "de-cm-1"), ("MODIFIED", "de-cm-1"), ("MODIFIED", "de-cm-1"), ("ADDED", "second")]
    initial = watch(CA + "?watch=true&resourceVersion=0")(2)
    assert [e["object"]["metadata"]["name"] for e in initial] == ["de-cm-1", "second"]

    assert api("DELETE", CA + "/second")[0] == 200
    assert api("GET", CA + "/second")[0] == 404


def test_configmaps(api):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "perimeter-evidence-x"},
          "data": {"trail.json": "{}"}}
    status, created = api("POST", CM.format(ns="perimeter"), cm)
    assert status == 201 and created["metadata"]["namespace"] == "perimeter"
    assert created["data"] == {"trail.json": "{}"}
    url = CM.format(ns="perimeter") + "/perimeter-evidence-x"

    # PUT with the resourceVersion read (what kube-rs `replace` sends); a stale one is a 409.
    updated = api("PUT", url, dict(created, data={"trail.json": "[1]"}))[1]
    assert updated["data"] == {"trail.json": "[1]"} and rv(updated) > rv(created)
    status, err = api("PUT", url, dict(created, data={"trail.json": "[2]"}))
    assert (status, err["reason"]) == (409, "Conflict")
    patched = api("PATCH", url, {"data": {"assessment.json": "{}"}}, MERGE)[1]
    assert patched["data"] == {"trail.json": "[1]", "assessment.json": "{}"}
    assert api("PATCH", url + "/status", {"data": {}}, MERGE)[0] == 404  # no status subresource

    assert api("GET", CM.format(ns="other") + "/perimeter-evidence-x")[0] == 404
    everywhere = api("GET", "/api/v1/configmaps")[1]["items"]
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in everywhere] == [
        ("perimeter", "perimeter-evidence-x")]


def test_discovery_scopes(api):
    by_name = {r["name"]: r for r in api("GET", "/apis/perimeter.dev/v1alpha1")[1]["resources"]}
    assert by_name["controlassessments"]["namespaced"] is False
    assert by_name["controlassessments"]["kind"] == "ControlAssessment"
    assert "controlassessments/status" in by_name
    assert by_name["firewallpolicies"]["namespaced"] is True
    core = {r["name"]: r for r in api("GET", "/api/v1")[1]["resources"]}
    assert core["configmaps"]["namespaced"] is True and core["configmaps"]["kind"] == "ConfigMap"
    paths = api("GET", "/openapi/v3/apis/perimeter.dev/v1alpha1")[1]["paths"]
    assert "/apis/perimeter.dev/v1alpha1/controlassessments/{name}" in paths
    assert "/apis/perimeter.dev/v1alpha1/namespaces/{namespace}/firewallpolicies/{name}" in paths


def test_lease_optimistic_concurrency(api):
    """Leader election as perimeter does it: create once, then replace with the read's
    resourceVersion; of two candidates racing with the same read, one gets 409 Conflict."""
    leases = "/apis/coordination.k8s.io/v1/namespaces/perimeter/leases"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "perimeter-leader"},
             "spec": {"holderIdentity": "pod-a", "leaseDurationSeconds": 15}}
    status, created = api("POST", leases, lease)
    assert status == 201
    status, err = api("POST", leases, dict(lease, spec={"holderIdentity": "pod-b"}))
    assert (status, err["reason"]) == (409, "AlreadyExists")

    read = api("GET", leases + "/perimeter-leader")[1]
    take_b = dict(read, spec=dict(read["spec"], holderIdentity="pod-b", leaseTransitions=1))
    take_c = dict(read, spec=dict(read["spec"], holderIdentity="pod-c", leaseTransitions=1))
    status, won = api("PUT", leases + "/perimeter-leader", take_b)
    assert status == 200 and won["spec"]["holderIdentity"] == "pod-b" and rv(won) > rv(read)
    status, err = api("PUT", leases + "/perimeter-leader", take_c)
    assert (status, err["reason"]) == (409, "Conflict")
    assert api("GET", leases + "/perimeter-leader")[1]["spec"]["holderIdentity"] == "pod-b"

    # Released (no holder): the next replace with a fresh read succeeds.
    released = dict(won, spec={k: v for k, v in won["spec"].items() if k != "holderIdentity"})
    status, freed = api("PUT", leases + "/perimeter-leader", released)
    assert status == 200 and "holderIdentity" not in freed["spec"]


PARTIAL = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"


def test_metadata_only_get_and_the_accept_header_in_the_log(api):
    """kube-rs's get_metadata: the Secret's metadata, never its data; the log keeps Accept."""
    secrets = "/api/v1/namespaces/team-a/secrets"
    api("POST", secrets, {"apiVersion": "v1", "kind": "Secret",
                          "metadata": {"name": "s", "labels": {"a": "b"}}, "data": {"k": "c2VjcmV0"}})
    status, obj = api("GET", secrets + "/s", accept=PARTIAL)
    assert status == 200
    assert obj["kind"] == "PartialObjectMetadata" and obj["metadata"]["labels"] == {"a": "b"}
    assert "data" not in obj
    assert api("GET", secrets + "/s")[1]["data"] == {"k": "c2VjcmV0"}
    log = api("GET", "/_emulator/requests")[1]
    assert [r["accept"] for r in log if r["path"] == secrets + "/s"] == [PARTIAL, None]


def test_cluster_cloud_providers_are_cluster_scoped(api):
    url = "/apis/perimeter.dev/v1alpha1/clustercloudproviders"
    status, obj = api("POST", url, {"apiVersion": "perimeter.dev/v1alpha1", "kind": "ClusterCloudProvider",
                                    "metadata": {"name": "shared"}, "spec": {"type": "gcp"}})
    assert status == 201 and "namespace" not in obj["metadata"]
    assert api("PATCH", url + "/shared/status", {"status": {"observedGeneration": 1}}, MERGE)[0] == 200
    assert api("GET", "/apis/perimeter.dev/v1alpha1/namespaces/x/clustercloudproviders/shared")[0] == 404


BYPASS = {"X-Emulator-Bypass": "true"}


def test_outage_refuses_cuts_watches_and_keeps_state(api, watch):
    status, created = api("POST", FP.format(ns="a"), policy("kept"))
    assert status == 201
    events = watch(FP.format(ns="a") + f"?watch=true&resourceVersion={rv(created)}")
    assert api("POST", "/_emulator/outage", {"seconds": 30, "mode": "503"}) == (200, {"active": True})
    status, body = api("GET", FP.format(ns="a"))
    assert (status, body["reason"]) == (503, "ServiceUnavailable")
    with pytest.raises((http.client.HTTPException, OSError, ValueError)):
        events(1)  # the open watch was cut
    # The test's own writes pass during the outage.
    assert api("POST", FP.format(ns="a"), policy("during"), headers=BYPASS)[0] == 201
    api("POST", "/_emulator/outage", {"seconds": 30})  # connection reset, no answer
    with pytest.raises((http.client.HTTPException, OSError)):
        api("GET", FP.format(ns="a"))
    assert api("GET", "/_emulator/outage") == (200, {"active": True, "refused": 2})
    assert api("POST", "/_emulator/outage", {"seconds": 0}) == (200, {"active": False})
    status, listed = api("GET", FP.format(ns="a"))
    assert status == 200 and [o["metadata"]["name"] for o in listed["items"]] == ["during", "kept"]
    _, log = api("GET", "/_emulator/requests")
    assert [q["code"] for q in log if q["method"] == "GET"][-1] == 200
    assert all(q["code"] != 503 for q in log), "refused requests are not listed"


def test_compaction_makes_resumed_watches_relist(api, watch):
    _, first = api("POST", FP.format(ns="a"), policy("one"))
    events = watch(FP.format(ns="a") + f"?watch=true&resourceVersion={rv(first)}")
    api("POST", FP.format(ns="a"), policy("two"))
    assert events(1)[0]["type"] == "ADDED"
    _, compacted = api("POST", "/_emulator/compact")
    with pytest.raises((http.client.HTTPException, OSError, ValueError)):
        events(1)  # the open watch was cut
    gone = watch(FP.format(ns="a") + f"?watch=true&resourceVersion={rv(first)}")(1)[0]
    assert gone["type"] == "ERROR" and gone["object"]["code"] == 410
    # From the compacted version on, nothing was missed: the watch goes on.
    api("POST", FP.format(ns="a"), policy("three"))
    later = watch(FP.format(ns="a") + f"?watch=true&resourceVersion={compacted['compacted']}")(1)[0]
    assert (later["type"], later["object"]["metadata"]["name"]) == ("ADDED", "three")


def test_conflicts_on_status_writes(api):
    _, obj = api("POST", FP.format(ns="a"), policy("p"))
    path = FP.format(ns="a") + "/p"
    api("POST", "/_emulator/conflicts", {"count": 2})
    assert api("PATCH", path, {"spec": {"provider": "x"}}, MERGE)[0] == 200, "main resource: not counted"
    for _ in range(2):
        status, body = api("PATCH", path + "/status", {"status": {"n": 1}}, MERGE)
        assert (status, body["reason"]) == (409, "Conflict")
    assert "status" not in api("GET", path)[1]
    assert api("PATCH", path + "/status", {"status": {"n": 1}}, MERGE)[0] == 200
    assert api("GET", path)[1]["status"] == {"n": 1}
    _, log = api("GET", "/_emulator/requests")
    assert [(q["code"], q.get("injected")) for q in log if q["path"].endswith("/status")] == [
        (409, "conflict"), (409, "conflict"), (200, None)]


def test_slow_paths_and_the_user_in_the_log(api):
    import time
    lease = "/apis/coordination.k8s.io/v1/namespaces/a/leases"
    api("POST", "/_emulator/slow", {"path": "/leases", "seconds": 1, "user": "replica-a"})

    def took(path, user=None):
        started = time.monotonic()
        assert api("GET", path, headers={"Authorization": f"Bearer {user}"} if user else None)[0] == 200
        return time.monotonic() - started
    assert took(lease, "replica-a") >= 1
    assert took(lease, "replica-b") < 1, "only the named client is slowed"
    assert took(FP.format(ns="a"), "replica-a") < 1, "only the named path"
    api("POST", "/_emulator/slow", {"path": "/leases", "seconds": 0, "user": "replica-a"})
    assert took(lease, "replica-a") < 1
    _, log = api("GET", "/_emulator/requests")
    assert [q["user"] for q in log] == ["replica-a", "replica-b", "replica-a", "replica-a"]
