//! Validation of an object against a CRD's `openAPIV3Schema` as the API server does it with
//! strict field validation (`kubectl apply --validate=strict`): types, `nullable`, `required`,
//! `enum`, `pattern`, lengths, bounds, list sizes, list-map and set uniqueness, and unknown
//! fields as errors. Object metadata gets the API server's checks (name, namespace, labels,
//! annotations). The CEL rules (`x-kubernetes-validations`) run afterwards through kube-cel.
//!
//! The schema is read as JSON, so the validator works the same on the CRDs of
//! `perimeter::api::crds()` and on CRDs loaded from `crds/perimeter.yaml`.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::yaml::{json_type, push_index, push_key};

/// One field that is not valid: `field` is a path such as `spec.cloudflare.wafCustomRules[2].action`.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

/// Violations reported per object; past this, the rest are counted.
pub const MAX_VIOLATIONS: usize = 50;

/// The `pattern`s of a schema, compiled once with RE2's meaning (a pattern that does not compile
/// is kept as its error, reported on each value it should check).
#[derive(Debug, Default)]
pub struct Patterns(HashMap<String, Result<Regex, String>>);

impl Patterns {
    /// Every string-valued `pattern` keyword anywhere in `schema`.
    pub fn of(schema: &Value) -> Self {
        fn walk(v: &Value, out: &mut HashMap<String, Result<Regex, String>>) {
            match v {
                Value::Object(map) => {
                    for (key, child) in map {
                        match (key.as_str(), child) {
                            ("pattern", Value::String(p)) => {
                                out.entry(p.clone()).or_insert_with(|| compile_pattern(p));
                            }
                            _ => walk(child, out),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
                _ => {}
            }
        }
        let mut out = HashMap::new();
        walk(schema, &mut out);
        Self(out)
    }
}

/// Validates (and prunes, as the API server does: `null` in a field that is not nullable is
/// dropped before validation) an object against its CRD version's `openAPIV3Schema`.
pub fn validate_object(schema: &Value, object: &mut Value, namespaced: bool) -> Vec<Violation> {
    validate_object_with(schema, &Patterns::default(), object, namespaced)
}

/// [`validate_object`] with the schema's patterns compiled beforehand ([`Patterns::of`]), so
/// a folder of documents compiles each pattern once, not once per document.
pub fn validate_object_with(
    schema: &Value,
    patterns: &Patterns,
    object: &mut Value,
    namespaced: bool,
) -> Vec<Violation> {
    let mut v = Walker {
        out: Vec::new(),
        prepared: patterns,
        patterns: HashMap::new(),
    };
    let Some(root) = object.as_object_mut() else {
        v.push("", format!("must be an object, not {}", json_type(object)));
        return v.done();
    };
    for field in ["apiVersion", "kind"] {
        match root.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(other) => v.push(field, format!("must be a string, not {}", json_type(other))),
            None => v.push(field, "Required value".to_string()),
        }
    }
    match root.get("metadata") {
        Some(meta) => validate_meta(meta, namespaced, &mut v),
        None => v.push("metadata", "Required value".to_string()),
    }
    // apiVersion, kind and metadata are the API server's, not in the CRD's properties: set
    // aside (not copied: an object can be large) while the rest is walked.
    let mut set_aside = Map::new();
    for field in ["apiVersion", "kind", "metadata"] {
        if let Some(value) = root.remove(field) {
            set_aside.insert(field.to_string(), value);
        }
    }
    v.node(schema, object, &mut String::new(), true);
    if let Some(root) = object.as_object_mut() {
        root.extend(set_aside);
    }
    v.done()
}

struct Walker<'p> {
    out: Vec<Violation>,
    /// Compiled before the walk; `patterns` holds any other met on the way.
    prepared: &'p Patterns,
    patterns: HashMap<String, Result<Regex, String>>,
}

impl Walker<'_> {
    fn push(&mut self, field: &str, message: String) {
        if !self.full() {
            self.out.push(Violation {
                field: field.to_string(),
                message,
            });
        }
    }

    fn full(&self) -> bool {
        self.out.len() >= MAX_VIOLATIONS
    }

