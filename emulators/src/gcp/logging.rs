//! Cloud Logging v2 `entries.list` (`POST /v2/entries:list`) over the project's Admin Activity
//! audit log, which every write the emulator accepts appends to (see [`audit_entry`]).
//!
//! The request: `resourceNames` (required; only `projects/{project}`, another project is
//! `PERMISSION_DENIED`), `filter`, `orderBy` (`timestamp asc`, the default, or
//! `timestamp desc`), `pageSize` (default 50, at most 1000, negative refused) and `pageToken`.
//!
//! The filter language subset (anything else is `INVALID_ARGUMENT`, never ignored):
//! - comparisons `FIELD OP "VALUE"` with a double-quoted value (`\"` and `\\` escapes); FIELD is
//!   a dotted path into the entry (`logName`, `timestamp`, `protoPayload.methodName`,
//!   `protoPayload.resourceName`, `operation.id`, …);
//! - `=` (equal), `:` (has: contains, case-insensitive), and on `timestamp` only `>=`, `>`,
//!   `<=`, `<` (RFC 3339, compared as instants);
//! - `AND`, `OR` and parentheses, with OR binding tighter than AND as in the Logging query
//!   language (`a OR b AND c` is `(a OR b) AND c`).
//!
//! Not supported: `NOT`, `-`, `!=`, regular expressions (`=~`), unquoted values, implicit AND,
//! functions (`sample`, `log_id`, …) and global restrictions (a bare word).

use serde_json::{Value, json};

use super::Store;
use crate::server;

/// A Cloud Console user agent, as a person's changes from the browser carry it.
pub const CONSOLE_USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36,gzip(gfe)";

/// The Admin Activity log's name in `project`.
pub fn activity_log(project: &str) -> String {
    format!("projects/{project}/logs/cloudaudit.googleapis.com%2Factivity")
}

/// An Admin Activity entry for a write: an `AuditLog` payload naming the method, the
/// resource, who made it (`principal`) and with what (`user_agent`), and the Compute operation
/// it started (`operation`), if any. `at` is RFC 3339.
#[allow(clippy::too_many_arguments)]
pub(crate) fn audit_entry(
    store: &mut Store,
    service: &str,
    method: &str,
    resource: &str,
    principal: &str,
    user_agent: &str,
    request: Value,
    operation: Option<&str>,
    at: String,
) -> Value {
    let project = store.seed.project.clone();
    let insert_id = store.ids.hex32()[..12].to_string();
    let mut entry = json!({
        "logName": activity_log(&project),
        "insertId": insert_id,
        "timestamp": at,
        "receiveTimestamp": at,
        "severity": "NOTICE",
        "resource": {"type": "audited_resource", "labels": {"project_id": project, "service": service, "method": method}},
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": service,
            "methodName": method,
            "resourceName": resource,
            "authenticationInfo": {"principalEmail": principal},
            "requestMetadata": {"callerIp": "203.0.113.99", "callerSuppliedUserAgent": user_agent},
            "request": request,
        },
    });
    if let Some(op) = operation {
        entry["operation"] = json!({"id": op, "producer": service, "first": true});
    }
    entry
}

/// Appends an entry stamped now.
pub(crate) fn record(
    store: &mut Store,
    service: &str,
    method: &str,
    resource: &str,
    request: Value,
    operation: Option<&str>,
) {
    let (principal, user_agent) = store.caller.clone();
    let entry = audit_entry(
        store,
        service,
        method,
        resource,
        &principal,
        &user_agent,
        request,
        operation,
        server::now_rfc3339(),
    );
    store.seed.audit_log.push(entry);
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(&'static str),
    Open,
    Close,
}

fn tokens(filter: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = filter.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token::Open);
                i += 1;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('"') => break,
                        Some('\\') => {
                            let next = chars.get(i + 1).ok_or("unterminated string")?;
                            s.push(*next);
                            i += 2;
                        }
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(Token::Quoted(s));
                i += 1;
            }
            '>' | '<' => {
                let eq = chars.get(i + 1) == Some(&'=');
                out.push(Token::Op(match (c, eq) {
                    ('>', true) => ">=",
                    ('>', false) => ">",
                    ('<', true) => "<=",
                    _ => "<",
                }));
                i += if eq { 2 } else { 1 };
            }
            '=' | ':' => {
                if chars.get(i + 1) == Some(&'~') {
                    return Err("regular expressions (=~) are not supported".into());
                }
                out.push(Token::Op(if c == '=' { "=" } else { ":" }));
                i += 1;
            }
            '!' | '-' => return Err(format!("'{c}' (negation) is not supported")),
            c if c.is_alphanumeric() || c == '_' || c == '@' => {
                let mut s = String::new();
                while let Some(&c) = chars.get(i) {
                    if c.is_alphanumeric() || matches!(c, '_' | '.' | '@') {
                        s.push(c);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(s));
            }
            c => return Err(format!("unexpected '{c}'")),
        }
    }
    Ok(out)
}

