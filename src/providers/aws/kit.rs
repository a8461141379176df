//! AWS in the provider registry.

use std::sync::Arc;

use super::api::{AwsFirewall, AwsMonitoring};
use super::model::{CODE_NO_FLOW_LOG, CODE_WORLD_OPEN};
use super::{Aws, model};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::addresses::{Resolver, SetError};
use crate::core::inventory::Asset;
use crate::core::normalize::Invalid;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::providers::registry::{self, Alerting, Boundary, Info, Monitoring};
use crate::providers::{Access, Provider, Target};
use crate::secret::SecretString;

#[derive(Debug)]
pub struct Kit;

impl registry::Kit for Kit {
    const TYPE: ProviderType = ProviderType::Aws;
    const INFO: Info = Info {
        firewall: Boundary::Manages("security groups, network ACLs, WAF web ACLs"),
        monitoring: Monitoring::Reads("VPC flow logs, GuardDuty, CloudWatch alarms"),
        alerting: Alerting::Routes("cloudWatchAlarms with alarmActions"),
        firewall_api: "AWS EC2 DescribeSecurityGroupRules/DescribeNetworkAcls, WAFv2 GetWebACL/GetIPSet",
        monitoring_api: "AWS EC2 DescribeFlowLogs, GuardDuty GetDetector, CloudWatch DescribeAlarms",
        finding_codes: &[CODE_WORLD_OPEN, CODE_NO_FLOW_LOG],
    };
    type Firewall = AwsFirewall;
    type Monitoring = AwsMonitoring;

    fn firewall_target(block: &AwsFirewall) -> Result<Target, Invalid> {
        model::firewall_target(block)
    }

    fn with_address_sets(
        block: &AwsFirewall,
        sets: &mut Resolver,
    ) -> Result<AwsFirewall, SetError> {
        model::with_address_sets(block, sets)
    }

    fn monitoring_target(block: &AwsMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    /// CloudWatch alarms with at least one alarm action.
    fn alert_routes(block: &AwsMonitoring) -> usize {
        block.cloud_watch_alarms.as_deref().map_or(0, |alarms| {
            alarms
                .iter()
                .filter(|a| a.alarm_actions.as_ref().is_some_and(|x| !x.is_empty()))
                .count()
        })
    }

    fn covers(block: &AwsFirewall, asset: &Asset, all: &[Asset]) -> bool {
        super::inventory::covers(block, asset, all)
    }

    async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        access: Access<'_>,
    ) -> Result<Arc<dyn Provider>, Error> {
        let aws = Aws::connect_sharing(spec, credential, metrics, access.share_reads).await?;
        Ok(Arc::new(aws) as Arc<dyn Provider>)
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}