    fn done(mut self) -> Vec<Violation> {
        if self.full() {
            // The walk stops at the cap: an object with a million bad items costs no more.
            self.out.push(Violation {
                field: String::new(),
                message: format!("stopped after {MAX_VIOLATIONS} errors"),
            });
        }
        self.out
    }

    /// `structural`: the schema defines the shape (unknown fields are errors, nulls are
    /// pruned); inside allOf/anyOf/oneOf/not only value checks apply.
    fn node(&mut self, s: &Value, value: &mut Value, path: &mut String, structural: bool) {
        if self.full() {
            return;
        }
        if value.is_null() {
            if !flag(s, "nullable") && structural {
                self.push(path, "Invalid value: null: must not be null".into());
            }
            return;
        }
        if !self.type_ok(s, value, path) {
            return;
        }
        if let Some(allowed) = s.get("enum").and_then(Value::as_array)
            && !allowed.iter().any(|a| same(a, value))
        {
            let list: Vec<String> = allowed
                .iter()
                .filter(|a| !a.is_null())
                .map(Value::to_string)
                .collect();
            self.push(
                path,
                format!(
                    "Unsupported value: {}: supported values: {}",
                    show(value),
                    list.join(", ")
                ),
            );
        }
        match value {
            Value::String(text) => self.string(s, text, path),
            Value::Number(_) => self.number(s, value, path),
            Value::Array(_) => self.array(s, value, path, structural),
            Value::Object(_) => self.object(s, value, path, structural),
            _ => {}
        }
        self.junctors(s, value, path);
    }

    fn type_ok(&mut self, s: &Value, value: &Value, path: &str) -> bool {
        if flag(s, "x-kubernetes-int-or-string") {
            let ok = value.is_string() || is_integer(value);
            if !ok {
                self.push(
                    path,
                    format!(
                        "Invalid value: {}: must be an integer or a string, not {}",
                        show(value),
                        json_type(value)
                    ),
                );
            }
            return ok;
        }
        let Some(want) = s.get("type").and_then(Value::as_str) else {
            return true;
        };
        let ok = match want {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => is_integer(value),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => false,
        };
        if !ok {
            self.push(
                path,
                format!(
                    "Invalid value: {}: must be {} {want}, not {}",
                    show(value),
                    if want.starts_with(['a', 'i', 'o']) {
                        "an"
                    } else {
                        "a"
                    },
                    json_type(value)
                ),
            );
        }
        ok
    }

    fn string(&mut self, s: &Value, text: &str, path: &str) {
        // Kubernetes counts characters (runes), not bytes.
        let len = text.chars().count();
        if let Some(max) = uint(s, "maxLength")
            && len > max
        {
            self.push(
                path,
                format!("Too long: may not be more than {max} characters (got {len})"),
            );
            return;
        }
        if let Some(min) = uint(s, "minLength")
            && len < min
        {
            self.push(
                path,
                format!(
                    "Invalid value: {}: should be at least {min} characters long",
                    show_str(text)
                ),
            );
        }
        if let Some(pattern) = s.get("pattern").and_then(Value::as_str) {
            let compiled = match self.prepared.0.get(pattern) {
                Some(compiled) => compiled,
                None => self
                    .patterns
                    .entry(pattern.to_string())
                    .or_insert_with(|| compile_pattern(pattern)),
            };
            match compiled {
                Ok(re) if re.is_match(text) => {}
                Ok(_) => {
                    let message = format!(
                        "Invalid value: {}: should match '{pattern}'",
                        show_str(text)
                    );
                    self.push(path, message);
                }
                Err(e) => {
                    let message = format!("the schema's pattern cannot be checked: {e}");
                    self.push(path, message);
                }
            }
        }
        if s.get("format").and_then(Value::as_str) == Some("date-time")
            && text.parse::<jiff::Timestamp>().is_err()
        {
            self.push(
                path,
                format!(
                    "Invalid value: {}: must be an RFC 3339 date-time",
                    show_str(text)
                ),
            );
        }
    }

