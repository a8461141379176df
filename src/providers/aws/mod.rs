//! AWS, through the official SDK: EC2 (security-group rules, network ACLs, VPCs, flow logs),
//! WAFv2 (web ACLs, IP sets), GuardDuty and CloudWatch alarms: one region per policy block, or
//! every region of the `CloudProvider` for a block without a region.
//!
//! | File | What |
//! |---|---|
//! | [`audit`] | CloudTrail's event history: who changed a drifted section |
//! | [`client`] | SDK configuration, credentials, one client per service and region, redaction |
//! | [`interceptor`] | checked egress, the per-account rate limit and call counter, SDK errors |
//! | [`ec2`], [`waf`], [`guardduty`], [`cloudwatch`] | each service's reads and writes |
//! | [`inventory`] | the account's VPCs and security groups, and which block covers which |
//! | [`nat`] | the `awsNatGateways` source of an `AddressSet` (NAT gateways' Elastic IPs) |
//! | [`sections`] | what each section is: its name and its typed [`Part`](sections::Part) |
//! | [`regions`] | the target's [`AwsScope`]; the expansion to every region and the fan-out |
//! | [`model`] | the pure mapping between AWS objects, the policy blocks and the neutral model |
//!
//! This file reads or writes one region, dispatching each section on its `Part`.

pub mod api;
mod audit;
mod client;
mod cloudwatch;
#[cfg(feature = "demo")]
mod demo;
mod ec2;
mod guardduty;
pub mod interceptor;
pub mod inventory;
mod kit;
pub mod model;
pub mod nat;
mod refusal;
pub mod regions;
pub mod sections;
mod share;
mod trail;
mod waf;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use self::regions::unresolved;
use self::sections::{Part, WEB_ACLS};
use super::{ApplyError, Observation, Provider, Purpose, Target};
use crate::api::ProviderType;
use crate::core::Change;
use crate::error::{Category, ProviderError};
use crate::http::RateLimiter;

pub use client::{Aws, DEFAULT_BURST, DEFAULT_REQUESTS_PER_MINUTE};
pub use kit::Kit;
pub use model::{firewall_target, monitoring_target};
pub use regions::AwsScope;

impl Aws {
    async fn observe_region(
        &self,
        region: &str,
        target: &Target,
    ) -> Result<Observation, ProviderError> {
        let desired = &target.desired;
        let mut obs = Observation::default();
        match target.purpose {
            Purpose::Firewall => {
                self.observe_security_groups(region, desired, &mut obs)
                    .await?;
                self.observe_nacls(region, desired, &mut obs).await?;
                self.observe_web_acls(region, desired, &mut obs).await?;
                self.observe_ip_sets(region, desired, &mut obs).await?;
            }
            Purpose::Monitoring => {
                self.observe_flow_logs(region, desired, &mut obs).await?;
                self.observe_detector(region, desired, &mut obs).await?;
                self.observe_alarms(region, desired, &mut obs).await?;
            }
        }
        Ok(obs)
    }

