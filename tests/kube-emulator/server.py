#!/usr/bin/env python3
"""A stateful Kubernetes API emulator for Perimeter's tests, built on kmock 0.8.

Usage: .venv/bin/python tests/kube-emulator/server.py [--port 0] [--host 127.0.0.1]

Prints one line `READY http://127.0.0.1:PORT` once it accepts connections; runs until
SIGTERM/SIGINT.

kmock's `KubernetesEmulator` stores objects and streams watch events, but kube-rs's
watcher/controller needs more of the real API server's contract than it offers. This
subclass keeps kmock's server, request parsing and discovery documents (`/api`, `/apis`,
`/apis/GROUP/VERSION`, `/version`) and serves the resources listed in KINDS itself:

- `metadata.resourceVersion` is a global counter bumped on every write; lists carry the
  current value; `?watch=true&resourceVersion=N` replays every event after N (kmock sends
  `...` and replays nothing), and an expired N gets a 410 ERROR event so clients relist.
- `metadata.uid`, `creationTimestamp`, `namespace` (from the URL) and `generation` (1 on
  create, +1 when `spec` changes or when deletion is first requested, as the real server does,
  never for status/metadata-only writes) are set and protected from clients.
- Cluster-scoped kinds (`namespaced=False`, e.g. ControlAssessment): served only without
  `/namespaces/NS` in the URL (404 with it), stored without `metadata.namespace` (cleared on
  create, as the real server does), `namespaced: false` in discovery.
- `/status` subresource for the perimeter.dev kinds: a status write changes only `.status`,
  a main-resource write (and create) ignores `.status`.
- PATCH: merge-patch (RFC 7386, also used for strategic-merge), apply-patch (server-side
  apply, approximated as a merge of the sent object; creates a missing object; `fieldManager`
  and `force` are ignored) and json-patch (RFC 6902, incl. `test`, which kube-rs's finalizer
  helper relies on; as on a real server, `test` for null passes on a missing path). PUT
  replaces; PUT and merge/apply bodies carrying `metadata.resourceVersion` must match (409).
- A write that changes nothing does not bump resourceVersion and emits no event
  (kmock emits MODIFIED for every patch, which would re-trigger reconcilers forever).
- DELETE with finalizers sets `deletionTimestamp`; the object goes (DELETED event) once a
  later write empties `metadata.finalizers`.
- Label selectors (equality and set based) and field selectors (dotted paths) on list/watch.
- Errors are `Status` objects with the real reasons (NotFound, AlreadyExists, Conflict, ...).

- GET of one object with `Accept: ...;as=PartialObjectMetadata;...` answers its metadata only,
  as the real server does (kube-rs `get_metadata`).

Test hooks (not Kubernetes API): `GET /_emulator/requests[?since=N]` lists every request
received, oldest first, from the N-th on (`method`, `path`, `query`, `content_type`, `accept`,
`body` parsed as JSON when it is JSON, `user`: the bearer token, which names the client since
the emulator has no authentication, `code`: the HTTP status answered, `injected` when a hook
below answered); `POST /_emulator/reset` deletes all objects (emitting DELETED
events, finalizers notwithstanding), clears that list and ends every fault below.

Fault hooks, for the operator's tests under a hostile API server (state is always kept):
- `POST /_emulator/outage {"seconds": N, "mode": "reset"|"503"}`: the API server is unreachable
  for N seconds (0 ends an outage): every open watch is cut, and every API request is answered by
  closing its connection (`reset`, the default) or by 503 ServiceUnavailable. Requests carrying
  `X-Emulator-Bypass: true` are served (the test's own writes during the outage, as from a
  client on the other side of a partition). Refused requests are not in the request list;
  `GET /_emulator/outage` answers `{"active": bool, "refused": count}`.
- `POST /_emulator/compact`: the watch history is compacted up to the current resourceVersion
  and every open watch is cut, as when etcd compacts behind a slow client: a watch resumed from
  an older resourceVersion gets 410 Gone (an ERROR event) and must relist.
- `POST /_emulator/conflicts {"count": N}`: the next N writes (PUT, PATCH) to a `/status`
  subresource are answered 409 Conflict and not applied (`injected: "conflict"` in the list).
- `POST /_emulator/slow {"path": SUBSTRING, "seconds": S, "user": U}`: requests whose path
  contains SUBSTRING (and, with `user`, sent by U) are answered S seconds late (an API server
  under load; `seconds` 0 ends it).
"""
import argparse
import asyncio
import base64
import bisect
import datetime
import gc
import json
import re
import secrets
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field as dataclass_field

