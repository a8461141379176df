//! `FirewallPolicy`: the firewall state one provider account must have. Its provider blocks
//! (`spec.cloudflare`, `spec.aws`, …) come from the provider registry
//! ([`crate::registered_providers`]); each block's type lives in its provider's folder
//! (`src/providers/<name>/api.rs`).

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{PolicyControls, PolicyStatus};
#[allow(unused_imports)] // used by the generated fields
use crate::providers::Kit;

macro_rules! firewall_policy {
    ($first:ident: $first_variant:ident => $first_kit:ty, $($field:ident: $variant:ident => $kit:ty,)*) => {
        /// Declared firewall state (WAF and rate-limit rules, IP access rules, security groups,
        /// firewall rules, security settings) for one provider account, observed or enforced.
        /// Exactly one provider block is set.
        #[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
        #[kube(
            group = "perimeter.dev",
            version = "v1alpha1",
            kind = "FirewallPolicy",
            namespaced,
            status = "PolicyStatus",
            shortname = "fwp",
            category = "perimeter",
            printcolumn = r#"{"name":"Provider","type":"string","jsonPath":".spec.providerRef.name"}"#,
            printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
            printcolumn = r#"{"name":"InSync","type":"string","jsonPath":".status.conditions[?(@.type==\"InSync\")].status"}"#,
            printcolumn = r#"{"name":"Drift","type":"integer","jsonPath":".status.driftCount"}"#,
            printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
            printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
        )]
        #[x_kube(validation = Rule::new(concat!("[has(self.", stringify!($first), ")" $(, ", has(self.", stringify!($field), ")")*, "].filter(b, b).size() == 1")).message(concat!("exactly one provider block must be set: one of spec.", stringify!($first) $(, ", spec.", stringify!($field))*)).reason(Reason::FieldValueRequired))]
        #[serde(rename_all = "camelCase")]
        pub struct FirewallPolicySpec {
            #[serde(flatten)]
            pub controls: PolicyControls,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub $first: Option<Box<<$first_kit as Kit>::Firewall>>,
            $(
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<Box<<$kit as Kit>::Firewall>>,
            )*
        }
    };
}

crate::registered_providers!(firewall_policy);
