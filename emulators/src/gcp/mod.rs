//! Stateful emulator of the GCP APIs Perimeter uses: Compute v1 (firewalls, security policies,
//! subnetworks, router status, operations), Network Management v1 (`vpcFlowLogsConfigs`, read), Monitoring v3
//! (alert policies, uptime checks), the OAuth2 token endpoint, the metadata server's token
//! endpoint, and Workload Identity Federation: the STS token exchange and IAM Credentials'
//! `generateAccessToken`. One server serves every API; a client's bases are
//! `{base}/compute/v1`, `{base}` (for `/v3/…` and `/v1/…`), `{base}/token`, and the metadata
//! host `{addr}`.
//!
//! Shapes follow the discovery documents (compute v1 rev. 20261106, monitoring v3 rev.
//! 20260129, networkmanagement v1 rev. 20261028). Resources are kept as JSON objects; writes
//! with properties the emulator does not know are refused (400), like the real API's
//! "Invalid JSON payload received. Unknown name" error.
//!
//! # Seed
//!
//! ```
//! use perimeter_emulators::gcp::{GcpEmulator, Seed};
//!
//! let seed: Seed = serde_json::from_value(serde_json::json!({
//!     "project": "demo-project",
//!     "tokens": ["static-token"],
//!     "firewalls": [{"name": "allow-ssh", "network": "default", "sourceRanges": ["0.0.0.0/0"],
//!                    "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}],
//!     "subnetworks": [{"name": "app", "region": "europe-west1", "network": "default",
//!                      "ipCidrRange": "10.0.0.0/24"}]
//! })).unwrap();
//! let emulator = GcpEmulator::new(seed);
//! let state = emulator.snapshot();
//! // selfLink, id, fingerprint and full network URLs were filled in.
//! assert!(state.subnetworks[0]["fingerprint"].is_string());
//! assert!(state.firewalls[0]["network"].as_str().unwrap().ends_with("/global/networks/default"));
//! ```
//!
//! # Endpoints
//!
//! | Method | Path |
//! |---|---|
//! | POST | `/token` (form: `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`, `assertion`) |
//! | (any API call) | bearer: an issued or seeded token, or a seeded service account's self-signed JWT (RS256, `iss` = `sub`, `scope` cloud-platform or a `*.googleapis.com` `aud`, ≤ 1 h) |
//! | GET | `/computeMetadata/v1/instance/service-accounts/default/token` (`Metadata-Flavor: Google`) |
//! | POST | `/v1/token` (STS, form: `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`, `audience`, `scope`, `requested_token_type`, `subject_token_type`, `subject_token`; an AWS subject token is a SigV4-signed `GetCallerIdentity` request, checked against the pool provider's `awsAccessKeys`) |
//! | POST | `/v1/projects/-/serviceAccounts/{email}:generateAccessToken` (bearer: a federated token; JSON `scope`, `lifetime`) |
//! | GET | `/compute/v1/projects/{p}/global/networks` (the seeded networks and those its firewalls and subnetworks name) |
//! | GET, POST | `/compute/v1/projects/{p}/global/firewalls` |
//! | GET, PATCH, PUT, DELETE | `/compute/v1/projects/{p}/global/firewalls/{name}` |
//! | GET, POST | `/compute/v1/projects/{p}/global/securityPolicies` |
//! | GET, PATCH, DELETE | `/compute/v1/projects/{p}/global/securityPolicies/{name}` (PATCH needs `fingerprint`) |
//! | POST | `…/securityPolicies/{name}/addRule`, `patchRule?priority=`, `removeRule?priority=`; GET `getRule?priority=` |
//! | GET | `/compute/v1/projects/{p}/regions/{r}/subnetworks` |
//! | GET, PATCH | `/compute/v1/projects/{p}/regions/{r}/subnetworks/{name}` (PATCH needs `fingerprint`) |
//! | GET, POST `…/wait` | `/compute/v1/projects/{p}/global/operations/{op}`, `…/regions/{r}/operations/{op}` |
//! | GET | `/compute/v1/projects/{p}/regions/{r}/routers/{name}/getRouterStatus` (from `routerStatuses`) |
//! | GET | `/v1/projects/{p}/locations/global/vpcFlowLogsConfigs` |
//! | GET, POST | `/v3/projects/{p}/alertPolicies`, `/v3/projects/{p}/uptimeCheckConfigs` |
//! | GET, PATCH, DELETE | `/v3/projects/{p}/alertPolicies/{id}`, `/v3/projects/{p}/uptimeCheckConfigs/{id}` |
//! | GET | `/v3/projects/{p}/notificationChannels` |
//! | POST | `/v2/entries:list` (Cloud Logging: the Admin Activity audit log, see [`logging`]) |
//!
//! Lists page with `maxResults` (Compute, 1..=500, default 500) or `pageSize` (others, default
//! 100) and `pageToken` → `nextPageToken`. Compute writes answer an `Operation` that is
//! `RUNNING` until it has been polled [`GcpEmulator::set_operation_polls`] times (default 1),
//! then `DONE`; [`GcpEmulator::fail_next_operation`] makes the next write end `DONE` with
//! `error.errors[]` and change nothing.
//!
//! # Audit log
//!
//! Every write the emulator accepts appends an Admin Activity entry (`logName`, `timestamp`,
//! `protoPayload` an `AuditLog` with `methodName` — `v1.compute.firewalls.patch`,
//! `google.monitoring.v3.AlertPolicyService.UpdateAlertPolicy` —, `resourceName`,
//! `authenticationInfo.principalEmail` of the service account the bearer acts as,
//! `requestMetadata.callerSuppliedUserAgent` of the request, and the logged `request`);
//! a Compute write's entry carries its operation's name as `operation.id` (one entry, the
//! operation's first). [`GcpEmulator::console_change`] (and the seed's `consoleChanges`) records
//! a person's change made in the Cloud Console; [`GcpEmulator::deny_permission`] takes
//! `logging.logEntries.list` away.
//!
//! # Errors
//!
//! Google's form `{"error": {"code", "message", "status", "errors": [{"domain", "reason", "message"}]}}`:
//! 401 `UNAUTHENTICATED` (no or unknown bearer token), 400 `INVALID_ARGUMENT` (bad body or
//! paging), 404 `NOT_FOUND`, 409 `ALREADY_EXISTS`, 412 `FAILED_PRECONDITION` with reason
//! `conditionNotMet` (stale `fingerprint`), 429 `RESOURCE_EXHAUSTED` (injected), 403
//! `PERMISSION_DENIED` (impersonating a service account the federated identity may not use).
//! The token and STS endpoints answer OAuth2's `{"error": "invalid_grant"|"invalid_request",
//! "error_description"}` with 400; a subject token is never echoed.