import aiohttp.web
import attrs
import jsonpatch
import jsonpointer
import kmock
import yaml


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    singular: str
    status: bool = False  # has the /status subresource
    shortnames: tuple = ()
    namespaced: bool = True  # False: URLs without /namespaces/NS, objects without a namespace

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self):  # as the real server names it in error messages
        return f"{self.plural}.{self.group}" if self.group else self.plural


# Add a line here to serve another resource.
KINDS = [
    Kind("perimeter.dev", "v1alpha1", "cloudproviders", "CloudProvider", "cloudprovider", True),
    Kind("perimeter.dev", "v1alpha1", "clustercloudproviders", "ClusterCloudProvider", "clustercloudprovider", True,
         shortnames=("ccprov",), namespaced=False),
    Kind("perimeter.dev", "v1alpha1", "firewallpolicies", "FirewallPolicy", "firewallpolicy", True),
    Kind("perimeter.dev", "v1alpha1", "monitoringpolicies", "MonitoringPolicy", "monitoringpolicy", True),
    Kind("perimeter.dev", "v1alpha1", "addresssets", "AddressSet", "addressset", True, shortnames=("aset",)),
    Kind("perimeter.dev", "v1alpha1", "controlassessments", "ControlAssessment", "controlassessment", True,
         shortnames=("ctla",), namespaced=False),
    Kind("", "v1", "secrets", "Secret", "secret"),
    Kind("", "v1", "configmaps", "ConfigMap", "configmap", shortnames=("cm",)),
    Kind("events.k8s.io", "v1", "events", "Event", "event", shortnames=("ev",)),
    Kind("coordination.k8s.io", "v1", "leases", "Lease", "lease"),
]
VERBS = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
# Fields only the server sets; restored from the stored object on every update.
SERVER_META = ("name", "namespace", "uid", "creationTimestamp", "generation", "resourceVersion",
               "deletionTimestamp", "deletionGracePeriodSeconds")
MAX_EVENTS = 100_000  # watch history kept for `?watch=true&resourceVersion=N`
WATCH_POLL_SECONDS = 5  # how often an idle watch checks whether its client went away


class ApiError(Exception):
    def __init__(self, code, reason, message, kind=None, name=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.kind, self.name = code, reason, message, kind, name

    def status(self):
        details = {}
        if self.kind is not None:
            details = {"name": self.name or "", "group": self.kind.group, "kind": self.kind.plural}
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "details": details, "code": self.code}

    def response(self):
        return aiohttp.web.json_response(self.status(), status=self.code)


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clone(value):
    """A deep copy of a JSON value (dicts, lists, scalars). `copy.deepcopy` keeps a memo for
    shared and cyclic references, which JSON has none of; on the fleet bench it was a sixth
    of this server's CPU, which the operator on the same two cores then did not have."""
    t = type(value)
    if t is dict:
        return {k: clone(v) for k, v in value.items()}
    if t is list:
        return [clone(v) for v in value]
    return value


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch: dicts merge recursively, null deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = clone(target) if isinstance(target, dict) else {}
    _merge_into(result, patch)
    return result


def _merge_into(result, patch):
    """Merges `patch` into `result` (a private copy) in place."""
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            if not isinstance(result.get(key), dict):
                result[key] = {}
            _merge_into(result[key], value)
        else:
            result[key] = clone(value)