    async fn apply_region(
        &self,
        region: &str,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let mut applied = Vec::new();
        let part_of = |section: &str| target.desired.section(section).and_then(Part::of);
        let needs_groups = plan
            .iter()
            .any(|c| matches!(part_of(c.section()), Some(Part::SecurityGroup { .. })));
        let groups = if needs_groups {
            match self.groups(region).await {
                Ok(g) => g,
                Err(error) => return Err(ApplyError { applied, error }),
            }
        } else {
            Vec::new()
        };
        // Web ACLs are written once each, whole, whatever the number of changes in them.
        let mut acls_written = BTreeSet::new();
        for change in plan {
            let section = change.section();
            // Every change is of a declared section (the diff and the cleanup only plan those).
            let Some(part) = part_of(section) else {
                let error = ProviderError::new(
                    Category::InvalidSpec,
                    "apply",
                    format!("{section} is not a section of this AWS target"),
                );
                return Err(ApplyError { applied, error });
            };
            let state = &observed.state;
            let result = match part {
                Part::WebAcls | Part::WafRules(_) => {
                    let key = match (part, change) {
                        (Part::WafRules(key), _)
                        | (
                            _,
                            Change::Create { key, .. }
                            | Change::Update { key, .. }
                            | Change::Delete { key, .. },
                        ) => key,
                        (_, Change::Reorder { .. }) => continue,
                    };
                    if !acls_written.insert(key.clone()) {
                        continue;
                    }
                    let rules = Part::WafRules(key.clone());
                    let removed: BTreeSet<String> = plan
                        .iter()
                        .filter_map(|c| match c {
                            Change::Delete { section, key } if part_of(section) == Some(&rules) => {
                                Some(key.clone())
                            }
                            _ => None,
                        })
                        .collect();
                    self.write_web_acl(region, target, key, &removed)
                        .await
                        .map(|()| format!("write {WEB_ACLS}[{key}] (whole rule list, one call)"))
                }
                Part::SecurityGroup { group, egress } => self
                    .write_sg_rule(region, target, state, &groups, (group, *egress), change)
                    .await
                    .map(|()| change.describe()),
                Part::NetworkAcl(acl) => self
                    .write_nacl_entry(region, target, acl, change)
                    .await
                    .map(|()| change.describe()),
                Part::IpSets => self
                    .write_ip_set(region, target, change, state)
                    .await
                    .map(|()| change.describe()),
                Part::Findings => self
                    .revoke_world_open(region, state)
                    .await
                    .map(|()| change.describe()),
                Part::FlowLogs => self
                    .write_flow_logs(region, target, state, change)
                    .await
                    .map(|()| change.describe()),
                Part::GuardDuty => self
                    .write_detector(region, target, state, change)
                    .await
                    .map(|()| change.describe()),
                Part::Alarms => self
                    .write_alarm(region, target, change)
                    .await
                    .map(|()| change.describe()),
            };
            match result {
                Ok(done) => {
                    let now = jiff::Timestamp::now();
                    let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
                    own.record(region, &part.name(), now);
                    // A web ACL is written whole: its default action (`webAcls`) and its rules
                    // are one `UpdateWebACL`, which CloudTrail files under both.
                    match part {
                        Part::WafRules(_) => own.record(region, WEB_ACLS, now),
                        Part::WebAcls => {
                            if let Change::Create { key, .. }
                            | Change::Update { key, .. }
                            | Change::Delete { key, .. } = change
                            {
                                own.record(region, &sections::waf_rules_section(key), now);
                            }
                        }
                        _ => {}
                    }
                    applied.push(done);
                }
                Err(error) => return Err(ApplyError { applied, error }),
            }
        }
        Ok(applied)
    }
}

#[async_trait]
impl Provider for Aws {
    fn rate_limiters(&self, _target: &Target) -> Vec<Arc<RateLimiter>> {
        vec![self.limiter.clone()]
    }

    fn provider_type(&self) -> ProviderType {
        ProviderType::Aws
    }

    /// `DescribeRegions` is signed and authorised like any EC2 call, reads nothing sensitive,
    /// and works in moto (STS `GetCallerIdentity` would need one more service endpoint).
    async fn verify(&self) -> Result<String, ProviderError> {
        let out = self
            .ec2(&self.region)
            .describe_regions()
            .region_names(&self.region)
            .send()
            .await
            .map_err(|e| self.err("DescribeRegions", false, &e))?;
        Ok(format!(
            "credentials accepted; region {} answered ({} region(s) visible)",
            self.region,
            out.regions().len()
        ))
    }

    /// The public addresses of the account's NAT gateways, for an `awsNatGateways` source.
    async fn inventory(&self) -> Result<Option<Vec<crate::core::inventory::Asset>>, ProviderError> {
        self.assets().await.map(Some)
    }

    /// CloudTrail's event history of the drifted sections (see [`audit`]).
    async fn audit_trail(
        &self,
        target: &Target,
        drift: &[crate::core::Drift],
    ) -> Result<crate::core::attribution::Trail, ProviderError> {
        self.audit(target, drift).await
    }

