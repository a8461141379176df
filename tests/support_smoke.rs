//! Checks that the shared test helpers start their servers and that those servers judge
//! requests as the other integration tests rely on.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

/// A minimal HTTP/1.1 client (one request per connection), so this smoke test depends on
/// nothing but std and serde_json.
fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, String) {
    let addr = base.strip_prefix("http://").expect("http URL");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    stream
        .write_all(format!("{head}\r\n{body}").as_bytes())
        .expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

#[test]
fn kube_emulator_tracks_resource_versions() {
    let kube = support::start_kube_emulator();
    let ns = "/apis/perimeter.dev/v1alpha1/namespaces/default/firewallpolicies";
    let json_ct = [("Content-Type", "application/json")];
    let policy = json!({"apiVersion": "perimeter.dev/v1alpha1", "kind": "FirewallPolicy",
                        "metadata": {"name": "web"}, "spec": {"provider": "cloudflare"}});

    let (status, body) = request(&kube.url, "POST", ns, &json_ct, Some(&policy));
    assert_eq!(status, 201, "{body}");
    let created: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(created["metadata"]["namespace"], "default");

    let merge = [("Content-Type", "application/merge-patch+json")];
    let status_url = format!("{ns}/web/status");
    let (status, body) = request(
        &kube.url,
        "PATCH",
        &status_url,
        &merge,
        Some(&json!({"status": {"phase": "Ready"}})),
    );
    assert_eq!(status, 200, "{body}");
    let patched: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        patched["metadata"]["generation"], 1,
        "a status write keeps generation"
    );
    let version = |v: &Value| {
        v["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(version(&patched) > version(&created));

    // Known-bad: a resource the emulator does not serve.
    let (status, _) = request(
        &kube.url,
        "GET",
        "/apis/perimeter.dev/v1alpha1/namespaces/default/nosuchthings",
        &[],
        None,
    );
    assert_eq!(status, 404);

    let (_, log) = request(&kube.url, "GET", "/_emulator/requests", &[], None);
    let log: Vec<Value> = serde_json::from_str(&log).unwrap();
    let status_patches = log
        .iter()
        .filter(|r| r["method"] == "PATCH" && r["path"] == status_url.as_str())
        .count();
    assert_eq!(status_patches, 1);
}

#[test]
fn prism_judges_cloudflare_ruleset_puts() {
    let prism = support::start_prism(
        &support::repo_root().join("tests/conformance/cloudflare/openapi.json"),
    );
    let path = "/zones/023e105f4ecef8ad9ca31a8372d0c353/rulesets/phases/http_request_firewall_custom/entrypoint";
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer test-token"),
    ];
    let ruleset = |action: &str| {
        json!({"description": "perimeter", "rules": [{"ref": "perimeter-1", "description": "block a test net",
               "expression": "ip.src in {192.0.2.0/24}", "action": action, "enabled": true}]})
    };

    // Known-good: passes once read-only fields are out of `required` (the fixed copy).
    let offset = prism.log_len();
    let (status, body) = request(&prism.url, "PUT", path, &headers, Some(&ruleset("block")));
    assert_eq!(status, 200, "{body}\n{}", prism.log());
    assert_eq!(prism.violations_since(offset), Vec::<String>::new());

    // Known-bad: an action the spec does not know.
    let offset = prism.log_len();
    let (status, _) = request(&prism.url, "PUT", path, &headers, Some(&ruleset("explode")));
    assert_eq!(status, 422);
    let violations = prism.violations_since(offset);
    assert!(
        violations
            .iter()
            .any(|line| line.contains("rules.0.action")),
        "{violations:#?}"
    );

    // A path the spec does not have is reported separately.
    let offset = prism.log_len();
    let (status, _) = request(&prism.url, "GET", "/zones/z/no_such_api", &headers, None);
    assert_eq!(status, 404);
    assert_eq!(prism.server_errors_since(offset).len(), 1);
}
