//! Request dispatch for the GCP emulator. Paths are matched by segments in one handler: the
//! three APIs share one server, and their paths are easier to read side by side here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::{PendingOp, Shared, Store, error_body, logging, network_url};
use crate::server::{self, json_response};

const METADATA_TOKEN: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
const STS_TOKEN: &str = "/v1/token";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const SUBJECT_TOKEN_TYPES: &[&str] = &[
    "urn:ietf:params:oauth:token-type:jwt",
    "urn:ietf:params:oauth:token-type:id_token",
    "urn:ietf:params:oauth:token-type:saml2",
    AWS_TOKEN_TYPE,
];
const AWS_TOKEN_TYPE: &str = "urn:ietf:params:aws:token-type:aws4_request";
/// Google's self-signed JWTs live at most an hour; Google's client libraries add ten seconds
/// of clock-skew allowance on each side, which Google accepts.
const JWT_MAX_LIFETIME: u64 = 3600 + 60;
const DEFAULT_ARMOR_PRIORITY: u64 = 2_147_483_647;

const FIREWALL_FIELDS: &[&str] = &[
    "name",
    "description",
    "network",
    "priority",
    "sourceRanges",
    "destinationRanges",
    "sourceTags",
    "targetTags",
    "sourceServiceAccounts",
    "targetServiceAccounts",
    "allowed",
    "denied",
    "direction",
    "logConfig",
    "disabled",
    "params",
    "id",
    "kind",
    "selfLink",
    "creationTimestamp",
];
const POLICY_FIELDS: &[&str] = &[
    "name",
    "description",
    "rules",
    "fingerprint",
    "type",
    "id",
    "kind",
    "selfLink",
    "creationTimestamp",
    "adaptiveProtectionConfig",
    "advancedOptionsConfig",
    "labels",
];
const RULE_FIELDS: &[&str] = &[
    "priority",
    "action",
    "description",
    "preview",
    "match",
    "kind",
    "rateLimitOptions",
    "redirectOptions",
    "headerAction",
];
const SUBNET_PATCH_FIELDS: &[&str] = &[
    "logConfig",
    "fingerprint",
    "name",
    "description",
    "privateIpGoogleAccess",
    "secondaryIpRanges",
    "stackType",
    "region",
    "network",
    "ipCidrRange",
];
const ALERT_FIELDS: &[&str] = &[
    "name",
    "displayName",
    "documentation",
    "userLabels",
    "conditions",
    "combiner",
    "enabled",
    "validity",
    "notificationChannels",
    "creationRecord",
    "mutationRecord",
    "alertStrategy",
    "severity",
];
const UPTIME_FIELDS: &[&str] = &[
    "name",
    "displayName",
    "monitoredResource",
    "resourceGroup",
    "httpCheck",
    "tcpCheck",
    "period",
    "timeout",
    "contentMatchers",
    "checkerType",
    "selectedRegions",
    "isInternal",
    "internalCheckers",
    "userLabels",
    "syntheticMonitor",
];

type Reply = Result<(StatusCode, Value), (u16, String)>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(dispatch).with_state(shared)
}

fn fail<T>(status: u16, message: impl Into<String>) -> Result<T, (u16, String)> {
    Err((status, message.into()))
}

fn ok(v: Value) -> Reply {
    Ok((StatusCode::OK, v))
}

async fn dispatch(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let query = parse_pairs(uri.query().unwrap_or(""));
    let oauth = path == "/token" || path == STS_TOKEN;
    let reply = if path == "/token" && method == Method::POST {
        token(&shared, &body)
    } else if path == STS_TOKEN && method == Method::POST {
        sts_token(&shared, &body)
    } else if path == METADATA_TOKEN && method == Method::GET {
        metadata_token(&shared, &headers)
    } else if let Some(email) = impersonated(&path).filter(|_| method == Method::POST) {
        generate_access_token(&shared, &headers, email, &body)
    } else {
        let mut store = shared.store();
        match authenticate(&mut store, &headers) {
            Err(message) => fail(401, message),
            Ok(principal) => {
                let agent = headers
                    .get("user-agent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                store.caller = (principal, agent);
                route(&mut store, &method, &path, &query, &body)
            }
        }
    };
    match reply {
        Ok((status, v)) => json_response(status, &v),
        Err((status, message)) => {
            if oauth {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                let (error, description) = message
                    .split_once(": ")
                    .filter(|(e, _)| e.starts_with("invalid_") || e.starts_with("unsupported_"))
                    .unwrap_or(("invalid_grant", message.as_str()));
                return json_response(
                    status,
                    &json!({"error": error, "error_description": description}),
                );
            }
            json_response(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                &error_body(status, &message),
            )
        }
    }
}

fn authorised(store: &Store, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| store.issued.contains(t) || store.seed.tokens.iter().any(|s| s == t))
}