def parse_body(body, yaml_ok=False):
    if not body:
        raise ApiError(400, "BadRequest", "the request body is empty")
    try:
        return json.loads(body)
    except ValueError:
        if yaml_ok:  # apply-patch+yaml: kube-rs sends JSON, a hand-written body may be YAML
            try:
                return yaml.safe_load(body)
            except yaml.YAMLError:
                pass
        raise ApiError(400, "BadRequest", "the request body is not valid JSON")


def split_selector(text):
    """Split on commas outside parentheses: 'a in (x,y),b' -> ['a in (x,y)', 'b']."""
    terms, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return [term.strip() for term in terms if term.strip()]


LABEL_TERM = re.compile(r"^(!?)\s*([\w./-]+)\s*(?:(==|=|!=)\s*([\w.-]*)|\s+(in|notin)\s*\(([^)]*)\))?$")


def label_matcher(text):
    checks = []
    for term in split_selector(text or ""):
        m = LABEL_TERM.match(term)
        if not m:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")
        neg, key, op, value, setop, values = m.groups()
        if op in ("=", "=="):
            checks.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif op == "!=":
            checks.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif setop:
            options = {v.strip() for v in values.split(",") if v.strip()}
            if setop == "in":
                checks.append(lambda labels, k=key, o=options: labels.get(k) in o)
            else:
                checks.append(lambda labels, k=key, o=options: labels.get(k) not in o)
        elif neg:
            checks.append(lambda labels, k=key: k not in labels)
        else:
            checks.append(lambda labels, k=key: k in labels)
    return lambda obj: all(check(obj.get("metadata", {}).get("labels") or {}) for check in checks)


def field_matcher(text):
    checks = []
    for term in split_selector(text or ""):
        m = re.match(r"^([\w.]+)\s*(==|=|!=)\s*(.*)$", term)
        if not m:
            raise ApiError(400, "BadRequest", f"invalid field selector: {term!r}")
        path, op, value = m.groups()

        def lookup(obj, path=path):
            for part in path.split("."):
                obj = obj.get(part) if isinstance(obj, dict) else None
            return "" if obj is None else str(obj)
        if op == "!=":
            checks.append(lambda obj, f=lookup, v=value: f(obj) != v)
        else:
            checks.append(lambda obj, f=lookup, v=value: f(obj) == v)
    return lambda obj: all(check(obj) for check in checks)


def store_order(item):
    """Sort key of `_store` items: namespace (none for cluster-scoped objects), then name."""
    (_, ns, name), _ = item
    return (ns or "", name)


@dataclass
class Event:
    rv: int
    kind: Kind
    object: dict  # a private deep copy, never mutated
    # Its line for a watch, made once: every watch of the kind writes the same bytes (as the
    # real server's watch cache serialises an event once for all its watchers).
    _line: tuple = dataclass_field(default=None, repr=False, compare=False)

    def line(self, type_):
        if self._line is None or self._line[0] != type_:
            self._line = (type_, json.dumps({"type": type_, "object": self.object}).encode() + b"\n")
        return self._line[1]