mod handlers;
pub mod logging;
pub mod seed;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use serde_json::{Value, json};

pub use seed::{AwsAccessKey, ConsoleChange, Seed, ServiceAccount, WorkloadIdentityProvider};

use crate::faults::Faults;
use crate::server::{self, IdGen, ProviderStyle, RequestLog, RunningEmulator};

/// A GCP emulator. Clones share state, faults and log.
#[derive(Clone)]
pub struct GcpEmulator {
    shared: Arc<Shared>,
    faults: Faults,
    log: RequestLog,
}

pub(crate) struct Shared {
    store: Mutex<Store>,
}

impl Shared {
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) struct PendingOp {
    pub(crate) op: Value,
    pub(crate) polls_left: u32,
}

pub(crate) struct Store {
    pub(crate) seed: Seed,
    pub(crate) ids: IdGen,
    pub(crate) issued: HashSet<String>,
    /// Self-signed JWTs the APIs accepted, and those revoked (as if expired).
    pub(crate) seen_jwts: HashSet<String>,
    pub(crate) revoked_jwts: HashSet<String>,
    /// Federated tokens the STS issued, with the audience (pool provider) they came from.
    pub(crate) federated: BTreeMap<String, String>,
    pub(crate) operations: BTreeMap<String, PendingOp>,
    pub(crate) operation_polls: u32,
    pub(crate) fail_next: Option<String>,
    pub(crate) counter: u64,
    /// The service account each issued token acts as.
    pub(crate) principals: BTreeMap<String, String>,
    /// Who is making the request being served, and with what user agent (for the audit log).
    pub(crate) caller: (String, String),
    /// Permissions the caller lacks (`logging.logEntries.list`).
    pub(crate) denied: BTreeSet<String>,
}