/// A bearer the APIs accept: a token the emulator issued or was seeded with, or a
/// service account's self-signed JWT (as Google accepts one in place of an access token:
/// RS256 by a seeded account's key, `iss` = `sub` = its email, a `scope` or an `aud`, not
/// expired, at most an hour long). The error is the API's 401 message; the answer, the
/// service account the bearer acts as.
fn authenticate(store: &mut Store, headers: &HeaderMap) -> Result<String, String> {
    const MISSING: &str = "Request is missing required authentication credential.";
    if authorised(store, headers) {
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        return Ok(store
            .principals
            .get(bearer)
            .cloned()
            .unwrap_or_else(|| store.seed.principal.clone()));
    }
    let Some(bearer) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| t.split('.').count() == 3)
    else {
        return Err(MISSING.into());
    };
    if store.revoked_jwts.contains(bearer) {
        return Err("Invalid JWT: Token has expired.".into());
    }
    let claims = verify_jwt(store, bearer)?;
    let iss = claims.get("iss").and_then(Value::as_str);
    if iss.is_none() || claims.get("sub").and_then(Value::as_str) != iss {
        return Err("Invalid JWT: iss and sub must be the service account".into());
    }
    let scoped = claims
        .get("scope")
        .and_then(Value::as_str)
        .is_some_and(|s| s.split(' ').any(|s| s == CLOUD_PLATFORM));
    let aimed = claims
        .get("aud")
        .and_then(Value::as_str)
        .is_some_and(|a| a.starts_with("https://") && a.contains(".googleapis.com"));
    if !scoped && !aimed {
        return Err("Invalid JWT: neither a cloud-platform scope nor an API audience".into());
    }
    store.seen_jwts.insert(bearer.to_string());
    Ok(iss.unwrap_or_default().to_string())
}

const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Checks a JWT signed by a seeded service account: RS256, a known `iss`, the signature, and
/// `exp` in the future and at most [`JWT_MAX_LIFETIME`] after `iat`. Returns the claims.
fn verify_jwt(store: &Store, jwt: &str) -> Result<Value, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err("Invalid JWT: not a JWT".into());
    };
    let decode = |s: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()
    };
    let (Some(header_v), Some(claims_v), Ok(sig)) = (
        decode(header),
        decode(claims),
        URL_SAFE_NO_PAD.decode(signature),
    ) else {
        return Err("Invalid JWT: not a JWT".into());
    };
    if header_v.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err("Invalid JWT: alg must be RS256".into());
    }
    let exp = claims_v.get("exp").and_then(Value::as_u64).unwrap_or(0);
    let iat = claims_v.get("iat").and_then(Value::as_u64).unwrap_or(0);
    if exp <= now() || exp > iat + JWT_MAX_LIFETIME {
        return Err("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.".into());
    }
    let iss = claims_v.get("iss").and_then(Value::as_str).unwrap_or("");
    let public = store
        .seed
        .service_accounts
        .iter()
        .find(|a| a.client_email == iss)
        .and_then(|a| pem_der(&a.public_key_pem))
        .ok_or("Invalid JWT Signature.")?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public)
        .verify(format!("{header}.{claims}").as_bytes(), &sig)
        .map_err(|_| "Invalid JWT Signature.")?;
    Ok(claims_v)
}

// ---- tokens ------------------------------------------------------------------------------

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn issue(store: &mut Store, principal: String) -> Value {
    let token = format!("ya29.emulated-{}", store.ids.hex32());
    store.issued.insert(token.clone());
    store.principals.insert(token.clone(), principal);
    json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
}

fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD.decode(b64.as_bytes()).ok()
}

fn token(shared: &Shared, body: &Bytes) -> Reply {
    let form = parse_pairs(&String::from_utf8_lossy(body));
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return fail(400, "unsupported grant_type");
    }
    let Some(jwt) = form.get("assertion") else {
        return fail(400, "assertion missing");
    };
    let mut store = shared.store();
    let claims = match verify_jwt(&store, jwt) {
        Ok(c) => c,
        Err(message) => return fail(400, message),
    };
    let aud_ok = claims
        .get("aud")
        .and_then(Value::as_str)
        .is_some_and(|a| a.ends_with("/token"));
    if !aud_ok || claims.get("scope").is_none() {
        return fail(400, "Invalid JWT: bad aud, scope, iat or exp");
    }
    let principal = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    ok(issue(&mut store, principal))
}

fn metadata_token(shared: &Shared, headers: &HeaderMap) -> Reply {
    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
        return fail(403, "Missing Metadata-Flavor: Google header");
    }
    let mut store = shared.store();
    if !store.seed.metadata_server {
        return fail(404, "no service account for this workload");
    }
    let principal = store.seed.principal.clone();
    ok(issue(&mut store, principal))
}

