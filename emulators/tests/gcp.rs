//! Behaviour of the GCP emulator over real HTTP: auth, Google-style errors, paging,
//! operations, fingerprints, fault injection.

use std::time::Duration;

use perimeter_emulators::faults::{Fault, FaultRule};
use perimeter_emulators::gcp::{GcpEmulator, Seed};
use perimeter_emulators::server::RunningEmulator;
use reqwest::Method;
use serde_json::{Value, json};

const TOKEN: &str = "static-test-token";
const P: &str = "/compute/v1/projects/demo-project";

fn seed() -> Seed {
    serde_json::from_value(json!({
        "project": "demo-project",
        "tokens": [TOKEN],
        "metadataServer": true,
        "firewalls": [
            {"name": "allow-ssh", "network": "default", "sourceRanges": ["0.0.0.0/0"],
             "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]},
            {"name": "allow-web", "network": "default", "sourceRanges": ["0.0.0.0/0"],
             "allowed": [{"IPProtocol": "tcp", "ports": ["443"]}]},
            {"name": "deny-all", "network": "default", "denied": [{"IPProtocol": "all"}], "priority": 65000}
        ],
        "securityPolicies": [{"name": "edge", "rules": [
            {"priority": 1000, "action": "deny(403)", "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["198.51.100.0/24"]}}}
        ]}],
        "subnetworks": [{"name": "app", "region": "europe-west1", "network": "default", "ipCidrRange": "10.0.0.0/24"}]
    }))
    .expect("seed")
}

async fn start(seed: Seed) -> (GcpEmulator, RunningEmulator) {
    let e = GcpEmulator::new(seed);
    let running = e.start("127.0.0.1:0").await.expect("starts");
    (e, running)
}

async fn call(
    running: &RunningEmulator,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client
        .request(method, format!("{}{path}", running.base_url()))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("answer");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn seeds_are_filled_in_and_yaml_friendly() {
    let yaml_like: Seed = serde_json::from_str(
        r#"{"firewalls": [{"name": "a", "network": "default", "allowed": [{"IPProtocol": "tcp"}]}]}"#,
    )
    .expect("seed");
    let e = GcpEmulator::new(yaml_like);
    let s = e.snapshot();
    assert_eq!(s.project, "demo-project");
    assert_eq!(s.firewalls[0]["priority"], 1000);
    assert_eq!(s.firewalls[0]["direction"], "INGRESS");
    assert_eq!(s.firewalls[0]["sourceRanges"], json!(["0.0.0.0/0"]));
    let p = GcpEmulator::new(seed()).snapshot();
    let rules = p.security_policies[0]["rules"]
        .as_array()
        .expect("rules")
        .len();
    assert_eq!(rules, 2, "default rule added");
}

#[tokio::test]
async fn requests_without_a_known_token_get_googles_401() {
    let (_e, running) = start(seed()).await;
    let resp = reqwest::Client::new()
        .get(format!("{}{P}/global/firewalls", running.base_url()))
        .bearer_auth("nope")
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], 401);
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    assert_eq!(body["error"]["errors"][0]["reason"], "authError");
}

#[tokio::test]
async fn the_metadata_server_needs_its_header_and_issues_usable_tokens() {
    let (_e, running) = start(seed()).await;
    let url = format!(
        "{}/computeMetadata/v1/instance/service-accounts/default/token",
        running.base_url()
    );
    let client = reqwest::Client::new();
    assert_eq!(client.get(&url).send().await.expect("answer").status(), 403);
    let token: Value = client
        .get(&url)
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    let access = token["access_token"].as_str().expect("token");
    let resp = client
        .get(format!("{}{P}/global/firewalls", running.base_url()))
        .bearer_auth(access)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn the_token_endpoint_refuses_unsigned_assertions() {
    let (_e, running) = start(seed()).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/token", running.base_url()))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
            ("assertion", "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln"),
        ])
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn lists_page_with_max_results_and_page_token() {
    let (_e, running) = start(seed()).await;
    let (s, first) = call(
        &running,
        Method::GET,
        &format!("{P}/global/firewalls?maxResults=2"),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    let token = first["nextPageToken"].as_str().expect("more");
    let (_, second) = call(
        &running,
        Method::GET,
        &format!("{P}/global/firewalls?maxResults=2&pageToken={token}"),
        None,
    )
    .await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert!(second.get("nextPageToken").is_none());
    let (s, err) = call(
        &running,
        Method::GET,
        &format!("{P}/global/firewalls?maxResults=501"),
        None,
    )
    .await;
    assert_eq!(
        (s, err["error"]["status"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    let (s, _) = call(
        &running,
        Method::GET,
        &format!("{P}/global/firewalls?pageToken=bogus"),
        None,
    )
    .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn writes_answer_operations_that_finish_after_polls_or_with_an_error() {
    let (e, running) = start(seed()).await;
    e.set_operation_polls(2);
    let fw = json!({"name": "new", "network": "global/networks/default", "allowed": [{"IPProtocol": "udp"}]});
    let (s, op) = call(
        &running,
        Method::POST,
        &format!("{P}/global/firewalls"),
        Some(fw.clone()),
    )
    .await;
    assert_eq!((s, op["status"].as_str()), (200, Some("RUNNING")));
    let name = op["name"].as_str().expect("name").to_string();
    let (_, polled) = call(
        &running,
        Method::POST,
        &format!("{P}/global/operations/{name}/wait"),
        None,
    )
    .await;
    assert_eq!(polled["status"], "RUNNING");
    let (_, polled) = call(
        &running,
        Method::GET,
        &format!("{P}/global/operations/{name}"),
        None,
    )
    .await;
    assert_eq!(polled["status"], "DONE");
    let (s, dup) = call(
        &running,
        Method::POST,
        &format!("{P}/global/firewalls"),
        Some(fw),
    )
    .await;
    assert_eq!(
        (s, dup["error"]["status"].as_str()),
        (409, Some("ALREADY_EXISTS"))
    );

    e.set_operation_polls(0);
    e.fail_next_operation("quota exceeded");
    let (_, op) = call(
        &running,
        Method::DELETE,
        &format!("{P}/global/firewalls/new"),
        None,
    )
    .await;
    assert_eq!(op["status"], "DONE");
    assert_eq!(op["error"]["errors"][0]["message"], "quota exceeded");
    assert_eq!(
        e.snapshot().firewalls.len(),
        4,
        "a failed operation changes nothing"
    );
}

#[tokio::test]
async fn fingerprints_change_on_every_write_and_stale_ones_get_412() {
    let (e, running) = start(seed()).await;
    e.set_operation_polls(0);
    let path = format!("{P}/regions/europe-west1/subnetworks/app");
    let (_, subnet) = call(&running, Method::GET, &path, None).await;
    let fp = subnet["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_string();
    let patch = json!({"logConfig": {"enable": true}, "fingerprint": fp});
    let (s, op) = call(&running, Method::PATCH, &path, Some(patch.clone())).await;
    assert_eq!((s, op["status"].as_str()), (200, Some("DONE")));
    assert!(
        op["region"]
            .as_str()
            .is_some_and(|r| r.ends_with("/regions/europe-west1"))
    );
    let (s, err) = call(&running, Method::PATCH, &path, Some(patch)).await;
    assert_eq!(s, 412);
    assert_eq!(err["error"]["errors"][0]["reason"], "conditionNotMet");
    let (_, subnet) = call(&running, Method::GET, &path, None).await;
    assert_eq!(subnet["logConfig"]["enable"], true);
    assert_ne!(subnet["fingerprint"].as_str(), Some(fp.as_str()));

    let policy = format!("{P}/global/securityPolicies/edge");
    let (_, before) = call(&running, Method::GET, &policy, None).await;
    let rule =
        json!({"priority": 10, "action": "allow", "match": {"expr": {"expression": "true"}}});
    call(
        &running,
        Method::POST,
        &format!("{policy}/addRule"),
        Some(rule),
    )
    .await;
    let (_, after) = call(&running, Method::GET, &policy, None).await;
    assert_ne!(before["fingerprint"], after["fingerprint"]);
    let (s, _) = call(
        &running,
        Method::PATCH,
        &policy,
        Some(json!({"description": "x", "fingerprint": before["fingerprint"]})),
    )
    .await;
    assert_eq!(s, 412);
    let (s, _) = call(
        &running,
        Method::POST,
        &format!("{policy}/removeRule?priority=2147483647"),
        None,
    )
    .await;
    assert_eq!(s, 400, "the default rule stays");
}

#[tokio::test]
async fn unknown_fields_are_refused() {
    let (_e, running) = start(seed()).await;
    let (s, err) = call(
        &running,
        Method::POST,
        &format!("{P}/global/firewalls"),
        Some(
            json!({"name": "x", "allowed": [{"IPProtocol": "tcp"}], "sourceCidrs": ["1.2.3.4/32"]}),
        ),
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("sourceCidrs")
    );
}

#[tokio::test]
async fn faults_use_googles_error_shape() {
    let (e, running) = start(seed()).await;
    e.faults().inject(
        FaultRule::new(
            "/global/firewalls",
            Fault::RateLimited {
                retry_after_secs: 3,
            },
        )
        .times(1),
    );
    let resp = reqwest::Client::new()
        .get(format!("{}{P}/global/firewalls", running.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "3");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["status"], "RESOURCE_EXHAUSTED");
    e.faults()
        .inject(FaultRule::new("", Fault::ServerError { status: 503 }).times(1));
    let (s, body) = call(
        &running,
        Method::GET,
        &format!("{P}/global/firewalls"),
        None,
    )
    .await;
    assert_eq!((s, body["error"]["code"].as_u64()), (503, Some(503)));
    e.faults()
        .inject(FaultRule::new("", Fault::Hang { millis: 300 }).times(1));
    let started = std::time::Instant::now();
    let (s, _) = call(
        &running,
        Method::GET,
        &format!("{P}/global/firewalls"),
        None,
    )
    .await;
    assert!(s == 200 && started.elapsed() >= Duration::from_millis(300));
    e.faults()
        .inject(FaultRule::new("", Fault::Malformed).times(1));
    let (_, body) = call(
        &running,
        Method::GET,
        &format!("{P}/global/firewalls"),
        None,
    )
    .await;
    assert!(body.is_string(), "not JSON");
}

#[tokio::test]
async fn monitoring_names_are_assigned_and_patch_replaces() {
    let (_e, running) = start(seed()).await;
    let coll = "/v3/projects/demo-project/alertPolicies";
    let (s, created) = call(
        &running,
        Method::POST,
        coll,
        Some(json!({"displayName": "a", "conditions": [], "name": "ignored"})),
    )
    .await;
    assert_eq!(s, 200);
    let name = created["name"].as_str().expect("name").to_string();
    assert!(name.starts_with("projects/demo-project/alertPolicies/"));
    assert_eq!(created["combiner"], "OR");
    let (s, patched) = call(
        &running,
        Method::PATCH,
        &format!("/v3/{name}"),
        Some(json!({"displayName": "b", "conditions": [], "enabled": false})),
    )
    .await;
    assert_eq!((s, patched["displayName"].as_str()), (200, Some("b")));
    let (s, _) = call(&running, Method::DELETE, &format!("/v3/{name}"), None).await;
    assert_eq!(s, 200);
    let (s, _) = call(&running, Method::GET, &format!("/v3/{name}"), None).await;
    assert_eq!(s, 404);
}

const POOL: &str =
    "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/oidc";
const SA: &str = "perimeter@demo-project.iam.gserviceaccount.com";

/// STS token exchange: each form field is checked, only subject tokens the pool provider
/// knows are exchanged, and the federated token impersonates only allowed accounts.
#[tokio::test]
async fn sts_exchanges_known_subject_tokens_and_iam_impersonates_allowed_accounts() {
    let mut s = seed();
    s.workload_identity_providers = vec![perimeter_emulators::gcp::WorkloadIdentityProvider {
        audience: POOL.into(),
        subject_tokens: Vec::new(),
        service_accounts: vec![SA.into()],
        aws_access_keys: Vec::new(),
    }];
    let (emulator, running) = start(s).await;
    let subject = emulator.mint_subject_token(POOL);
    let client = reqwest::Client::new();
    let exchange = |fields: Vec<(&'static str, String)>| {
        let client = client.clone();
        let url = format!("{}/v1/token", running.base_url());
        async move {
            let resp = client.post(url).form(&fields).send().await.expect("answer");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.expect("json");
            (status, body)
        }
    };
    let good = |subject: &str| {
        vec![
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange".to_string(),
            ),
            ("audience", POOL.to_string()),
            (
                "scope",
                "https://www.googleapis.com/auth/cloud-platform".to_string(),
            ),
            (
                "requested_token_type",
                "urn:ietf:params:oauth:token-type:access_token".to_string(),
            ),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:jwt".to_string(),
            ),
            ("subject_token", subject.to_string()),
        ]
    };
    let without = |name: &str| {
        good(&subject)
            .into_iter()
            .filter(|(k, _)| *k != name)
            .collect::<Vec<_>>()
    };
    let cases = [
        (without("grant_type"), "unsupported_grant_type"),
        (without("scope"), "invalid_request"),
        (without("requested_token_type"), "invalid_request"),
        (without("subject_token_type"), "invalid_request"),
        (without("audience"), "invalid_target"),
        (good("eyJ.forged"), "invalid_grant"),
    ];
    for (fields, error) in cases {
        let (status, body) = exchange(fields).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{body}"
        );
        assert!(
            !body.to_string().contains("forged"),
            "never echoes the subject token"
        );
    }
    let (status, body) = exchange(good(&subject)).await;
    assert_eq!(status, 200, "{body}");
    let federated = body["access_token"].as_str().expect("token").to_string();
    assert_eq!(
        body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );

    let impersonate = |email: &str, bearer: &str| {
        let req = client
            .post(format!(
                "{}/v1/projects/-/serviceAccounts/{email}:generateAccessToken",
                running.base_url()
            ))
            .bearer_auth(bearer)
            .json(&json!({"scope": ["https://www.googleapis.com/auth/cloud-platform"], "lifetime": "600s"}));
        async move {
            let resp = req.send().await.expect("answer");
            (
                resp.status().as_u16(),
                resp.json::<Value>().await.expect("json"),
            )
        }
    };
    assert_eq!(impersonate(SA, "ya29.unknown").await.0, 401);
    assert_eq!(
        impersonate(SA, TOKEN).await.0,
        403,
        "not a federated identity"
    );
    assert_eq!(
        impersonate("other@demo-project.iam.gserviceaccount.com", &federated)
            .await
            .0,
        403
    );
    let (status, body) = impersonate(SA, &federated).await;
    assert_eq!(status, 200, "{body}");
    let token = body["accessToken"]
        .as_str()
        .expect("accessToken")
        .to_string();
    assert!(
        body["expireTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    let listed = reqwest::Client::new()
        .get(format!("{}{P}/global/firewalls", running.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .expect("answer");
    assert_eq!(
        listed.status().as_u16(),
        200,
        "the impersonated token is usable"
    );
}

const SA_EMAIL: &str = "perimeter@demo-project.iam.gserviceaccount.com";

/// An RS256 JWT over `claims`, signed with a PKCS#8 PEM key.
fn sign(claims: &Value, pem: &str) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(der).expect("pem");
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("key");
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("sign");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Google accepts a service account's self-signed JWT as the bearer itself (what
/// google-cloud-auth sends for a key): signed by a seeded account's key, `iss` = `sub`, a
/// cloud-platform `scope` or an API `aud`, unexpired and at most an hour long (plus the
/// libraries' clock-skew allowance). Anything else is the API's 401.
#[tokio::test]
async fn self_signed_service_account_jwts_are_accepted_as_bearers() {
    let key = include_str!("../../tests/fixtures/gcp/test-sa.key.pem");
    let other = include_str!("../../tests/fixtures/gcp/other-sa.key.pem");
    let mut s = seed();
    s.tokens.clear();
    s.service_accounts = vec![perimeter_emulators::gcp::ServiceAccount {
        client_email: SA_EMAIL.into(),
        public_key_pem: include_str!("../../tests/fixtures/gcp/test-sa.pub.pem").into(),
    }];
    let (emulator, running) = start(s).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = |extra: Value| {
        let mut c = json!({"iss": SA_EMAIL, "sub": SA_EMAIL, "iat": now - 10, "exp": now + 3610,
            "scope": "https://www.googleapis.com/auth/cloud-platform"});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if v.is_null() {
                    c.remove(k);
                } else {
                    c.insert(k.clone(), v.clone());
                }
            }
        }
        c
    };
    let get = |jwt: String| {
        let url = format!("{}{P}/global/firewalls", running.base_url());
        async move {
            let resp = reqwest::Client::new()
                .get(url)
                .bearer_auth(jwt)
                .send()
                .await
                .expect("answer");
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.expect("json");
            (
                status,
                body["error"]["message"].as_str().unwrap_or("").to_string(),
            )
        }
    };
    let good = sign(&claims(json!({})), key);
    assert_eq!(get(good.clone()).await.0, 200);
    assert_eq!(emulator.accepted_jwts(), vec![good.clone()]);
    let aimed = claims(json!({"scope": null, "aud": "https://compute.googleapis.com/"}));
    assert_eq!(get(sign(&aimed, key)).await.0, 200);

    for (bad, needle) in [
        (sign(&claims(json!({})), other), "Invalid JWT Signature"),
        (sign(&claims(json!({"exp": now - 1})), key), "short-lived"),
        (
            sign(&claims(json!({"iat": now, "exp": now + 7200})), key),
            "short-lived",
        ),
        (sign(&claims(json!({"scope": null})), key), "scope"),
        (
            sign(
                &claims(json!({"scope": "https://www.googleapis.com/auth/pubsub"})),
                key,
            ),
            "scope",
        ),
        (sign(&claims(json!({"sub": "someone@else"})), key), "sub"),
        (
            sign(
                &claims(json!({"iss": "unknown@x", "sub": "unknown@x"})),
                key,
            ),
            "Invalid JWT Signature",
        ),
    ] {
        let (status, message) = get(bad).await;
        assert_eq!(status, 401, "{message}");
        assert!(message.contains(needle), "{needle}: {message}");
    }
    emulator.revoke_tokens();
    let (status, message) = get(good).await;
    assert_eq!(
        (status, message.contains("expired")),
        (401, true),
        "{message}"
    );
    assert!(
        emulator.accepted_jwts().is_empty(),
        "revoked JWTs are no longer listed"
    );
}