    fn number(&mut self, s: &Value, value: &Value, path: &str) {
        let Some(x) = value.as_f64() else { return };
        let exclusive = |key| flag(s, key);
        if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
            let bad = if exclusive("exclusiveMaximum") {
                !less(value, x, max)
            } else {
                greater(value, x, max)
            };
            if bad {
                let op = if exclusive("exclusiveMaximum") {
                    "less than"
                } else {
                    "less than or equal to"
                };
                self.push(
                    path,
                    format!("Invalid value: {value}: must be {op} {}", bound(max)),
                );
            }
        }
        if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
            let bad = if exclusive("exclusiveMinimum") {
                !greater(value, x, min)
            } else {
                less(value, x, min)
            };
            if bad {
                let op = if exclusive("exclusiveMinimum") {
                    "greater than"
                } else {
                    "greater than or equal to"
                };
                self.push(
                    path,
                    format!("Invalid value: {value}: must be {op} {}", bound(min)),
                );
            }
        }
        if let Some(m) = s.get("multipleOf").and_then(Value::as_f64)
            && m > 0.0
            && (x / m).fract() != 0.0
        {
            self.push(
                path,
                format!("Invalid value: {value}: must be a multiple of {}", bound(m)),
            );
        }
    }

    fn array(&mut self, s: &Value, value: &mut Value, path: &mut String, structural: bool) {
        let Value::Array(items) = value else { return };
        let n = items.len();
        if let Some(max) = uint(s, "maxItems")
            && n > max
        {
            self.push(
                path,
                format!("Too many: {n}: must have at most {max} items"),
            );
            // The API server stops here too: the items of an oversized list are not walked.
            return;
        }
        if let Some(min) = uint(s, "minItems")
            && n < min
        {
            self.push(
                path,
                format!("Invalid value: {n} items: must have at least {min} items"),
            );
        }
        let list_type = s.get("x-kubernetes-list-type").and_then(Value::as_str);
        if list_type == Some("set") || flag(s, "uniqueItems") {
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                if !seen.insert(item.to_string()) {
                    let mut at = path.clone();
                    push_index(&mut at, i);
                    self.push(&at, format!("Duplicate value: {}", show(item)));
                }
            }
        }
        if list_type == Some("map") {
            let keys: Vec<&str> = s
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut seen = BTreeSet::new();
            for (i, item) in items.iter().enumerate() {
                let tuple: Map<String, Value> = keys
                    .iter()
                    .filter_map(|k| item.get(*k).map(|v| ((*k).to_string(), v.clone())))
                    .collect();
                if !seen.insert(Value::Object(tuple.clone()).to_string()) {
                    let mut at = path.clone();
                    push_index(&mut at, i);
                    self.push(&at, format!("Duplicate value: {}", Value::Object(tuple)));
                }
            }
        }
        if let Some(item_schema) = s.get("items") {
            let base = path.len();
            for (i, item) in items.iter_mut().enumerate() {
                if self.full() {
                    break;
                }
                push_index(path, i);
                self.node(item_schema, item, path, structural);
                path.truncate(base);
            }
        }
    }

    fn object(&mut self, s: &Value, value: &mut Value, path: &mut String, structural: bool) {
        let Value::Object(map) = value else { return };
        let properties = s.get("properties").and_then(Value::as_object);
        let additional = s.get("additionalProperties");
        let preserve = flag(s, "x-kubernetes-preserve-unknown-fields");
        if structural {
            // The API server prunes a null in a field that is not nullable before validating.
            map.retain(|k, v| {
                !v.is_null()
                    || properties
                        .and_then(|p| p.get(k))
                        .or(additional.filter(|a| a.is_object()))
                        .is_none_or(|p| flag(p, "nullable"))
            });
        }
        if let Some(required) = s.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !map.contains_key(name) {
                    let mut at = path.clone();
                    push_key(&mut at, name);
                    self.push(&at, "Required value".into());
                }
            }
        }
        if let Some(max) = uint(s, "maxProperties")
            && map.len() > max
        {
            self.push(
                path,
                format!(
                    "Too many: {}: must have at most {max} properties",
                    map.len()
                ),
            );
            return;
        }
        if let Some(min) = uint(s, "minProperties")
            && map.len() < min
        {
            self.push(path, format!("must have at least {min} properties"));
        }
        let base = path.len();
        for (key, child) in map.iter_mut() {
            if self.full() {
                break;
            }
            push_key(path, key);
            match properties.and_then(|p| p.get(key)) {
                Some(child_schema) => self.node(child_schema, child, path, structural),
                None => match additional {
                    Some(a @ Value::Object(_)) => self.node(a, child, path, structural),
                    Some(Value::Bool(true)) => {}
                    _ if preserve || !structural => {}
                    _ => {
                        let message = format!("unknown field {:?}", path.as_str());
                        self.push(path, message);
                    }
                },
            }
            path.truncate(base);
        }
    }

    fn junctors(&mut self, s: &Value, value: &mut Value, path: &mut String) {
        let prepared = self.prepared;
        let passes = |schema: &Value, value: &Value| {
            let mut probe = Walker {
                out: Vec::new(),
                prepared,
                patterns: HashMap::new(),
            };
            probe.node(schema, &mut value.clone(), &mut path.clone(), false);
            probe.out.is_empty()
        };
        let all: Vec<Value> = list(s, "allOf");
        let any: Vec<Value> = list(s, "anyOf");
        let one: Vec<Value> = list(s, "oneOf");
        let any_ok = any.is_empty() || any.iter().any(|a| passes(a, value));
        let one_count = one.iter().filter(|o| passes(o, value)).count();
        let not_ok = s.get("not").is_none_or(|n| !passes(n, value));
        if !any_ok {
            self.push(path, "must match at least one schema (anyOf)".into());
        }
        if !one.is_empty() && one_count != 1 {
            self.push(
                path,
                format!("must match exactly one schema (oneOf), matches {one_count}"),
            );
        }
        if !not_ok {
            self.push(path, "must not match the schema in \"not\"".into());
        }
        for a in &all {
            self.node(a, value, path, false);
        }
    }
}

