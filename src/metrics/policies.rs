//! The per-policy series, kept as one small record per policy and written straight to the
//! text format: `perimeter_policy_in_sync`, `perimeter_drift_fields`,
//! `perimeter_unmanaged_items`, `perimeter_policy_last_sync_timestamp_seconds` and
//! `perimeter_findings`.
//!
//! They are most of the operator's series, and grow with the fleet. `prometheus`' vectors keep
//! every child's label pairs as protobuf messages, and each scrape (`Registry::gather`) copies
//! all of them into a `MetricFamily` before encoding: with a findings series per known code and
//! policy, 1,000 policies held about 12 MiB and a scrape took about 34 MiB more. Here a policy
//! costs its identity and its numbers; a scrape writes text, and only the findings it has.
//!
//! A policy is (kind, namespace, name); its provider type is a value, so a policy moved to an
//! account of another type has one set of series, not two.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

/// What a successful provider read said of one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub drift_fields: i64,
    pub unmanaged_items: i64,
    /// Unix time of the read.
    pub at: i64,
    /// Findings by code; codes with none are left out (a resolved finding's series goes).
    pub findings: Vec<(&'static str, i64)>,
}

/// The series of one policy as published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Values {
    pub provider: String,
    /// 1 when the last sync found the provider matching the policy, 0 when drifted or unread.
    pub in_sync: i64,
    /// The last successful read, kept while later reads fail (drift as last known).
    pub read: Option<Read>,
}

/// (kind, namespace, name).
type Key = (String, String, String);

#[derive(Default)]
pub struct PolicySeries(Mutex<BTreeMap<Key, Values>>);

const FAMILIES: [(&str, &str); 4] = [
    (
        "perimeter_drift_fields",
        "Drifted fields of one policy (0 when in sync).",
    ),
    (
        "perimeter_policy_in_sync",
        "1 when the policy matches the provider, 0 when drifted or unknown.",
    ),
    (
        "perimeter_policy_last_sync_timestamp_seconds",
        "Unix time of the last successful read of the provider for this policy.",
    ),
    (
        "perimeter_unmanaged_items",
        "Items present at the provider but not declared by the policy.",
    ),
];
const FINDINGS: (&str, &str) = (
    "perimeter_findings",
    "Findings of one policy by code (e.g. WorldOpenIngress, VpcWithoutFlowLogs, UnmanagedRule); no series for a code the policy has none of.",
);

