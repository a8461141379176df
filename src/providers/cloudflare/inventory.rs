//! Cloudflare's boundary assets: the zones of the account, each covered by a FirewallPolicy
//! whose block names its `zoneId`.

use serde_json::Value;

use super::api::CloudflareFirewall;
use crate::core::inventory::Asset;

pub const ZONE: &str = "zone";

/// A zone of `GET /zones` (its id, and its host name to show, which is also the public
/// hostname it serves: the apex); `None` without an id.
pub fn zone_asset(zone: &Value) -> Option<Asset> {
    let id = zone
        .get("id")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())?;
    let name = zone.get("name").and_then(Value::as_str).unwrap_or_default();
    Some(Asset::new(ZONE, id, name).serving([name]))
}

/// A block covers the zone it names, whatever sections it declares.
pub fn covers(block: &CloudflareFirewall, asset: &Asset) -> bool {
    asset.kind == ZONE && block.zone_id == asset.id
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const Z1: &str = "023e105f4ecef8ad9ca31a8372d0c353";
    const Z2: &str = "9a7806061c88ada191ed06f989cc3dac";

    fn block(zone: &str) -> CloudflareFirewall {
        serde_json::from_value(json!({"zoneId": zone, "settings": {"ssl": "strict"}}))
            .expect("block")
    }

    #[test]
    fn a_zone_is_read_by_id_and_name() {
        let cases = [
            (
                json!({"id": Z1, "name": "example.com"}),
                Some((Z1, "example.com")),
            ),
            (json!({"id": Z1}), Some((Z1, Z1))),
            (json!({"name": "example.com"}), None),
            (json!({"id": "", "name": "example.com"}), None),
            (json!({"id": 7}), None),
        ];
        for (zone, want) in cases {
            let got = zone_asset(&zone);
            // The apex is the hostname it serves; a zone without a name serves none known.
            let hosts = zone
                .get("name")
                .and_then(Value::as_str)
                .map(|n| vec![n.to_string()]);
            assert!(
                got.as_ref()
                    .is_none_or(|a| Some(&a.hosts) == hosts.as_ref()
                        || (hosts.is_none() && a.hosts.is_empty())),
                "{zone}"
            );
            assert_eq!(
                got.as_ref().map(|a| (a.id.as_str(), a.name.as_str())),
                want,
                "{zone}"
            );
            assert!(got.is_none_or(|a| a.kind == ZONE));
        }
    }

    #[test]
    fn a_block_covers_only_the_zone_it_names() {
        let zone = |id: &str| Asset::new(ZONE, id, "example.com");
        let cases = [
            (block(Z1), zone(Z1), true),
            (block(Z1), zone(Z2), false),
            // Same id, another kind of asset: not a zone.
            (block(Z1), Asset::new("vpc", Z1, ""), false),
        ];
        for (b, asset, want) in cases {
            assert_eq!(covers(&b, &asset), want, "{} {:?}", b.zone_id, asset);
        }
    }
}
