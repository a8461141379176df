//! YAML as kubectl and helm read it, and YAML that they read as we mean it.
//!
//! kubectl, helm and the API server's YAML paths go through `sigs.k8s.io/yaml`, which decodes
//! with go-yaml v2: YAML 1.1 scalar resolution, where a plain `on`, `off`, `yes`, `no`, `y`
//! or `n` is a boolean and `0755` is the octal integer 493. The loader here resolves plain
//! scalars exactly as go-yaml v2's `resolve()` does for an `interface{}` target, then turns
//! the result into JSON as `sigs.k8s.io/yaml` does, so a manifest means to `perimeter check`
//! what it means to `kubectl apply`. The events come from `granit-parser` (the YAML parser
//! kube-client already depends on through serde-saphyr, so it costs no extra build).
//!
//! Every input is hostile: the file size, the number of documents, nodes (alias expansions
//! included), scalar bytes (again with expansions) and the nesting depth are capped, and a
//! duplicate mapping key is an error, as with `kubectl --validate=strict`.
//!
//! The emitter ([`to_yaml`]) writes block-style YAML in which every string that YAML 1.1
//! (go-yaml v2, PyYAML) or YAML 1.2 would read as something else is quoted.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;
use std::sync::LazyLock;

use granit_parser::{Event, Parser, ScalarStyle, Tag};
use regex::Regex;
use serde_json::{Map, Number, Value};

/// What one file may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// File size. The API server refuses request bodies over 3 MiB.
    pub max_bytes: usize,
    pub max_documents: usize,
    /// Nodes of a file (scalars and collections), alias expansions included.
    pub max_nodes: usize,
    /// Bytes of all scalars of a file, alias expansions included.
    pub max_scalar_bytes: usize,
    /// Nesting of collections.
    pub max_depth: usize,
}

/// The limits of `check`, `demo` and `report --manifests`.
pub const LIMITS: Limits = Limits {
    max_bytes: 4 << 20,
    max_documents: 1_000,
    // Far above any real manifest (a full FirewallPolicy is a few thousand nodes), low
    // enough to keep a hostile file to tens of MiB.
    max_nodes: 250_000,
    max_scalar_bytes: 16 << 20,
    max_depth: 64,
};

/// Why a YAML text could not be read; `document` and `line` are 1-based.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{message}", location(*.document, *.line))]
pub struct YamlError {
    pub document: Option<usize>,
    pub line: Option<usize>,
    pub message: String,
}

fn location(document: Option<usize>, line: Option<usize>) -> String {
    match (document, line) {
        (Some(d), Some(l)) => format!("document {d}, line {l}: "),
        (Some(d), None) => format!("document {d}: "),
        (None, Some(l)) => format!("line {l}: "),
        (None, None) => String::new(),
    }
}

/// A plain scalar that YAML 1.1 typed although it reads like a word or a number: kept so that
/// a schema error on it can say what happened and how to quote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// Field path in the notation of the schema errors (`spec.settings.tls13`).
    pub path: String,
    pub line: usize,
    /// The scalar as written.
    pub text: String,
}

/// One non-empty document of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// 1-based position in the stream, counting empty documents.
    pub index: usize,
    /// Line where the document starts.
    pub line: usize,
    pub value: Value,
    pub notes: Vec<Note>,
}