/// STS token exchange (RFC 8693, as `sts.googleapis.com/v1/token` does it): a subject token
/// the pool provider named by `audience` trusts → a federated access token.
fn sts_token(shared: &Shared, body: &Bytes) -> Reply {
    let form = parse_pairs(&String::from_utf8_lossy(body));
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    if field("grant_type") != TOKEN_EXCHANGE {
        return fail(
            400,
            "unsupported_grant_type: grant_type must be token-exchange",
        );
    }
    if field("requested_token_type") != ACCESS_TOKEN_TYPE {
        return fail(
            400,
            "invalid_request: requested_token_type must be access_token",
        );
    }
    if !SUBJECT_TOKEN_TYPES.contains(&field("subject_token_type")) {
        return fail(400, "invalid_request: unsupported subject_token_type");
    }
    if field("scope").is_empty() {
        return fail(400, "invalid_request: scope is required");
    }
    let mut store = shared.store();
    let audience = field("audience");
    let Some(provider) = store
        .seed
        .workload_identity_providers
        .iter()
        .find(|p| p.audience == audience)
    else {
        return fail(
            400,
            "invalid_target: the audience is not a known pool provider",
        );
    };
    let subject = field("subject_token");
    let trusted = if field("subject_token_type") == AWS_TOKEN_TYPE {
        aws_caller(subject, audience).is_some_and(|(key_id, valid)| {
            provider
                .aws_access_keys
                .iter()
                .any(|k| k.access_key_id == key_id && valid(&k.secret_access_key))
        })
    } else {
        provider.subject_tokens.iter().any(|t| t == subject)
    };
    if subject.is_empty() || !trusted {
        return fail(
            400,
            "invalid_grant: the subject token is invalid or has expired",
        );
    }
    let token = format!("ya29.federated-{}", store.ids.hex32());
    store.issued.insert(token.clone());
    store.federated.insert(token.clone(), audience.to_string());
    ok(
        json!({"access_token": token, "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer", "expires_in": 3599}),
    )
}

/// An AWS subject token (as Google's STS reads one): the URL-encoded JSON of a signed AWS
/// STS `GetCallerIdentity` request whose `x-goog-cloud-target-resource` header is the pool
/// provider. Returns the access key id it was signed with, and a check of the SigV4
/// signature against a secret key.
type SignatureCheck = Box<dyn Fn(&str) -> bool>;

