//! GCP's boundary assets: the VPC networks of the project (`networks.list`, paged). A network
//! is covered by a block that manages its firewall rules (`network` + `firewallRules`, even
//! an empty list: "none but ours"). A block with only `cloudArmorPolicies` covers no network:
//! Cloud Armor policies are global and sit in front of load balancers, not of a network.

use serde_json::Value;

use super::api::GcpFirewall;
use crate::core::inventory::Asset;

pub const NETWORK: &str = "network";

/// A network of `networks.list`, by its name (what a block names it by); `None` without one.
pub fn network_asset(network: &Value) -> Option<Asset> {
    let name = network
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())?;
    Some(Asset::new(NETWORK, name, name))
}

/// Whether `block` manages the firewall rules of `asset`.
pub fn covers(block: &GcpFirewall, asset: &Asset) -> bool {
    asset.kind == NETWORK && block.network == asset.id && block.firewall_rules.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn block(v: Value) -> GcpFirewall {
        serde_json::from_value(v).expect("block")
    }

    #[test]
    fn a_network_is_read_by_name() {
        let cases = [
            (json!({"name": "default", "id": "123"}), Some("default")),
            (json!({"id": "123"}), None),
            (json!({"name": ""}), None),
            (json!({"name": 7}), None),
        ];
        for (network, want) in cases {
            let got = network_asset(&network);
            assert_eq!(got.as_ref().map(|a| a.id.as_str()), want, "{network}");
            assert!(got.is_none_or(|a| a.kind == NETWORK && a.name == a.id));
        }
    }

    #[test]
    fn a_block_covers_the_network_whose_firewall_rules_it_manages() {
        let network = |name: &str| Asset::new(NETWORK, name, name);
        let rules = json!({"network": "default", "firewallRules": []});
        let armor_only = json!({"network": "default", "cloudArmorPolicies": []});
        let cases = [
            (rules.clone(), network("default"), true),
            (
                json!({"network": "default", "firewallRules": [], "cloudArmorPolicies": []}),
                network("default"),
                true,
            ),
            (rules.clone(), network("legacy"), false),
            // Cloud Armor alone is no firewall of the network.
            (armor_only, network("default"), false),
            // Same name, another kind of asset.
            (rules, Asset::new("zone", "default", "default"), false),
        ];
        for (b, asset, want) in cases {
            assert_eq!(covers(&block(b.clone()), &asset), want, "{b} {asset:?}");
        }
    }
}
