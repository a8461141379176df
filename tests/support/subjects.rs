//! One "subject" per provider with a client, for the fault matrix (`tests/fault_matrix.rs`):
//! its emulator seeded with an account that has drifted, a client with a short timeout (or a
//! credential the emulator does not know), one policy target whose Enforce needs writes, and
//! the read its faults are injected on. The seeds are small copies of the provider tests'
//! (`tests/<name>_provider.rs`), which test each provider's shapes in depth.
//!
//! Compiled only by the fault matrix (`#[path]`), not by every test binary through `mod.rs`:
//! it links every emulator.

use std::sync::Arc;
use std::time::Duration;

use perimeter::SecretString;
use perimeter::api::{CloudProviderSpec, UnmanagedPolicy};
use perimeter::http::HttpSettings;
use perimeter::providers::{Kit, Provider, Target};
use perimeter_emulators::faults::Faults;
use perimeter_emulators::server::{RecordedRequest, RequestLog, RunningEmulator};
use serde_json::{Value, json};

/// Every provider with a client, in `registered_providers!` order.
pub const ALL: [Name; 12] = [
    Name::Cloudflare,
    Name::Aws,
    Name::Gcp,
    Name::Vercel,
    Name::Supabase,
    Name::Qdrant,
    Name::Turso,
    Name::Upstash,
    Name::Slack,
    Name::Betterstack,
    Name::Triggerdev,
    Name::Fleet,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name {
    Cloudflare,
    Aws,
    Gcp,
    Vercel,
    Supabase,
    Qdrant,
    Turso,
    Upstash,
    Slack,
    Betterstack,
    Triggerdev,
    Fleet,
}

/// Which credential the client is built with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    Good,
    /// Well-formed, but not one the emulator's account knows.
    Unknown,
}

/// A running emulator and a client for it.
pub struct Subject {
    pub client: Arc<dyn Provider>,
    pub target: Target,
    pub unmanaged: UnmanagedPolicy,
    pub faults: Faults,
    log: RequestLog,
    /// The emulator's whole state, as JSON.
    snapshot: Box<dyn Fn() -> Value + Send + Sync>,
    /// Requests that change something: [`RequestLog::writes`] less what a provider sends as
    /// POST to read and the emulators' log does not know (every AWS call).
    is_read: fn(&RecordedRequest) -> bool,
    _running: RunningEmulator,
}

impl Subject {
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.log
            .writes()
            .into_iter()
            .filter(|r| !(self.is_read)(r))
            .collect()
    }

    pub fn snapshot(&self) -> Value {
        (self.snapshot)()
    }
}

/// The client's timeout in the matrix: the persistent hang (`cells::persistent_faults`, 2 s)
/// is longer; AWS's SDK takes whole seconds.
pub const TIMEOUT: Duration = Duration::from_millis(700);