fn aws_caller(subject: &str, audience: &str) -> Option<(String, SignatureCheck)> {
    let request: Value = serde_json::from_str(&percent_decode(subject)).ok()?;
    let url = request.get("url")?.as_str()?.to_string();
    let method = request.get("method")?.as_str()?.to_string();
    let body = request.get("body")?.as_str().unwrap_or("").to_string();
    let (host_and_path, query) = url.strip_prefix("https://")?.split_once('?')?;
    let host = host_and_path.trim_end_matches('/');
    if method != "POST" || !host.starts_with("sts.") || !host.ends_with(".amazonaws.com") {
        return None;
    }
    let mut headers = BTreeMap::new();
    for h in request.get("headers")?.as_array()? {
        headers.insert(
            h.get("key")?.as_str()?.to_ascii_lowercase(),
            h.get("value")?.as_str()?.to_string(),
        );
    }
    let authorization = headers.remove("authorization")?;
    if headers
        .get("x-goog-cloud-target-resource")
        .map(String::as_str)
        != Some(audience)
        || headers.get("host").map(String::as_str) != Some(host)
    {
        return None;
    }
    // AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/sts/aws4_request, SignedHeaders=…, Signature=…
    let rest = authorization.strip_prefix("AWS4-HMAC-SHA256 Credential=")?;
    let (credential, rest) = rest.split_once(", SignedHeaders=")?;
    let (signed, signature) = rest.split_once(", Signature=")?;
    let mut scope = credential.splitn(2, '/');
    let key_id = scope.next()?.to_string();
    let scope = scope.next()?.to_string();
    let mut scope_parts = scope.split('/');
    let (date, region) = (
        scope_parts.next()?.to_string(),
        scope_parts.next()?.to_string(),
    );
    let amz_date = headers.get("x-amz-date")?.clone();
    let mut pairs: Vec<(String, String)> = parse_pairs(query).into_iter().collect();
    pairs.sort();
    let canonical_query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_headers: String = signed
        .split(';')
        .map(|k| format!("{k}:{}\n", headers.get(k).map(|v| v.trim()).unwrap_or("")))
        .collect();
    let canonical_request = format!(
        "{method}\n/\n{canonical_query}\n{canonical_headers}\n{signed}\n{}",
        sha256_hex(body.as_bytes())
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let signature = signature.to_string();
    let check = move |secret: &str| {
        let mut key = format!("AWS4{secret}").into_bytes();
        for part in [date.as_str(), region.as_str(), "sts", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        hex(&hmac(&key, string_to_sign.as_bytes())) == signature
    };
    Some((key_id, Box::new(check)))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, data).as_ref().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `application/x-www-form-urlencoded` encoding, as the `url` crate's serializer does it.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `/v1/projects/-/serviceAccounts/{email}:generateAccessToken` → the email.
fn impersonated(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/projects/-/serviceAccounts/")?
        .strip_suffix(":generateAccessToken")
        .filter(|e| e.contains('@'))
}

/// IAM Credentials `generateAccessToken`, called with a federated token whose pool provider
/// may act as the service account.
fn generate_access_token(shared: &Shared, headers: &HeaderMap, email: &str, body: &Bytes) -> Reply {
    let mut store = shared.store();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let Some(audience) = store.federated.get(bearer).cloned() else {
        if authorised(&store, headers) {
            return fail(
                403,
                format!(
                    "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist): {email}"
                ),
            );
        }
        return fail(
            401,
            "Request is missing required authentication credential.",
        );
    };
    let allowed = store
        .seed
        .workload_identity_providers
        .iter()
        .any(|p| p.audience == audience && p.service_accounts.iter().any(|s| s == email));
    if !allowed {
        return fail(
            403,
            format!(
                "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist): {email}"
            ),
        );
    }
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return fail(400, "Invalid JSON payload received."),
    };
    unknown_fields(&request, &["scope", "lifetime", "delegates"])?;
    let scopes = request.get("scope").and_then(Value::as_array);
    if scopes.is_none_or(|s| s.is_empty()) {
        return fail(400, "Scope required.");
    }
    let lifetime = match request.get("lifetime").and_then(Value::as_str) {
        None => 3600,
        Some(l) => match l.strip_suffix('s').and_then(|n| n.parse::<u64>().ok()) {
            Some(n) if (1..=43200).contains(&n) => n,
            _ => return fail(400, format!("Invalid value for field 'lifetime': {l}")),
        },
    };
    let token = format!("ya29.impersonated-{}", store.ids.hex32());
    store.issued.insert(token.clone());
    store.principals.insert(token.clone(), email.to_string());
    let expire = SystemTime::now() + std::time::Duration::from_secs(lifetime);
    ok(json!({"accessToken": token, "expireTime": server::rfc3339(expire)}))
}

// ---- routing -----------------------------------------------------------------------------

fn route(
    store: &mut Store,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    body: &Bytes,
) -> Reply {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let body = || -> Result<Value, (u16, String)> {
        if body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(body)
            .map_err(|_| (400, "Invalid JSON payload received.".to_string()))
    };
    let project = store.seed.project.clone();
    match segs.as_slice() {
        ["compute", "v1", "projects", p, rest @ ..] => {
            if *p != project {
                return fail(404, format!("The resource 'projects/{p}' was not found"));
            }
            compute(store, method, rest, query, body)
        }
        [
            "v1",
            "projects",
            p,
            "locations",
            "global",
            "vpcFlowLogsConfigs",
        ] if *p == project => {
            if method != Method::GET {
                return fail(405, "method not allowed");
            }
            let items = store.seed.vpc_flow_logs_configs.clone();
            page(&items, query, "vpcFlowLogsConfigs", "pageSize", 100, 1000)
        }
        ["v3", "projects", p, "notificationChannels"] if *p == project => {
            if method != Method::GET {
                return fail(405, "method not allowed");
            }
            let items = store.seed.notification_channels.clone();
            page(&items, query, "notificationChannels", "pageSize", 100, 1000)
        }
        [
            "v3",
            "projects",
            p,
            collection @ ("alertPolicies" | "uptimeCheckConfigs"),
            rest @ ..,
        ] if *p == project => monitoring(store, method, collection, rest, query, body),
        ["v2", "entries:list"] => {
            if method != Method::POST {
                return fail(405, "method not allowed");
            }
            let request = body()?;
            logging::list(store, &request).map(|v| (StatusCode::OK, v))
        }
        _ => fail(404, format!("The requested URL {path} was not found.")),
    }
}

/// One page of `items`. The page token is the offset, wrapped so it looks opaque.
fn page(
    items: &[Value],
    query: &BTreeMap<String, String>,
    key: &str,
    size_param: &str,
    default: usize,
    max: usize,
) -> Reply {
    let size = match query.get(size_param) {
        None => default,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n <= max => {
                if n == 0 {
                    default
                } else {
                    n
                }
            }
            _ => return fail(400, format!("Invalid value for field '{size_param}': {s}")),
        },
    };
    let start = match query.get("pageToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => match STANDARD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse().ok()))
        {
            Some(n) => n,
            None => return fail(400, "Invalid page token"),
        },
    };
    let end = (start + size).min(items.len());
    let chunk: Vec<Value> = items
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut out = json!({ key: chunk });
    if end < items.len() {
        out["nextPageToken"] = json!(STANDARD.encode(format!("offset:{end}")));
    }
    ok(out)
}

fn unknown_fields(v: &Value, known: &[&str]) -> Result<(), (u16, String)> {
    let Some(map) = v.as_object() else {
        return fail(400, "Invalid JSON payload received. Expected an object.");
    };
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => fail(
            400,
            format!("Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."),
        ),
        None => Ok(()),
    }
}

fn position(items: &[Value], name: &str) -> Option<usize> {
    items
        .iter()
        .position(|v| v.get("name").and_then(Value::as_str) == Some(name))
}

