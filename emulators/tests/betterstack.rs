//! The Better Stack emulator served as `bench-emulators` serves a provider's accounts: several
//! on one port, each under a path of its own.

use axum::Router;
use perimeter_emulators::betterstack::{BetterstackEmulator, Seed};
use perimeter_emulators::server::serve;
use serde_json::{Value, json};

fn account(token: &str) -> BetterstackEmulator {
    let seed: Seed = serde_json::from_value(json!({
        "tokens": [token],
        "monitors": [
            {"id": 1, "url": "https://a.example.com", "monitor_type": "status"},
            {"id": 2, "url": "https://b.example.com", "monitor_type": "status"}
        ]
    }))
    .expect("seed");
    BetterstackEmulator::new(seed)
}

/// Each account answers under its own prefix, to its own token only, and its pagination links
/// keep the prefix (a client following `next` stays on the account it asked).
#[tokio::test]
async fn accounts_nested_on_one_port_keep_their_prefix_in_links() {
    let (a, b) = (account("token-a"), account("token-b"));
    let running = serve(
        Router::new()
            .nest("/a0", a.router())
            .nest("/a1", b.router()),
        "127.0.0.1:0",
    )
    .await
    .expect("serve");
    let base = running.base_url();
    let client = reqwest::Client::new();
    let get = |path: String, token: &str| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
    };
    let page: Value = get("/a1/api/v2/monitors?per_page=1".into(), "token-b")
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(
        page["pagination"]["next"],
        json!(format!("{base}/a1/api/v2/monitors?page=2&per_page=1"))
    );
    let other = get("/a0/api/v2/monitors".into(), "token-b")
        .await
        .expect("send");
    assert_eq!(other.status(), 401, "account a refuses b's token");
    assert_eq!((a.log().len(), b.log().len()), (1, 1));
}
