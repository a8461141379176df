//! Sharding: several operator Deployments split the policies by a label selector, each with
//! its own Lease (its own leader and standbys).
//!
//! One writer per object, in the whole fleet:
//! - a policy (FirewallPolicy, MonitoringPolicy) is reconciled only by the shard whose
//!   `--shard-selector` it matches; the selectors of a fleet must partition the policies (the
//!   chart builds them so: `perimeter.dev/shard=a`, `=b`, and `notin (a,b)` for the rest);
//! - the account controllers (CloudProvider/ClusterCloudProvider status: Ready, inventory,
//!   coverage), the AddressSet controller and the ControlAssessment controller run in exactly
//!   one shard: the one without a selector, or the one started with `--cluster-controllers`.
//!   Coverage needs every FirewallPolicy and the assessment every policy's status, so that
//!   shard watches the policies unfiltered, plus its own share filtered by its selector.
//!
//! Memory: a shard without the cluster controllers watches its policies with the selector on
//! the API server (`labelSelector`), so it caches only its share. It still caches every
//! provider account, AddressSet and labelled credential Secret: its policies read them.
//!
//! All shards write with the same field manager: a policy moved to another shard (relabelled)
//! is then written by its new shard as the owner of every status field the old one set, and
//! no field the old shard wrote is left behind.

use kube::core::{Expression, Selector};

use crate::manifests::schema::{is_dns_label, is_label_value, qualified_name};

/// The label the chart's shards select on.
pub const SHARD_LABEL: &str = "perimeter.dev/shard";

/// Which policies this process reconciles, and whether it runs the cluster-wide controllers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shard {
    /// `--shard`: names the shard's Lease (`<lease-name>-<name>`) and its metrics.
    pub name: Option<String>,
    /// `--shard-selector`: the policies this shard reconciles; `None`: every policy.
    pub selector: Option<Selector>,
    /// Accounts, address sets and assessments (always when there is no selector).
    pub cluster_controllers: bool,
}

impl Shard {
    /// The unsharded operator: every policy and every controller.
    pub fn all() -> Self {
        Self {
            name: None,
            selector: None,
            cluster_controllers: true,
        }
    }

    /// From the flags; refuses the combinations that would leave two writers of one object.
    pub fn new(
        name: Option<&str>,
        selector: Option<&str>,
        cluster_controllers: bool,
    ) -> Result<Self, String> {
        let name = name
            .map(|n| {
                if is_dns_label(n) {
                    Ok(n.to_string())
                } else {
                    Err(format!(
                        "--shard {n:?}: must be a DNS label (lower-case letters, digits and '-', \
                         at most 63 characters): it names the shard's Lease"
                    ))
                }
            })
            .transpose()?;
        let selector = selector
            .map(|s| parse_selector(s).map_err(|e| format!("--shard-selector {s:?}: {e}")))
            .transpose()?;
        match (&name, &selector, cluster_controllers) {
            // A second process running every policy under another Lease: two writers.
            (Some(_), None, _) => Err(
                "--shard needs --shard-selector: a shard without a selector would reconcile \
                 every policy beside the unsharded operator"
                    .into(),
            ),
            // Its Lease would be the cluster shard's: one of the two would never lead.
            (None, Some(_), false) => Err(
                "--shard-selector needs --shard NAME (the shard's Lease is <lease-name>-NAME), \
                 or --cluster-controllers for the one shard that also runs the account, \
                 address-set and assessment controllers"
                    .into(),
            ),
            _ => Ok(Self {
                cluster_controllers: cluster_controllers || selector.is_none(),
                name,
                selector,
            }),
        }
    }

    /// The Lease this shard's replicas compete for. The cluster-controllers shard may keep
    /// the unsharded name, so that going from one Deployment to several never has two
    /// account writers holding different Leases during the rollout.
    pub fn lease_name(&self, base: &str) -> String {
        match &self.name {
            Some(n) => format!("{base}-{n}"),
            None => base.to_string(),
        }
    }

    /// The watch of this shard's own policies: filtered on the API server.
    pub fn policy_watch(&self) -> kube::runtime::watcher::Config {
        let config = kube::runtime::watcher::Config::default();
        match &self.selector {
            Some(s) => config.labels_from(s),
            None => config,
        }
    }