/// Starts an operation for a write. With an injected failure the write is not made.
/// With the Admin Activity entry (`v1.compute.{collection}.{op_type}`) that names the
/// operation, and keeps `request` (the body, or what identifies a rule).
fn operation(
    store: &mut Store,
    op_type: &str,
    target: &str,
    region: Option<&str>,
    request: Value,
    write: impl FnOnce(&mut Store),
) -> Reply {
    let n = store.next();
    let name = format!("operation-{n}-{}", &store.ids.hex32()[..8]);
    let base = store.base();
    let scope = region.map_or("global".to_string(), |r| format!("regions/{r}"));
    let mut op = json!({
        "kind": "compute#operation", "id": n.to_string(), "name": name,
        "operationType": op_type, "targetLink": format!("{base}/{target}"),
        "status": "RUNNING", "progress": 0, "insertTime": server::now_rfc3339(),
        "selfLink": format!("{base}/{scope}/operations/{name}"),
    });
    if let Some(r) = region {
        op["region"] = json!(format!("{base}/regions/{r}"));
    }
    let failure = store.fail_next.take();
    if failure.is_none() {
        write(store);
    }
    let collection = target.rsplit('/').nth(1).unwrap_or("");
    let mut logged =
        json!({"@type": format!("type.googleapis.com/compute.{collection}.{op_type}")});
    for (k, v) in request.as_object().into_iter().flatten() {
        logged[k] = v.clone();
    }
    let resource = format!("projects/{}/{target}", store.seed.project);
    logging::record(
        store,
        "compute.googleapis.com",
        &format!("v1.compute.{collection}.{op_type}"),
        &resource,
        logged,
        Some(&name),
    );
    let polls = store.operation_polls;
    let mut done = op.clone();
    done["status"] = json!("DONE");
    done["progress"] = json!(100);
    done["endTime"] = json!(server::now_rfc3339());
    if let Some(message) = failure {
        done["error"] = json!({"errors": [{"code": "INVALID_USAGE", "message": message}]});
        done["httpErrorStatusCode"] = json!(400);
        done["httpErrorMessage"] = json!("BAD REQUEST");
    }
    let first = if polls == 0 { done.clone() } else { op };
    store.operations.insert(
        name,
        PendingOp {
            op: done,
            polls_left: polls,
        },
    );
    ok(first)
}

fn poll(store: &mut Store, name: &str) -> Reply {
    let Some(pending) = store.operations.get_mut(name) else {
        return fail(
            404,
            format!("The resource 'operations/{name}' was not found"),
        );
    };
    if pending.polls_left > 0 {
        pending.polls_left -= 1;
    }
    let mut op = pending.op.clone();
    if pending.polls_left > 0 {
        op["status"] = json!("RUNNING");
        op["progress"] = json!(50);
        if let Some(m) = op.as_object_mut() {
            m.remove("error");
            m.remove("endTime");
            m.remove("httpErrorStatusCode");
            m.remove("httpErrorMessage");
        }
    }
    ok(op)
}

