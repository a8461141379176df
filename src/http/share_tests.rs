//! Read sharing through [`HttpClient::send`], against a local server that counts what it gets.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{Method as AxumMethod, StatusCode, Uri};
use axum::routing::any;

use super::*;

/// Requests received, by "METHOD path?query".
type Seen = Arc<Mutex<BTreeMap<String, usize>>>;

/// Answers `GET /items` with the number of writes so far, `/fail` with a 500, any other method
/// as a write; after a short wait, so identical reads overlap.
async fn counting_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let writes = Arc::new(Mutex::new(0usize));
    let app = Router::new()
        .fallback(any(
            |State((seen, writes)): State<(Seen, Arc<Mutex<usize>>)>,
             method: AxumMethod,
             uri: Uri,
             RawQuery(query): RawQuery| async move {
                let name = format!("{method} {}?{}", uri.path(), query.unwrap_or_default());
                *seen.lock().expect("seen").entry(name).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                if uri.path() == "/fail" {
                    return (StatusCode::INTERNAL_SERVER_ERROR, "{}".to_string());
                }
                let mut writes = writes.lock().expect("writes");
                if method != AxumMethod::GET {
                    *writes += 1;
                }
                (StatusCode::OK, format!("{{\"writes\":{writes}}}"))
            },
        ))
        .with_state((seen.clone(), writes));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

fn client(base: &str, window: Duration, metrics: Option<Arc<Metrics>>) -> HttpClient {
    let mut settings = HttpSettings::new("test", base);
    settings.max_retries = 0;
    settings.requests_per_minute = 6000;
    settings.burst = 100;
    settings.share_window = window;
    HttpClient::new(settings, Auth::None, metrics).expect("client")
}

fn count(seen: &Seen, name: &str) -> usize {
    seen.lock().expect("seen").get(name).copied().unwrap_or(0)
}

fn writes_seen(resp: &Result<Response, ProviderError>) -> Value {
    let resp = resp.as_ref().expect("answer");
    resp.json("test").expect("json")["writes"].clone()
}

#[tokio::test]
async fn identical_reads_in_flight_share_one_request() {
    let (base, seen) = counting_server().await;
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let http = client(&base, Duration::ZERO, Some(metrics.clone()));
    let read = Request::get("list_items", "/items").query("page", 1);
    let answers = futures::future::join_all((0..5).map(|_| http.send(&read))).await;
    assert_eq!(count(&seen, "GET /items?page=1"), 1, "{seen:?}");
    for answer in &answers {
        assert_eq!(writes_seen(answer), 0);
    }
    let shared = metrics
        .provider_requests_shared_total
        .with_label_values(&["test", "list_items"])
        .get();
    assert_eq!(
        shared, 4,
        "the four that did not send are counted as shared"
    );
    let sent = metrics
        .provider_requests_total
        .with_label_values(&["test", "list_items", "200"])
        .get();
    assert_eq!(sent, 1, "real calls are counted as before");

    // A different query is another read.
    let other = Request::get("list_items", "/items").query("page", 2);
    let (a, b) = tokio::join!(http.send(&read), http.send(&other));
    assert!(a.is_ok() && b.is_ok());
    assert_eq!(count(&seen, "GET /items?page=2"), 1);
    assert_eq!(
        count(&seen, "GET /items?page=1"),
        2,
        "window 0: nothing kept"
    );
}

#[tokio::test]
async fn without_a_window_sequential_reads_are_each_sent() {
    let (base, seen) = counting_server().await;
    let http = client(&base, Duration::ZERO, None);
    let read = Request::get("list_items", "/items");
    for _ in 0..3 {
        http.send(&read).await.expect("answer");
    }
    assert_eq!(count(&seen, "GET /items?"), 3);
}

#[tokio::test]
async fn a_window_keeps_answers_until_a_write() {
    let (base, seen) = counting_server().await;
    let http = client(&base, Duration::from_secs(60), None);
    let read = Request::get("list_items", "/items");
    assert_eq!(writes_seen(&http.send(&read).await), 0);
    assert_eq!(writes_seen(&http.send(&read).await), 0);
    assert_eq!(count(&seen, "GET /items?"), 1, "the second read was kept");
    // A clone is the same account: it shares the reads, and its writes end them.
    let clone = http.clone();
    assert_eq!(writes_seen(&clone.send(&read).await), 0);
    assert_eq!(count(&seen, "GET /items?"), 1);
    clone
        .send(&Request::new(Method::POST, "add_item", "/items").json(json_item()))
        .await
        .expect("write");
    assert_eq!(
        writes_seen(&http.send(&read).await),
        1,
        "the read after the write sees it"
    );
    assert_eq!(count(&seen, "GET /items?"), 2);
    // A POST the provider documents as a read is shared, and ends nothing.
    let retrieve = Request::new(Method::POST, "retrieve", "/items/retrieve").reads();
    http.send(&retrieve).await.expect("read");
    http.send(&retrieve).await.expect("read");
    http.send(&read).await.expect("read");
    assert_eq!(count(&seen, "POST /items/retrieve?"), 1);
    assert_eq!(count(&seen, "GET /items?"), 2);
}

fn json_item() -> Value {
    serde_json::json!({"name": "a"})
}

#[tokio::test]
async fn errors_are_shared_only_in_flight() {
    let (base, seen) = counting_server().await;
    let http = client(&base, Duration::from_secs(60), None);
    let read = Request::get("fail", "/fail");
    let (a, b) = tokio::join!(http.send(&read), http.send(&read));
    assert_eq!(count(&seen, "GET /fail?"), 1);
    for answer in [a, b] {
        let err = answer.expect_err("a 500");
        assert_eq!(err.category, Category::ProviderError);
    }
    let again = http.send(&read).await;
    assert!(again.is_err());
    assert_eq!(count(&seen, "GET /fail?"), 2, "an error is never kept");
}