@attrs.define(kw_only=True)
class PerimeterEmulator(kmock.KubernetesEmulator):
    _kinds: dict = attrs.field(factory=dict, init=False)
    _store: dict = attrs.field(factory=dict, init=False)  # (Kind, namespace, name) -> object
    _rv: int = attrs.field(default=0, init=False)
    _events: list = attrs.field(factory=list, init=False)  # (type, Event), rv ascending
    _changed: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _recorded: list = attrs.field(factory=list, init=False)
    closing: bool = attrs.field(default=False, init=False)
    # Fault hooks (see the module docstring).
    _outage_until: float = attrs.field(default=0.0, init=False)  # loop time
    _outage_mode: str = attrs.field(default="reset", init=False)
    _refused: int = attrs.field(default=0, init=False)
    _cuts: int = attrs.field(default=0, init=False)  # bumped to end every open watch
    _conflicts: int = attrs.field(default=0, init=False)
    _slow: dict = attrs.field(factory=dict, init=False)  # (path substring, user) -> seconds

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        for kind in KINDS:
            self._kinds[(kind.group, kind.version, kind.plural)] = kind
            # Feeds kmock's discovery documents, which kubectl and kube-rs's discovery read.
            self.resources[kmock.resource(kind.group, kind.version, kind.plural)] = kmock.ResourceInfo(
                kind=kind.kind, singular=kind.singular, namespaced=kind.namespaced, verbs=VERBS,
                shortnames=set(kind.shortnames), subresources={"status"} if kind.status else set())

    async def _serve_version(self, request):
        # kmock's APIResourceList says "/v1" for the core group and gives subresources all verbs.
        doc = await super()._serve_version(request)
        doc["groupVersion"] = doc["groupVersion"].lstrip("/")
        for entry in doc["resources"]:
            if entry["name"].endswith("/status"):
                entry["verbs"] = ["get", "patch", "update"]
            entry["verbs"] = sorted(entry["verbs"])
        return doc

    # -- entry point -------------------------------------------------------------------------

    async def _handle(self, request):
        path = request.url.path
        if path.startswith("/_emulator/"):
            try:
                return await self._serve_hooks(request, path)
            except (ApiError, KeyError, TypeError, ValueError) as e:
                if isinstance(e, ApiError):
                    return e.response()
                return ApiError(400, "BadRequest", f"bad hook request: {e!r}").response()
        if self._outage() and self._header(request, "X-Emulator-Bypass") != "true":
            self._refused += 1
            if self._outage_mode == "503":
                return ApiError(503, "ServiceUnavailable", "the API server is unavailable (emulated outage)").response()
            transport = request._raw_request.transport
            if transport is not None:
                transport.abort()  # the client sees its connection reset, no answer
            return aiohttp.web.Response(status=503)  # never reaches the client
        auth = self._header(request, "Authorization") or ""
        user = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        for (fragment, only), seconds in list(self._slow.items()):
            if fragment in path and only in (None, user):
                await asyncio.sleep(seconds)
        entry = {
            "method": request.method.value,
            "path": path,
            "query": dict(request.params),
            "content_type": self._header(request, "Content-Type"),
            "accept": self._header(request, "Accept"),
            "body": self._loggable(request.body),
            "user": user,
            "code": None,
            "at": time.time(),  # when it arrived (seconds since the epoch)
        }
        self._recorded.append(entry)
        response = await self._answer(request, path, entry)
        entry["code"] = getattr(response, "status", None)
        return response

    def _outage(self):
        return asyncio.get_running_loop().time() < self._outage_until

    def _cut_watches(self):
        self._cuts += 1
        self._changed.set()  # wake every watch; each one sees the cut and ends
        self._changed = asyncio.Event()

    async def _answer(self, request, path, entry):
        try:
            if request.resource is not None and request.resource.plural is not None:
                if (self._conflicts > 0 and request.subresource == "status"
                        and request.method.value in ("PUT", "PATCH")):
                    self._conflicts -= 1
                    entry["injected"] = "conflict"
                    name = request.name or ""
                    raise ApiError(409, "Conflict",
                                   f'Operation cannot be fulfilled on {request.resource.plural} "{name}": '
                                   "the object has been modified; please apply your changes to the latest "
                                   "version and try again (injected)")
                return await self._serve_resource(request)
            if path == "/openapi/v3" or path.startswith("/openapi/v3/"):
                return self._json(self._openapi_v3(path.removeprefix("/openapi/v3").strip("/")))
            if path.startswith("/openapi/"):
                raise ApiError(404, "NotFound", "the server could not find the requested resource")
        except ApiError as e:
            return e.response()
        # Discovery and anything else: kmock's scaffold (skipping KubernetesEmulator's own store).
        return await super(kmock.KubernetesEmulator, self)._handle(request)

    def _openapi_v3(self, gv_path):
        """Just enough OpenAPI v3 for kubectl: a PATCH operation tagged with each kind's GVK and
        a `fieldValidation` query parameter tells `kubectl apply` that the server validates
        fields itself, so it skips client-side validation instead of failing to download a
        schema (kubectl's query_param_verifier_v3)."""
        def path_of(kind):
            return f"apis/{kind.group}/{kind.version}" if kind.group else f"api/{kind.version}"
        if not gv_path:
            return {"paths": {path_of(k): {"serverRelativeURL": f"/openapi/v3/{path_of(k)}"} for k in KINDS}}
        kinds = [k for k in KINDS if path_of(k) == gv_path]
        if not kinds:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        paths = {
            f"/{gv_path}{'/namespaces/{namespace}' if k.namespaced else ''}/{k.plural}/{{name}}": {"patch": {
                "x-kubernetes-group-version-kind": {"group": k.group, "version": k.version, "kind": k.kind},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}},
            }} for k in kinds
        }
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "emulator"}, "paths": paths}

    @staticmethod
    def _header(request, name):
        for key, value in request.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    @staticmethod
    def _loggable(body):
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return body.decode("utf-8", "replace")

    async def _serve_hooks(self, request, path):
        method = request.method.value
        if path == "/_emulator/outage" and method == "GET":
            return aiohttp.web.json_response({"active": self._outage(), "refused": self._refused})
        if path == "/_emulator/outage" and method == "POST":
            body = parse_body(request.body) if request.body else {}
            seconds = float(body.get("seconds", 0))
            self._outage_mode = body.get("mode", "reset")
            self._outage_until = asyncio.get_running_loop().time() + seconds if seconds > 0 else 0.0
            if seconds > 0:
                self._cut_watches()
            return aiohttp.web.json_response({"active": self._outage()})
        if path == "/_emulator/compact" and method == "POST":
            self._events.clear()  # every resourceVersion before the current one is now too old
            self._cut_watches()
            return aiohttp.web.json_response({"compacted": str(self._rv)})
        if path == "/_emulator/conflicts" and method == "POST":
            self._conflicts = int(parse_body(request.body).get("count", 0))
            return aiohttp.web.json_response({"conflicts": self._conflicts})
        if path == "/_emulator/slow" and method == "POST":
            body = parse_body(request.body)
            key = (body["path"], body.get("user"))
            if float(body.get("seconds", 0)) > 0:
                self._slow[key] = float(body["seconds"])
            else:
                self._slow.pop(key, None)
            return aiohttp.web.json_response({"slow": len(self._slow)})
        if path == "/_emulator/requests" and method == "GET":
            since = int(request.params.get("since") or 0)  # skip the first N (seen before)
            return aiohttp.web.json_response(self._recorded[since:])
        if path == "/_emulator/reset" and method == "POST":
            for key in list(self._store):
                self._commit("DELETED", key, clone(self._store[key]))
            self._recorded.clear()
            self._outage_until, self._refused, self._conflicts = 0.0, 0, 0
            self._slow.clear()
            return aiohttp.web.json_response({"reset": True, "resourceVersion": str(self._rv)})
        return ApiError(404, "NotFound", f"no emulator hook {method} {path}").response()

    async def _serve_resource(self, request):
        res = request.resource
        kind = self._kinds.get((res.group, res.version, res.plural))
        if kind is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        sub = request.subresource
        if sub is not None and not (sub == "status" and kind.status and request.name):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        method, params, ns, name = request.method.value, request.params, request.namespace, request.name
        if ns is not None and not kind.namespaced:  # as the real server: no such URL
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ctype = (self._header(request, "Content-Type") or "").split(";")[0].strip()
        if request.body and ("protobuf" in ctype or "cbor" in ctype):
            # kube-rs always sends JSON; kubectl's typed commands (`create secret`) send protobuf.
            raise ApiError(415, "UnsupportedMediaType", f"the emulator only reads JSON bodies, not {ctype}")
        dry_run = "dryRun" in params
        if method == "GET" and params.get("watch") in ("true", "1"):
            return await self._watch(request, kind, ns, name)
        if name is None:
            if method == "GET":
                return self._json(self._list(kind, ns, params))
            if method == "POST":
                return self._json(self._create(kind, ns, parse_body(request.body), dry_run), 201)
            if method == "DELETE":
                return self._json(self._delete_collection(kind, ns, params, dry_run))
        else:
            if method == "GET":
                obj = self._get(kind, ns, name)
                if "as=PartialObjectMetadata" in (self._header(request, "Accept") or ""):
                    # What `kubectl get -o name` and kube-rs's get_metadata ask for: no data.
                    obj = {"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                           "metadata": obj["metadata"]}
                return self._json(obj)
            if method == "PUT":
                return self._json(self._replace(kind, ns, name, sub, parse_body(request.body), dry_run))
            if method == "PATCH":
                return self._json(*self._patch(kind, ns, name, sub, ctype, request.body, dry_run))
            if method == "DELETE":
                return self._json(self._delete(kind, ns, name, dry_run))
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on this URL")

    @staticmethod
    def _json(obj, status=200):
        return aiohttp.web.json_response(obj, status=status)

    # -- state -------------------------------------------------------------------------------

    def _commit(self, type_, key, obj):
        """Store (or drop) an object under a new resourceVersion and publish the event."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if type_ == "DELETED":
            self._store.pop(key, None)
        else:
            self._store[key] = obj
        self._events.append((type_, Event(self._rv, key[0], clone(obj))))
        if len(self._events) > MAX_EVENTS:  # older watch versions then get 410 Gone and relist
            del self._events[: len(self._events) - MAX_EVENTS]
        self._changed.set()  # wake every watch; each one re-arms it
        self._changed = asyncio.Event()
        return clone(obj)

    def _lookup(self, kind, ns, name):
        obj = self._store.get((kind, ns, name))
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind.qualified} "{name}" not found', kind, name)
        return obj

    def _get(self, kind, ns, name):
        return clone(self._lookup(kind, ns, name))

    def _matching(self, kind, ns, params):
        labels = label_matcher(params.get("labelSelector"))
        fields = field_matcher(params.get("fieldSelector"))
        return lambda obj: (
            (ns is None or obj["metadata"].get("namespace") == ns) and labels(obj) and fields(obj))

    def _list(self, kind, ns, params):
        matches = self._matching(kind, ns, params)
        items = [clone(obj) for (k, _, _), obj in sorted(self._store.items(), key=store_order)
                 if k == kind and matches(obj)]
        return {"apiVersion": kind.api_version, "kind": f"{kind.kind}List",
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    @staticmethod
    def _normalize(kind, obj):
        """What the real API server does to every written object of some kinds."""
        obj["apiVersion"], obj["kind"] = kind.api_version, kind.kind
        if kind.kind == "Secret":  # stringData is write-only: folded into base64 data
            for key, value in (obj.pop("stringData", None) or {}).items():
                obj.setdefault("data", {})[key] = base64.b64encode(str(value).encode()).decode()
            obj.setdefault("type", "Opaque")
        return obj

    def _create(self, kind, ns, body, dry_run):
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        obj = clone(body)
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            meta = obj["metadata"] = {}
        if ns is not None and meta.get("namespace") not in (None, "", ns):
            raise ApiError(400, "BadRequest",
                           "the namespace of the provided object does not match the namespace sent on the request")
        # The real server clears metadata.namespace of cluster-scoped objects.
        ns = (ns or meta.get("namespace") or "default") if kind.namespaced else None
        name = meta.get("name") or (meta["generateName"] + secrets.token_hex(3)[:5]
                                    if meta.get("generateName") else None)
        if not name:
            raise ApiError(422, "Invalid", "metadata.name: Required value: name or generateName is required", kind)
        if (kind, ns, name) in self._store:
            raise ApiError(409, "AlreadyExists", f'{kind.qualified} "{name}" already exists', kind, name)
        for field in SERVER_META:
            meta.pop(field, None)
        meta.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
        if ns is not None:
            meta["namespace"] = ns
        if kind.status:
            obj.pop("status", None)  # status only via /status, as for CRDs with the subresource
        self._normalize(kind, obj)
        if dry_run:
            return obj
        return self._commit("ADDED", (kind, ns, name), obj)

    def _update(self, kind, old, new, sub, dry_run):
        """Shared tail of PUT and PATCH: protect server fields, skip no-ops, finalize deletes."""
        if not isinstance(new, dict):
            raise ApiError(400, "BadRequest", "the result is not a JSON object")
        if kind.status and sub == "status":
            result = clone(old)  # a status write changes nothing else
            if new.get("status") is None:
                result.pop("status", None)
            else:
                result["status"] = clone(new["status"])
        else:
            result = clone(new)
            if kind.status:  # a main-resource write never changes status
                result.pop("status", None)
                if "status" in old:
                    result["status"] = clone(old["status"])
            if not isinstance(result.get("metadata"), dict):
                result["metadata"] = {}
            for field in SERVER_META:
                result["metadata"].pop(field, None)
                if field in old["metadata"]:
                    result["metadata"][field] = old["metadata"][field]
        self._normalize(kind, result)
        if result == old:
            return clone(old)  # no-op: same resourceVersion, no event
        if result.get("spec") != old.get("spec"):
            result["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1
        if dry_run:
            return result
        key = (kind, old["metadata"].get("namespace"), old["metadata"]["name"])
        meta = result["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._commit("DELETED", key, result)
        return self._commit("MODIFIED", key, result)

    @staticmethod
    def _precondition(kind, old, body):
        wanted = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        if wanted and wanted != old["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict",
                           f'Operation cannot be fulfilled on {kind.qualified} "{old["metadata"]["name"]}": '
                           "the object has been modified; please apply your changes to the latest version "
                           "and try again", kind, old["metadata"]["name"])

    def _replace(self, kind, ns, name, sub, body, dry_run):
        old = self._lookup(kind, ns, name)
        self._precondition(kind, old, body)
        return self._update(kind, old, body, sub, dry_run)

    def _patch(self, kind, ns, name, sub, ctype, body, dry_run):
        if ctype == "application/apply-patch+yaml":
            data = parse_body(body, yaml_ok=True)
            if not isinstance(data, dict):
                raise ApiError(400, "BadRequest", "the apply body must be an object")
            if (kind, ns, name) not in self._store and sub is None:
                data = clone(data)  # server-side apply creates missing objects
                data.setdefault("metadata", {})["name"] = name
                return self._create(kind, ns, data, dry_run), 201
            old = self._lookup(kind, ns, name)
            self._precondition(kind, old, data)
            return self._update(kind, old, merge_patch(old, data), sub, dry_run), 200
        old = self._lookup(kind, ns, name)
        if ctype in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            data = parse_body(body)
            if not isinstance(data, dict):
                raise ApiError(400, "BadRequest", "a merge patch must be an object")
            self._precondition(kind, old, data)
            return self._update(kind, old, merge_patch(old, data), sub, dry_run), 200
        if ctype == "application/json-patch+json":
            ops = parse_body(body)
            if not isinstance(ops, list):
                raise ApiError(400, "BadRequest", "a json patch must be a list of operations")
            # Kubernetes (evanphx/json-patch) lets `test` with value null pass on a missing path;
            # kube-rs's finalizer helper sends exactly that before adding the first finalizer.
            ops = [op for op in ops if not (isinstance(op, dict) and op.get("op") == "test"
                                            and op.get("value") is None
                                            and jsonpointer.resolve_pointer(old, op.get("path", ""), None) is None)]
            try:
                new = jsonpatch.apply_patch(old, ops, in_place=False)
            except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError) as e:
                raise ApiError(422, "Invalid", f"the json patch could not be applied: {e}", kind, name)
            return self._update(kind, old, new, sub, dry_run), 200
        raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {ctype}")

    def _delete(self, kind, ns, name, dry_run):
        old = self._lookup(kind, ns, name)
        if dry_run:
            return clone(old)
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return clone(old)  # already terminating
            new = clone(old)
            new["metadata"].update(deletionTimestamp=now(), deletionGracePeriodSeconds=0)
            # The real server bumps generation when deletion starts, so generation-filtered
            # controllers (kube-rs `predicates::generation`) still see the deletion.
            new["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1
            return self._commit("MODIFIED", (kind, ns, name), new)
        return self._commit("DELETED", (kind, ns, name), clone(old))

    def _delete_collection(self, kind, ns, params, dry_run):
        matches = self._matching(kind, ns, params)
        keys = [key for key, obj in self._store.items() if key[0] == kind and matches(obj)]
        items = [self._delete(kind, key[1], key[2], dry_run) for key in keys]
        return {"apiVersion": kind.api_version, "kind": f"{kind.kind}List",
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    # -- watch -------------------------------------------------------------------------------

    async def _watch(self, request, kind, ns, name):
        params = dict(request.params)
        if name is not None:  # watching one object == watching with a name field selector
            extra = f"metadata.name={name}"
            params["fieldSelector"] = f"{params['fieldSelector']},{extra}" if params.get("fieldSelector") else extra
        matches = self._matching(kind, ns, params)
        timeout = float(params.get("timeoutSeconds") or 0) or None
        deadline = asyncio.get_running_loop().time() + timeout if timeout else None
        since = params.get("resourceVersion") or "0"
        if not since.isdigit():
            raise ApiError(400, "BadRequest", f"invalid resourceVersion: {since!r}")

        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request._raw_request)
        try:
            await self._stream_events(request, response, kind, params, matches, since, deadline)
        except ConnectionError:
            pass  # the client went away
        return response

    async def _stream_events(self, request, response, kind, params, matches, since, deadline):
        oldest = self._events[0][1].rv if self._events else self._rv + 1
        if since == "0" or params.get("sendInitialEvents") == "true":
            # "Any version": synthetic ADDED for the current state, then changes after it.
            cursor = self._rv
            for (k, _, _), obj in sorted(self._store.items(), key=store_order):
                if k == kind and matches(obj):
                    await response.write(Event(cursor, kind, obj).line("ADDED"))
            if params.get("sendInitialEvents") == "true" and params.get("allowWatchBookmarks") == "true":
                mark = {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": {
                    "resourceVersion": str(cursor), "annotations": {"k8s.io/initial-events-end": "true"}}}
                await response.write(json.dumps({"type": "BOOKMARK", "object": mark}).encode() + b"\n")
        elif int(since) < oldest - 1 and int(since) < self._rv:
            gone = ApiError(410, "Expired", f"too old resource version: {since} ({oldest - 1})")
            await response.write(json.dumps({"type": "ERROR", "object": gone.status()}).encode() + b"\n")
            return
        else:
            cursor = int(since)

        transport = request._raw_request.transport
        cuts = self._cuts
        while not self.closing and transport is not None and not transport.is_closing():
            if self._cuts != cuts:  # an outage or a compaction: the connection goes
                transport.abort()
                break
            start = bisect.bisect_right(self._events, cursor, key=lambda e: e[1].rv)
            batch = self._events[start:]
            changed = self._changed  # grabbed together with the batch: no await in between
            for type_, event in batch:
                if event.kind == kind and matches(event.object):
                    await response.write(event.line(type_))
                cursor = event.rv
            if batch:
                continue
            wait = WATCH_POLL_SECONDS
            if deadline is not None:
                wait = min(wait, deadline - asyncio.get_running_loop().time())
                if wait <= 0:
                    break
            try:
                await asyncio.wait_for(changed.wait(), wait)
            except asyncio.TimeoutError:
                pass

    def shutdown(self):
        self.closing = True  # ends open watches so the server can stop at once
        self._changed.set()


async def serve(host, port):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with PerimeterEmulator() as emulator, kmock.Server(emulator, host=host, port=port) as server:
        print(f"READY http://{host}:{server.port}", flush=True)
        await stop.wait()
        emulator.shutdown()
        await asyncio.sleep(0.1)  # let the watches write their last bytes


def main():
    # No full (oldest generation) collections: they walk every object the server holds (each
    # stored object and the watch history's copies of it), and on the fleet bench they grew to
    # 1-2 s each and one of 5.4 s, every request waiting meanwhile, while finding next to
    # nothing (stored JSON has no reference cycles). The younger generations, where the cycles
    # of requests and connections are, are still collected.
    gc.set_threshold(700, 10, 1_000_000_000)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    sys.exit(main())
