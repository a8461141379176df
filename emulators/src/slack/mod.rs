//! Stateful emulator of the Slack Web API (the methods Perimeter calls), one workspace.
//!
//! Shapes follow the official spec (`slackapi/slack-api-specs`, `web-api/slack_web_openapi_v2.json`,
//! Swagger 2.0 of 2021; trimmed copy in `tests/conformance/slack/`) and Slack's method
//! documentation (`https://api.slack.com/methods/<method>`) where the spec is silent:
//! - every answer is HTTP 200 with `{"ok": true, …}` or `{"ok": false, "error": "<code>"}`
//!   (`missing_scope` adds `needed` and `provided`); throttling is HTTP 429 with `Retry-After`;
//! - the token travels in `Authorization: Bearer xoxb-…` only (the spec's legacy `token`
//!   parameter is not accepted: Slack refuses it in the query for apps made since 2021);
//! - POST bodies are `application/x-www-form-urlencoded` or `application/json`, as Slack takes
//!   both for the methods modelled here.
//!
//! # Seed
//!
//! ```
//! use perimeter_emulators::slack::{Seed, SlackEmulator};
//!
//! let seed: Seed = serde_json::from_value(serde_json::json!({
//!     "team_id": "T012AB3C4", "team": "Acme",
//!     "tokens": [{"token": "xoxb-demo", "user_id": "U0PERIM01", "bot_id": "B0PERIM01",
//!                 "scopes": ["channels:read", "chat:write"]}],
//!     "channels": [{"id": "C012AB3CD", "name": "ops-alerts", "members": ["U0PERIM01"]}]
//! })).unwrap();
//! assert!(seed.validate().is_ok());
//! let emulator = SlackEmulator::new(seed);
//! assert_eq!(emulator.snapshot().channels[0].messages.len(), 0);
//! ```
//!
//! # Methods
//!
//! | Method | HTTP | Scope | Errors modelled |
//! |---|---|---|---|
//! | `auth.test` | GET, POST | none | auth |
//! | `conversations.info` | GET, POST | `channels:read` (public) / `groups:read` (private) | `channel_not_found` (also for a private channel without the bot), `missing_scope` |
//! | `conversations.history` | GET, POST | `channels:history` / `groups:history` | `channel_not_found`, `not_in_channel`, `invalid_cursor`, `missing_scope` |
//! | `conversations.join` | POST | `channels:join` | `channel_not_found`, `is_archived`, `method_not_supported_for_channel_type` (private) |
//! | `chat.postMessage` | POST | `chat:write` (`chat:write.public` for a public channel without the bot) | `channel_not_found`, `not_in_channel`, `is_archived`, `no_text`, `msg_too_long` |
//!
//! Auth errors: `not_authed` (no token), `invalid_auth` (unknown), `token_revoked`. Other
//! in-band errors can be armed with [`SlackEmulator::fail_method`]; HTTP faults come from
//! [`crate::faults`] (their bodies are Slack's: `ratelimited`, `fatal_error`). The request log
//! records paths as sent (`/api/<method>`).

pub mod seed;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::any;
use axum::{Extension, Router};
use base64::Engine;
use serde_json::{Map, Value, json};

pub use seed::{Channel, Message, Seed, Token};

use crate::faults::Faults;
use crate::server::{self, ProviderStyle, RequestLog, RunningEmulator, json_response};
use seed::{is_channel_id, is_ts, ts_key};

/// Slack's limit on a message's `text`.
const MAX_TEXT: usize = 40_000;
/// `conversations.history`'s default and largest page.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 999;

/// A Slack Web API emulator. Clones share state, faults and log.
#[derive(Clone)]
pub struct SlackEmulator {
    shared: Arc<Shared>,
    faults: Faults,
    log: RequestLog,
}

struct Shared {
    store: Mutex<Store>,
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }
}

type Ctx = State<Arc<Shared>>;

struct Store {
    seed: Seed,
    /// Armed in-band errors: method → (code, remaining uses).
    failures: Vec<(String, String, u32)>,
    /// The last `ts` handed out, so every new message is later than every other.
    last_ts: (u64, u64),
}

impl Store {
    fn channel(&self, id: &str) -> Option<&Channel> {
        self.seed.channels.iter().find(|c| c.id == id)
    }