fn compute(
    store: &mut Store,
    method: &Method,
    rest: &[&str],
    query: &BTreeMap<String, String>,
    body: impl Fn() -> Result<Value, (u16, String)>,
) -> Reply {
    match (method.as_str(), rest) {
        ("GET", ["regions", region, "routers", name, "getRouterStatus"]) => {
            router_status(store, region, name)
        }
        ("GET", ["global", "networks"]) => {
            let items = store.seed.networks.clone();
            page(&items, query, "items", "maxResults", 500, 500)
        }
        ("GET", ["global", "firewalls"]) => {
            let items = store.seed.firewalls.clone();
            page(&items, query, "items", "maxResults", 500, 500)
        }
        ("POST", ["global", "firewalls"]) => {
            let mut fw = body()?;
            unknown_fields(&fw, FIREWALL_FIELDS)?;
            let name = validate_firewall(&fw)?;
            if position(&store.seed.firewalls, &name).is_some() {
                return fail(
                    409,
                    format!("The resource 'firewalls/{name}' already exists"),
                );
            }
            store.fill_firewall(&mut fw);
            operation(
                store,
                "insert",
                &format!("global/firewalls/{name}"),
                None,
                json!({"name": name}),
                |s| s.seed.firewalls.push(fw),
            )
        }
        ("GET", ["global", "firewalls", name]) => match position(&store.seed.firewalls, name) {
            Some(i) => ok(store.seed.firewalls[i].clone()),
            None => fail(
                404,
                format!("The resource 'firewalls/{name}' was not found"),
            ),
        },
        (m @ ("PATCH" | "PUT"), ["global", "firewalls", name]) => {
            let patch = body()?;
            unknown_fields(&patch, FIREWALL_FIELDS)?;
            let Some(i) = position(&store.seed.firewalls, name) else {
                return fail(
                    404,
                    format!("The resource 'firewalls/{name}' was not found"),
                );
            };
            let mut updated = if m == "PUT" {
                json!({"name": name})
            } else {
                store.seed.firewalls[i].clone()
            };
            for (k, v) in patch.as_object().into_iter().flatten() {
                updated[k] = v.clone();
            }
            if m == "PUT" {
                for k in ["id", "creationTimestamp"] {
                    updated[k] = store.seed.firewalls[i][k].clone();
                }
            }
            validate_firewall(&updated)?;
            store.fill_firewall(&mut updated);
            operation(
                store,
                if m == "PUT" { "update" } else { "patch" },
                &format!("global/firewalls/{name}"),
                None,
                json!({"name": name}),
                move |s| s.seed.firewalls[i] = updated,
            )
        }
        ("DELETE", ["global", "firewalls", name]) => {
            let Some(i) = position(&store.seed.firewalls, name) else {
                return fail(
                    404,
                    format!("The resource 'firewalls/{name}' was not found"),
                );
            };
            operation(
                store,
                "delete",
                &format!("global/firewalls/{name}"),
                None,
                json!({"name": name}),
                move |s| {
                    s.seed.firewalls.remove(i);
                },
            )
        }
        ("GET", ["global", "securityPolicies"]) => {
            let items = store.seed.security_policies.clone();
            page(&items, query, "items", "maxResults", 500, 500)
        }
        ("POST", ["global", "securityPolicies"]) => {
            let mut p = body()?;
            unknown_fields(&p, POLICY_FIELDS)?;
            let Some(name) = p.get("name").and_then(Value::as_str).map(str::to_string) else {
                return fail(400, "Required field 'name' not specified");
            };
            if position(&store.seed.security_policies, &name).is_some() {
                return fail(
                    409,
                    format!("The resource 'securityPolicies/{name}' already exists"),
                );
            }
            for r in p
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                validate_rule(r)?;
            }
            store.fill_policy(&mut p);
            operation(
                store,
                "insert",
                &format!("global/securityPolicies/{name}"),
                None,
                json!({"name": name}),
                |s| s.seed.security_policies.push(p),
            )
        }
        ("GET", ["global", "securityPolicies", name]) => {
            match position(&store.seed.security_policies, name) {
                Some(i) => ok(store.seed.security_policies[i].clone()),
                None => fail(
                    404,
                    format!("The resource 'securityPolicies/{name}' was not found"),
                ),
            }
        }
        ("PATCH", ["global", "securityPolicies", name]) => {
            let patch = body()?;
            unknown_fields(&patch, POLICY_FIELDS)?;
            if patch.get("rules").is_some() {
                return fail(
                    400,
                    "Rules cannot be updated with patch; use addRule, patchRule or removeRule",
                );
            }
            let Some(i) = position(&store.seed.security_policies, name) else {
                return fail(
                    404,
                    format!("The resource 'securityPolicies/{name}' was not found"),
                );
            };
            check_fingerprint(&store.seed.security_policies[i], &patch)?;
            let mut updated = store.seed.security_policies[i].clone();
            for (k, v) in patch.as_object().into_iter().flatten() {
                updated[k] = v.clone();
            }
            store.fill_policy(&mut updated);
            operation(
                store,
                "patch",
                &format!("global/securityPolicies/{name}"),
                None,
                json!({"name": name}),
                move |s| s.seed.security_policies[i] = updated,
            )
        }
        ("DELETE", ["global", "securityPolicies", name]) => {
            let Some(i) = position(&store.seed.security_policies, name) else {
                return fail(
                    404,
                    format!("The resource 'securityPolicies/{name}' was not found"),
                );
            };
            operation(
                store,
                "delete",
                &format!("global/securityPolicies/{name}"),
                None,
                json!({"name": name}),
                move |s| {
                    s.seed.security_policies.remove(i);
                },
            )
        }
        (
            m,
            [
                "global",
                "securityPolicies",
                name,
                verb @ ("addRule" | "patchRule" | "removeRule" | "getRule"),
            ],
        ) => {
            let expected = if *verb == "getRule" { "GET" } else { "POST" };
            if m != expected {
                return fail(405, "method not allowed");
            }
            let Some(i) = position(&store.seed.security_policies, name) else {
                return fail(
                    404,
                    format!("The resource 'securityPolicies/{name}' was not found"),
                );
            };
            let priority = match query.get("priority").map(|p| p.parse::<u64>()) {
                None => None,
                Some(Ok(p)) => Some(p),
                Some(Err(_)) => return fail(400, "Invalid value for field 'priority'"),
            };
            rule_verb(store, i, name, verb, priority, body)
        }
        ("GET", ["regions", region, "subnetworks"]) => {
            let items: Vec<Value> = store
                .seed
                .subnetworks
                .iter()
                .filter(|s| in_region(s, region))
                .cloned()
                .collect();
            page(&items, query, "items", "maxResults", 500, 500)
        }
        ("GET", ["regions", region, "subnetworks", name]) => {
            match subnet_index(store, region, name) {
                Some(i) => ok(store.seed.subnetworks[i].clone()),
                None => fail(
                    404,
                    format!("The resource 'subnetworks/{name}' was not found"),
                ),
            }
        }
        ("PATCH", ["regions", region, "subnetworks", name]) => {
            let patch = body()?;
            unknown_fields(&patch, SUBNET_PATCH_FIELDS)?;
            let Some(i) = subnet_index(store, region, name) else {
                return fail(
                    404,
                    format!("The resource 'subnetworks/{name}' was not found"),
                );
            };
            check_fingerprint(&store.seed.subnetworks[i], &patch)?;
            let mut updated = store.seed.subnetworks[i].clone();
            if let Some(lc) = patch.get("logConfig") {
                let mut merged = updated
                    .get("logConfig")
                    .cloned()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({}));
                for (k, v) in lc.as_object().into_iter().flatten() {
                    merged[k] = v.clone();
                }
                if merged.get("enable") == Some(&json!(true)) {
                    for (k, d) in [
                        ("aggregationInterval", json!("INTERVAL_5_SEC")),
                        ("flowSampling", json!(0.5)),
                        ("metadata", json!("INCLUDE_ALL_METADATA")),
                    ] {
                        if merged.get(k).is_none() {
                            merged[k] = d;
                        }
                    }
                }
                updated["logConfig"] = merged;
            }
            updated["fingerprint"] = json!(store.fingerprint());
            let region = region.to_string();
            operation(
                store,
                "patch",
                &format!("regions/{region}/subnetworks/{name}"),
                Some(&region),
                json!({"name": name}),
                move |s| s.seed.subnetworks[i] = updated,
            )
        }
        ("GET", ["global", "operations", name])
        | ("POST", ["global", "operations", name, "wait"]) => poll(store, name),
        ("GET", ["regions", _, "operations", name])
        | ("POST", ["regions", _, "operations", name, "wait"]) => poll(store, name),
        _ => fail(404, "The requested URL was not found on this server."),
    }
}