/// Reads a file, refusing it before reading past `limits.max_bytes` or when it is not UTF-8.
pub fn read_file(path: &Path, limits: &Limits) -> Result<String, YamlError> {
    let fail = |message: String| YamlError {
        document: None,
        line: None,
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    // One byte past the cap tells "too large" without reading (or allocating) the rest.
    let cap = u64::try_from(limits.max_bytes).unwrap_or(u64::MAX);
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() > limits.max_bytes {
        return Err(fail(format!(
            "larger than {} bytes (the API server refuses requests over 3 MiB)",
            limits.max_bytes
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        YamlError {
            document: None,
            line: Some(line),
            message: format!("not UTF-8 (invalid byte at offset {at})"),
        }
    })
}

/// Parses one YAML document into JSON (fixtures, seeds); an empty text is `null`.
pub fn load_one(text: &str) -> Result<Value, YamlError> {
    let docs = load_all(text, &LIMITS)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.into_iter().next().map(|d| d.value).unwrap_or_default()),
        n => Err(YamlError {
            document: None,
            line: None,
            message: format!("expected one document, found {n}"),
        }),
    }
}

/// Every non-empty document of a stream, as kubectl would send it to the API server.
pub fn load_all(text: &str, limits: &Limits) -> Result<Vec<Document>, YamlError> {
    if text.len() > limits.max_bytes {
        return Err(YamlError {
            document: None,
            line: None,
            message: format!("larger than {} bytes", limits.max_bytes),
        });
    }
    let mut options = granit_parser::Options::default();
    // libyaml (and so go-yaml v2) behaviour where the YAML test suite and libyaml differ.
    options.block_scalar_eof_without_line_feed = true;
    options.block_nesting_limit = limits.max_depth;
    options.flow_nesting_limit = limits.max_depth;
    let mut loader = Loader::new(limits);
    for event in Parser::new_from_str_with_options(text, options) {
        match event {
            Ok((event, span)) => loader.event(event, span.start.line())?,
            Err(e) => {
                let info = e.info();
                let message = if info.contains("recursion limit") {
                    format!("nested deeper than {} levels ({info})", limits.max_depth)
                } else {
                    info.to_string()
                };
                return Err(YamlError {
                    document: loader.document_or_none(),
                    line: Some(e.marker().line()),
                    message,
                });
            }
        }
    }
    Ok(loader.documents)
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        nodes_before: usize,
        bytes_before: usize,
    },
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        anchor: usize,
        nodes_before: usize,
        bytes_before: usize,
    },
}

/// An anchored node and what it costs each time an alias repeats it.
struct Anchored {
    value: Value,
    nodes: usize,
    bytes: usize,
}

struct Loader<'l> {
    limits: &'l Limits,
    documents: Vec<Document>,
    document: usize,
    document_line: usize,
    stack: Vec<Frame>,
    root: Option<Value>,
    notes: Vec<Note>,
    anchors: HashMap<usize, Anchored>,
    nodes: usize,
    bytes: usize,
}

/// Notes kept per document; past that, errors still name the field, without the hint.
const MAX_NOTES: usize = 1_000;

impl<'l> Loader<'l> {
    fn new(limits: &'l Limits) -> Self {
        Self {
            limits,
            documents: Vec::new(),
            document: 0,
            document_line: 1,
            stack: Vec::new(),
            root: None,
            notes: Vec::new(),
            anchors: HashMap::new(),
            nodes: 0,
            bytes: 0,
        }
    }

    fn document_or_none(&self) -> Option<usize> {
        (self.document > 0).then_some(self.document)
    }

    fn fail(&self, line: usize, message: impl Into<String>) -> YamlError {
        YamlError {
            document: self.document_or_none(),
            line: Some(line),
            message: message.into(),
        }
    }