impl Name {
    pub fn label(self) -> &'static str {
        match self {
            Name::Cloudflare => "cloudflare",
            Name::Aws => "aws",
            Name::Gcp => "gcp",
            Name::Vercel => "vercel",
            Name::Supabase => "supabase",
            Name::Qdrant => "qdrant",
            Name::Turso => "turso",
            Name::Upstash => "upstash",
            Name::Slack => "slack",
            Name::Betterstack => "betterstack",
            Name::Triggerdev => "triggerdev",
            Name::Fleet => "fleet",
        }
    }

    /// `(method, path substring)` of the read the read faults hit: the target's main read.
    /// `None` method: any (AWS's query protocol and Slack's Web API read by POST too).
    pub fn read(self) -> (Option<&'static str>, &'static str) {
        match self {
            Name::Cloudflare => (Some("GET"), "/rulesets"),
            // Also matches DescribeSecurityGroupRules.
            Name::Aws => (None, "/ec2/DescribeSecurityGroup"),
            Name::Gcp => (Some("GET"), "/global/firewalls"),
            Name::Vercel => (Some("GET"), "/v1/security/firewall/config"),
            Name::Supabase => (Some("GET"), "/network-restrictions"),
            Name::Qdrant => (Some("GET"), "/clusters/"),
            Name::Turso => (Some("GET"), "/configuration"),
            Name::Upstash => (Some("GET"), "/redis/database/"),
            Name::Slack => (None, "conversations.info"),
            Name::Betterstack => (Some("GET"), "/api/v2/monitors"),
            Name::Triggerdev => (Some("GET"), "/api/v1/runs"),
            Name::Fleet => (Some("GET"), "/policies"),
        }
    }

    /// Text that must never appear in an error, a status or the matrix: both credentials (or
    /// the part of them that is secret).
    pub fn secrets(self) -> Vec<String> {
        let (good, bad) = self.credentials();
        match self {
            // A JSON credential: its secret parts.
            Name::Aws => vec![
                AWS_SECRET.into(),
                "wJalrXUtnFEMI-K7MDENG-bPxRfiCYWRONGKEY".into(),
            ],
            Name::Gcp => [GCP_KEY, GCP_OTHER_KEY]
                .iter()
                .filter_map(|k| k.lines().nth(1).map(str::to_string))
                .collect(),
            Name::Upstash => vec![
                UPSTASH_KEY.into(),
                "0f1e2d3c-upstash-wrong-key-000000000000".into(),
            ],
            _ => vec![good, bad],
        }
    }

    /// The good and the unknown credential, as the Secret holds them.
    fn credentials(self) -> (String, String) {
        let pair = |good: &str, bad: &str| (good.to_string(), bad.to_string());
        match self {
            Name::Cloudflare => pair("cf-test-token-5f1c2b9e", "cf-wrong-token-0123456789"),
            Name::Aws => (
                json!({"accessKeyId": AWS_KEY_ID, "secretAccessKey": AWS_SECRET}).to_string(),
                json!({"accessKeyId": "AKIAWRONGWRONGWRONG1",
                       "secretAccessKey": "wJalrXUtnFEMI-K7MDENG-bPxRfiCYWRONGKEY"})
                .to_string(),
            ),
            Name::Gcp => (String::new(), String::new()),
            Name::Vercel => pair("vercel-test-token-9c1d", "vercel-wrong-token-0000"),
            Name::Supabase => pair(
                "sbp_0123456789abcdef0123456789abcdef01234567",
                "sbp_ffffffffffffffffffffffffffffffffffffffff",
            ),
            Name::Qdrant => pair(
                "qdrant-mgmt-0123456789abcdef0123456789abcdef",
                "qdrant-mgmt-ffffffffffffffffffffffffffffffff",
            ),
            Name::Turso => pair(
                "turso-eyJhbGciOiJFZERTQSJ9.perimeter-test-token",
                "turso-eyJhbGciOiJFZERTQSJ9.wrong-token",
            ),
            Name::Upstash => (
                json!({"email": UPSTASH_EMAIL, "apiKey": UPSTASH_KEY, "keyName": "perimeter"})
                    .to_string(),
                json!({"email": UPSTASH_EMAIL, "apiKey": "0f1e2d3c-upstash-wrong-key-000000000000",
                       "keyName": "perimeter"})
                .to_string(),
            ),
            Name::Slack => pair(
                "xoxb-4821-9173-TestBotTokenNotReal",
                "xoxb-4821-9173-WrongBotTokenNotReal",
            ),
            Name::Betterstack => pair(
                "bs-uptime-token-4b5a69780f1e2d3c",
                "bs-uptime-token-wrong0000",
            ),
            Name::Triggerdev => pair(
                "tr_prod_0123456789abcdefghijklmnopqrstuv",
                "tr_prod_wrongwrongwrongwrongwrongwrong00",
            ),
            Name::Fleet => pair(
                "fleetTOKENx0123456789abcdefABCDEF==",
                "fleetWRONGx0123456789abcdefABCDEF==",
            ),
        }
    }

    /// Starts the provider's emulator (seeded with drift) and a client for it.
    pub async fn start(self, credential: Credential) -> Subject {
        let (good, bad) = self.credentials();
        let secret = SecretString::new(match credential {
            Credential::Good => good.clone(),
            Credential::Unknown => bad,
        });
        let good = good.as_str();
        match self {
            Name::Cloudflare => {
                use perimeter_emulators::cloudflare::CloudflareEmulator;
                let e = CloudflareEmulator::new(seed(json!({
                    "tokens": [good], "accounts": [{"id": CF_ACCOUNT, "name": "Test"}],
                    "zones": [{"id": CF_ZONE, "name": "example.com", "account_id": CF_ACCOUNT,
                        "rulesets": {"http_request_firewall_custom": {"rules": [
                            {"ref": "hand-made", "expression": "(ip.src eq 192.0.2.1)", "action": "skip",
                             "action_parameters": {"ruleset": "current"}},
                            {"ref": "block-admin", "expression": "(http.request.uri.path contains \"/admin\")", "action": "log"}
                        ]}}}]
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let client = perimeter::providers::cloudflare::Cloudflare::with_settings(
                    settings("cloudflare", format!("{}/client/v4", running.base_url())),
                    Some(CF_ACCOUNT.into()),
                    secret,
                    None,
                )
                .expect("client");
                let target = firewall::<perimeter::providers::cloudflare::Kit>(json!({
                    "zoneId": CF_ZONE,
                    "wafCustomRules": [
                        {"ref": "block-admin", "expression": "(http.request.uri.path contains \"/admin\")", "action": "block"},
                        {"ref": "challenge-bots", "expression": "(cf.client.bot)", "action": "managed_challenge"}
                    ],
                    "ipAccessRules": [{"target": "ip", "value": "198.51.100.7", "mode": "block", "notes": "scanner"}]
                }));
                let (f, l, s) = (e.faults(), e.log(), e.clone());
                subject(client, target, f, l, move || to_json(s.snapshot()), running)
            }
            Name::Aws => {
                use perimeter_emulators::aws::AwsEmulator;
                let e = AwsEmulator::new(seed(json!({
                    "accountId": "123456789012", "region": AWS_REGION,
                    "accessKeys": [{"accessKeyId": AWS_KEY_ID, "secretAccessKey": AWS_SECRET}],
                    "vpcs": [{"vpcId": "vpc-a", "cidrBlock": "10.0.0.0/16"}],
                    "securityGroups": [
                        {"groupId": "sg-web", "groupName": "web", "vpcId": "vpc-a", "ingress": [
                            {"ruleId": "sgr-ssh", "protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"},
                            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "10.0.0.0/8", "description": "old"}]}
                    ],
                    "networkAcls": [{"networkAclId": "acl-a", "vpcId": "vpc-a", "entries": []}]
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let spec: CloudProviderSpec = serde_json::from_value(json!({
                    "type": "aws", "accountId": "123456789012",
                    "credentials": {"source": "Secret", "secretRef": {"name": "aws", "key": "credentials"}},
                    "endpoint": running.base_url(), "regions": [AWS_REGION],
                    "rateLimit": {"requestsPerMinute": 60000, "burst": 1000},
                    // Whole seconds only: still shorter than the 2 s hang.
                    "requestTimeoutSeconds": 1,
                }))
                .expect("spec");
                let client = perimeter::providers::aws::Aws::connect(&spec, Some(secret), None)
                    .await
                    .expect("client");
                let target = firewall::<perimeter::providers::aws::Kit>(json!({
                    "region": AWS_REGION, "findings": {"worldOpenIngress": "Forbid"},
                    "securityGroups": [{"groupId": "sg-web", "ingress": [
                        {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidr": "10.0.0.0/8", "description": "https"}]}]
                }));
                let (f, l, s) = (e.faults().clone(), e.log().clone(), e.clone());
                let mut subject =
                    subject(client, target, f, l, move || to_json(s.snapshot()), running);
                subject.is_read = |r| {
                    !perimeter_emulators::aws::is_write(
                        r.path.rsplit('/').next().unwrap_or_default(),
                    )
                };
                subject
            }
            Name::Gcp => {
                use perimeter::providers::gcp::{Gcp, Options};
                use perimeter_emulators::gcp::GcpEmulator;
                let e = GcpEmulator::new(seed(json!({
                    "project": GCP_PROJECT,
                    "serviceAccounts": [{"clientEmail": GCP_SA, "publicKeyPem": GCP_PUB}],
                    "metadataServer": true,
                    "firewalls": [
                        {"name": "allow-ssh-anywhere", "network": "default", "sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]},
                        {"name": "allow-internal", "network": "default", "sourceRanges": ["10.128.0.0/9"], "allowed": [{"IPProtocol": "6"}, {"IPProtocol": "17"}, {"IPProtocol": "icmp"}], "priority": 65534},
                        {"name": "allow-https", "network": "default", "sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "tcp", "ports": ["443"]}], "targetTags": ["web"]}
                    ]
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let base = running.base_url();
                let spec: CloudProviderSpec = serde_json::from_value(json!({
                    "type": "gcp", "accountId": GCP_PROJECT, "endpoint": base,
                    "credentials": {"secretRef": {"name": "gcp", "key": "key.json"}},
                    "regions": ["europe-west1"],
                }))
                .expect("spec");
                let key = match credential {
                    Credential::Good => GCP_KEY,
                    Credential::Unknown => GCP_OTHER_KEY,
                };
                let key = SecretString::new(
                    json!({"type": "service_account", "project_id": GCP_PROJECT, "private_key_id": "k1",
                           "private_key": key, "client_email": GCP_SA, "token_uri": format!("{base}/token")})
                    .to_string(),
                );
                let loopback = perimeter::trust::HostPattern::parse("127.0.0.1").expect("pattern");
                let options = Options {
                    metadata_host: None,
                    operation_timeout: Some(Duration::from_secs(5)),
                    settings: Some(settings("gcp", String::new())),
                    credentials_file: None,
                    trust: perimeter::trust::Trust {
                        token_hosts: vec![loopback.clone()],
                        credential_url_hosts: vec![loopback],
                        ..Default::default()
                    },
                    principal: Some(perimeter::trust::Principal::Admin),
                };
                let client = Gcp::connect_with(&spec, Some(key), None, options).expect("client");
                let target = firewall::<perimeter::providers::gcp::Kit>(json!({
                    "network": "default",
                    "firewallRules": [
                        {"name": "allow-internal", "priority": 65534, "sourceRanges": ["10.128.0.0/9"], "allowed": [{"IPProtocol": "tcp"}, {"IPProtocol": "udp"}, {"IPProtocol": "icmp"}]},
                        {"name": "allow-https", "sourceRanges": ["0.0.0.0/0"], "allowed": [{"IPProtocol": "tcp", "ports": ["443"]}], "targetTags": ["web"], "logConfig": {"enable": true}},
                        {"name": "allow-iap-ssh", "sourceRanges": ["35.235.240.0/20"], "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]}
                    ]
                }));
                let (f, l, s) = (e.faults().clone(), e.log().clone(), e.clone());
                let mut subject =
                    subject(client, target, f, l, move || to_json(s.snapshot()), running);
                subject.unmanaged = UnmanagedPolicy::Remove;
                // The token exchange and operation polls are reads by the emulators' own rule
                // (`READS_BY_POST`): no filter of the matrix's own.
                subject
            }
            Name::Vercel => {
                use perimeter_emulators::vercel::VercelEmulator;
                let e = VercelEmulator::new(seed(json!({
                    "tokens": [good],
                    "teams": [{
                        "id": "team_acme", "slug": "acme", "plan": "enterprise",
                        "projects": [{
                            "id": "prj_web", "name": "web", "domains": ["web.example.com"],
                            "firewall": {
                                "firewallEnabled": false,
                                "rules": [
                                    {"name": "block admin", "active": true,
                                     "conditionGroup": [{"conditions": [{"type": "path", "op": "pre", "value": "/admin"}]}],
                                     "action": {"mitigate": {"action": "deny"}}}
                                ],
                                "ips": [{"hostname": "web.example.com", "ip": "198.51.100.4", "action": "deny", "notes": "old scanner"}],
                                "managedRules": {"owasp": {"active": false, "action": "deny"}}
                            }
                        }]
                    }]
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let client = perimeter::providers::vercel::Vercel::with_settings(
                    settings("vercel", running.base_url()),
                    Some("team_acme".into()),
                    secret,
                    None,
                )
                .expect("client");
                let target = firewall::<perimeter::providers::vercel::Kit>(json!({
                    "projectId": "prj_web",
                    "firewallEnabled": true,
                    "rules": [{"name": "block admin",
                               "conditionGroup": [{"conditions": [{"type": "path", "op": "pre", "value": "/admin"}]}],
                               "action": {"action": "deny"}}],
                    "ipRules": [
                        {"hostname": "web.example.com", "ip": "198.51.100.4", "action": "deny", "notes": "old scanner"},
                        {"hostname": "web.example.com", "ip": "203.0.113.0/24", "action": "deny"}
                    ],
                    "managedRules": {"owasp": {"active": true, "action": "deny"}},
                    "systemBypass": [{"domain": "*", "sourceIp": "198.51.100.7", "note": "probe"}]
                }));
                let (f, l, s) = (e.faults(), e.log(), e.clone());
                subject(client, target, f, l, move || to_json(s.snapshot()), running)
            }
            Name::Supabase => {
                use perimeter_emulators::supabase::SupabaseEmulator;
                let e = SupabaseEmulator::new(seed(json!({
                    "tokens": [good],
                    "projects": [{"ref": SUPABASE_REF, "name": "shop-prod"}]
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let client = perimeter::providers::supabase::Supabase::with_settings(
                    settings("supabase", running.base_url()),
                    secret,
                    None,
                )
                .expect("client")
                .with_apply_wait(Duration::from_millis(400), Duration::from_millis(10));
                let target = firewall::<perimeter::providers::supabase::Kit>(json!({
                    "projectRef": SUPABASE_REF,
                    "dbAllowedCidrs": ["203.0.113.0/24", "198.51.100.0/25"],
                    "sslEnforcement": {"database": true},
                    "authRateLimits": {"emailSent": 30, "tokenRefresh": 150}
                }));
                let (f, l, s) = (e.faults(), e.log(), e.clone());
                subject(client, target, f, l, move || to_json(s.snapshot()), running)
            }
            Name::Qdrant => {
                use perimeter_emulators::qdrant::QdrantEmulator;
                let e = QdrantEmulator::new(seed(json!({
                    "keys": [{"key": good, "account_id": QDRANT_ACCOUNT}],
                    "clusters": [{"id": QDRANT_CLUSTER, "account_id": QDRANT_ACCOUNT, "name": "search-prod",
                                  "allowed_ip_source_ranges": ["0.0.0.0/0", "203.0.113.0/24"]}],
                    "database_api_keys": []
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let client = perimeter::providers::qdrant::Qdrant::with_settings(
                    settings("qdrant", running.base_url()),
                    secret,
                    Some(QDRANT_ACCOUNT.into()),
                    None,
                )
                .expect("client");
                let target = firewall::<perimeter::providers::qdrant::Kit>(json!({
                    "accountId": QDRANT_ACCOUNT, "clusterId": QDRANT_CLUSTER,
                    "allowedIpSourceRanges": ["203.0.113.0/24", "198.51.100.0/24"]
                }));
                let (f, l, s) = (e.faults(), e.log(), e.clone());
                subject(client, target, f, l, move || to_json(s.snapshot()), running)
            }
            Name::Turso => {
                use perimeter_emulators::turso::TursoEmulator;
                let e = TursoEmulator::new(seed(json!({
                    "tokens": [{"value": good, "name": "perimeter", "id": "tok1", "user": "perimeter-bot", "organization": "acme"}],
                    "organizations": [{"slug": "acme", "databases": [
                        {"name": "orders", "allowed_ips": ["0.0.0.0/0"]}
                    ]}]
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let client = perimeter::providers::turso::Turso::with_settings(
                    settings("turso", running.base_url()),
                    Some("acme".into()),
                    secret,
                    None,
                )
                .expect("client");
                let target = firewall::<perimeter::providers::turso::Kit>(json!({
                    "organization": "acme", "database": "orders",
                    "allowedIps": ["203.0.113.0/24"], "deleteProtection": true
                }));
                let (f, l, s) = (e.faults(), e.log(), e.clone());
                subject(client, target, f, l, move || to_json(s.snapshot()), running)
            }
            Name::Upstash => {
                use perimeter_emulators::upstash::UpstashEmulator;
                let e = UpstashEmulator::new(seed(json!({
                    "keys": [{"email": UPSTASH_EMAIL, "key": UPSTASH_KEY, "name": "perimeter"}],
                    "databases": [{"database_id": UPSTASH_DB, "database_name": "sessions",
                                   "allowed_ip_ranges": ["0.0.0.0/0"], "tls": false,
                                   "security_addons": {"ipWhitelisting": true}}]
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let client = perimeter::providers::upstash::Upstash::with_settings(
                    settings("upstash", running.base_url()),
                    secret,
                    None,
                )
                .expect("client");
                let target = firewall::<perimeter::providers::upstash::Kit>(json!({
                    "databaseId": UPSTASH_DB,
                    "allowedIps": ["203.0.113.0/24", "198.51.100.7"], "tls": "Required"
                }));
                let (f, l, s) = (e.faults(), e.log(), e.clone());
                subject(client, target, f, l, move || to_json(s.snapshot()), running)
            }
            Name::Slack => {
                use perimeter_emulators::slack::SlackEmulator;
                let e = SlackEmulator::new(seed(json!({
                    "team_id": SLACK_TEAM, "team": "Acme",
                    "tokens": [{"token": good, "user_id": "U0PERIMBOT", "bot_id": "B0PERIMBOT",
                                "scopes": ["channels:read", "groups:read", "channels:history", "groups:history", "channels:join", "chat:write"]}],
                    "channels": [
                        {"id": "C0ALERTS01", "name": "ops-alerts", "members": ["U0PERIMBOT", "U0ONCALL01"]},
                        {"id": "C0SECALRT1", "name": "security-alerts", "members": ["U0ONCALL01"]}
                    ]
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let client = perimeter::providers::slack::Slack::with_settings(
                    settings("slack", format!("{}/api", running.base_url())),
                    secret,
                    None,
                )
                .expect("client");
                let asked = jiff::Timestamp::now() - jiff::SignedDuration::from_mins(1);
                let target = monitoring::<perimeter::providers::slack::Kit>(json!({
                    "teamId": SLACK_TEAM,
                    "channels": [{"id": "C0ALERTS01", "name": "ops-alerts"}, {"id": "C0SECALRT1"}],
                    "testAlert": {"channel": "C0ALERTS01",
                                  "requestedAt": asked.round(jiff::Unit::Second).expect("rounds").to_string()}
                }));
                let (f, l, s) = (e.faults(), e.log(), e.clone());
                subject(client, target, f, l, move || to_json(s.snapshot()), running)
            }
            Name::Betterstack => {
                use perimeter_emulators::betterstack::BetterstackEmulator;
                let e = BetterstackEmulator::new(seed(json!({
                    "tokens": [good],
                    "policies": [{"id": 41, "name": "On-call", "repeat_count": 3, "repeat_delay": 60,
                                  "incident_token": "itok", "steps": [
                                      {"type": "escalation", "wait_before": 0, "urgency_id": 12,
                                       "step_members": [{"type": "current_on_call"}]}]}],
                    "monitors": [
                        {"id": 1, "url": "https://example.com", "monitor_type": "status", "check_frequency": 900,
                         "regions": ["us"], "paused": false, "status": "up", "policy_id": "41",
                         "last_checked_at": "2026-11-29T10:09:00Z", "created_at": "2026-01-01T00:00:00Z"},
                        {"id": 4, "url": "https://old.example.com", "monitor_type": "status", "check_frequency": 180,
                         "paused": false, "status": "up", "last_checked_at": "2026-11-29T10:09:00Z",
                         "created_at": "2026-01-01T00:00:00Z"}
                    ]
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let client = perimeter::providers::betterstack::Betterstack::with_settings(
                    settings("betterstack", running.base_url()),
                    secret,
                    None,
                )
                .expect("client")
                .with_clock(|| "2026-11-29T10:10:00Z".parse().expect("instant"));
                let target = monitoring::<perimeter::providers::betterstack::Kit>(json!({
                    "escalationPolicies": [{"name": "On-call", "repeatCount": 3, "repeatDelay": 60,
                                            "steps": [{"waitBefore": 0, "members": [{"type": "current_on_call"}]}]}],
                    "monitors": [
                        {"url": "https://example.com", "monitorType": "status", "checkFrequency": 180,
                         "regions": ["us", "eu"], "escalationPolicy": "On-call"},
                        {"url": "https://www.example.com", "monitorType": "keyword", "requiredKeyword": "Welcome",
                         "escalationPolicy": "On-call"}
                    ]
                }));
                let (f, l, s) = (e.faults(), e.log(), e.clone());
                let mut subject =
                    subject(client, target, f, l, move || to_json(s.snapshot()), running);
                subject.unmanaged = UnmanagedPolicy::Remove;
                subject
            }
            Name::Triggerdev => {
                use perimeter_emulators::triggerdev::TriggerdevEmulator;
                let run = |i: u32, status: &str| {
                    json!({"id": format!("run_{i:06}"), "environment": "prod", "taskIdentifier": "charge",
                           "status": status, "createdMinutesAgo": 30})
                };
                let e = TriggerdevEmulator::new(seed(json!({
                    "keys": [{"key": good, "environment": "prod"}],
                    "runs": [run(1, "FAILED"), run(2, "CRASHED"), run(3, "COMPLETED")],
                    "errors": [{"id": "error_aaa", "environment": "prod", "taskIdentifier": "charge",
                                "errorType": "TimeoutError", "errorMessage": "card processor timed out",
                                "status": "unresolved", "count": 3, "lastSeenMinutesAgo": 10}]
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let client = perimeter::providers::triggerdev::Triggerdev::with_settings(
                    settings("triggerdev", running.base_url()),
                    secret,
                    None,
                )
                .expect("client");
                let target = monitoring::<perimeter::providers::triggerdev::Kit>(
                    json!({"failedRuns": {"window": "24h"}, "errorGroups": {}}),
                );
                let (f, l, s) = (e.faults(), e.log(), e.clone());
                subject(client, target, f, l, move || to_json(s.snapshot()), running)
            }
            Name::Fleet => {
                use perimeter_emulators::fleet::FleetEmulator;
                let host = |id: u64, name: &str, failing: bool| {
                    json!({"id": id, "hostname": name, "hardwareSerial": format!("C02{id:05}"),
                           "platform": "darwin", "teamId": 2, "seenMinutesAgo": 5,
                           "failing": if failing { vec!["Perimeter: macOS host firewall"] } else { vec![] }})
                };
                let e = FleetEmulator::new(seed(json!({
                    "tokens": [good],
                    "teams": [{"id": 2, "name": "Laptops"}],
                    "policies": [{"id": 7, "teamId": 2, "name": "Perimeter: macOS host firewall",
                                  "query": "SELECT 1;", "platform": "darwin"}],
                    "hosts": [host(1, "mac-001", false), host(2, "dev-mac", true)]
                })));
                let running = e.start("127.0.0.1:0").await.expect("emulator");
                let client = perimeter::providers::fleet::Fleet::with_settings(
                    settings("fleet", running.base_url()),
                    secret,
                    None,
                )
                .expect("client");
                let target = firewall::<perimeter::providers::fleet::Kit>(json!({
                    "platforms": ["macos", "linux"], "teams": ["Laptops"], "staleAfterDays": 7
                }));
                let (f, l, s) = (e.faults(), e.log(), e.clone());
                subject(client, target, f, l, move || to_json(s.snapshot()), running)
            }
        }
    }
}

const CF_ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const CF_ACCOUNT: &str = "01a7362d577a6c3019a474fd6f485823";
const AWS_REGION: &str = "eu-west-1";
const AWS_KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY";
const GCP_PROJECT: &str = "demo-project";
const GCP_SA: &str = "perimeter@demo-project.iam.gserviceaccount.com";
const GCP_KEY: &str = include_str!("../fixtures/gcp/test-sa.key.pem");
const GCP_PUB: &str = include_str!("../fixtures/gcp/test-sa.pub.pem");
const GCP_OTHER_KEY: &str = include_str!("../fixtures/gcp/other-sa.key.pem");
const SUPABASE_REF: &str = "qwertyuiopasdfghjklz";
const QDRANT_ACCOUNT: &str = "0b3c3f6e-5e0f-4b8a-9d39-3f1f2a9c7d10";
const QDRANT_CLUSTER: &str = "7e6f2a4c-1b2d-4c3e-8f90-a1b2c3d4e5f6";
const UPSTASH_DB: &str = "3f6c2a1e-8b7d-4c5e-9a0f-1b2c3d4e5f60";
const UPSTASH_EMAIL: &str = "ops@example.com";
const UPSTASH_KEY: &str = "0f1e2d3c-upstash-developer-key-4b5a6978";
const SLACK_TEAM: &str = "T0DEM0ACME";

/// Fast retries and a limiter that never waits: the faults, not the pacing, are measured.
fn settings(provider: &'static str, base: String) -> HttpSettings {
    let mut settings = HttpSettings::new(provider, base);
    settings.timeout = TIMEOUT;
    settings.backoff = Duration::from_millis(5);
    settings.requests_per_minute = 60_000;
    settings.burst = 1000;
    settings
}

fn seed<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("seed")
}

fn to_json<T: serde::Serialize>(state: T) -> Value {
    serde_json::to_value(state).expect("state as JSON")
}

fn firewall<K: Kit>(block: Value) -> Target {
    K::firewall_target(&serde_json::from_value(block).expect("firewall block")).expect("target")
}

fn monitoring<K: Kit>(block: Value) -> Target {
    K::monitoring_target(&serde_json::from_value(block).expect("monitoring block")).expect("target")
}

fn subject<P: Provider + 'static>(
    client: P,
    target: Target,
    faults: Faults,
    log: RequestLog,
    snapshot: impl Fn() -> Value + Send + Sync + 'static,
    running: RunningEmulator,
) -> Subject {
    Subject {
        client: Arc::new(client),
        target,
        unmanaged: UnmanagedPolicy::Report,
        faults,
        log,
        snapshot: Box::new(snapshot),
        is_read: |_| false,
        _running: running,
    }
}