    fn channel_mut(&mut self, id: &str) -> Option<&mut Channel> {
        self.seed.channels.iter_mut().find(|c| c.id == id)
    }

    fn next_ts(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let (s, f) = self.last_ts;
        self.last_ts = if now > s { (now, 100) } else { (s, f + 1) };
        format!("{}.{:06}", self.last_ts.0, self.last_ts.1)
    }

    fn take_failure(&mut self, method: &str) -> Option<String> {
        let i = self.failures.iter().position(|(m, _, _)| m == method)?;
        let code = self.failures[i].1.clone();
        self.failures[i].2 -= 1;
        if self.failures[i].2 == 0 {
            self.failures.remove(i);
        }
        Some(code)
    }
}

/// Who called: the token's identity and scopes.
#[derive(Clone, Debug)]
struct Caller {
    user_id: String,
    bot_id: Option<String>,
    scopes: Vec<String>,
}

impl Caller {
    fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

impl SlackEmulator {
    /// Builds the emulator. The seed is not validated; call [`Seed::validate`] for that.
    pub fn new(seed: Seed) -> Self {
        let last_ts = seed
            .channels
            .iter()
            .flat_map(|c| c.messages.iter().map(|m| ts_key(&m.ts)))
            .max()
            .unwrap_or_default();
        Self {
            shared: Arc::new(Shared {
                store: Mutex::new(Store {
                    seed,
                    failures: Vec::new(),
                    last_ts,
                }),
            }),
            faults: Faults::new(),
            log: RequestLog::new(),
        }
    }

    /// Binds `bind` (e.g. `"127.0.0.1:0"`) and serves [`Self::router`]. A client's base URL
    /// is [`RunningEmulator::base_url`] followed by `/api`.
    pub async fn start(&self, bind: &str) -> std::io::Result<RunningEmulator> {
        server::serve(self.router(), bind).await
    }

    /// The complete app (logging, faults, auth), for in-process use without a socket.
    pub fn router(&self) -> Router {
        let shared = self.shared.clone();
        let api = Router::new()
            .route("/api/{method}", any(dispatch))
            .fallback(no_route)
            .layer(middleware::from_fn_with_state(shared.clone(), authenticate))
            .with_state(shared);
        server::instrument(api, self.log.clone(), self.faults.clone(), STYLE)
    }

    pub fn faults(&self) -> Faults {
        self.faults.clone()
    }

    pub fn log(&self) -> RequestLog {
        self.log.clone()
    }

    pub fn snapshot(&self) -> Seed {
        self.shared.store().seed.clone()
    }

    /// Edits the state directly, e.g. to archive a channel or remove the bot (drift).
    pub fn mutate(&self, edit: impl FnOnce(&mut Seed)) {
        edit(&mut self.shared.store().seed);
    }

    /// The next `times` calls of `method` (e.g. `conversations.info`) answer HTTP 200 with
    /// `{"ok": false, "error": code}`, after authentication.
    pub fn fail_method(&self, method: &str, code: &str, times: u32) {
        if times > 0 {
            self.shared
                .store()
                .failures
                .push((method.to_owned(), code.to_owned(), times));
        }
    }
}

const STYLE: ProviderStyle = ProviderStyle {
    error_body: |status, _message| {
        let code = match status {
            429 => "ratelimited",
            413 => "invalid_form_data",
            404 => "unknown_method",
            405 => "method_not_supported",
            _ if status >= 500 => "fatal_error",
            _ => "invalid_request",
        };
        json!({"ok": false, "error": code})
    },
    // `ok` without any of the fields a method answers.
    wrong_shape_body: || json!({"ok": true, "channel": 42, "messages": "none", "ts": 1}),
};

fn ok(mut fields: Map<String, Value>) -> Response {
    fields.insert("ok".into(), Value::Bool(true));
    json_response(StatusCode::OK, &Value::Object(fields))
}

fn fail(code: &str) -> Response {
    json_response(StatusCode::OK, &json!({"ok": false, "error": code}))
}

fn missing_scope(needed: &str, caller: &Caller) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"ok": false, "error": "missing_scope", "needed": needed,
                "provided": caller.scopes.join(",")}),
    )
}