    fn event(&mut self, event: Event<'_>, line: usize) -> Result<(), YamlError> {
        match event {
            Event::DocumentStart(..) => {
                self.document += 1;
                if self.document > self.limits.max_documents {
                    return Err(self.fail(
                        line,
                        format!("more than {} documents", self.limits.max_documents),
                    ));
                }
                self.document_line = line;
                self.anchors.clear();
                self.notes.clear();
                self.root = None;
            }
            Event::DocumentEnd => {
                if let Some(value) = self.root.take()
                    && !value.is_null()
                {
                    self.documents.push(Document {
                        index: self.document,
                        line: self.document_line,
                        value,
                        notes: std::mem::take(&mut self.notes),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, text.len(), line)?;
                let value = self.scalar(&text, style, tag.as_deref(), line)?;
                if anchor != 0 {
                    self.anchors.insert(
                        anchor,
                        Anchored {
                            value: value.clone(),
                            nodes: 1,
                            bytes: text.len(),
                        },
                    );
                }
                self.attach(value, line)?;
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.collection_tag(tag.as_deref(), "seq", line)?;
                self.open(line)?;
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    anchor,
                    nodes_before: self.nodes - 1,
                    bytes_before: self.bytes,
                });
            }
            Event::MappingStart(_, anchor, tag) => {
                self.collection_tag(tag.as_deref(), "map", line)?;
                self.open(line)?;
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    key: None,
                    anchor,
                    nodes_before: self.nodes - 1,
                    bytes_before: self.bytes,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor, nodes_before, bytes_before) = match self.stack.pop() {
                    Some(Frame::Seq {
                        items,
                        anchor,
                        nodes_before,
                        bytes_before,
                    }) => (Value::Array(items), anchor, nodes_before, bytes_before),
                    Some(Frame::Map {
                        map,
                        anchor,
                        nodes_before,
                        bytes_before,
                        ..
                    }) => (Value::Object(map), anchor, nodes_before, bytes_before),
                    None => return Err(self.fail(line, "unbalanced collection end")),
                };
                if anchor != 0 {
                    let nodes = self.nodes - nodes_before;
                    let bytes = self.bytes - bytes_before;
                    // Keeping the copy costs as much as one more expansion.
                    self.count(nodes, bytes, line)?;
                    self.anchors.insert(
                        anchor,
                        Anchored {
                            value: value.clone(),
                            nodes,
                            bytes,
                        },
                    );
                }
                self.attach(value, line)?;
            }
            Event::Alias(id) => {
                let (value, nodes, bytes) = match self.anchors.get(&id) {
                    Some(a) => (a.value.clone(), a.nodes, a.bytes),
                    None => return Err(self.fail(line, "alias to an unknown anchor")),
                };
                self.count(nodes, bytes, line)?;
                self.attach(value, line)?;
            }
            Event::UnresolvedAlias(_) => {
                return Err(self.fail(line, "alias to an unknown anchor"));
            }
            _ => {}
        }
        Ok(())
    }

    fn count(&mut self, nodes: usize, bytes: usize, line: usize) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(nodes);
        self.bytes = self.bytes.saturating_add(bytes);
        if self.nodes > self.limits.max_nodes {
            return Err(self.fail(
                line,
                format!(
                    "more than {} nodes (aliases included): refused",
                    self.limits.max_nodes
                ),
            ));
        }
        if self.bytes > self.limits.max_scalar_bytes {
            return Err(self.fail(
                line,
                format!(
                    "more than {} bytes of scalars (aliases included): refused",
                    self.limits.max_scalar_bytes
                ),
            ));
        }
        Ok(())
    }

    fn open(&mut self, line: usize) -> Result<(), YamlError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(self.fail(
                line,
                format!("nested deeper than {} levels", self.limits.max_depth),
            ));
        }
        self.count(1, 0, line)
    }

    fn collection_tag(&self, tag: Option<&Tag>, want: &str, line: usize) -> Result<(), YamlError> {
        match tag {
            None => Ok(()),
            Some(t) if is_core(t, want) => Ok(()),
            Some(t) => Err(self.fail(
                line,
                format!("tag {}{} is not supported", t.handle(), t.suffix()),
            )),
        }
    }

    fn scalar(
        &mut self,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Tag>,
        line: usize,
    ) -> Result<Value, YamlError> {
        if let Some(tag) = tag {
            return self.tagged(text, tag, line);
        }
        if style != ScalarStyle::Plain {
            return Ok(Value::String(text.to_string()));
        }
        let expects_key = matches!(self.stack.last(), Some(Frame::Map { key: None, .. }));
        let resolved = resolve_plain(text);
        if resolved == Plain::Merge && expects_key {
            return Err(self.fail(
                line,
                "merge keys (<<) are not supported: write the fields out",
            ));
        }
        let value = self.plain_to_json(resolved, text, line)?;
        if !value.is_string() && !expects_key && value != canonical(text) {
            self.note(text, line);
        }
        Ok(value)
    }

    fn plain_to_json(&self, plain: Plain, text: &str, line: usize) -> Result<Value, YamlError> {
        Ok(match plain {
            Plain::Null => Value::Null,
            Plain::Bool(b) => Value::Bool(b),
            Plain::Int(i) => Value::from(i),
            Plain::Uint(u) => Value::from(u),
            Plain::Float(f) => float_to_json(f).ok_or_else(|| {
                self.fail(
                    line,
                    format!(
                        "{text} is a YAML float that JSON cannot carry (kubectl refuses it too); quote it for a string"
                    ),
                )
            })?,
            Plain::Str | Plain::Merge => Value::String(text.to_string()),
        })
    }

    fn tagged(&self, text: &str, tag: &Tag, line: usize) -> Result<Value, YamlError> {
        let core = tag.handle() == "tag:yaml.org,2002:";
        let resolved = resolve_plain(text);
        let fits = match tag.suffix() {
            _ if !core => None,
            "str" => return Ok(Value::String(text.to_string())),
            "null" => Some(matches!(resolved, Plain::Null)),
            "bool" => Some(matches!(resolved, Plain::Bool(_))),
            "int" => Some(matches!(resolved, Plain::Int(_) | Plain::Uint(_))),
            "float" => Some(matches!(
                resolved,
                Plain::Int(_) | Plain::Uint(_) | Plain::Float(_)
            )),
            _ => None,
        };
        match fits {
            Some(true) => self.plain_to_json(resolved, text, line),
            Some(false) => Err(self.fail(
                line,
                format!("{} is not a valid !!{}", quoted(text), tag.suffix()),
            )),
            None => Err(self.fail(
                line,
                format!("tag {}{} is not supported", tag.handle(), tag.suffix()),
            )),
        }
    }

    fn note(&mut self, text: &str, line: usize) {
        if self.notes.len() < MAX_NOTES {
            let path = self.path();
            self.notes.push(Note {
                path,
                line,
                text: text.to_string(),
            });
        }
    }

    /// The field path of the node being attached.
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Seq { items, .. } => push_index(&mut path, items.len()),
                Frame::Map { key: Some(k), .. } => push_key(&mut path, k),
                Frame::Map { key: None, .. } => {}
            }
        }
        path
    }

    fn attach(&mut self, value: Value, line: usize) -> Result<(), YamlError> {
        let document = self.document_or_none();
        let fail = |message: String| YamlError {
            document,
            line: Some(line),
            message,
        };
        match self.stack.last_mut() {
            None => self.root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                Some(k) => {
                    map.insert(k, value);
                }
                None => {
                    // sigs.k8s.io/yaml turns boolean and integer keys into their text.
                    let k = match value {
                        Value::String(s) => s,
                        Value::Bool(b) => b.to_string(),
                        Value::Number(n) if n.is_i64() => n.to_string(),
                        other => {
                            return Err(fail(format!(
                                "a mapping key must be a string, not {}",
                                json_type(&other)
                            )));
                        }
                    };
                    if map.contains_key(&k) {
                        return Err(fail(format!("duplicate key {k:?}")));
                    }
                    *key = Some(k);
                }
            },
        }
        Ok(())
    }
}