fn list(s: &Value, key: &str) -> Vec<Value> {
    s.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn flag(s: &Value, key: &str) -> bool {
    s.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn uint(s: &Value, key: &str) -> Option<usize> {
    s.get(key)
        .and_then(Value::as_u64)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// The API server accepts an integral float where an integer is expected.
fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => false,
    }
}

/// Exact comparison of integers with integral bounds (an f64 cannot hold every int64).
fn as_i128(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        _ => None,
    }
}

fn bound_i128(b: f64) -> Option<i128> {
    // Within ±2^64 an integral f64 converts to i128 exactly.
    #[allow(clippy::cast_possible_truncation)]
    (b.fract() == 0.0 && b.abs() <= 1.9e19).then_some(b as i128)
}

fn greater(v: &Value, x: f64, b: f64) -> bool {
    match (as_i128(v), bound_i128(b)) {
        (Some(i), Some(bi)) => i > bi,
        _ => x > b,
    }
}

fn less(v: &Value, x: f64, b: f64) -> bool {
    match (as_i128(v), bound_i128(b)) {
        (Some(i), Some(bi)) => i < bi,
        _ => x < b,
    }
}

fn bound(b: f64) -> String {
    bound_i128(b).map_or_else(|| b.to_string(), |i| i.to_string())
}

/// JSON equality with numbers compared by value (an enum of `1.0` admits `1`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (as_i128(a), as_i128(b)) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        _ => a == b,
    }
}

/// A value for a message, cut short: a message must stay readable whatever was written.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => show_str(s),
        Value::Array(a) => format!("array of {} items", a.len()),
        Value::Object(o) => format!("object with {} fields", o.len()),
        other => other.to_string(),
    }
}

fn show_str(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        Value::String(s.to_string()).to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{}…", Value::String(cut))
    }
}