async fn no_route() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"ok": false, "error": "unknown_method"}),
    )
}

/// `Authorization: Bearer <token>`, matching a seeded token. Slack answers auth failures with
/// HTTP 200 and its envelope; what was presented is never echoed.
async fn authenticate(State(shared): Ctx, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let Some(presented) = presented else {
        return fail("not_authed");
    };
    let caller = {
        let store = shared.store();
        match store.seed.tokens.iter().find(|t| t.token == presented) {
            None => return fail("invalid_auth"),
            Some(t) if t.revoked => return fail("token_revoked"),
            Some(t) => Caller {
                user_id: t.user_id.clone(),
                bot_id: t.bot_id.clone(),
                scopes: t.scopes.clone(),
            },
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The arguments of a call: the query, then the body (form or JSON), as Slack merges them.
fn arguments(query: Option<&str>, headers: &HeaderMap, body: &Bytes) -> Result<Args, &'static str> {
    let mut args = HashMap::new();
    if let Some(q) = query {
        args.extend(parse_form(q).ok_or("invalid_arguments")?);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Args(args));
    }
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if kind.starts_with("application/json") {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return Err("invalid_json");
        };
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            args.insert(k, text);
        }
    } else if kind.starts_with("application/x-www-form-urlencoded") {
        let text = std::str::from_utf8(body).map_err(|_| "invalid_charset")?;
        args.extend(parse_form(text).ok_or("invalid_form_data")?);
    } else {
        return Err("invalid_post_type");
    }
    Ok(Args(args))
}

/// A form-encoded string as pairs. axum's `Query` is the decoder the emulator already has
/// (the `form` extractor is not enabled in the workspace), so the text goes through a URI.
fn parse_form(text: &str) -> Option<HashMap<String, String>> {
    let uri: Uri = format!("/?{text}").parse().ok()?;
    Query::<HashMap<String, String>>::try_from_uri(&uri)
        .ok()
        .map(|q| q.0)
}

struct Args(HashMap<String, String>);

impl Args {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

async fn dispatch(
    State(shared): Ctx,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let args = match arguments(query.as_deref(), &headers, &body) {
        Ok(a) => a,
        Err(code) => return fail(code),
    };
    let post_only = matches!(name.as_str(), "conversations.join" | "chat.postMessage");
    if post_only && method != Method::POST {
        return fail("method_not_supported");
    }
    if method != Method::GET && method != Method::POST {
        return fail("method_not_supported");
    }
    let mut store = shared.store();
    if let Some(code) = store.take_failure(&name) {
        return fail(&code);
    }
    match name.as_str() {
        "auth.test" => auth_test(&store, &caller),
        "conversations.info" => conversations_info(&store, &caller, &args),
        "conversations.history" => conversations_history(&store, &caller, &args),
        "conversations.join" => conversations_join(&mut store, &caller, &args),
        "chat.postMessage" => post_message(&mut store, &caller, &args),
        _ => json_response(
            StatusCode::NOT_FOUND,
            &json!({"ok": false, "error": "unknown_method"}),
        ),
    }
}

fn auth_test(store: &Store, caller: &Caller) -> Response {
    let mut out = Map::new();
    let team = &store.seed.team;
    let slug: String = team
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    out.insert("url".into(), json!(format!("https://{slug}.slack.com/")));
    out.insert("team".into(), json!(team));
    out.insert("user".into(), json!("perimeter"));
    out.insert("team_id".into(), json!(store.seed.team_id));
    out.insert("user_id".into(), json!(caller.user_id));
    if let Some(b) = &caller.bot_id {
        out.insert("bot_id".into(), json!(b));
    }
    out.insert("is_enterprise_install".into(), json!(false));
    ok(out)
}

/// The channel, as `conversations.*` see it for `caller`: a private channel without the caller
/// does not exist to it, as at Slack.
fn visible<'a>(store: &'a Store, caller: &Caller, id: &str) -> Option<&'a Channel> {
    store
        .channel(id)
        .filter(|c| !c.is_private || c.members.contains(&caller.user_id))
}