impl Store {
    pub(crate) fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A new fingerprint (base64 of 8 bytes, as Compute's look).
    pub(crate) fn fingerprint(&mut self) -> String {
        use base64::Engine;
        let n = self.next();
        base64::engine::general_purpose::STANDARD
            .encode(n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes())
    }

    pub(crate) fn base(&self) -> String {
        format!(
            "https://www.googleapis.com/compute/v1/projects/{}",
            self.seed.project
        )
    }

    fn normalize(&mut self) {
        let base = self.base();
        let project = self.seed.project.clone();
        let mut firewalls = std::mem::take(&mut self.seed.firewalls);
        for fw in &mut firewalls {
            self.fill_firewall(fw);
        }
        self.seed.firewalls = firewalls;
        let mut policies = std::mem::take(&mut self.seed.security_policies);
        for p in &mut policies {
            self.fill_policy(p);
        }
        self.seed.security_policies = policies;
        let mut subnets = std::mem::take(&mut self.seed.subnetworks);
        for s in &mut subnets {
            let region = s
                .get("region")
                .and_then(Value::as_str)
                .map(|r| r.rsplit('/').next().unwrap_or(r).to_string())
                .unwrap_or_else(|| "us-central1".into());
            let name = s
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            s["region"] = json!(format!("{base}/regions/{region}"));
            s["selfLink"] = json!(format!("{base}/regions/{region}/subnetworks/{name}"));
            let network = network_url(&base, s.get("network").and_then(Value::as_str));
            s["network"] = json!(network);
            s["kind"] = json!("compute#subnetwork");
            if s.get("id").is_none() {
                s["id"] = json!(self.next().to_string());
            }
            if s.get("fingerprint").is_none() {
                s["fingerprint"] = json!(self.fingerprint());
            }
        }
        self.seed.subnetworks = subnets;
        self.fill_networks();
        let mut configs = std::mem::take(&mut self.seed.vpc_flow_logs_configs);
        for (i, c) in configs.iter_mut().enumerate() {
            if c.get("name").is_none() {
                c["name"] = json!(format!(
                    "projects/{project}/locations/global/vpcFlowLogsConfigs/config-{}",
                    i + 1
                ));
            }
            if c.get("state").is_none() {
                c["state"] = json!("ENABLED");
            }
        }
        self.seed.vpc_flow_logs_configs = configs;
        let mut alerts = std::mem::take(&mut self.seed.alert_policies);
        for a in &mut alerts {
            self.fill_monitoring(a, "alertPolicies");
        }
        self.seed.alert_policies = alerts;
        let mut checks = std::mem::take(&mut self.seed.uptime_checks);
        for c in &mut checks {
            self.fill_monitoring(c, "uptimeCheckConfigs");
        }
        self.seed.uptime_checks = checks;
        if self.seed.principal.is_empty() {
            self.seed.principal = format!("perimeter@{project}.iam.gserviceaccount.com");
        }
        let now = jiff::Timestamp::now();
        for change in std::mem::take(&mut self.seed.console_changes) {
            let at = now - jiff::SignedDuration::from_mins(i64::from(change.minutes_ago));
            let entry = self.console_entry(&change, at);
            self.seed.audit_log.push(entry);
        }
    }

    /// A person's change in the Cloud Console as its Admin Activity entry.
    pub(crate) fn console_entry(&mut self, change: &ConsoleChange, at: jiff::Timestamp) -> Value {
        let service = if change.method_name.starts_with("google.monitoring.") {
            "monitoring.googleapis.com"
        } else {
            "compute.googleapis.com"
        };
        let mut request = change.request.clone();
        if request.is_null() {
            request = json!({});
        }
        logging::audit_entry(
            self,
            service,
            &change.method_name,
            &change.resource_name,
            &change.principal,
            logging::CONSOLE_USER_AGENT,
            request,
            None,
            at.to_string(),
        )
    }

    /// The seeded networks with what Compute assigns, and a network for each one a firewall
    /// or subnetwork names (by its URL's last segment) that the seed does not list.
    fn fill_networks(&mut self) {
        let base = self.base();
        let mut networks = std::mem::take(&mut self.seed.networks);
        let named = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_string);
        let referenced: Vec<String> = self
            .seed
            .firewalls
            .iter()
            .chain(&self.seed.subnetworks)
            .filter_map(|v| v.get("network").and_then(Value::as_str))
            .map(|url| url.rsplit('/').next().unwrap_or(url).to_string())
            .collect();
        for name in referenced {
            if !networks
                .iter()
                .any(|n| named(n).as_deref() == Some(name.as_str()))
            {
                networks.push(json!({"name": name}));
            }
        }
        for n in &mut networks {
            let name = named(n).unwrap_or_default();
            n["selfLink"] = json!(format!("{base}/global/networks/{name}"));
            n["kind"] = json!("compute#network");
            if n.get("id").is_none() {
                n["id"] = json!(self.next().to_string());
            }
            if n.get("creationTimestamp").is_none() {
                n["creationTimestamp"] = json!(server::now_rfc3339());
            }
            let subnets: Vec<Value> = self
                .seed
                .subnetworks
                .iter()
                .filter(|s| {
                    s.get("network").and_then(Value::as_str)
                        == Some(network_url(&base, Some(&name)).as_str())
                })
                .filter_map(|s| s.get("selfLink").cloned())
                .collect();
            if n.get("subnetworks").is_none() && !subnets.is_empty() {
                n["subnetworks"] = Value::from(subnets);
            }
        }
        self.seed.networks = networks;
    }