/// Compiles a schema pattern with RE2's meaning: the API server matches `pattern` with Go's
/// `regexp`, where `\d`, `\s` and `\w` are ASCII classes (Rust's are Unicode).
pub fn compile_pattern(pattern: &str) -> Result<Regex, String> {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('s') => out.push_str(r"[\t\n\f\r ]"),
            Some('S') => out.push_str(r"[^\t\n\f\r ]"),
            Some('w') => out.push_str("[0-9A-Za-z_]"),
            Some('W') => out.push_str("[^0-9A-Za-z_]"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    regex::RegexBuilder::new(&out)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------
// Object metadata, as the API server validates it for custom resources.

const META_FIELDS: [&str; 14] = [
    "name",
    "generateName",
    "namespace",
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
];

static DNS1123_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").expect("regex")
});
static DNS1123_LABEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").expect("regex"));
static QUALIFIED_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$").expect("regex"));

/// A label value as the API server accepts it (empty included).
pub fn is_label_value(text: &str) -> bool {
    text.is_empty() || (text.len() <= 63 && QUALIFIED_NAME.is_match(text))
}

/// A lowercase RFC 1123 label (a namespace, a Lease name's part).
pub fn is_dns_label(text: &str) -> bool {
    text.len() <= 63 && DNS1123_LABEL.is_match(text)
}

fn validate_meta(meta: &Value, namespaced: bool, v: &mut Walker) {
    let Some(meta) = meta.as_object() else {
        v.push(
            "metadata",
            format!("must be an object, not {}", json_type(meta)),
        );
        return;
    };
    for key in meta.keys() {
        if !META_FIELDS.contains(&key.as_str()) {
            let mut at = "metadata".to_string();
            push_key(&mut at, key);
            let message = format!("unknown field {at:?}");
            v.push(&at, message);
        }
    }
    match meta.get("name") {
        Some(Value::String(name)) => {
            if name.len() > 253 || !DNS1123_SUBDOMAIN.is_match(name) {
                v.push(
                    "metadata.name",
                    format!(
                        "Invalid value: {}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (at most 253)",
                        show_str(name)
                    ),
                );
            }
        }
        Some(other) => v.push(
            "metadata.name",
            format!("must be a string, not {}", json_type(other)),
        ),
        None => v.push(
            "metadata.name",
            "Required value: name is required (generateName cannot be checked locally)".into(),
        ),
    }
    match meta.get("namespace") {
        // The API server drops the namespace of a cluster-scoped object.
        _ if !namespaced => {}
        None => {}
        Some(Value::String(ns)) if !is_dns_label(ns) => v.push(
            "metadata.namespace",
            format!(
                "Invalid value: {}: a lowercase RFC 1123 label (at most 63 characters)",
                show_str(ns)
            ),
        ),
        Some(Value::String(_)) => {}
        Some(other) => v.push(
            "metadata.namespace",
            format!("must be a string, not {}", json_type(other)),
        ),
    }
    for (field, labels) in [("labels", true), ("annotations", false)] {
        let Some(map) = meta.get(field) else { continue };
        let base = format!("metadata.{field}");
        let Some(map) = map.as_object() else {
            v.push(&base, format!("must be an object, not {}", json_type(map)));
            continue;
        };
        let mut total = 0usize;
        for (key, value) in map {
            let mut at = base.clone();
            push_key(&mut at, key);
            if let Err(e) = qualified_name(key) {
                v.push(&at, format!("Invalid value: {}: {e}", show_str(key)));
            }
            let Some(text) = value.as_str() else {
                v.push(
                    &at,
                    format!(
                        "Invalid value: {}: must be a string, not {}",
                        show(value),
                        json_type(value)
                    ),
                );
                continue;
            };
            total += key.len() + text.len();
            if labels && !is_label_value(text) {
                v.push(
                    &at,
                    format!(
                        "Invalid value: {}: a label value is at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character",
                        show_str(text)
                    ),
                );
            }
        }
        if !labels && total > 256 * 1024 {
            v.push(&base, "Too long: must have at most 262144 bytes".into());
        }
    }
}