/// The spec's `objs_conversation` for a channel (the fields Slack sends for a channel).
fn conversation(c: &Channel, caller: &Caller) -> Value {
    json!({
        "id": c.id, "name": c.name, "name_normalized": c.name,
        "is_channel": !c.is_private, "is_group": c.is_private, "is_im": false, "is_mpim": false,
        "is_private": c.is_private, "is_archived": c.is_archived, "is_general": false,
        "is_shared": false, "is_ext_shared": false, "is_org_shared": false,
        "is_pending_ext_shared": false, "pending_shared": [], "unlinked": 0,
        "is_member": c.members.contains(&caller.user_id),
        "created": 1_700_000_000, "creator": "U0CREATOR1",
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
        "previous_names": [],
    })
}

fn read_scope(c: Option<&Channel>, public: &'static str, private: &'static str) -> &'static str {
    if c.is_some_and(|c| c.is_private) {
        private
    } else {
        public
    }
}

/// The `channel` argument; Slack answers `channel_not_found` for a missing or malformed one.
fn channel_arg(args: &Args) -> Option<&str> {
    args.get("channel").filter(|id| is_channel_id(id))
}

fn conversations_info(store: &Store, caller: &Caller, args: &Args) -> Response {
    let Some(id) = channel_arg(args) else {
        return fail("channel_not_found");
    };
    let channel = visible(store, caller, id);
    let scope = read_scope(channel, "channels:read", "groups:read");
    if !caller.has(scope) {
        return missing_scope(scope, caller);
    }
    match channel {
        None => fail("channel_not_found"),
        Some(c) => {
            let mut out = Map::new();
            out.insert("channel".into(), conversation(c, caller));
            ok(out)
        }
    }
}

fn conversations_history(store: &Store, caller: &Caller, args: &Args) -> Response {
    let Some(id) = channel_arg(args) else {
        return fail("channel_not_found");
    };
    let channel = visible(store, caller, id);
    let scope = read_scope(channel, "channels:history", "groups:history");
    if !caller.has(scope) {
        return missing_scope(scope, caller);
    }
    let Some(c) = channel else {
        return fail("channel_not_found");
    };
    if !c.members.contains(&caller.user_id) {
        return fail("not_in_channel");
    }
    let bound = |key: &str| -> Result<Option<(u64, u64)>, &'static str> {
        match args.get(key) {
            None => Ok(None),
            Some(v) if v.parse::<f64>().is_ok_and(|f| f >= 0.0) => Ok(Some(ts_key(
                &(if v.contains('.') {
                    v.to_owned()
                } else {
                    format!("{v}.0")
                }),
            ))),
            Some(_) if key == "oldest" => Err("invalid_ts_oldest"),
            Some(_) => Err("invalid_ts_latest"),
        }
    };
    let (oldest, latest) = match (bound("oldest"), bound("latest")) {
        (Ok(o), Ok(l)) => (o, l),
        (Err(code), _) | (_, Err(code)) => return fail(code),
    };
    let limit = match args.get("limit").map(str::parse::<usize>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if n >= 1 => n.min(MAX_LIMIT),
        Some(_) => return fail("invalid_limit"),
    };
    let offset = match args.get("cursor") {
        None => 0,
        Some(cursor) => match decode_cursor(cursor) {
            Some(n) => n,
            None => return fail("invalid_cursor"),
        },
    };
    // Newest first, as Slack returns them.
    let matching: Vec<&Message> = c
        .messages
        .iter()
        .rev()
        .filter(|m| oldest.is_none_or(|o| ts_key(&m.ts) > o))
        .filter(|m| latest.is_none_or(|l| ts_key(&m.ts) < l))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|m| message_json(m))
        .collect();
    let more = matching.len() > offset + limit;
    let next = if more {
        encode_cursor(offset + limit)
    } else {
        String::new()
    };
    let mut out = Map::new();
    out.insert("messages".into(), Value::Array(page));
    out.insert("has_more".into(), json!(more));
    out.insert("pin_count".into(), json!(0));
    out.insert("response_metadata".into(), json!({"next_cursor": next}));
    ok(out)
}

fn message_json(m: &Message) -> Value {
    let mut v = json!({"type": "message", "text": m.text, "ts": m.ts});
    if let Some(u) = &m.user {
        v["user"] = json!(u);
    }
    if let Some(b) = &m.bot_id {
        v["bot_id"] = json!(b);
        v["subtype"] = json!("bot_message");
    }
    v
}