/// A parsed filter.
#[derive(Debug)]
pub enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Compare {
        field: String,
        op: &'static str,
        value: String,
    },
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w == word)
    }

    /// and := or ("AND" or)*
    fn and(&mut self) -> Result<Filter, String> {
        let mut parts = vec![self.or()?];
        while self.keyword("AND") {
            self.at += 1;
            parts.push(self.or()?);
        }
        Ok(Filter::All(parts))
    }

    /// or := primary ("OR" primary)*
    fn or(&mut self) -> Result<Filter, String> {
        let mut parts = vec![self.primary()?];
        while self.keyword("OR") {
            self.at += 1;
            parts.push(self.primary()?);
        }
        Ok(Filter::Any(parts))
    }

    fn primary(&mut self) -> Result<Filter, String> {
        match self.tokens.get(self.at) {
            Some(Token::Open) => {
                self.at += 1;
                let inner = self.and()?;
                match self.peek() {
                    Some(Token::Close) => {
                        self.at += 1;
                        Ok(inner)
                    }
                    _ => Err("unbalanced parentheses".into()),
                }
            }
            Some(Token::Word(w)) if w == "NOT" => Err("NOT is not supported".into()),
            Some(Token::Word(field)) => {
                let field = field.clone();
                let op = match self.tokens.get(self.at + 1) {
                    Some(Token::Op(op)) => *op,
                    _ => {
                        return Err(format!(
                            "'{field}' without a comparison (global restrictions are not supported)"
                        ));
                    }
                };
                let value = match self.tokens.get(self.at + 2) {
                    Some(Token::Quoted(v)) => v.clone(),
                    _ => return Err(format!("'{field}{op}' needs a double-quoted value")),
                };
                if op != "=" && op != ":" && field != "timestamp" {
                    return Err(format!("'{op}' is supported on timestamp only"));
                }
                if field == "timestamp" && value.parse::<jiff::Timestamp>().is_err() {
                    return Err(format!("'{value}' is not an RFC 3339 timestamp"));
                }
                self.at += 3;
                Ok(Filter::Compare { field, op, value })
            }
            _ => Err("expected a comparison".into()),
        }
    }
}

/// Parses the supported subset; the error is the API's INVALID_ARGUMENT message.
pub fn parse(filter: &str) -> Result<Filter, String> {
    let tokens = tokens(filter)?;
    if tokens.is_empty() {
        return Ok(Filter::All(Vec::new()));
    }
    let mut p = Parser { tokens, at: 0 };
    let f = p.and()?;
    match p.peek() {
        None => Ok(f),
        Some(t) => Err(format!(
            "unexpected {t:?} (implicit AND and other operators are not supported)"
        )),
    }
}