fn rule_verb(
    store: &mut Store,
    i: usize,
    name: &str,
    verb: &str,
    priority: Option<u64>,
    body: impl Fn() -> Result<Value, (u16, String)>,
) -> Reply {
    let target = format!("global/securityPolicies/{name}");
    let rules = store.seed.security_policies[i]
        .get("rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let at = |p: u64| {
        rules
            .iter()
            .position(|r| r.get("priority").and_then(Value::as_u64) == Some(p))
    };
    let mut rules = rules.clone();
    match verb {
        "getRule" => match at(priority.unwrap_or(0)) {
            Some(j) => ok(rules[j].clone()),
            None => fail(404, "No rule with the given priority exists"),
        },
        "addRule" => {
            let rule = body()?;
            validate_rule(&rule)?;
            let p = rule.get("priority").and_then(Value::as_u64).unwrap_or(0);
            if at(p).is_some() {
                return fail(400, format!("A rule with priority {p} already exists"));
            }
            rules.push(rule);
            set_rules(store, i, rules, ("addRule", p), &target)
        }
        "patchRule" => {
            let rule = body()?;
            unknown_fields(&rule, RULE_FIELDS)?;
            let Some(j) = at(priority.unwrap_or(0)) else {
                return fail(400, "No rule with the given priority exists");
            };
            for (k, v) in rule.as_object().into_iter().flatten() {
                rules[j][k] = v.clone();
            }
            validate_rule(&rules[j])?;
            set_rules(
                store,
                i,
                rules,
                ("patchRule", priority.unwrap_or(0)),
                &target,
            )
        }
        _ => {
            let p = priority.unwrap_or(0);
            if p == DEFAULT_ARMOR_PRIORITY {
                return fail(400, "The default rule cannot be removed");
            }
            let Some(j) = at(p) else {
                return fail(400, "No rule with the given priority exists");
            };
            rules.remove(j);
            set_rules(store, i, rules, ("removeRule", p), &target)
        }
    }
}

fn set_rules(
    store: &mut Store,
    i: usize,
    rules: Vec<Value>,
    (op, priority): (&str, u64),
    target: &str,
) -> Reply {
    let mut updated = store.seed.security_policies[i].clone();
    updated["rules"] = Value::from(rules);
    store.fill_policy(&mut updated);
    let request = json!({"priority": priority});
    operation(store, op, target, None, request, move |s| {
        s.seed.security_policies[i] = updated
    })
}

fn check_fingerprint(current: &Value, patch: &Value) -> Result<(), (u16, String)> {
    match patch.get("fingerprint").and_then(Value::as_str) {
        None => fail(400, "Required field 'fingerprint' not specified"),
        Some(f) if Some(f) != current.get("fingerprint").and_then(Value::as_str) => fail(
            412,
            "Supplied fingerprint does not match current metadata fingerprint.",
        ),
        Some(_) => Ok(()),
    }
}

/// A `RouterStatusResponse` for a seeded router: `network` as a URL, `natStatus` as seeded.
fn router_status(store: &Store, region: &str, name: &str) -> Reply {
    let Some(router) = store.seed.router_statuses.iter().find(|r| {
        r.get("name").and_then(Value::as_str) == Some(name)
            && r.get("region").and_then(Value::as_str) == Some(region)
    }) else {
        return fail(
            404,
            format!(
                "The resource 'projects/{}/regions/{region}/routers/{name}' was not found",
                store.seed.project
            ),
        );
    };
    let base = store.base();
    let mut result = json!({
        "network": network_url(&base, router.get("network").and_then(Value::as_str)),
    });
    if let Some(nat) = router.get("natStatus") {
        result["natStatus"] = nat.clone();
    }
    ok(json!({"kind": "compute#routerStatusResponse", "result": result}))
}

fn in_region(s: &Value, region: &str) -> bool {
    s.get("region")
        .and_then(Value::as_str)
        .is_some_and(|r| r.rsplit('/').next() == Some(region))
}

fn subnet_index(store: &Store, region: &str, name: &str) -> Option<usize> {
    store
        .seed
        .subnetworks
        .iter()
        .position(|s| in_region(s, region) && s.get("name").and_then(Value::as_str) == Some(name))
}