impl PolicySeries {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Values>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes one sync: `read` is `None` when the provider was not read (the policy is not
    /// in sync; the last read's values stay).
    pub fn record(
        &self,
        [provider, kind, namespace, name]: [&str; 4],
        in_sync: bool,
        read: Option<Read>,
    ) {
        let mut map = self.map();
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        let values = map.entry(key).or_default();
        if values.provider != provider {
            // Another provider type: what was read of the old one is not this one's.
            *values = Values {
                provider: provider.to_string(),
                ..Values::default()
            };
        }
        values.in_sync = i64::from(in_sync);
        if let Some(mut read) = read {
            read.findings.retain(|(_, n)| *n > 0);
            read.findings.sort_unstable();
            values.read = Some(read);
        }
    }

    pub fn forget(&self, kind: &str, namespace: &str, name: &str) {
        self.map()
            .remove(&(kind.to_string(), namespace.to_string(), name.to_string()));
    }

    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Values> {
        self.map()
            .get(&(kind.to_string(), namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Appends the five families in the text exposition format (version 0.0.4). A family with
    /// no series is left out, as `prometheus` does.
    pub fn render(&self, out: &mut String) {
        let map = self.map();
        let value = |i: usize, v: &Values| match i {
            0 => v.read.as_ref().map(|r| r.drift_fields),
            1 => Some(v.in_sync),
            2 => v.read.as_ref().map(|r| r.at),
            _ => v.read.as_ref().map(|r| r.unmanaged_items),
        };
        for (i, family) in FAMILIES.iter().enumerate() {
            let mut header = false;
            for ((kind, namespace, name), v) in map.iter() {
                if let Some(n) = value(i, v) {
                    let pairs = [
                        ("kind", kind.as_str()),
                        ("name", name),
                        ("namespace", namespace),
                        ("provider", &v.provider),
                    ];
                    line(out, *family, &mut header, &pairs, n);
                }
            }
        }
        let mut header = false;
        for ((kind, namespace, name), v) in map.iter() {
            for (code, n) in v.read.iter().flat_map(|r| &r.findings) {
                let pairs = [
                    ("code", *code),
                    ("kind", kind),
                    ("name", name),
                    ("namespace", namespace),
                    ("provider", &v.provider),
                ];
                line(out, FINDINGS, &mut header, &pairs, *n);
            }
        }
    }
}

/// One series, after its family's `# HELP` and `# TYPE` lines if it is the family's first.
fn line(
    out: &mut String,
    (family, help): (&str, &str),
    header: &mut bool,
    pairs: &[(&str, &str)],
    value: i64,
) {
    if !*header {
        let _ = writeln!(out, "# HELP {family} {help}");
        let _ = writeln!(out, "# TYPE {family} gauge");
        *header = true;
    }
    let _ = write!(out, "{family}{{");
    labels(out, pairs);
    let _ = writeln!(out, "}} {value}");
}

/// `name="value",…` with the value escaped as the text format says (`\\`, `\"`, `\n`).
fn labels(out: &mut String, pairs: &[(&str, &str)]) {
    for (i, (label, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{label}=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::{PolicySeries, Read};

    const EDGE: [&str; 4] = ["cloudflare", "FirewallPolicy", "shop", "edge"];

    fn read(at: i64, findings: Vec<(&'static str, i64)>) -> Option<Read> {
        Some(Read {
            drift_fields: 3,
            unmanaged_items: 1,
            at,
            findings,
        })
    }

    #[test]
    fn an_unread_policy_has_only_its_in_sync_series() {
        let s = PolicySeries::default();
        s.record(EDGE, false, None);
        let mut text = String::new();
        s.render(&mut text);
        assert_eq!(
            text,
            "# HELP perimeter_policy_in_sync 1 when the policy matches the provider, 0 when drifted or unknown.\n\
             # TYPE perimeter_policy_in_sync gauge\n\
             perimeter_policy_in_sync{kind=\"FirewallPolicy\",name=\"edge\",namespace=\"shop\",provider=\"cloudflare\"} 0\n"
        );
    }

    #[test]
    fn a_failed_read_keeps_the_last_values_and_resolved_findings_go() {
        let s = PolicySeries::default();
        s.record(
            EDGE,
            false,
            read(100, vec![("WorldOpenIngress", 2), ("UnmanagedRule", 0)]),
        );
        s.record(EDGE, false, None);
        let v = s.get("FirewallPolicy", "shop", "edge").expect("recorded");
        let r = v.read.expect("kept");
        assert_eq!((v.in_sync, r.at, r.drift_fields), (0, 100, 3));
        assert_eq!(r.findings, vec![("WorldOpenIngress", 2)], "no 0 series");
        s.record(EDGE, true, read(200, vec![]));
        let mut text = String::new();
        s.render(&mut text);
        assert!(!text.contains("perimeter_findings"), "{text}");
        assert!(text.contains("perimeter_policy_last_sync_timestamp_seconds{kind=\"FirewallPolicy\",name=\"edge\",namespace=\"shop\",provider=\"cloudflare\"} 200\n"), "{text}");
    }

    #[test]
    fn another_provider_type_replaces_the_series_and_forget_drops_them() {
        let s = PolicySeries::default();
        s.record(EDGE, false, read(100, vec![("WorldOpenIngress", 1)]));
        s.record(["aws", "FirewallPolicy", "shop", "edge"], false, None);
        let v = s.get("FirewallPolicy", "shop", "edge").expect("recorded");
        assert_eq!((v.provider.as_str(), v.read), ("aws", None));
        s.forget("FirewallPolicy", "shop", "edge");
        let mut text = String::new();
        s.render(&mut text);
        assert_eq!(text, "");
    }

    #[test]
    fn label_values_are_escaped() {
        let s = PolicySeries::default();
        s.record(
            ["cloudflare", "FirewallPolicy", "a\"b\\c", "x\ny"],
            true,
            None,
        );
        let mut text = String::new();
        s.render(&mut text);
        assert!(
            text.contains(
                r#"{kind="FirewallPolicy",name="x\ny",namespace="a\"b\\c",provider="cloudflare"} 1"#
            ),
            "{text}"
        );
    }
}