/// A label or annotation key: an optional DNS subdomain prefix and `/`, then a name.
pub fn qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix
        && (p.is_empty() || p.len() > 253 || !DNS1123_SUBDOMAIN.is_match(p))
    {
        return Err("the prefix must be a DNS subdomain".into());
    }
    if name.is_empty() || name.len() > 63 || !QUALIFIED_NAME.is_match(name) {
        return Err(
            "a name of at most 63 alphanumeric characters, '-', '_' or '.', starting and ending with an alphanumeric character".into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(spec: Value) -> Value {
        json!({"apiVersion": "x.dev/v1", "kind": "X", "metadata": {"name": "a", "namespace": "ns"}, "spec": spec})
    }

    fn root(spec_schema: Value) -> Value {
        json!({"type": "object", "properties": {"spec": spec_schema}})
    }

    /// (schema of `spec.f`, value of `spec.f`, the message expected at `spec.f` or None).
    #[test]
    fn keyword_table() {
        let cases: Vec<(Value, Value, Option<&str>)> = vec![
            (json!({"type": "string"}), json!("x"), None),
            (
                json!({"type": "string"}),
                json!(true),
                Some("must be a string, not boolean"),
            ),
            (json!({"type": "integer"}), json!(1.0), None),
            (
                json!({"type": "integer"}),
                json!(1.5),
                Some("must be an integer, not number"),
            ),
            (json!({"type": "number"}), json!(1.5), None),
            (
                json!({"type": "boolean"}),
                json!("true"),
                Some("must be a boolean"),
            ),
            (
                json!({"type": "array"}),
                json!({}),
                Some("must be an array"),
            ),
            (
                json!({"type": "string", "nullable": true}),
                Value::Null,
                None,
            ),
            (
                json!({"x-kubernetes-int-or-string": true}),
                json!(8080),
                None,
            ),
            (
                json!({"x-kubernetes-int-or-string": true}),
                json!("http"),
                None,
            ),
            (
                json!({"x-kubernetes-int-or-string": true}),
                json!(true),
                Some("an integer or a string"),
            ),
            (
                json!({"type": "string", "enum": ["on", "off", null]}),
                json!("on"),
                None,
            ),
            (
                json!({"type": "string", "enum": ["on", "off"]}),
                json!("of"),
                Some("Unsupported value: \"of\": supported values: \"on\", \"off\""),
            ),
            (
                json!({"type": "integer", "enum": [1.0, 2.0]}),
                json!(2),
                None,
            ),
            (
                json!({"type": "string", "pattern": "^[a-z]+$"}),
                json!("abc"),
                None,
            ),
            (
                json!({"type": "string", "pattern": "^[a-z]+$"}),
                json!("a/b"),
                Some("should match '^[a-z]+$'"),
            ),
            // RE2's \d is ASCII: an Arabic-Indic digit does not match, as on the API server.
            (
                json!({"type": "string", "pattern": "^\\d+$"}),
                json!("\u{663}"),
                Some("should match"),
            ),
            (
                json!({"type": "string", "pattern": "^[^\\s]+$"}),
                json!("a\u{a0}b"),
                None,
            ),
            (
                json!({"type": "string", "pattern": "^\\S+$"}),
                json!("a b"),
                Some("should match"),
            ),
            (
                json!({"type": "string", "maxLength": 3}),
                json!("ééé"),
                None,
            ),
            (
                json!({"type": "string", "maxLength": 3}),
                json!("éééé"),
                Some("Too long: may not be more than 3 characters (got 4)"),
            ),
            (
                json!({"type": "string", "minLength": 1}),
                json!(""),
                Some("at least 1 characters"),
            ),
            (
                json!({"type": "string", "format": "date-time"}),
                json!("2026-01-01T00:00:00Z"),
                None,
            ),
            (
                json!({"type": "string", "format": "date-time"}),
                json!("yesterday"),
                Some("RFC 3339"),
            ),
            (
                json!({"type": "integer", "minimum": 0.0, "maximum": 4_294_967_295.0}),
                json!(4_294_967_295_u64),
                None,
            ),
            (
                json!({"type": "integer", "minimum": 0.0, "maximum": 4_294_967_295.0}),
                json!(4_294_967_296_u64),
                Some("must be less than or equal to 4294967295"),
            ),
            (
                json!({"type": "integer", "minimum": 0.0}),
                json!(-1),
                Some("greater than or equal to 0"),
            ),
            (
                json!({"type": "integer", "maximum": i64::MAX as f64}),
                json!(i64::MAX),
                None,
            ),
            (
                json!({"type": "integer", "minimum": 1.0, "exclusiveMinimum": true}),
                json!(1),
                Some("must be greater than 1"),
            ),
            (
                json!({"type": "integer", "maximum": 10.0, "exclusiveMaximum": true}),
                json!(10),
                Some("must be less than 10"),
            ),
            (
                json!({"type": "integer", "multipleOf": 60.0}),
                json!(90),
                Some("multiple of 60"),
            ),
            (
                json!({"type": "array", "maxItems": 2}),
                json!([1, 2, 3]),
                Some("Too many: 3: must have at most 2 items"),
            ),
            (
                json!({"type": "array", "minItems": 1}),
                json!([]),
                Some("at least 1 items"),
            ),
            (
                json!({"type": "array", "x-kubernetes-list-type": "set"}),
                json!(["a", "a"]),
                Some("Duplicate value: \"a\""),
            ),
            (
                json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k", "j"], "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}),
                json!([{"k": 1, "j": 1}, {"k": 1, "j": 2}]),
                None,
            ),
            (
                json!({"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["k", "j"], "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}),
                json!([{"k": 1, "j": 1}, {"j": 1, "k": 1}]),
                Some("Duplicate value: {\"j\":1,\"k\":1}"),
            ),
            (
                json!({"type": "object", "properties": {"a": {"type": "string"}}}),
                json!({"b": 1}),
                Some("unknown field \"spec.f.b\""),
            ),
            (
                json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                json!({"b": 1}),
                None,
            ),
            (
                json!({"type": "object", "additionalProperties": {"type": "string"}}),
                json!({"b": "x"}),
                None,
            ),
            (
                json!({"type": "object", "additionalProperties": {"type": "string"}}),
                json!({"b": 1}),
                Some("must be a string"),
            ),
            (
                json!({"type": "object", "maxProperties": 1, "additionalProperties": true}),
                json!({"a": 1, "b": 2}),
                Some("at most 1 properties"),
            ),
            (
                json!({"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}}}),
                json!({"a": null}),
                Some("Required value"),
            ),
            (
                json!({"allOf": [{"minLength": 2}], "type": "string"}),
                json!("a"),
                Some("at least 2 characters"),
            ),
            (
                json!({"anyOf": [{"maxLength": 1}, {"pattern": "^x"}], "type": "string"}),
                json!("yy"),
                Some("anyOf"),
            ),
            (
                json!({"anyOf": [{"maxLength": 1}, {"pattern": "^x"}], "type": "string"}),
                json!("xx"),
                None,
            ),
        ];
        for (schema, value, want) in cases {
            let s = root(json!({"type": "object", "properties": {"f": schema}}));
            let got = validate_object(&s, &mut object(json!({"f": value})), true);
            match want {
                None => assert!(got.is_empty(), "{schema} / {value}: {got:?}"),
                Some(msg) => assert!(
                    got.iter()
                        .any(|v| v.field.starts_with("spec.f") && v.message.contains(msg)),
                    "{schema} / {value}: want {msg:?}, got {got:?}"
                ),
            }
        }
    }

    #[test]
    fn nulls_of_fields_that_are_not_nullable_are_pruned() {
        let s = root(
            json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string", "nullable": true}}}),
        );
        let mut o = object(json!({"a": null, "b": null}));
        assert!(validate_object(&s, &mut o, true).is_empty());
        assert_eq!(o["spec"], json!({"b": null}));
    }

    #[test]
    fn metadata_is_checked_like_the_api_server() {
        let s = root(json!({"type": "object"}));
        type Case<'a> = (Value, bool, Option<(&'a str, &'a str)>);
        let cases: Vec<Case> = vec![
            (
                json!({"name": "edge.v2", "namespace": "team-a", "labels": {"app.kubernetes.io/name": "x", "empty": ""}}),
                true,
                None,
            ),
            (
                json!({"namespace": "team-a"}),
                true,
                Some(("metadata.name", "Required value")),
            ),
            (
                json!({"name": "Edge"}),
                true,
                Some(("metadata.name", "RFC 1123 subdomain")),
            ),
            (
                json!({"name": "a".repeat(254)}),
                true,
                Some(("metadata.name", "RFC 1123 subdomain")),
            ),
            (
                json!({"name": "a", "namespace": "a.b"}),
                true,
                Some(("metadata.namespace", "RFC 1123 label")),
            ),
            (json!({"name": "a", "namespace": "Not Valid"}), false, None),
            (
                json!({"name": "a", "labels": {"k": true}}),
                true,
                Some(("metadata.labels.k", "must be a string, not boolean")),
            ),
            (
                json!({"name": "a", "labels": {"k": "-x"}}),
                true,
                Some(("metadata.labels.k", "label value")),
            ),
            (
                json!({"name": "a", "labels": {"bad/key/x": "v"}}),
                true,
                Some(("metadata.labels[\"bad/key/x\"]", "DNS subdomain")),
            ),
            (
                json!({"name": "a", "annotations": {"note": "any text: at all"}}),
                true,
                None,
            ),
            (
                json!({"name": "a", "labls": {}}),
                true,
                Some(("metadata.labls", "unknown field")),
            ),
        ];
        for (meta, namespaced, want) in cases {
            let mut o =
                json!({"apiVersion": "x.dev/v1", "kind": "X", "metadata": meta, "spec": {}});
            let got = validate_object(&s, &mut o, namespaced);
            match want {
                None => assert!(got.is_empty(), "{meta}: {got:?}"),
                Some((field, msg)) => assert!(
                    got.iter()
                        .any(|v| v.field == field && v.message.contains(msg)),
                    "{meta}: want {field} {msg:?}, got {got:?}"
                ),
            }
        }
    }

    #[test]
    fn violations_are_capped() {
        let s = root(
            json!({"type": "object", "properties": {"l": {"type": "array", "items": {"type": "string"}}}}),
        );
        let mut o = object(json!({"l": vec![1; 1000]}));
        let got = validate_object(&s, &mut o, true);
        assert_eq!(got.len(), MAX_VIOLATIONS + 1);
        assert_eq!(got[MAX_VIOLATIONS].message, "stopped after 50 errors");
    }

    /// Patterns are found wherever a schema can hold one, a property named `pattern` is not
    /// taken for one, and a prepared pattern answers like one compiled during the walk.
    #[test]
    fn patterns_are_prepared_from_the_whole_schema() {
        let s = root(json!({"type": "object", "properties": {
            "a": {"type": "string", "pattern": "^a+$"},
            "list": {"type": "array", "items": {"type": "string", "pattern": "^b$"}},
            "either": {"anyOf": [{"type": "string", "pattern": "^c$"}]},
            "pattern": {"type": "string", "maxLength": 3},
            "bad": {"type": "string", "pattern": "(?=x)"},
        }}));
        let prepared = Patterns::of(&s);
        let mut found: Vec<&str> = prepared.0.keys().map(String::as_str).collect();
        found.sort();
        assert_eq!(found, ["(?=x)", "^a+$", "^b$", "^c$"]);
        assert!(prepared.0["(?=x)"].is_err(), "kept as its error");
        for (doc, bad) in [
            (
                json!({"a": "aa", "list": ["b"], "either": "c", "pattern": "xyz"}),
                0,
            ),
            (
                json!({"a": "ab", "list": ["b", "x"], "either": "d", "bad": "x"}),
                4,
            ),
        ] {
            let with = validate_object_with(&s, &prepared, &mut object(doc.clone()), true);
            let without = validate_object(&s, &mut object(doc), true);
            assert_eq!(with.len(), bad, "{with:?}");
            assert_eq!(with, without);
        }
    }

    /// Every pattern of this build's CRDs compiles with RE2's meaning.
    #[test]
    fn every_crd_pattern_compiles() {
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(p)) = m.get("pattern") {
                        out.push(p.clone());
                    }
                    m.values().for_each(|c| walk(c, out));
                }
                Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
                _ => {}
            }
        }
        let mut patterns = Vec::new();
        for crd in crate::api::crds() {
            walk(&serde_json::to_value(&crd).expect("json"), &mut patterns);
        }
        assert!(patterns.len() > 20);
        for p in patterns {
            assert!(compile_pattern(&p).is_ok(), "{p}");
        }
    }
}