fn is_core(tag: &Tag, suffix: &str) -> bool {
    tag.handle() == "tag:yaml.org,2002:" && tag.suffix() == suffix
}

/// How a plain scalar resolves in go-yaml v2 (`resolve.go`, v2.4), for an `interface{}` target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Plain {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    /// `<<`: a merge key where a key is expected, a string elsewhere.
    Merge,
    /// Everything else, timestamps included (go-yaml v2 keeps them strings in `interface{}`).
    Str,
}

/// go-yaml v2 `resolve("", text)`.
pub fn resolve_plain(text: &str) -> Plain {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Plain::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Plain::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Plain::Bool(false);
        }
        ".nan" | ".NaN" | ".NAN" => return Plain::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Plain::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Plain::Float(f64::NEG_INFINITY),
        "<<" => return Plain::Merge,
        _ => {}
    }
    match text.as_bytes()[0] {
        b'.' => {
            // strconv.ParseFloat of a text starting with '.'.
            static DOT_FLOAT: LazyLock<Regex> =
                LazyLock::new(|| Regex::new(r"^\.[0-9]+([eE][-+]?[0-9]+)?$").expect("regex"));
            if DOT_FLOAT.is_match(text)
                && let Ok(f) = text.parse::<f64>()
                && f.is_finite()
            {
                return Plain::Float(f);
            }
            Plain::Str
        }
        b'0'..=b'9' | b'+' | b'-' => {
            let plain = text.replace('_', "");
            if let Some(n) = go_parse_int(&plain) {
                if let Ok(i) = i64::try_from(n) {
                    return Plain::Int(i);
                }
                // strconv.ParseUint takes no sign.
                if !plain.starts_with(['+', '-'])
                    && let Ok(u) = u64::try_from(n)
                {
                    return Plain::Uint(u);
                }
            }
            static YAML_FLOAT: LazyLock<Regex> = LazyLock::new(|| {
                Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").expect("regex")
            });
            if YAML_FLOAT.is_match(&plain)
                && let Ok(f) = plain.parse::<f64>()
                // ParseFloat fails with ErrRange past f64: the text stays a string.
                && f.is_finite()
            {
                return Plain::Float(f);
            }
            Plain::Str
        }
        _ => Plain::Str,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` grammar (sign, `0x`/`0o`/`0b`/leading-`0` octal),
/// widened so that the caller can tell int64 from uint64.
fn go_parse_int(s: &str) -> Option<i128> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let n = u64::from_str_radix(body, radix).ok()?;
    Some(if negative {
        -i128::from(n)
    } else {
        i128::from(n)
    })
}

/// JSON of a YAML float as `sigs.k8s.io/yaml` sends it: Go's `json.Marshal` writes an integral
/// float below 1e21 without a fraction, which the API server reads back as an integer.
/// NaN and infinities have no JSON form (json.Marshal fails on them).
fn float_to_json(f: f64) -> Option<Value> {
    if !f.is_finite() {
        return None;
    }
    if f.fract() == 0.0 && f.abs() < 1e21 {
        // Exact: an integral f64 below 2^63 converts without loss.
        const TWO_63: f64 = 9_223_372_036_854_775_808.0;
        if (-TWO_63..TWO_63).contains(&f) {
            #[allow(clippy::cast_possible_truncation)]
            return Some(Value::from(f as i64));
        }
        if (0.0..2.0 * TWO_63).contains(&f) {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            return Some(Value::from(f as u64));
        }
    }
    Number::from_f64(f).map(Value::Number)
}

/// The JSON that the text of a plain scalar reads as without YAML 1.1 (to tell which scalars
/// surprised: `on`, `0755`, `1_000`, `~`).
fn canonical(text: &str) -> Value {
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(|v| !v.is_object() && !v.is_array())
        .unwrap_or(Value::String(String::new()))
}

pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Appends `.key` (or `["key"]` when the key is not a plain name) to a field path.
pub fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'));
    if plain {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    } else {
        let _ = write!(path, "[{}]", Value::String(key.to_string()));
    }
}

pub fn push_index(path: &mut String, index: usize) {
    let _ = write!(path, "[{index}]");
}

// ---------------------------------------------------------------------------------------
// Emitter

/// Whether a plain scalar with this text would be read as something other than this string
/// by go-yaml v2, PyYAML (YAML 1.1, including sexagesimal numbers, timestamps, `=` and `<<`)
/// or a YAML 1.2 core-schema reader.
pub fn is_ambiguous(text: &str) -> bool {
    static YAML11: LazyLock<Vec<Regex>> = LazyLock::new(|| {
        [
            // PyYAML's implicit resolvers (resolver.py): bool, float, int, merge, null,
            // timestamp, value.
            r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
            r"^(?:<<)$",
            r"^(?:~|null|Null|NULL|)$",
            r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)?)$",
            r"^(?:=)$",
            // YAML 1.2 core schema.
            r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        ]
        .iter()
        .map(|r| Regex::new(r).expect("resolver regex"))
        .collect()
    });
    !matches!(resolve_plain(text), Plain::Str) || YAML11.iter().any(|r| r.is_match(text))
}

/// A character YAML lets stand for itself (the `c-printable` set), line breaks excluded.
/// NEL and the Unicode line and paragraph separators are line breaks in YAML 1.1.
fn printable(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{2027}' | '\u{202A}'..='\u{D7FF}' | '\u{E000}'..='\u{FEFE}' | '\u{FF00}'..='\u{FFFD}' | '\u{10000}'..)
}

fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    let last = s.chars().last().unwrap_or(first);
    !is_ambiguous(s)
        && !"-?:,[]{}#&*!|>'\"%@`".contains(first)
        && !first.is_whitespace()
        && !last.is_whitespace()
        && last != ':'
        && !s.contains(": ")
        && !s.contains(" #")
        && s.chars().all(printable)
}

