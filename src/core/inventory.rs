//! Boundary assets and their coverage: what a provider account holds (zones, VPCs, security
//! groups…) and which of them no FirewallPolicy manages. Pure: the provider lists the assets,
//! its kit says which policy block covers which asset, and this module counts.

use serde::{Deserialize, Serialize};

/// The kind of a public hostname a monitoring account should check ([`super::hostnames`]).
pub const HOSTNAME: &str = "hostname";

/// How many uncovered assets a status, a report or a check output lists (the counts are whole).
pub const LISTED: usize = 50;

/// One boundary asset of a provider account, as its API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    /// Bounded per provider (`zone`, `vpc`, `securityGroup`, `network`, `project`, `database`,
    /// `cluster`): a metric label.
    pub kind: &'static str,
    /// What a policy block names it by (a zone id, `vpc-…`, `sg-…`).
    pub id: String,
    /// What a person knows it by (a zone's host name, a `Name` tag); the id when it has none.
    pub name: String,
    /// Where it lives, for providers with regions.
    pub region: Option<String>,
    /// The id of the asset it is part of (a security group's VPC).
    pub parent: Option<String>,
    /// The ids of firewalls inside it that are not counted as assets of their own (a VPC's
    /// network ACLs): a block that manages one of them covers it.
    pub parts: Vec<String>,
    /// The hostnames it serves on the public internet (a zone's apex, a project's production
    /// domains), as its provider's answer gives them: what an uptime monitor should check
    /// ([`super::hostnames`]). Empty for assets that serve none (a VPC).
    pub hosts: Vec<String>,
}

impl Asset {
    pub fn new(kind: &'static str, id: impl Into<String>, name: impl Into<String>) -> Self {
        let id = id.into();
        let name = name.into();
        Self {
            kind,
            name: if name.is_empty() { id.clone() } else { name },
            id,
            region: None,
            parent: None,
            parts: Vec::new(),
            hosts: Vec::new(),
        }
    }

    pub fn in_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    pub fn within(mut self, parent: impl Into<String>) -> Self {
        self.parent = Some(parent.into());
        self
    }

    pub fn with_parts(mut self, parts: Vec<String>) -> Self {
        self.parts = parts;
        self
    }

    /// Adds the public hostnames it serves; empty ones are left out.
    pub fn serving<S: Into<String>>(mut self, hosts: impl IntoIterator<Item = S>) -> Self {
        self.hosts.extend(
            hosts
                .into_iter()
                .map(Into::into)
                .filter(|h: &String| !h.is_empty()),
        );
        self
    }
}

/// An uncovered asset as status and reports show it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedAsset {
    #[schemars(length(max = 64))]
    pub kind: String,
    #[schemars(length(max = 256))]
    pub id: String,
    #[schemars(length(max = 256))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub region: Option<String>,
}

impl ListedAsset {
    /// `zone example.com (023e…)`, `vpc staging (vpc-0abc, eu-west-1)`, `vpc vpc-0abc
    /// (eu-west-1)`.
    pub fn label(&self) -> String {
        let mut at = Vec::new();
        // A hostname's name already carries it (`shop.example.com (vercel team-a/web)`).
        let hostname = self.kind == HOSTNAME && self.name.starts_with(&self.id);
        if self.name != self.id && !hostname {
            at.push(self.id.as_str());
        }
        at.extend(self.region.as_deref());
        if at.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {} ({})", self.kind, self.name, at.join(", "))
        }
    }
}

impl From<&Asset> for ListedAsset {
    fn from(a: &Asset) -> Self {
        Self {
            kind: a.kind.to_string(),
            id: clean(&a.id, 256),
            name: clean(&a.name, 256),
            region: a.region.as_deref().map(|r| clean(r, 64)),
        }
    }
}

/// Names come from the provider's answer: bounded, without control characters (they reach
/// status, logs and terminals).
fn clean(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// How many of an account's assets some FirewallPolicy covers, per kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// `(kind, total, covered)`, by kind, in the order the kinds were first listed.
    pub kinds: Vec<(&'static str, usize, usize)>,
    /// Every uncovered asset, in the order listed.
    pub uncovered: Vec<Asset>,
}

impl Coverage {
    pub fn total(&self) -> usize {
        self.kinds.iter().map(|k| k.1).sum()
    }

    pub fn covered(&self) -> usize {
        self.kinds.iter().map(|k| k.2).sum()
    }
}

/// Counts `assets` by kind, `covered` saying whether some policy covers one (it is given the
/// whole inventory too: a VPC is covered through its security groups).
pub fn coverage(assets: &[Asset], covered: impl Fn(&Asset, &[Asset]) -> bool) -> Coverage {
    let mut out = Coverage::default();
    for a in assets {
        let is = covered(a, assets);
        let slot = match out.kinds.iter().position(|k| k.0 == a.kind) {
            Some(i) => i,
            None => {
                out.kinds.push((a.kind, 0, 0));
                out.kinds.len() - 1
            }
        };
        out.kinds[slot].1 += 1;
        if is {
            out.kinds[slot].2 += 1;
        } else {
            out.uncovered.push(a.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_counts_by_kind_and_lists_what_is_not_covered() {
        let assets = vec![
            Asset::new("zone", "z1", "a.example"),
            Asset::new("vpc", "vpc-1", "").in_region("eu-west-1"),
            Asset::new("zone", "z2", "b.example"),
            Asset::new("zone", "z3", "c.example"),
        ];
        let c = coverage(&assets, |a, _| a.id == "z2" || a.id == "vpc-1");
        assert_eq!(c.kinds, vec![("zone", 3, 1), ("vpc", 1, 1)]);
        assert_eq!((c.total(), c.covered()), (4, 2));
        let ids: Vec<&str> = c.uncovered.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["z1", "z3"]);
        // Nothing listed: nothing counted (not "all covered" of something).
        let none = coverage(&[], |_, _| true);
        assert_eq!((none.total(), none.covered()), (0, 0));
    }

    #[test]
    fn a_listed_asset_is_labelled_by_name_id_and_region_and_sanitised() {
        let cases = [
            (Asset::new("zone", "z1", "a.example"), "zone a.example (z1)"),
            (
                Asset::new("vpc", "vpc-1", "").in_region("eu-west-1"),
                "vpc vpc-1 (eu-west-1)",
            ),
            (
                Asset::new("vpc", "vpc-1", "prod").in_region("eu-west-1"),
                "vpc prod (vpc-1, eu-west-1)",
            ),
            (
                Asset::new("hostname", "a.example", "a.example (cloudflare team-a/cf)"),
                "hostname a.example (cloudflare team-a/cf)",
            ),
        ];
        for (asset, want) in cases {
            assert_eq!(ListedAsset::from(&asset).label(), want);
        }
        let hostile = Asset::new("zone", "z", "evil\nname\u{7}".repeat(100));
        let listed = ListedAsset::from(&hostile);
        assert!(listed.name.chars().count() <= 256, "{}", listed.name.len());
        assert!(
            !listed.name.chars().any(char::is_control),
            "{:?}",
            listed.name
        );
    }
}