    pub(crate) fn fill_firewall(&mut self, fw: &mut Value) {
        let base = self.base();
        let name = fw
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        fw["network"] = json!(network_url(
            &base,
            fw.get("network").and_then(Value::as_str)
        ));
        fw["selfLink"] = json!(format!("{base}/global/firewalls/{name}"));
        fw["kind"] = json!("compute#firewall");
        if fw.get("id").is_none() {
            fw["id"] = json!(self.next().to_string());
        }
        if fw.get("creationTimestamp").is_none() {
            fw["creationTimestamp"] = json!(server::now_rfc3339());
        }
        for (key, default) in [
            ("direction", json!("INGRESS")),
            ("priority", json!(1000)),
            ("disabled", json!(false)),
            ("logConfig", json!({"enable": false})),
        ] {
            if fw.get(key).is_none() {
                fw[key] = default;
            }
        }
        if fw.get("direction") == Some(&json!("INGRESS"))
            && fw.get("sourceRanges").is_none()
            && fw.get("sourceTags").is_none()
            && fw.get("sourceServiceAccounts").is_none()
        {
            // Compute's default for an ingress rule without sources.
            fw["sourceRanges"] = json!(["0.0.0.0/0"]);
        }
    }

    pub(crate) fn fill_policy(&mut self, p: &mut Value) {
        let base = self.base();
        let name = p
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        p["selfLink"] = json!(format!("{base}/global/securityPolicies/{name}"));
        p["kind"] = json!("compute#securityPolicy");
        if p.get("id").is_none() {
            p["id"] = json!(self.next().to_string());
        }
        if p.get("type").is_none() {
            p["type"] = json!("CLOUD_ARMOR");
        }
        let mut rules = p
            .get("rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if !rules
            .iter()
            .any(|r| r.get("priority").and_then(Value::as_u64) == Some(2_147_483_647))
        {
            rules.push(json!({
                "priority": 2_147_483_647u64, "action": "allow", "description": "default rule",
                "preview": false,
                "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}},
            }));
        }
        for r in &mut rules {
            r["kind"] = json!("compute#securityPolicyRule");
            if r.get("preview").is_none() {
                r["preview"] = json!(false);
            }
        }
        rules.sort_by_key(|r| r.get("priority").and_then(Value::as_u64).unwrap_or(0));
        p["rules"] = Value::from(rules);
        p["fingerprint"] = json!(self.fingerprint());
    }

    pub(crate) fn fill_monitoring(&mut self, v: &mut Value, collection: &str) {
        if v.get("name").and_then(Value::as_str).is_none() {
            let n = self.next();
            v["name"] = json!(format!("projects/{}/{collection}/{n}", self.seed.project));
        }
        if collection == "alertPolicies" {
            for (key, default) in [("combiner", json!("OR")), ("enabled", json!(true))] {
                if v.get(key).is_none() {
                    v[key] = default;
                }
            }
            let name = v.get("name").cloned().unwrap_or(Value::Null);
            if let Some(conditions) = v.get_mut("conditions").and_then(Value::as_array_mut) {
                for (i, c) in conditions.iter_mut().enumerate() {
                    if c.get("name").is_none() {
                        c["name"] = json!(format!(
                            "{}/conditions/{}",
                            name.as_str().unwrap_or(""),
                            i + 1
                        ));
                    }
                }
            }
        } else {
            if v.get("period").is_none() {
                v["period"] = json!("60s");
            }
            let ssl = v.pointer("/httpCheck/useSsl").and_then(Value::as_bool) == Some(true);
            if let Some(http) = v.get_mut("httpCheck").filter(|h| h.is_object())
                && http.get("port").is_none()
            {
                http["port"] = json!(if ssl { 443 } else { 80 });
            }
        }
    }
}

/// A network given by name, partial URL or full URL → the full URL.
pub(crate) fn network_url(base: &str, given: Option<&str>) -> String {
    let name = given
        .map(|n| n.rsplit('/').next().unwrap_or(n))
        .filter(|n| !n.is_empty())
        .unwrap_or("default");
    format!("{base}/global/networks/{name}")
}

/// Google's error body.
pub fn error_body(status: u16, message: &str) -> Value {
    let (code_name, reason) = match status {
        400 => ("INVALID_ARGUMENT", "invalid"),
        401 => ("UNAUTHENTICATED", "authError"),
        403 => ("PERMISSION_DENIED", "forbidden"),
        404 => ("NOT_FOUND", "notFound"),
        405 => ("INVALID_ARGUMENT", "methodNotAllowed"),
        409 => ("ALREADY_EXISTS", "alreadyExists"),
        412 => ("FAILED_PRECONDITION", "conditionNotMet"),
        429 => ("RESOURCE_EXHAUSTED", "rateLimitExceeded"),
        500..=599 => ("INTERNAL", "backendError"),
        _ => ("UNKNOWN", "unknown"),
    };
    json!({"error": {
        "code": status, "message": message, "status": code_name,
        "errors": [{"domain": "global", "reason": reason, "message": message}],
    }})
}

fn wrong_shape_body() -> Value {
    json!({"items": "not a list", "alertPolicies": 7, "status": 42, "entries": "not a list"})
}

pub const STYLE: ProviderStyle = ProviderStyle {
    error_body,
    wrong_shape_body,
};

impl GcpEmulator {
    pub fn new(seed: Seed) -> Self {
        let mut store = Store {
            seed,
            ids: IdGen::new(),
            issued: HashSet::new(),
            seen_jwts: HashSet::new(),
            revoked_jwts: HashSet::new(),
            federated: BTreeMap::new(),
            operations: BTreeMap::new(),
            operation_polls: 1,
            fail_next: None,
            counter: 0,
            principals: BTreeMap::new(),
            caller: Default::default(),
            denied: BTreeSet::new(),
        };
        if store.seed.project.is_empty() {
            store.seed.project = "demo-project".into();
        }
        store.normalize();
        Self {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
            }),
            faults: Faults::new(),
            log: RequestLog::new(),
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn log(&self) -> &RequestLog {
        &self.log
    }