fn validate_firewall(fw: &Value) -> Result<String, (u16, String)> {
    let Some(name) = fw.get("name").and_then(Value::as_str) else {
        return fail(400, "Required field 'resource.name' not specified");
    };
    let has = |k: &str| {
        fw.get(k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    if has("allowed") == has("denied") {
        return fail(
            400,
            "Exactly one of 'allowed' and 'denied' must be specified",
        );
    }
    if let Some(p) = fw.get("priority")
        && p.as_u64().is_none_or(|p| p > 65535)
    {
        return fail(400, "Invalid value for field 'resource.priority'");
    }
    for key in ["allowed", "denied"] {
        for entry in fw.get(key).and_then(Value::as_array).into_iter().flatten() {
            if entry.get("IPProtocol").and_then(Value::as_str).is_none() {
                return fail(
                    400,
                    format!("Required field 'resource.{key}[].IPProtocol' not specified"),
                );
            }
        }
    }
    Ok(name.to_string())
}

fn validate_rule(rule: &Value) -> Result<(), (u16, String)> {
    unknown_fields(rule, RULE_FIELDS)?;
    if rule.get("priority").and_then(Value::as_u64).is_none()
        || rule.get("action").and_then(Value::as_str).is_none()
    {
        return fail(400, "A rule needs priority and action");
    }
    let m = rule.get("match");
    let ips = m.and_then(|m| m.pointer("/config/srcIpRanges")).is_some();
    let expr = m.and_then(|m| m.pointer("/expr/expression")).is_some();
    if ips == expr {
        return fail(
            400,
            "A rule match needs either config.srcIpRanges or expr.expression",
        );
    }
    Ok(())
}

fn monitoring(
    store: &mut Store,
    method: &Method,
    collection: &str,
    rest: &[&str],
    query: &BTreeMap<String, String>,
    body: impl Fn() -> Result<Value, (u16, String)>,
) -> Reply {
    let alerts = collection == "alertPolicies";
    let known = if alerts { ALERT_FIELDS } else { UPTIME_FIELDS };
    let project = store.seed.project.clone();
    fn collection_of(s: &mut Store, alerts: bool) -> &mut Vec<Value> {
        if alerts {
            &mut s.seed.alert_policies
        } else {
            &mut s.seed.uptime_checks
        }
    }

    match (method.as_str(), rest) {
        ("GET", []) => {
            let all = collection_of(store, alerts).clone();
            page(&all, query, collection, "pageSize", 100, 1000)
        }
        ("POST", []) => {
            let mut v = body()?;
            unknown_fields(&v, known)?;
            if v.get("displayName").and_then(Value::as_str).is_none() {
                return fail(400, "displayName is required");
            }
            if let Some(m) = v.as_object_mut() {
                // The server assigns the name.
                m.remove("name");
            }
            store.fill_monitoring(&mut v, collection);
            collection_of(store, alerts).push(v.clone());
            monitoring_audit(store, alerts, "Create", &v);
            ok(v)
        }
        (m, [id]) => {
            let name = format!("projects/{project}/{collection}/{id}");
            let Some(i) = position(collection_of(store, alerts), &name) else {
                return fail(404, format!("Requested entity was not found: {name}"));
            };
            match m {
                "GET" => ok(collection_of(store, alerts)[i].clone()),
                "DELETE" => {
                    let gone = collection_of(store, alerts).remove(i);
                    monitoring_audit(store, alerts, "Delete", &gone);
                    ok(json!({}))
                }
                "PATCH" => {
                    let patch = body()?;
                    unknown_fields(&patch, known)?;
                    let mut updated = patch;
                    updated["name"] = json!(name);
                    store.fill_monitoring(&mut updated, collection);
                    collection_of(store, alerts)[i] = updated.clone();
                    monitoring_audit(store, alerts, "Update", &updated);
                    ok(updated)
                }
                _ => fail(405, "method not allowed"),
            }
        }
        _ => fail(404, "The requested URL was not found on this server."),
    }
}

/// The Admin Activity entry of a Monitoring write (`google.monitoring.v3.AlertPolicyService.
/// UpdateAlertPolicy`…): the request names the resource, and carries its display name where
/// the API's request message carries the resource (create, update). A create's resource is
/// the project it was made in.
fn monitoring_audit(store: &mut Store, alerts: bool, verb: &str, v: &Value) {
    let (service, object, field) = if alerts {
        ("AlertPolicyService", "AlertPolicy", "alertPolicy")
    } else {
        (
            "UptimeCheckService",
            "UptimeCheckConfig",
            "uptimeCheckConfig",
        )
    };
    let name = v.get("name").and_then(Value::as_str).unwrap_or("");
    let resource = if verb == "Create" {
        format!("projects/{}", store.seed.project)
    } else {
        name.to_string()
    };
    let mut request = json!({
        "@type": format!("type.googleapis.com/google.monitoring.v3.{verb}{object}Request"),
    });
    if verb == "Delete" {
        request["name"] = json!(name);
    } else {
        request[field] = json!({"name": name, "displayName": v.get("displayName")});
    }
    logging::record(
        store,
        "monitoring.googleapis.com",
        &format!("google.monitoring.v3.{service}.{verb}{object}"),
        &resource,
        request,
        None,
    );
}

/// `a=b&c=d` with `+` and `%XX` decoded (query strings and form bodies).
fn parse_pairs(s: &str) -> BTreeMap<String, String> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