/// Cursors are opaque to clients; here `next:<offset>` in base64, as Slack's look.
fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("next:{offset}"))
}

fn decode_cursor(cursor: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(cursor)
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("next:")?
        .parse()
        .ok()
}

fn conversations_join(store: &mut Store, caller: &Caller, args: &Args) -> Response {
    let Some(id) = channel_arg(args) else {
        return fail("channel_not_found");
    };
    if !caller.has("channels:join") {
        return missing_scope("channels:join", caller);
    }
    let Some(c) = store.channel(id) else {
        return fail("channel_not_found");
    };
    if c.is_private {
        // A private channel is invisible to a bot outside it; inside it, joining is refused.
        return fail(if c.members.contains(&caller.user_id) {
            "method_not_supported_for_channel_type"
        } else {
            "channel_not_found"
        });
    }
    if c.is_archived {
        return fail("is_archived");
    }
    let already = c.members.contains(&caller.user_id);
    let Some(c) = store.channel_mut(id) else {
        return fail("channel_not_found");
    };
    if !already {
        c.members.push(caller.user_id.clone());
    }
    let mut out = Map::new();
    out.insert("channel".into(), conversation(c, caller));
    if already {
        out.insert("warning".into(), json!("already_in_channel"));
        out.insert(
            "response_metadata".into(),
            json!({"warnings": ["already_in_channel"]}),
        );
    }
    ok(out)
}