    /// The current state, in the seed's shape.
    pub fn snapshot(&self) -> Seed {
        self.shared.store().seed.clone()
    }

    /// How many polls an operation stays `RUNNING` (0: writes answer `DONE` at once).
    pub fn set_operation_polls(&self, polls: u32) {
        self.shared.store().operation_polls = polls;
    }

    /// The next Compute write ends as a `DONE` operation with this error, and changes nothing.
    pub fn fail_next_operation(&self, message: impl Into<String>) {
        self.shared.store().fail_next = Some(message.into());
    }

    /// Every token issued so far, and every self-signed JWT presented so far, stops working
    /// (as when they expire); seeded tokens stay.
    pub fn revoke_tokens(&self) {
        let mut store = self.shared.store();
        store.issued.clear();
        let seen = std::mem::take(&mut store.seen_jwts);
        store.revoked_jwts.extend(seen);
    }

    /// Every access token the emulator has issued and not revoked (token endpoint, metadata
    /// server, STS, IAM Credentials), sorted.
    pub fn issued_tokens(&self) -> Vec<String> {
        let mut tokens: Vec<String> = self.shared.store().issued.iter().cloned().collect();
        tokens.sort();
        tokens
    }

    /// The service accounts' self-signed JWTs the APIs have accepted as bearers (revoked ones
    /// excepted), sorted.
    pub fn accepted_jwts(&self) -> Vec<String> {
        let mut jwts: Vec<String> = self.shared.store().seen_jwts.iter().cloned().collect();
        jwts.sort();
        jwts
    }

