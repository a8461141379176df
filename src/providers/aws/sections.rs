//! What each AWS section is: its name (what users read in drift paths) and its [`Part`] (what
//! the client reads, as the section's [`Locator`]). Both are set together by [`Part::section`],
//! so a section's name is never parsed back into what it means.
//!
//! - `securityGroups[<sg-id | vpc-id/name>].ingress` / `.egress` (unordered): one item per rule,
//!   keyed `<protocol>:<ports>:<peer>` (`tcp:22:10.0.0.0/8`, `all:all:sg-0abc…`), so reordering
//!   never shows drift; `description` is the compared field.
//! - `networkAcls[<acl-id>]` (unordered): keyed `ingress:100` / `egress:100`.
//! - `webAcls` (settings, keyed `<SCOPE>/<name>`: `defaultAction`) and
//!   `webAcls[<SCOPE>/<name>].rules` (unordered, keyed by rule name: priority, action, statement).
//! - `ipSets` (unordered, keyed `<SCOPE>/<name>`).
//! - `findings` (settings): `worldOpenIngress` with field `openIngress` — desired `[]` when the
//!   policy says `Forbid`, observed the world-open ingress rules of every group in the region.
//! - `flowLogs` (settings): one item per declared VPC id, or one item `allVpcs` whose field
//!   `vpcsWithoutFlowLog` is desired `[]` and observed as the VPCs lacking a matching flow log.
//!   This is how "every VPC, including ones created later" fits the generic diff: the desired
//!   side is a fact about the set, not a list of VPCs known when the policy was written.
//! - `guardDuty` (settings): `detector`. `cloudWatchAlarms` (unordered, keyed by name).
//!
//! A block without a region is expanded to every region of the account
//! ([`super::regions::per_region`]): each section is then named `<region>/<name>` and located
//! by an [`InRegion`].

use std::fmt;

use crate::core::{Item, Locator, Section, SectionKind};

pub const WEB_ACLS: &str = "webAcls";
pub const IP_SETS: &str = "ipSets";
pub const FINDINGS: &str = "findings";
pub const FLOW_LOGS: &str = "flowLogs";
pub const GUARD_DUTY: &str = "guardDuty";
pub const ALARMS: &str = "cloudWatchAlarms";

/// How a policy names a security group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GroupRef {
    /// `sg-…`
    Id(String),
    /// A group of a VPC by name, written `vpc-…/name`.
    Named { vpc: String, name: String },
}

impl fmt::Display for GroupRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => f.write_str(id),
            Self::Named { vpc, name } => write!(f, "{vpc}/{name}"),
        }
    }
}

/// What an AWS section holds in one region. Its `Debug` text is what the core compares and
/// shows of a [`Locator`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// The ingress or the egress rules of a security group.
    SecurityGroup {
        group: GroupRef,
        egress: bool,
    },
    /// The entries of a network ACL (by id).
    NetworkAcl(String),
    /// The declared web ACLs' default actions.
    WebAcls,
    /// The rules of one web ACL, `<SCOPE>/<name>`.
    WafRules(String),
    IpSets,
    /// Facts about the region ("no world-open ingress").
    Findings,
    FlowLogs,
    GuardDuty,
    Alarms,
}

impl Part {
    /// The section's name in drift paths.
    pub fn name(&self) -> String {
        match self {
            Self::SecurityGroup { group, egress } => sg_section(group, *egress),
            Self::NetworkAcl(acl) => nacl_section(acl),
            Self::WebAcls => WEB_ACLS.into(),
            Self::WafRules(acl) => waf_rules_section(acl),
            Self::IpSets => IP_SETS.into(),
            Self::Findings => FINDINGS.into(),
            Self::FlowLogs => FLOW_LOGS.into(),
            Self::GuardDuty => GUARD_DUTY.into(),
            Self::Alarms => ALARMS.into(),
        }
    }

    pub fn kind(&self) -> SectionKind {
        match self {
            Self::WebAcls | Self::Findings | Self::FlowLogs | Self::GuardDuty => {
                SectionKind::Settings
            }
            Self::SecurityGroup { .. }
            | Self::NetworkAcl(_)
            | Self::WafRules(_)
            | Self::IpSets
            | Self::Alarms => SectionKind::Unordered,
        }
    }

    /// The section holding `items`, named and located.
    pub fn section(self, items: Vec<Item>) -> Section {
        Section::new(self.name(), self.kind(), items).with_locator(Locator::new(self))
    }

    /// The part of a one-region section this provider built; `None` for any other section.
    pub fn of(section: &Section) -> Option<&Self> {
        section.locator()
    }
}

/// The locator of a section of a target expanded to every region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InRegion {
    pub region: String,
    pub part: Part,
}

pub fn sg_section(group: &GroupRef, egress: bool) -> String {
    format!(
        "securityGroups[{group}].{}",
        if egress { "egress" } else { "ingress" }
    )
}

pub fn nacl_section(acl: &str) -> String {
    format!("networkAcls[{acl}]")
}

pub fn waf_rules_section(acl_key: &str) -> String {
    format!("webAcls[{acl_key}].rules")
}

/// `eu-west-1/flowLogs`: a section of a block that covers every region.
pub fn region_section(region: &str, section: &str) -> String {
    format!("{region}/{section}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every part's name is the one drift paths have always shown, and its kind the one its
    /// items are compared by.
    #[test]
    fn parts_name_their_sections() {
        let named = GroupRef::Named {
            vpc: "vpc-1".into(),
            name: "web".into(),
        };
        let cases = [
            (
                Part::SecurityGroup {
                    group: GroupRef::Id("sg-1".into()),
                    egress: false,
                },
                "securityGroups[sg-1].ingress",
                SectionKind::Unordered,
            ),
            (
                Part::SecurityGroup {
                    group: named,
                    egress: true,
                },
                "securityGroups[vpc-1/web].egress",
                SectionKind::Unordered,
            ),
            (
                Part::NetworkAcl("acl-1".into()),
                "networkAcls[acl-1]",
                SectionKind::Unordered,
            ),
            (Part::WebAcls, "webAcls", SectionKind::Settings),
            (
                Part::WafRules("REGIONAL/edge".into()),
                "webAcls[REGIONAL/edge].rules",
                SectionKind::Unordered,
            ),
            (Part::IpSets, "ipSets", SectionKind::Unordered),
            (Part::Findings, "findings", SectionKind::Settings),
            (Part::FlowLogs, "flowLogs", SectionKind::Settings),
            (Part::GuardDuty, "guardDuty", SectionKind::Settings),
            (Part::Alarms, "cloudWatchAlarms", SectionKind::Unordered),
        ];
        for (part, name, kind) in cases {
            let section = part.clone().section(Vec::new());
            assert_eq!((section.name.as_str(), section.kind), (name, kind));
            assert_eq!(Part::of(&section), Some(&part));
        }
        // A section without a locator, or with another provider's, has no part.
        let plain = Section::new(
            "securityGroups[sg-1].ingress",
            SectionKind::Unordered,
            vec![],
        );
        assert_eq!(Part::of(&plain), None);
        let theirs = plain.with_locator(Locator::new("securityGroups[sg-1].ingress"));
        assert_eq!(Part::of(&theirs), None);
    }
}