    /// Whether the controllers that need every policy (accounts, assessment) run here while
    /// the policy controllers take only a share: then the policies are watched twice.
    pub fn needs_own_policy_watch(&self) -> bool {
        self.cluster_controllers && self.selector.is_some()
    }

    /// The `shard` label of the metrics (empty for the unnamed shard).
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    /// The selector as sent to the API server (empty: every policy).
    pub fn selector_text(&self) -> String {
        self.selector
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

/// A Kubernetes label selector string (`key=value`, `key==value`, `key!=value`,
/// `key in (a,b)`, `key notin (a,b)`, `key`, `!key`, comma-separated; all must hold), checked
/// the way the API server checks it, so that a typo fails at start-up and not as a watch that
/// the API server refuses forever. `>`/`<` (numeric) are not supported.
pub fn parse_selector(text: &str) -> Result<Selector, String> {
    if text.trim().is_empty() {
        return Err("empty (it would select every policy: leave the flag out instead)".into());
    }
    top_level_terms(text)?
        .into_iter()
        .map(|term| parse_term(term.trim()))
        .collect()
}

/// Splits at the commas outside parentheses.
fn top_level_terms(text: &str) -> Result<Vec<&str>, String> {
    let (mut depth, mut start, mut out) = (0usize, 0usize, Vec::new());
    for (i, c) in text.char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => return Err("nested parentheses".into()),
            ')' if depth == 1 => depth = 0,
            ')' => return Err("')' without '('".into()),
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("'(' without ')'".into());
    }
    out.push(&text[start..]);
    Ok(out)
}

fn parse_term(term: &str) -> Result<Expression, String> {
    if term.is_empty() {
        return Err("an empty requirement (two commas, or one at an end)".into());
    }
    if let Some(open) = term.find('(') {
        let values = term[open + 1..]
            .strip_suffix(')')
            .ok_or_else(|| format!("{term:?}: text after ')'"))?;
        let mut head = term[..open].split_whitespace();
        let (Some(key), Some(op), None) = (head.next(), head.next(), head.next()) else {
            return Err(format!(
                "{term:?}: expected `key in (v1,v2)` or `key notin (v1,v2)`"
            ));
        };
        let key = label_key(key)?;
        let values = values
            .split(',')
            .map(|v| label_value(v.trim()))
            .collect::<Result<std::collections::BTreeSet<_>, _>>()?;
        return match op {
            "in" => Ok(Expression::In(key, values)),
            "notin" => Ok(Expression::NotIn(key, values)),
            _ => Err(format!("{term:?}: unknown operator {op:?} (in, notin)")),
        };
    }
    if let Some((key, value)) = term.split_once("!=") {
        return Ok(Expression::NotEqual(
            label_key(key.trim())?,
            label_value(value.trim())?,
        ));
    }
    if let Some((key, value)) = term.split_once('=') {
        let value = value.strip_prefix('=').unwrap_or(value);
        return Ok(Expression::Equal(
            label_key(key.trim())?,
            label_value(value.trim())?,
        ));
    }
    if term.contains(['<', '>']) {
        return Err(format!("{term:?}: numeric comparisons are not supported"));
    }
    match term.strip_prefix('!') {
        Some(key) => Ok(Expression::DoesNotExist(label_key(key.trim())?)),
        None => Ok(Expression::Exists(label_key(term)?)),
    }
}

/// `[prefix/]name`, checked as the API server checks a label key (the manifests' own check).
fn label_key(key: &str) -> Result<String, String> {
    qualified_name(key)
        .map(|()| key.to_string())
        .map_err(|e| format!("label key {key:?}: {e}"))
}

fn label_value(value: &str) -> Result<String, String> {
    if is_label_value(value) {
        Ok(value.to_string())
    } else {
        Err(format!(
            "label value {value:?}: at most 63 characters of letters, digits, '-', '_' and '.', \
             starting and ending with a letter or digit"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::SelectorExt;
    use std::collections::BTreeMap;

    /// What parses prints back as the API server reads it; what does not names the problem.
    #[test]
    fn selectors_parse_as_the_api_server_reads_them() {
        let ok = [
            ("perimeter.dev/shard=a", "perimeter.dev/shard=a"),
            ("perimeter.dev/shard==a", "perimeter.dev/shard=a"),
            (" tier != edge ", "tier!=edge"),
            (
                "perimeter.dev/shard notin (a, b)",
                "perimeter.dev/shard notin (a,b)",
            ),
            ("team in (x),env", "team in (x),env"),
            ("!perimeter.dev/shard", "!perimeter.dev/shard"),
            ("a=,b=c_d.e-f", "a=,b=c_d.e-f"),
        ];
        for (text, want) in ok {
            let got = parse_selector(text).map(|s| s.to_string());
            assert_eq!(got.as_deref(), Ok(want), "{text}");
        }
        let refused = [
            ("", "empty"),
            ("  ", "empty"),
            ("a=b,,c", "empty requirement"),
            ("a=b,", "empty requirement"),
            ("a in (x", "without ')'"),
            ("a in x)", "without '('"),
            ("a in ((x))", "nested"),
            ("a between (x)", "unknown operator"),
            ("a in (x) y", "text after"),
            ("in (x)", "expected `key in"),
            ("a>3", "numeric"),
            ("-a=b", "label key"),
            ("Bad_Prefix/a=b", "prefix"),
            ("/a=b", "prefix"),
            ("a=b c", "label value"),
            ("a=-x", "label value"),
            ("a in (x y)", "label value"),
        ];
        for (text, want) in refused {
            let err = parse_selector(text).err();
            assert!(
                err.as_deref().is_some_and(|e| e.contains(want)),
                "{text:?}: {err:?} should say {want:?}"
            );
        }
    }

    /// The flags give one writer per object: the combinations that would give two are refused,
    /// naming the flag; each shard gets its own Lease.
    #[test]
    fn flags_leave_one_writer_per_object() {
        let shard = |name: Option<&str>, sel: Option<&str>, cc| Shard::new(name, sel, cc);
        let s = shard(None, None, false).unwrap();
        assert_eq!(s, Shard::all(), "no flag: today's single operator");
        assert_eq!(s.lease_name("perimeter-leader"), "perimeter-leader");

        let a = shard(Some("a"), Some("perimeter.dev/shard=a"), false).unwrap();
        assert!(!a.cluster_controllers);
        assert!(
            !a.needs_own_policy_watch(),
            "one filtered watch, nothing else"
        );
        assert_eq!(a.lease_name("perimeter-leader"), "perimeter-leader-a");
        assert_eq!(a.selector_text(), "perimeter.dev/shard=a");

        let main = shard(None, Some("perimeter.dev/shard notin (a,b)"), true).unwrap();
        assert!(main.cluster_controllers && main.needs_own_policy_watch());
        assert_eq!(
            main.lease_name("perimeter-leader"),
            "perimeter-leader",
            "the main shard keeps the unsharded Lease (no second account writer in a rollout)"
        );

        for (name, sel, cc, want) in [
            (Some("a"), None, false, "--shard needs --shard-selector"),
            (Some("a"), None, true, "--shard needs --shard-selector"),
            (None, Some("x=y"), false, "--shard-selector needs --shard"),
            (Some("A"), Some("x=y"), false, "--shard \"A\""),
            (
                Some("a"),
                Some("x in (y"),
                false,
                "--shard-selector \"x in (y\"",
            ),
        ] {
            let err = shard(name, sel, cc).err().unwrap_or_default();
            assert!(err.contains(want), "{name:?} {sel:?} {cc}: {err:?}");
        }
    }

    /// The chart's selectors partition the policies: each is taken by exactly one shard.
    #[test]
    fn the_charts_selectors_partition_the_policies() {
        let shards = [
            parse_selector("perimeter.dev/shard=a").unwrap(),
            parse_selector("perimeter.dev/shard=b").unwrap(),
            parse_selector("perimeter.dev/shard notin (a,b)").unwrap(),
        ];
        for value in [Some("a"), Some("b"), Some("c"), Some(""), None] {
            let labels: BTreeMap<String, String> = value
                .map(|v| (SHARD_LABEL.to_string(), v.to_string()))
                .into_iter()
                .collect();
            let takers = shards.iter().filter(|s| s.matches(&labels)).count();
            assert_eq!(takers, 1, "{value:?}");
        }
    }
}