    /// The external identity provider issues a new token for the pool provider `audience`
    /// (as EKS projects a service-account token): the STS will accept it.
    pub fn mint_subject_token(&self, audience: &str) -> String {
        let mut store = self.shared.store();
        let token = format!("eyJ.subject-{}", store.ids.hex32());
        if let Some(p) = store
            .seed
            .workload_identity_providers
            .iter_mut()
            .find(|p| p.audience == audience)
        {
            p.subject_tokens.push(token.clone());
        }
        token
    }

    /// Changes the state as another party would (a NAT's addresses reallocated, …).
    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        edit(&mut self.shared.store().seed);
    }

    /// A person changes the project in the Cloud Console: `edit` changes the state, and the
    /// Admin Activity log records `method` on `resource` by `principal` from a browser, now.
    pub fn console_change(
        &self,
        principal: &str,
        method: &str,
        resource: &str,
        request: Value,
        edit: impl FnOnce(&mut Seed),
    ) {
        let mut store = self.shared.store();
        edit(&mut store.seed);
        let change = ConsoleChange {
            principal: principal.into(),
            method_name: method.into(),
            resource_name: resource.into(),
            request,
            minutes_ago: 0,
        };
        let entry = store.console_entry(&change, jiff::Timestamp::now());
        store.seed.audit_log.push(entry);
    }

    /// The caller lacks `permission` (e.g. `logging.logEntries.list`): the calls that need it
    /// answer 403 `PERMISSION_DENIED`.
    pub fn deny_permission(&self, permission: &str) {
        self.shared.store().denied.insert(permission.to_string());
    }

    /// The Admin Activity audit log, oldest first.
    pub fn audit_log(&self) -> Vec<Value> {
        self.shared.store().seed.audit_log.clone()
    }

    /// Another writer changes the policy: its fingerprint moves on.
    pub fn touch_security_policy(&self, name: &str) {
        let mut store = self.shared.store();
        let fp = store.fingerprint();
        if let Some(p) = store
            .seed
            .security_policies
            .iter_mut()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
        {
            p["fingerprint"] = json!(fp);
        }
    }

    /// Another writer changes the subnet: its fingerprint moves on.
    pub fn touch_subnetwork(&self, name: &str) {
        let mut store = self.shared.store();
        let fp = store.fingerprint();
        if let Some(s) = store
            .seed
            .subnetworks
            .iter_mut()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
        {
            s["fingerprint"] = json!(fp);
        }
    }

    /// The API router, wrapped in the shared log and fault middleware.
    pub fn router(&self) -> Router {
        server::instrument(
            handlers::router(self.shared.clone()),
            self.log.clone(),
            self.faults.clone(),
            STYLE,
        )
    }

    pub async fn start(&self, bind: &str) -> std::io::Result<RunningEmulator> {
        server::serve(self.router(), bind).await
    }
}