impl Filter {
    pub fn matches(&self, entry: &Value) -> bool {
        match self {
            Self::All(parts) => parts.iter().all(|p| p.matches(entry)),
            Self::Any(parts) => parts.iter().any(|p| p.matches(entry)),
            Self::Compare { field, op, value } => {
                let pointer = format!("/{}", field.replace('.', "/"));
                let Some(found) = entry.pointer(&pointer) else {
                    return false;
                };
                let found = match found {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                if field == "timestamp" {
                    let (Ok(a), Ok(b)) = (
                        found.parse::<jiff::Timestamp>(),
                        value.parse::<jiff::Timestamp>(),
                    ) else {
                        return false;
                    };
                    return match *op {
                        "=" | ":" => a == b,
                        ">=" => a >= b,
                        ">" => a > b,
                        "<=" => a <= b,
                        _ => a < b,
                    };
                }
                match *op {
                    "=" => found == *value,
                    _ => found.to_lowercase().contains(&value.to_lowercase()),
                }
            }
        }
    }
}

const REQUEST_FIELDS: &[&str] = &[
    "resourceNames",
    "projectIds",
    "filter",
    "orderBy",
    "pageSize",
    "pageToken",
];

/// `entries.list`. The page token is the offset, wrapped so it looks opaque.
pub(crate) fn list(store: &Store, body: &Value) -> Result<Value, (u16, String)> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let bad = |m: String| Err((400, m));
    let Some(map) = body.as_object() else {
        return bad("Invalid JSON payload received. Expected an object.".into());
    };
    if let Some(k) = map.keys().find(|k| !REQUEST_FIELDS.contains(&k.as_str())) {
        return bad(format!(
            "Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."
        ));
    }
    let project = format!("projects/{}", store.seed.project);
    let names: Vec<&str> = body
        .get("resourceNames")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if names.is_empty() {
        return bad("resourceNames: at least one resource name is required".into());
    }
    if let Some(other) = names.iter().find(|n| **n != project) {
        return Err((
            403,
            format!(
                "Permission 'logging.logEntries.list' denied on resource (or it may not exist): {other}"
            ),
        ));
    }
    if store.denied.contains("logging.logEntries.list") {
        return Err((
            403,
            format!(
                "Permission 'logging.logEntries.list' denied on resource (or it may not exist): {project}"
            ),
        ));
    }
    let filter = parse(
        body.get("filter")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
    .map_err(|m| (400, format!("Invalid filter: {m}")))?;
    let desc = match body.get("orderBy").and_then(Value::as_str) {
        None | Some("timestamp asc") => false,
        Some("timestamp desc") => true,
        Some(other) => return bad(format!("Invalid orderBy: {other}")),
    };
    let size = match body.get("pageSize") {
        None => 50,
        Some(v) => match v.as_i64() {
            Some(n) if n < 0 => return bad(format!("Invalid pageSize: {n}")),
            Some(0) => 50,
            Some(n) => usize::try_from(n).unwrap_or(1000).min(1000),
            None => return bad("pageSize must be an integer".into()),
        },
    };
    let start = match body
        .get("pageToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        None => 0,
        Some(t) => match STANDARD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("entries:").and_then(|n| n.parse().ok()))
        {
            Some(n) => n,
            None => return bad("Invalid page token".into()),
        },
    };
    let mut found: Vec<(jiff::Timestamp, usize, &Value)> = store
        .seed
        .audit_log
        .iter()
        .enumerate()
        .filter(|(_, e)| filter.matches(e))
        .map(|(i, e)| {
            let at = e
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(|t| t.parse().ok())
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            (at, i, e)
        })
        .collect();
    found.sort_by_key(|(at, i, _)| (*at, *i));
    if desc {
        found.reverse();
    }
    let end = (start + size).min(found.len());
    let page: Vec<Value> = found
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|(_, _, e)| (*e).clone())
        .collect();
    let mut out = json!({ "entries": page });
    if end < found.len() {
        out["nextPageToken"] = json!(STANDARD.encode(format!("entries:{end}")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(method: &str, at: &str) -> Value {
        json!({"logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity", "timestamp": at,
               "protoPayload": {"methodName": method, "resourceName": "projects/p/global/firewalls/ssh"}})
    }

    #[test]
    fn the_supported_subset_matches_and_the_rest_is_refused() {
        let e = entry("v1.compute.firewalls.patch", "2026-11-30T05:00:00Z");
        let yes = [
            "",
            r#"logName="projects/p/logs/cloudaudit.googleapis.com%2Factivity""#,
            r#"timestamp>="2026-11-30T04:00:00Z" AND protoPayload.methodName:"FIREWALLS""#,
            r#"protoPayload.resourceName="nope" OR protoPayload.resourceName="projects/p/global/firewalls/ssh""#,
            // OR binds tighter than AND.
            r#"protoPayload.methodName:"x" OR protoPayload.methodName:"patch" AND timestamp<"2026-12-01T00:00:00Z""#,
            r#"(protoPayload.methodName="a" OR (timestamp="2026-11-30T05:00:00Z"))"#,
        ];
        for f in yes {
            assert!(parse(f).expect(f).matches(&e), "{f}");
        }
        let no = [
            r#"timestamp>"2026-11-30T05:00:00Z""#,
            r#"protoPayload.resourceName="projects/p/global/firewalls/ss""#,
            r#"operation.id="x""#,
            r#"protoPayload.methodName:"patch" AND timestamp<"2026-11-30T05:00:00Z""#,
        ];
        for f in no {
            assert!(!parse(f).expect(f).matches(&e), "{f}");
        }
        for refused in [
            r#"NOT logName="x""#,
            r#"-logName="x""#,
            r#"logName!="x""#,
            r#"logName=~"x""#,
            "logName=x",
            r#"logName="x" severity="y""#,
            "firewall",
            r#"protoPayload.methodName>="a""#,
            r#"timestamp>="yesterday""#,
            r#"(logName="x""#,
            r#"logName="unterminated"#,
        ] {
            assert!(parse(refused).is_err(), "{refused}");
        }
    }
}