    async fn source_addresses(
        &self,
        source: &crate::api::addressset::AddressSource,
    ) -> Result<Vec<String>, ProviderError> {
        let Some(nat) = &source.aws_nat_gateways else {
            return Err(ProviderError::new(
                Category::InvalidSpec,
                "DescribeNatGateways",
                format!("{}: not an AWS source", source.field()),
            ));
        };
        self.nat_gateway_addresses(nat).await
    }

    /// A block without a region becomes one set of sections per region of the account.
    fn resolve(&self, target: &Target) -> Result<Target, ProviderError> {
        target.scope_of::<AwsScope>("resolve")?;
        regions::per_region(target, &self.regions)
            .map_err(|e| ProviderError::new(Category::InvalidSpec, "resolve", e.0))
    }

    async fn observe(&self, target: &Target) -> Result<Observation, ProviderError> {
        match target.scope_of::<AwsScope>("observe")? {
            AwsScope::Region(region) => self.observe_region(region, target).await,
            AwsScope::Regions(regions) => self.observe_regions(regions, target).await,
            AwsScope::EveryRegion => Err(unresolved("observe")),
        }
    }

    async fn apply(
        &self,
        target: &Target,
        observed: &Observation,
        plan: &[Change],
    ) -> Result<Vec<String>, ApplyError> {
        let scope = target.scope_of::<AwsScope>("apply");
        match scope {
            Ok(AwsScope::Region(region)) => self.apply_region(region, target, observed, plan).await,
            Ok(AwsScope::Regions(regions)) => {
                self.apply_regions(regions, target, observed, plan).await
            }
            Ok(AwsScope::EveryRegion) => Err(ApplyError {
                applied: Vec::new(),
                error: unresolved("apply"),
            }),
            Err(error) => Err(ApplyError {
                applied: Vec::new(),
                error,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::CloudProviderSpec;
    use crate::core::{Section, SectionKind, State};
    use crate::providers::Scope;
    use crate::secret::SecretString;

    /// A client whose endpoint nothing listens on: any request fails as unreachable.
    async fn offline() -> Aws {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let spec: CloudProviderSpec = serde_json::from_value(serde_json::json!({
            "type": "aws", "accountId": "123456789012", "regions": ["eu-west-1"],
            "endpoint": format!("http://127.0.0.1:{port}"),
            "credentials": {"source": "Secret", "secretRef": {"name": "s", "key": "k"}}
        }))
        .expect("spec");
        let keys = SecretString::new(r#"{"accessKeyId": "AKIDEXAMPLE", "secretAccessKey": "s"}"#);
        Aws::connect(&spec, Some(keys), None).await.expect("client")
    }

    /// What a section is comes from its `Part`, never from its name: a change of a section
    /// named like a security group's but built by no AWS mapping is refused before any
    /// request, and so is a target that covers every region but was never resolved.
    #[tokio::test]
    async fn writes_go_by_part_not_by_name() {
        let aws = offline().await;
        let named_only = Section::new(
            "securityGroups[sg-0123456789abcdef0].ingress",
            SectionKind::Unordered,
            Vec::new(),
        );
        let target = |scope: AwsScope| Target {
            purpose: Purpose::Firewall,
            scope: Scope::new(scope),
            desired: State {
                sections: vec![named_only.clone()],
            },
        };
        let plan = [Change::Create {
            section: named_only.name.clone(),
            key: "tcp:22:10.0.0.0/8".into(),
        }];
        let cases = [
            (
                target(AwsScope::Region("eu-west-1".into())),
                "is not a section of this AWS target",
            ),
            (target(AwsScope::EveryRegion), "was not resolved"),
        ];
        for (target, words) in cases {
            let e = aws
                .apply(&target, &Observation::default(), &plan)
                .await
                .expect_err("refused");
            assert_eq!(e.error.category, Category::InvalidSpec, "{}", e.error);
            assert!(e.error.message.contains(words), "{}", e.error);
            assert!(e.applied.is_empty());
        }
        let e = aws
            .observe(&target(AwsScope::EveryRegion))
            .await
            .expect_err("refused");
        assert!(e.message.contains("was not resolved"), "{e}");
    }
}