fn single_quoted_ok(s: &str) -> bool {
    s.chars().all(printable)
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if printable(c) => out.push(c),
            c if u32::from(c) <= 0xFFFF => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\U{:08X}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// A literal block (`|-` / `|`) keeps multi-line text readable when it round-trips exactly.
fn literal_ok(s: &str) -> Option<&'static str> {
    let body = s.strip_suffix('\n').unwrap_or(s);
    let chomp = if body.len() == s.len() { "|-" } else { "|" };
    let ok = body.contains('\n')
        && !body.starts_with([' ', '\n'])
        && !body.ends_with('\n')
        && body
            .split('\n')
            .all(|l| !l.ends_with([' ', '\t']) && l.chars().all(printable));
    ok.then_some(chomp)
}

fn scalar_text(s: &str) -> String {
    if plain_ok(s) {
        s.to_string()
    } else if single_quoted_ok(s) {
        format!("'{}'", s.replace('\'', "''"))
    } else {
        double_quoted(s)
    }
}

fn number_text(n: &Number) -> String {
    let text = n.to_string();
    if !n.is_f64() {
        return text;
    }
    // A float both YAML 1.1 readers take as a float: a '.' in the mantissa, a signed exponent.
    match text.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => {
            let mantissa = if mantissa.contains('.') {
                mantissa.to_string()
            } else {
                format!("{mantissa}.0")
            };
            let exponent = if exponent.starts_with(['-', '+']) {
                exponent.to_string()
            } else {
                format!("+{exponent}")
            };
            format!("{mantissa}e{exponent}")
        }
        None if text.contains('.') => text,
        None => format!("{text}.0"),
    }
}