fn post_message(store: &mut Store, caller: &Caller, args: &Args) -> Response {
    let Some(id) = channel_arg(args) else {
        return fail("channel_not_found");
    };
    if !caller.has("chat:write") {
        return missing_scope("chat:write", caller);
    }
    let text = args.get("text").unwrap_or("");
    if text.trim().is_empty() && args.get("blocks").is_none() {
        return fail("no_text");
    }
    if text.chars().count() > MAX_TEXT {
        return fail("msg_too_long");
    }
    let Some(c) = visible(store, caller, id) else {
        return fail("channel_not_found");
    };
    if c.is_archived {
        return fail("is_archived");
    }
    // `chat:write.public` lets a bot post to a public channel it is not in.
    if !c.members.contains(&caller.user_id) && (c.is_private || !caller.has("chat:write.public")) {
        return fail("not_in_channel");
    }
    let ts = store.next_ts();
    let message = Message {
        ts: ts.clone(),
        user: Some(caller.user_id.clone()),
        bot_id: caller.bot_id.clone(),
        text: text.to_owned(),
    };
    let body = message_json(&message);
    let Some(c) = store.channel_mut(id) else {
        return fail("channel_not_found");
    };
    c.messages.push(message);
    debug_assert!(is_ts(&ts));
    let mut out = Map::new();
    out.insert("channel".into(), json!(id));
    out.insert("ts".into(), json!(ts));
    out.insert("message".into(), body);
    ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "xoxb-emulated-bot-token";

    fn seed(scopes: &[&str]) -> Seed {
        let seed: Seed = serde_json::from_value(json!({
            "team_id": "T012AB3C4", "team": "Acme",
            "tokens": [
                {"token": TOKEN, "user_id": "U0PERIM01", "bot_id": "B0PERIM01", "scopes": scopes},
                {"token": "xoxb-revoked", "user_id": "U0PERIM02", "revoked": true}
            ],
            "channels": [
                {"id": "C0ALERTS01", "name": "ops-alerts", "members": ["U0PERIM01"],
                 "messages": [{"ts": "1700000000.000100", "user": "U0SOMEONE", "text": "hello"}]},
                {"id": "C0ARCHIVE1", "name": "old-alerts", "is_archived": true, "members": ["U0PERIM01"]},
                {"id": "C0PUBLIC01", "name": "general"},
                {"id": "G0PRIVATE1", "name": "secret-ops", "is_private": true}
            ]
        }))
        .expect("seed");
        seed.validate().expect("valid");
        seed
    }

    const ALL: [&str; 6] = [
        "channels:read",
        "groups:read",
        "channels:history",
        "groups:history",
        "channels:join",
        "chat:write",
    ];

    async fn call(
        base: &str,
        token: Option<&str>,
        method: &str,
        form: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new().post(format!("{base}/api/{method}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let resp = req
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("answer");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    #[test]
    fn seeds_are_checked() {
        let bad = [
            json!({"team_id": "acme"}),
            json!({"team_id": "T012AB3C4", "tokens": [{"token": "sk-1", "user_id": "U0PERIM01"}]}),
            json!({"team_id": "T012AB3C4", "tokens": [{"token": "xoxb-1", "user_id": "U0PERIM01", "scopes": ["admin"]}]}),
            json!({"team_id": "T012AB3C4", "channels": [{"id": "#alerts", "name": "alerts"}]}),
            json!({"team_id": "T012AB3C4", "channels": [{"id": "C0ALERTS01", "name": "a"}, {"id": "C0ALERTS01", "name": "b"}]}),
            json!({"team_id": "T012AB3C4", "channels": [{"id": "C0ALERTS01", "name": "a",
                "messages": [{"ts": "2.000000", "text": "x"}, {"ts": "1.000000", "text": "y"}]}]}),
        ];
        for s in bad {
            let parsed: Seed = serde_json::from_value(s.clone()).expect("parses");
            assert!(parsed.validate().is_err(), "{s}");
        }
    }

    /// Auth failures are HTTP 200 with Slack's envelope, never echoing the token.
    #[tokio::test]
    async fn auth_errors_are_in_band() {
        let emu = SlackEmulator::new(seed(&ALL));
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        for (token, code) in [
            (None, "not_authed"),
            (Some("xoxb-unknown-secret"), "invalid_auth"),
            (Some("xoxb-revoked"), "token_revoked"),
        ] {
            let (status, body) = call(&base, token, "auth.test", &[]).await;
            assert_eq!(
                (status, body["ok"].clone(), body["error"].clone()),
                (200, json!(false), json!(code))
            );
            assert!(!body.to_string().contains("secret"), "{body}");
        }
        let (_, me) = call(&base, Some(TOKEN), "auth.test", &[]).await;
        assert_eq!(me["team_id"], json!("T012AB3C4"));
        assert_eq!(me["bot_id"], json!("B0PERIM01"));
    }

    /// conversations.info: live, archived, a public channel without the bot, a private one
    /// (not found to an outsider), a missing scope with `needed`.
    #[tokio::test]
    async fn channels_answer_as_slack_does() {
        let emu = SlackEmulator::new(seed(&ALL));
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        let info = |id: &'static str| {
            let base = base.clone();
            async move {
                call(&base, Some(TOKEN), "conversations.info", &[("channel", id)])
                    .await
                    .1
            }
        };
        let live = info("C0ALERTS01").await;
        assert_eq!(
            (
                live["channel"]["is_member"].clone(),
                live["channel"]["is_archived"].clone()
            ),
            (json!(true), json!(false))
        );
        assert_eq!(
            info("C0ARCHIVE1").await["channel"]["is_archived"],
            json!(true)
        );
        assert_eq!(
            info("C0PUBLIC01").await["channel"]["is_member"],
            json!(false)
        );
        assert_eq!(
            info("G0PRIVATE1").await["error"],
            json!("channel_not_found")
        );
        assert_eq!(
            info("C0NOTHERE1").await["error"],
            json!("channel_not_found")
        );
        let narrow = SlackEmulator::new(seed(&["chat:write"]));
        let running2 = narrow.start("127.0.0.1:0").await.expect("starts");
        let (_, body) = call(
            &running2.base_url(),
            Some(TOKEN),
            "conversations.info",
            &[("channel", "C0ALERTS01")],
        )
        .await;
        assert_eq!(
            (body["error"].clone(), body["needed"].clone()),
            (json!("missing_scope"), json!("channels:read"))
        );
    }

    /// A posted message gets a fresh ts, lands in the history (newest first, paged by cursor),
    /// and is refused where Slack refuses it.
    #[tokio::test]
    async fn messages_are_posted_and_paged() {
        let emu = SlackEmulator::new(seed(&ALL));
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        let (_, posted) = call(
            &base,
            Some(TOKEN),
            "chat.postMessage",
            &[("channel", "C0ALERTS01"), ("text", "test%20alert")],
        )
        .await;
        assert_eq!(posted["ok"], json!(true), "{posted}");
        let ts = posted["ts"].as_str().expect("ts").to_owned();
        assert!(
            is_ts(&ts) && ts_key(&ts) > ts_key("1700000000.000100"),
            "{ts}"
        );
        assert_eq!(posted["message"]["bot_id"], json!("B0PERIM01"));
        let (_, page) = call(
            &base,
            Some(TOKEN),
            "conversations.history",
            &[("channel", "C0ALERTS01"), ("limit", "1")],
        )
        .await;
        assert_eq!(page["messages"][0]["ts"], json!(ts), "newest first");
        assert_eq!(page["messages"][0]["text"], json!("test alert"));
        let cursor = page["response_metadata"]["next_cursor"]
            .as_str()
            .expect("cursor")
            .to_owned();
        let (_, rest) = call(
            &base,
            Some(TOKEN),
            "conversations.history",
            &[
                ("channel", "C0ALERTS01"),
                ("limit", "1"),
                ("cursor", &cursor),
            ],
        )
        .await;
        assert_eq!(rest["messages"][0]["text"], json!("hello"));
        assert_eq!(rest["response_metadata"]["next_cursor"], json!(""));
        let (_, after) = call(
            &base,
            Some(TOKEN),
            "conversations.history",
            &[("channel", "C0ALERTS01"), ("oldest", "1700000000.000100")],
        )
        .await;
        assert_eq!(
            after["messages"].as_array().map(Vec::len),
            Some(1),
            "oldest is exclusive"
        );
        for (channel, text, code) in [
            ("C0ARCHIVE1", "x", "is_archived"),
            ("C0PUBLIC01", "x", "not_in_channel"),
            ("C0ALERTS01", "", "no_text"),
            ("G0PRIVATE1", "x", "channel_not_found"),
        ] {
            let (_, body) = call(
                &base,
                Some(TOKEN),
                "chat.postMessage",
                &[("channel", channel), ("text", text)],
            )
            .await;
            assert_eq!(body["error"], json!(code), "{channel}");
        }
        let (_, bad) = call(
            &base,
            Some(TOKEN),
            "conversations.history",
            &[("channel", "C0ALERTS01"), ("cursor", "bogus")],
        )
        .await;
        assert_eq!(bad["error"], json!("invalid_cursor"));
        assert_eq!(emu.snapshot().channels[0].messages.len(), 2);
    }

    /// Joining adds the bot to a public channel; archived and private ones are refused; armed
    /// in-band failures answer first; the log records every call.
    #[tokio::test]
    async fn joins_and_armed_failures() {
        let emu = SlackEmulator::new(seed(&ALL));
        let running = emu.start("127.0.0.1:0").await.expect("starts");
        let base = running.base_url();
        let (_, joined) = call(
            &base,
            Some(TOKEN),
            "conversations.join",
            &[("channel", "C0PUBLIC01")],
        )
        .await;
        assert_eq!(joined["channel"]["is_member"], json!(true), "{joined}");
        let (_, again) = call(
            &base,
            Some(TOKEN),
            "conversations.join",
            &[("channel", "C0PUBLIC01")],
        )
        .await;
        assert_eq!(again["warning"], json!("already_in_channel"));
        let (_, archived) = call(
            &base,
            Some(TOKEN),
            "conversations.join",
            &[("channel", "C0ARCHIVE1")],
        )
        .await;
        assert_eq!(archived["error"], json!("is_archived"));
        let (_, private) = call(
            &base,
            Some(TOKEN),
            "conversations.join",
            &[("channel", "G0PRIVATE1")],
        )
        .await;
        assert_eq!(private["error"], json!("channel_not_found"));
        emu.fail_method("auth.test", "ratelimited", 1);
        assert_eq!(
            call(&base, Some(TOKEN), "auth.test", &[]).await.1["error"],
            json!("ratelimited")
        );
        assert_eq!(
            call(&base, Some(TOKEN), "auth.test", &[]).await.1["ok"],
            json!(true)
        );
        let get = reqwest::Client::new()
            .get(format!("{base}/api/conversations.join?channel=C0PUBLIC01"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("answer");
        let body: Value = get.json().await.expect("json");
        assert_eq!(body["error"], json!("method_not_supported"));
        assert_eq!(emu.log().count("POST", "/api/conversations.join"), 4);
    }
}
