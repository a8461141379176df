//! The GCP client's requests and the GCP emulator's answers, checked against Google's
//! discovery documents (trimmed copies in `tests/conformance/gcp/`, see SOURCE.md there):
//! every request's method and path is a documented method, its query parameters are that
//! method's parameters, and request and response bodies only use properties (with the right
//! JSON types and enum values) that the method's schemas define.

use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::{CloudProviderSpec, Mode, UnmanagedPolicy};
use perimeter::http::HttpSettings;
use perimeter::providers::gcp::api::{GcpFirewall, GcpMonitoring};
use perimeter::providers::gcp::{Gcp, Options, firewall_target, monitoring_target};
use perimeter::reconcile::sync;
use perimeter_emulators::gcp::{GcpEmulator, Seed};
use serde_json::{Map, Value, json};

const DOCS: [&str; 4] = [
    include_str!("conformance/gcp/compute.v1.json"),
    include_str!("conformance/gcp/monitoring.v3.json"),
    include_str!("conformance/gcp/networkmanagement.v1.json"),
    include_str!("conformance/gcp/logging.v2.json"),
];
const TOKEN: &str = "conformance-token";
const SA: &str = "perimeter@demo-project.iam.gserviceaccount.com";
const TEST_KEY: &str = include_str!("fixtures/gcp/test-sa.key.pem");
const TEST_PUB: &str = include_str!("fixtures/gcp/test-sa.pub.pem");

struct Method {
    http: String,
    segments: Vec<String>,
    doc: usize,
    body: Value,
}

fn methods(docs: &[Value]) -> Vec<Method> {
    fn walk(node: &Value, doc: usize, prefix: &str, out: &mut Vec<Method>) {
        for m in node
            .get("methods")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let body = m.1;
            let path = body
                .get("flatPath")
                .or_else(|| body.get("path"))
                .and_then(Value::as_str)
                .unwrap_or("");
            out.push(Method {
                http: body["httpMethod"].as_str().unwrap_or("").to_string(),
                segments: format!("{prefix}{path}")
                    .trim_matches('/')
                    .split('/')
                    .map(str::to_string)
                    .collect(),
                doc,
                body: body.clone(),
            });
        }
        for r in node
            .get("resources")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            walk(r.1, doc, prefix, out);
        }
    }
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let prefix = d["servicePath"].as_str().unwrap_or("");
        walk(d, i, prefix, &mut out);
    }
    out
}

fn find<'a>(all: &'a [Method], http: &str, path: &str) -> Option<&'a Method> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    all.iter().find(|m| {
        m.http == http
            && m.segments.len() == segs.len()
            && m.segments.iter().zip(&segs).all(|(t, s)| {
                if t.starts_with('{') && t.ends_with('}') {
                    !s.is_empty()
                } else {
                    t == s
                }
            })
    })
}

/// Problems of `value` against `schema` (properties, JSON types, enums), with JSON paths.
fn check(
    value: &Value,
    schema: &Value,
    schemas: &Map<String, Value>,
    at: &str,
    out: &mut Vec<String>,
) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        match schemas.get(r) {
            Some(s) => check(value, s, schemas, at, out),
            None => out.push(format!("{at}: unknown schema {r}")),
        }
        return;
    }
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("any");
    let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
    let ok = match (ty, value) {
        ("any", _) | (_, Value::Null) => true,
        ("object", Value::Object(map)) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let extra = schema.get("additionalProperties");
            for (k, v) in map {
                match (props.and_then(|p| p.get(k)), extra) {
                    (Some(s), _) => check(v, s, schemas, &format!("{at}.{k}"), out),
                    (None, Some(s)) => check(v, s, schemas, &format!("{at}.{k}"), out),
                    (None, None) => out.push(format!("{at}.{k}: not a property of the schema")),
                }
            }
            true
        }
        ("array", Value::Array(items)) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check(v, s, schemas, &format!("{at}[{i}]"), out);
                }
            }
            true
        }
        ("string", Value::String(s)) => {
            if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
                && !allowed.iter().any(|a| a == s)
            {
                out.push(format!("{at}: {s:?} is not one of the enum values"));
            }
            true
        }
        // 64-bit integers travel as strings, but numbers are accepted too.
        ("string", Value::Number(_)) => matches!(format, "int64" | "uint64"),
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("number", Value::Number(_)) | ("boolean", Value::Bool(_)) => true,
        _ => false,
    };
    if !ok {
        out.push(format!("{at}: {value} is not of type {ty}"));
    }
}

fn yaml(text: &str) -> Value {
    perimeter::manifests::yaml_to_json(text).expect("valid YAML")
}