/// Block-style YAML of a JSON value, in the layout of libyaml (sequences not indented under
/// their key), with every ambiguous string quoted.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    emit_node(value, 0, &mut out, Ctx::Top);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    /// After `key:`.
    MapValue,
    /// After `- `.
    SeqItem,
}

fn emit_node(value: &Value, indent: usize, out: &mut String, ctx: Ctx) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut first = true;
            for (k, v) in map {
                if ctx == Ctx::MapValue && first {
                    out.push('\n');
                }
                if !(ctx == Ctx::SeqItem && first) {
                    out.push_str(&pad);
                }
                first = false;
                out.push_str(&scalar_text(k));
                out.push(':');
                emit_node(v, indent + 2, out, Ctx::MapValue);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            // libyaml writes a sequence under a key at the key's indentation.
            let item_indent = if ctx == Ctx::MapValue {
                indent - 2
            } else {
                indent
            };
            let item_pad = " ".repeat(item_indent);
            let mut first = true;
            for item in items {
                if ctx == Ctx::MapValue && first {
                    out.push('\n');
                }
                if !(ctx == Ctx::SeqItem && first) {
                    out.push_str(&item_pad);
                }
                first = false;
                out.push('-');
                if is_nonempty_collection(item) {
                    out.push(' ');
                }
                emit_node(item, item_indent + 2, out, Ctx::SeqItem);
            }
        }
        scalar => {
            if ctx != Ctx::Top {
                out.push(' ');
            }
            match scalar {
                Value::Null => out.push_str("null"),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Number(n) => out.push_str(&number_text(n)),
                // A literal block at column 0 could hold a `---` line: only under a key or item.
                Value::String(s) => match literal_ok(s).filter(|_| ctx != Ctx::Top) {
                    Some(chomp) => {
                        out.push_str(chomp);
                        for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
                            out.push('\n');
                            if !line.is_empty() {
                                out.push_str(&pad);
                                out.push_str(line);
                            }
                        }
                    }
                    None => out.push_str(&scalar_text(s)),
                },
                Value::Array(_) => out.push_str("[]"),
                Value::Object(_) => out.push_str("{}"),
            }
            out.push('\n');
        }
    }
}

fn is_nonempty_collection(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => false,
    }
}

