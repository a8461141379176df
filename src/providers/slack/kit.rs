//! Slack in the provider registry.

use std::sync::Arc;

use super::api::{SlackFirewall, SlackMonitoring};
use super::{Slack, model};
use crate::api::{CloudProviderSpec, ProviderType};
use crate::core::normalize::Invalid;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::providers::OnHttp;
use crate::providers::registry::{self, Alerting, Boundary, Info, Monitoring};
use crate::providers::{Access, Provider, Target};
use crate::secret::SecretString;

#[derive(Debug)]
pub struct Kit;

impl registry::Kit for Kit {
    const TYPE: ProviderType = ProviderType::Slack;
    const INFO: Info = Info {
        firewall: Boundary::NoFirewall(
            "Slack is an alert destination, not a network edge (a FirewallPolicy with spec.slack is refused)",
        ),
        monitoring: Monitoring::Reads(
            "alert channels of one workspace (exist, not archived, the bot a member), the delivery of an explicit test alert",
        ),
        alerting: Alerting::NoApi(
            "Slack is where alerts arrive, not a source of them: other providers' alert routes point at its channels, which its MonitoringPolicy proves live",
        ),
        firewall_api: "none",
        monitoring_api: "Slack Web API: auth.test, conversations.info, conversations.history, conversations.join, chat.postMessage",
        finding_codes: model::FINDING_CODES,
    };
    type Firewall = SlackFirewall;
    type Monitoring = SlackMonitoring;

    fn firewall_target(_block: &SlackFirewall) -> Result<Target, Invalid> {
        Err(Invalid(
            "spec.slack: Slack has no firewall; declare its alert channels in a MonitoringPolicy"
                .into(),
        ))
    }

    fn monitoring_target(block: &SlackMonitoring) -> Result<Target, Invalid> {
        model::monitoring_target(block)
    }

    /// Slack routes no alert itself: it is the destination of other providers' routes.
    fn alert_routes(_block: &SlackMonitoring) -> usize {
        0
    }

    async fn connect(
        spec: &CloudProviderSpec,
        credential: Option<SecretString>,
        metrics: Option<Arc<Metrics>>,
        access: Access<'_>,
    ) -> Result<Arc<dyn Provider>, Error> {
        let credential = credential.ok_or_else(|| {
            Error::CredentialsMissing(
                "Slack has no ambient identity: it needs a bot token (xoxb-…) in a Secret".into(),
            )
        })?;
        Ok(Arc::new(Slack::new(spec, credential, metrics)?.operated(access)) as Arc<dyn Provider>)
    }

    #[cfg(feature = "demo")]
    async fn demo() -> Result<Box<dyn crate::demo::Account>, String> {
        super::demo::start().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::registry::Kit as _;

    /// A FirewallPolicy naming Slack is refused in `check` too, where no API server ran the
    /// CEL rule; Slack counts no alert route of its own and says why alerting does not apply.
    #[test]
    fn slack_has_no_firewall_and_routes_no_alert() {
        let err = Kit::firewall_target(&SlackFirewall {}).expect_err("refused");
        assert!(err.0.contains("MonitoringPolicy"), "{}", err.0);
        assert!(
            matches!(Kit::INFO.alerting, Alerting::NoApi(w) if w.contains("where alerts arrive"))
        );
        assert_eq!(Kit::INFO.finding_codes, ["ServiceUnhealthy"]);
    }
}
