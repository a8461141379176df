//! Where an AWS target applies: one region, or every region of the CloudProvider. A block
//! without a region is expanded by [`per_region`] (the provider's `resolve`) into one copy of
//! each section per region, named `<region>/<section>` so that every drift entry names its
//! region; reads then fan out to every region at once and writes go region by region.

use std::collections::BTreeSet;
use std::fmt;

use super::Aws;
use super::sections::{InRegion, Part, region_section};
use crate::core::normalize::Invalid;
use crate::core::{Change, Locator, Section, State};
use crate::error::{Category, ProviderError};
use crate::providers::{ApplyError, Observation, Scope, Target};

/// The scope of an AWS target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AwsScope {
    /// A block with `region`.
    Region(String),
    /// A block without a region, before [`per_region`] knows the account's regions.
    EveryRegion,
    /// A block without a region, expanded to these regions of the CloudProvider, in order.
    Regions(Vec<String>),
}

impl fmt::Display for AwsScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Region(r) => write!(f, "region {r}"),
            Self::EveryRegion => f.write_str("every region of the CloudProvider"),
            Self::Regions(r) => write!(f, "regions {}", r.join(", ")),
        }
    }
}

/// Expands a block without a region into one copy of each section per region, so that every
/// key (and so every drift entry) names its region. Any other target is returned as it is.
pub fn per_region(target: &Target, regions: &[String]) -> Result<Target, Invalid> {
    if target.scope.get() != Some(&AwsScope::EveryRegion) {
        return Ok(target.clone());
    }
    if regions.is_empty() {
        return Err(Invalid(
            "the policy has no aws.region, so it covers every region of the CloudProvider, \
             but the CloudProvider lists no spec.regions"
                .into(),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut desired = State::default();
    for region in regions {
        if !seen.insert(region.as_str()) {
            return Err(Invalid(format!(
                "region {region} is listed twice in the CloudProvider's spec.regions"
            )));
        }
        for section in &target.desired.sections {
            let part = Part::of(section).ok_or_else(|| {
                Invalid(format!("{} is not a section of an AWS block", section.name))
            })?;
            desired.push(Section {
                name: region_section(region, &section.name),
                locator: Some(Locator::new(InRegion {
                    region: region.clone(),
                    part: part.clone(),
                })),
                ..section.clone()
            });
        }
    }
    Ok(Target {
        purpose: target.purpose,
        scope: Scope::new(AwsScope::Regions(regions.to_vec())),
        desired,
    })
}

/// The sections of one region of an expanded target, under their one-region names.
pub fn region_state(state: &State, region: &str) -> State {
    let mut out = State::default();
    for section in &state.sections {
        if let Some(InRegion { region: r, part }) = section.locator()
            && r == region
        {
            out.push(Section {
                name: part.name(),
                locator: Some(Locator::new(part.clone())),
                ..section.clone()
            });
        }
    }
    out
}

/// A change of an expanded target (whose sections are `desired`) in `region`, under its
/// one-region section name; `None` for a change of another region.
pub fn change_in_region(desired: &State, change: &Change, region: &str) -> Option<Change> {
    let InRegion { region: r, part } = desired.section(change.section())?.locator()?;
    if r != region {
        return None;
    }
    let section = part.name();
    Some(match change.clone() {
        Change::Create { key, .. } => Change::Create { section, key },
        Change::Update { key, fields, .. } => Change::Update {
            section,
            key,
            fields,
        },
        Change::Delete { key, .. } => Change::Delete { section, key },
        Change::Reorder { .. } => Change::Reorder { section },
    })
}

/// One region's observation, renamed into the expanded target's sections and subjects.
pub fn tag_region(region: &str, mut obs: Observation) -> Observation {
    for section in &mut obs.state.sections {
        section.name = region_section(region, &section.name);
        if let Some(part) = Part::of(section).cloned() {
            section.locator = Some(Locator::new(InRegion {
                region: region.to_string(),
                part,
            }));
        }
    }
    for finding in &mut obs.findings {
        finding.subject = region_section(region, &finding.subject);
    }
    obs
}

/// One region's part of an expanded target, as a one-region target.
fn region_target(target: &Target, region: &str) -> Target {
    Target {
        purpose: target.purpose,
        scope: Scope::new(AwsScope::Region(region.to_string())),
        desired: region_state(&target.desired, region),
    }
}

/// Names the region in an error of a many-region read or write.
fn in_region(region: &str, mut e: ProviderError) -> ProviderError {
    e.message = format!("{region}: {}", e.message);
    e
}

/// A target that covers every region but was not resolved to the account's regions.
pub(super) fn unresolved(operation: &'static str) -> ProviderError {
    ProviderError::new(
        Category::InvalidSpec,
        operation,
        "the target covers every region of the CloudProvider but was not resolved to them",
    )
}

impl Aws {
    /// Reads every region at once; one failed region fails the whole read, so a policy is
    /// never reported in sync on the strength of the regions that happened to answer.
    pub(super) async fn observe_regions(
        &self,
        regions: &[String],
        target: &Target,
    ) -> Result<Observation, ProviderError> {
        let reads = regions.iter().map(|region| async move {
            let sub = region_target(target, region);
            self.observe_region(region, &sub)
                .await
                .map(|obs| tag_region(region, obs))
                .map_err(|e| in_region(region, e))
        });
        let mut out = Observation::default();
        for obs in futures::future::try_join_all(reads).await? {
            out.state.sections.extend(obs.state.sections);
            out.findings.extend(obs.findings);
            out.alerting.routes.extend(obs.alerting.routes);
            out.alerting.channels.extend(obs.alerting.channels);
        }
        Ok(out)
    }

    /// Applies an expanded target's plan region by region (in the order of `spec.regions`),
    /// each with its own sections, and stops at the first region that fails.
    pub(super) async fn apply_regions(
        &self,
        regions: &[String],
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let mut applied = Vec::new();
        for region in regions {
            let local: Vec<Change> = plan
                .iter()
                .filter_map(|c| change_in_region(&target.desired, c, region))
                .collect();
            if local.is_empty() {
                continue;
            }
            let sub = region_target(target, region);
            let sub_observed = Observation {
                state: region_state(&observed.state, region),
                findings: Vec::new(),
                revision: None,
                ..Default::default()
            };
            match self.apply_region(region, &sub, &sub_observed, &local).await {
                Ok(done) => applied.extend(done.into_iter().map(|d| format!("{region}: {d}"))),
                Err(e) => {
                    applied.extend(e.applied.into_iter().map(|d| format!("{region}: {d}")));
                    return Err(ApplyError {
                        applied,
                        error: in_region(region, e.error),
                    });
                }
            }
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::core::{Item, Undeclared, diff};
    use crate::providers::aws::api::AwsMonitoring;
    use crate::providers::aws::model::{DETECTOR, flow_log_findings, monitoring_target};
    use crate::providers::aws::sections::GUARD_DUTY;

    fn monitoring_block(value: Value) -> Result<Target, Invalid> {
        let mon: AwsMonitoring = serde_json::from_value(value).expect("monitoring block");
        monitoring_target(&mon)
    }

    const S3: &str = "arn:aws:s3:::central-flow-logs";

    #[test]
    fn a_block_without_region_expands_to_every_region_of_the_account() {
        let t = monitoring_block(json!({"guardDuty": {"enabled": true},
            "flowLogs": {"allVpcs": true, "trafficType": "ALL", "destinationType": "s3", "destination": S3}}))
        .expect("target");
        let regions = ["eu-west-1".to_string(), "us-east-1".into()];
        // (the account's regions, the expanded section names or the error's words)
        type Want<'a> = Result<Vec<&'a str>, &'a str>;
        let cases: [(&[String], Want); 3] = [
            (
                &regions,
                Ok(vec![
                    "eu-west-1/flowLogs",
                    "eu-west-1/guardDuty",
                    "us-east-1/flowLogs",
                    "us-east-1/guardDuty",
                ]),
            ),
            (&[], Err("lists no spec.regions")),
            (
                &["eu-west-1".to_string(), "eu-west-1".into()],
                Err("listed twice"),
            ),
        ];
        for (given, want) in cases {
            let got = per_region(&t, given);
            match (got, want) {
                (Ok(expanded), Ok(names)) => {
                    let got: Vec<&str> = expanded
                        .desired
                        .sections
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect();
                    assert_eq!(got, names);
                    assert_eq!(
                        expanded.scope.get(),
                        Some(&AwsScope::Regions(regions.to_vec()))
                    );
                    assert_eq!(expanded.scope.to_string(), "regions eu-west-1, us-east-1");
                    assert_eq!(
                        expanded.desired.sections[3].locator(),
                        Some(&InRegion {
                            region: "us-east-1".into(),
                            part: Part::GuardDuty
                        })
                    );
                    assert_eq!(
                        region_state(&expanded.desired, "us-east-1"),
                        t.desired,
                        "one region's part is the block as written"
                    );
                }
                (Err(e), Err(text)) => assert!(e.0.contains(text), "{}", e.0),
                (got, want) => panic!("{given:?}: got {got:?}, want {want:?}"),
            }
        }
        // A block with a region is left as it is, whatever the account's regions.
        let one = monitoring_block(json!({"region": "eu-west-1", "guardDuty": {"enabled": true}}))
            .expect("target");
        let same = per_region(&one, &regions).expect("unchanged");
        assert_eq!(
            (same.desired, same.scope.get::<AwsScope>()),
            (
                one.desired.clone(),
                Some(&AwsScope::Region("eu-west-1".into()))
            )
        );
        // So is one already expanded.
        let expanded = per_region(&t, &regions).expect("expanded");
        let again = per_region(&expanded, &["ap-south-1".to_string()]).expect("unchanged");
        assert_eq!(again.desired, expanded.desired);
    }

    #[test]
    fn drift_findings_and_changes_name_their_region() {
        let t = monitoring_block(json!({"guardDuty": {"enabled": true}})).expect("target");
        let regions = ["eu-west-1".to_string(), "us-east-1".into()];
        let expanded = per_region(&t, &regions).expect("expanded");
        let detector = |enabled: bool| {
            Part::GuardDuty.section(vec![Item::new(DETECTOR).field("enabled", enabled)])
        };
        let read = |region: &str, enabled: bool, vpc: &str| {
            tag_region(
                region,
                Observation {
                    state: State {
                        sections: vec![detector(enabled)],
                    },
                    findings: flow_log_findings(&[vpc.to_string()], &[]),
                    ..Default::default()
                },
            )
        };
        let mut observed = read("eu-west-1", true, "vpc-1");
        let other = read("us-east-1", false, "vpc-2");
        observed.state.sections.extend(other.state.sections);
        observed.findings.extend(other.findings);
        assert_eq!(
            observed.state.sections[1].locator(),
            Some(&InRegion {
                region: "us-east-1".into(),
                part: Part::GuardDuty
            }),
            "an observed section is located in its region too"
        );
        let d = diff(&expanded.desired, &observed.state, Undeclared::Report);
        let paths: Vec<&str> = d.drift.iter().map(|x| x.path.as_str()).collect();
        assert_eq!(paths, ["us-east-1/guardDuty[detector].enabled"]);
        let subjects: Vec<&str> = observed
            .findings
            .iter()
            .map(|f| f.subject.as_str())
            .collect();
        assert_eq!(subjects, ["eu-west-1/vpc-1", "us-east-1/vpc-2"]);
        let cases = [
            ("eu-west-1", None),
            (
                "us-east-1",
                Some(Change::Update {
                    section: GUARD_DUTY.into(),
                    key: DETECTOR.into(),
                    fields: vec!["enabled".into()],
                }),
            ),
        ];
        for (region, want) in cases {
            let got: Vec<Change> = d
                .plan
                .iter()
                .filter_map(|c| change_in_region(&expanded.desired, c, region))
                .collect();
            assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "{region}");
        }
        // A change of a section the target does not declare belongs to no region.
        let stray = Change::Delete {
            section: "us-east-1/guardDuty[x]".into(),
            key: DETECTOR.into(),
        };
        assert_eq!(
            change_in_region(&expanded.desired, &stray, "us-east-1"),
            None
        );
    }
}