#[tokio::test]
async fn every_gcp_request_and_answer_conforms_to_the_discovery_documents() {
    let docs: Vec<Value> = DOCS
        .iter()
        .map(|d| serde_json::from_str(d).expect("discovery JSON"))
        .collect();
    let all = methods(&docs);
    let seed: Seed = serde_json::from_value(yaml(&format!(
        r#"
project: demo-project
tokens: [{TOKEN}]
serviceAccounts: [{{clientEmail: "{SA}", publicKeyPem: {pem}}}]
firewalls:
  - {{name: allow-ssh, network: default, sourceRanges: [0.0.0.0/0], allowed: [{{IPProtocol: tcp, ports: ["22"]}}]}}
  - {{name: allow-https, network: default, sourceRanges: [0.0.0.0/0], allowed: [{{IPProtocol: tcp, ports: ["443"]}}]}}
securityPolicies:
  - {{name: edge, description: old, rules: [{{priority: 1000, action: "deny(403)", match: {{versionedExpr: SRC_IPS_V1, config: {{srcIpRanges: [198.51.100.0/24]}}}}}}]}}
subnetworks:
  - {{name: app, region: europe-west1, network: default, ipCidrRange: 10.0.0.0/24}}
vpcFlowLogsConfigs:
  - {{network: projects/demo-project/global/networks/other}}
routerStatuses:
  - {{name: nat-router, region: europe-west1, network: default, natStatus: [
      {{name: egress, userAllocatedNatIps: [203.0.113.7], autoAllocatedNatIps: [198.51.100.4],
        userAllocatedNatIpResources: [https://www.googleapis.com/compute/v1/projects/demo-project/regions/europe-west1/addresses/egress-1],
        drainUserAllocatedNatIps: [], minExtraNatIpsNeeded: 0, numVmEndpointsWithNatMappings: 3}}]}}
uptimeChecks:
  - {{displayName: www, monitoredResource: {{type: uptime_url, labels: {{host: www.example.com}}}}, httpCheck: {{path: /}}, timeout: 10s}}
notificationChannels:
  - {{name: projects/demo-project/notificationChannels/1, type: slack, displayName: alerts, labels: {{channel_name: '#alerts'}}, enabled: true}}
"#,
        pem = serde_json::to_string(TEST_PUB).expect("pem")
    )))
    .expect("seed");
    let emulator = GcpEmulator::new(seed);
    emulator.set_operation_polls(1);
    let running = emulator.start("127.0.0.1:0").await.expect("starts");
    let base = running.base_url();
    let spec: CloudProviderSpec = serde_json::from_value(json!({
        "type": "gcp", "accountId": "demo-project", "endpoint": base,
        "credentials": {"secretRef": {"name": "gcp", "key": "key.json"}}, "regions": ["europe-west1"],
    }))
    .expect("spec");
    let key = json!({"type": "service_account", "client_email": SA, "private_key": TEST_KEY,
                     "token_uri": format!("{base}/token")});
    let mut settings = HttpSettings::new("gcp", "");
    settings.backoff = Duration::from_millis(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    let client = Gcp::connect_with(
        &spec,
        Some(SecretString::new(key.to_string())),
        None,
        Options {
            settings: Some(settings),
            trust: perimeter::trust::Trust {
                token_hosts: vec![
                    perimeter::trust::HostPattern::parse("127.0.0.1").expect("pattern"),
                ],
                ..Default::default()
            },
            ..Options::default()
        },
    )
    .expect("client");

    let fw: GcpFirewall = serde_json::from_value(yaml(
        r#"
network: default
firewallRules:
  - {name: allow-https, sourceRanges: [0.0.0.0/0], allowed: [{IPProtocol: tcp, ports: ["443"]}], logConfig: {enable: true}}
  - {name: allow-iap-ssh, sourceRanges: [35.235.240.0/20], allowed: [{IPProtocol: tcp, ports: ["22"]}], targetTags: [ssh]}
cloudArmorPolicies:
  - name: edge
    description: new
    rules:
      - {priority: 1000, action: "deny(404)", match: {versionedExpr: SRC_IPS_V1, config: {srcIpRanges: [198.51.100.0/24]}}}
      - {priority: 2000, action: "deny(403)", preview: true, match: {expr: {expression: "origin.region_code == 'XX'"}}}
  - name: fresh
    rules:
      - {priority: 100, action: allow, match: {versionedExpr: SRC_IPS_V1, config: {srcIpRanges: ["*"]}}}
"#,
    ))
    .expect("firewall");
    let mon: GcpMonitoring = serde_json::from_value(yaml(
        r#"
flowLogs: {regions: [europe-west1]}
alertPolicies:
  - displayName: Denied
    conditions:
      - displayName: many
        conditionThreshold: {filter: 'metric.type="logging.googleapis.com/user/denied"', comparison: COMPARISON_GT, thresholdValue: 10, duration: 60s,
                             aggregations: [{alignmentPeriod: 60s, perSeriesAligner: ALIGN_RATE, crossSeriesReducer: REDUCE_SUM, groupByFields: [resource.label.subnetwork_name]}]}
    notificationChannels: [projects/demo-project/notificationChannels/1]
uptimeChecks:
  - displayName: www
    monitoredResource: {type: uptime_url, labels: {host: www.example.com}}
    httpCheck: {path: /healthz, port: 8443, useSsl: true, validateSsl: true}
    period: 300s
    timeout: 10s
"#,
    ))
    .expect("monitoring");
    for target in [
        firewall_target(&fw).expect("target"),
        monitoring_target(&mon).expect("target"),
    ] {
        let out = sync(&client, &target, Mode::Enforce, UnmanagedPolicy::Remove).await;
        assert!(out.in_sync(), "{:?} {:?}", out.error, out.remaining);
        // The drift was attributed from the Admin Activity log (`entries.list`, checked below).
        assert!(
            out.attribution
                .as_ref()
                .is_some_and(|a| !a.summary.starts_with("unattributed: the audit log")),
            "{:?}",
            out.attribution
        );
    }
    assert!(emulator.log().count("POST", "/v2/entries:list") >= 2);
    // An AddressSet's `gcpCloudNat` source: routers.getRouterStatus.
    let nat: perimeter::api::addressset::AddressSource = serde_json::from_value(json!({
        "gcpCloudNat": {"providerRef": {"name": "gcp"}, "region": "europe-west1",
                        "router": "nat-router", "nat": "egress"}
    }))
    .expect("source");
    use perimeter::providers::Provider as _;
    let addresses = client.source_addresses(&nat).await.expect("router status");
    assert_eq!(addresses, ["203.0.113.7/32", "198.51.100.4/32"]);
    assert_eq!(emulator.log().count("GET", "/getRouterStatus"), 1);
    // The alert policy names a channel, so the channels are read (and checked below).
    assert!(emulator.log().count("GET", "/notificationChannels") > 0);
    // The inventory: the project's networks (`networks.list`, paged).
    let networks = client.inventory().await.expect("networks").expect("listed");
    assert_eq!(networks.len(), 1, "{networks:?}");
    assert_eq!(emulator.log().count("GET", "/global/networks"), 1);

    let mut problems = Vec::new();
    let mut checked = 0;
    let http = reqwest::Client::new();
    for req in emulator.log().entries() {
        if req.path == "/token" {
            continue;
        }
        let Some(m) = find(&all, &req.method, &req.path) else {
            problems.push(format!(
                "{} {}: no such method in the discovery documents",
                req.method, req.path
            ));
            continue;
        };
        checked += 1;
        let schemas = docs[m.doc]["schemas"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let params = m.body.get("parameters").and_then(Value::as_object);
        for pair in req
            .query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let name = pair.split('=').next().unwrap_or("");
            let global = docs[m.doc]["parameters"].get(name).is_some();
            if !global && !params.is_some_and(|p| p.contains_key(name)) {
                problems.push(format!(
                    "{} {}: query parameter {name} not documented",
                    req.method, req.path
                ));
            }
        }
        match (m.body.pointer("/request/$ref"), &req.body) {
            (Some(r), Some(body)) => check(
                body,
                &json!({"$ref": r}),
                &schemas,
                &format!("{} {} request", req.method, req.path),
                &mut problems,
            ),
            (None, Some(body)) => problems.push(format!(
                "{} {}: body {body} on a method without one",
                req.method, req.path
            )),
            _ => {}
        }
        // Answers: GETs, operation waits and log reads are asked again (the log keeps
        // requests only).
        let repeatable = req.method == "GET"
            || req.path.ends_with("/wait")
            || req.path.ends_with("/entries:list");
        if repeatable && let Some(r) = m.body.pointer("/response/$ref") {
            let url = match &req.query {
                Some(q) => format!("{base}{}?{q}", req.path),
                None => format!("{base}{}", req.path),
            };
            let method = if req.method == "GET" {
                reqwest::Method::GET
            } else {
                reqwest::Method::POST
            };
            let mut request = http.request(method, url).bearer_auth(TOKEN);
            if let Some(body) = &req.body {
                request = request.json(body);
            }
            let answer: Value = request
                .send()
                .await
                .expect("answer")
                .json()
                .await
                .expect("json");
            if answer.get("error").is_none() {
                check(
                    &answer,
                    &json!({"$ref": r}),
                    &schemas,
                    &format!("GET {} response", req.path),
                    &mut problems,
                );
            }
        }
    }
    assert!(checked > 30, "only {checked} requests checked");
    // The checker itself catches what it is meant to catch.
    let compute = docs[0]["schemas"].as_object().cloned().unwrap_or_default();
    let mut caught = Vec::new();
    let bad = json!({"name": "x", "sourceCidrs": ["1.2.3.4/32"], "direction": "SIDEWAYS", "priority": "high"});
    check(
        &bad,
        &json!({"$ref": "Firewall"}),
        &compute,
        "Firewall",
        &mut caught,
    );
    assert_eq!(caught.len(), 3, "{caught:?}");
    assert!(find(&all, "GET", "/compute/v1/projects/p/global/firewallz").is_none());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