/// Quotes a text for a message, so that `on` reads as the word, not the boolean.
pub fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        load_one(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    /// Each plain scalar and the JSON kubectl sends for it (go-yaml v2 resolve + sigs.k8s.io/yaml).
    #[test]
    fn plain_scalars_resolve_as_go_yaml_v2() {
        let cases: Vec<(&str, Value)> = vec![
            ("y", json!(true)),
            ("Y", json!(true)),
            ("yes", json!(true)),
            ("Yes", json!(true)),
            ("YES", json!(true)),
            ("true", json!(true)),
            ("True", json!(true)),
            ("TRUE", json!(true)),
            ("on", json!(true)),
            ("On", json!(true)),
            ("ON", json!(true)),
            ("n", json!(false)),
            ("N", json!(false)),
            ("no", json!(false)),
            ("No", json!(false)),
            ("NO", json!(false)),
            ("false", json!(false)),
            ("False", json!(false)),
            ("FALSE", json!(false)),
            ("off", json!(false)),
            ("Off", json!(false)),
            ("OFF", json!(false)),
            ("oN", json!("oN")),
            ("yES", json!("yES")),
            ("~", Value::Null),
            ("null", Value::Null),
            ("Null", Value::Null),
            ("NULL", Value::Null),
            ("", Value::Null),
            ("nULL", json!("nULL")),
            ("0", json!(0)),
            ("-0", json!(0)),
            ("+12", json!(12)),
            ("0755", json!(493)),
            ("0o755", json!(493)),
            ("0x1F", json!(31)),
            ("-0x1F", json!(-31)),
            ("0b101", json!(5)),
            ("1_000", json!(1000)),
            ("08", json!(8)),
            ("9223372036854775807", json!(i64::MAX)),
            ("18446744073709551615", json!(u64::MAX)),
            ("99999999999999999999", json!(1e20)),
            ("1.5", json!(1.5)),
            ("1.0", json!(1)),
            ("1e3", json!(1000)),
            (".5", json!(0.5)),
            ("+.5", json!(0.5)),
            ("1e400", json!("1e400")),
            ("1:20", json!("1:20")),
            ("2026-01-01", json!("2026-01-01")),
            (
                "2001-12-14t21:59:43.10-05:00",
                json!("2001-12-14t21:59:43.10-05:00"),
            ),
            ("0x", json!("0x")),
            ("12abc", json!("12abc")),
            ("=", json!("=")),
            ("yes please", json!("yes please")),
        ];
        for (text, want) in cases {
            let got = one(&format!("k: {text}\n"));
            assert_eq!(got["k"], want, "plain {text:?}");
            // Quoted, every one of them is the string.
            for q in [format!("k: '{text}'\n"), format!("k: \"{text}\"\n")] {
                assert_eq!(one(&q)["k"], json!(text), "{q:?}");
            }
        }
    }

    #[test]
    fn floats_json_cannot_carry_are_refused() {
        for text in [".inf", "-.Inf", ".nan", "+.INF"] {
            let e = load_one(&format!("k: {text}\n")).expect_err(text);
            assert!(e.message.contains("JSON cannot carry"), "{e}");
            assert_eq!(e.line, Some(1));
        }
    }

    #[test]
    fn tags_and_keys() {
        assert_eq!(one("k: !!str on\n")["k"], json!("on"));
        assert_eq!(one("k: !!int '12'\n")["k"], json!(12));
        assert_eq!(one("k: !!float '1'\n")["k"], json!(1));
        assert!(load_one("k: !!int abc\n").is_err());
        assert!(load_one("k: !custom x\n").is_err());
        assert!(load_one("k: !!binary aGk=\n").is_err());
        // sigs.k8s.io/yaml turns boolean and integer keys into text.
        assert_eq!(one("on: 1\n12: 2\n"), json!({"true": 1, "12": 2}));
        assert!(load_one("~: 1\n").is_err());
        assert!(load_one("[a]: 1\n").is_err());
        assert!(load_one("<<: {a: 1}\n").is_err());
        assert_eq!(one("k: <<\n")["k"], json!("<<"));
    }

    #[test]
    fn duplicate_keys_are_refused_with_their_line() {
        let e = load_all("a: 1\n---\nx: 1\ny:\n  z: 1\n  z: 2\n", &LIMITS).expect_err("dup");
        assert_eq!((e.document, e.line), (Some(2), Some(6)), "{e}");
        assert!(e.message.contains("duplicate key \"z\""), "{e}");
        // Keys that only become equal as JSON text collide too.
        assert!(load_one("on: 1\n\"true\": 2\n").is_err());
    }

    #[test]
    fn aliases_expand_and_are_counted() {
        assert_eq!(
            one("a: &x {b: [1, 2]}\nc: *x\n"),
            json!({"a": {"b": [1, 2]}, "c": {"b": [1, 2]}})
        );
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (prev, next) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .windows(2)
            .map(|w| (w[0], w[1]))
        {
            let refs = vec![format!("*{prev}"); 10].join(", ");
            bomb.push_str(&format!("{next}: &{next} [{refs}]\n"));
        }
        let e = load_one(&bomb).expect_err("billion laughs");
        assert!(e.message.contains("nodes (aliases included)"), "{e}");
        let long = "x".repeat(1 << 20);
        let refs = vec!["*s"; 20].join(", ");
        let e = load_one(&format!("s: &s {long}\nl: [{refs}]\n")).expect_err("bytes");
        assert!(e.message.contains("bytes of scalars"), "{e}");
    }

    #[test]
    fn limits() {
        let small = Limits {
            max_bytes: 100,
            max_documents: 2,
            max_nodes: 10,
            max_scalar_bytes: 1000,
            max_depth: 3,
        };
        assert!(load_all(&"#".repeat(101), &small).is_err());
        assert!(load_all("a: 1\n---\nb: 1\n---\nc: 1\n", &small).is_err());
        assert!(load_all("a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n", &small).is_err());
        assert!(load_all("a: {b: {c: {d: 1}}}\n", &small).is_err());
        assert!(load_all("a: {b: {c: 1}}\n", &small).is_ok());
        assert!(load_one("a: [\n").is_err());
    }

    #[test]
    fn read_file_stops_at_the_cap_and_wants_utf8() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; 200]).expect("write");
        let small = Limits {
            max_bytes: 100,
            ..LIMITS
        };
        assert!(read_file(&big, &small).is_err());
        let latin1 = dir.path().join("latin1.yaml");
        std::fs::write(&latin1, b"a: 1\nb: caf\xe9\n").expect("write");
        let e = read_file(&latin1, &LIMITS).expect_err("latin-1");
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn notes_locate_surprising_scalars() {
        let docs = load_all(
            "spec:\n  list:\n  - name: a\n    on: yes\n  x: 0755\n  y: 10\n",
            &LIMITS,
        )
        .expect("yaml");
        let notes: Vec<(&str, usize, &str)> = docs[0]
            .notes
            .iter()
            .map(|n| (n.path.as_str(), n.line, n.text.as_str()))
            .collect();
        assert_eq!(
            notes,
            [("spec.list[0].true", 4, "yes"), ("spec.x", 5, "0755")]
        );
    }

    const TRICKY: [&str; 28] = [
        "on",
        "No",
        "y",
        "0755",
        "1:20",
        "190:20:30",
        "~",
        "null",
        "",
        ".inf",
        "-.Inf",
        ".nan",
        "2026-01-01",
        "2001-12-14 21:59:43.10 -5",
        "yes please",
        " lead",
        "trail ",
        "#x",
        "a #b",
        "a: b",
        "key:",
        "- x",
        "multi\nline\n",
        "two\nlines",
        "  indented\nblock",
        "1e3",
        "=",
        "<<",
    ];

    #[test]
    fn emitted_strings_round_trip_through_the_loader() {
        let mut extra: Vec<String> = TRICKY.iter().map(|s| (*s).to_string()).collect();
        extra.extend(
            [
                "tab\there",
                "quote ' and \"",
                "back\\slash",
                "nel\u{85}x",
                "bom\u{feff}",
                "trailing\n\n",
                "end space \nx",
                "0x1F",
                "0b1",
                "+1",
                "-.5",
                "1_0",
                "@at",
                "`tick",
                "%pct",
                "!bang",
                "&amp",
                "*star",
                "|pipe",
                ">gt",
                "[a]",
                "{a}",
                "ünïcødé",
            ]
            .map(String::from),
        );
        for s in &extra {
            let value = json!({ s.as_str(): s, "list": [s, {"k": s}] });
            let text = to_yaml(&value);
            assert_eq!(one(&text), value, "{s:?} emitted as\n{text}");
        }
    }

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in TRICKY
            .iter()
            .filter(|s| !s.contains('\n') && **s != "yes please")
        {
            let text = to_yaml(&json!({ "k": s }));
            assert!(
                text.starts_with("k: '") || text.starts_with("k: \""),
                "{s:?} → {text}"
            );
        }
        assert_eq!(to_yaml(&json!({"k": "plain words"})), "k: plain words\n");
    }

    #[test]
    fn layout_is_libyaml_block_style() {
        let value = json!({
            "a": {"b": [1, {"c": "x", "d": []}], "e": {}},
            "f": [[1.5, 1e300], true, null],
            "g": "multi\nline"
        });
        assert_eq!(
            to_yaml(&value),
            "a:\n  b:\n  - 1\n  - c: x\n    d: []\n  e: {}\nf:\n- - 1.5\n  - 1.0e+300\n- true\n- null\ng: |-\n  multi\n  line\n"
        );
    }
}
