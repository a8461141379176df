//! Turso's boundary assets: the databases of the CloudProvider's organisation (`accountId`;
//! `listDatabases`, one answer, not paged; branches included, as each has its own allow
//! rules). A database is covered by a FirewallPolicy whose block names its organisation and
//! name. Without an `accountId` there is no organisation to list: coverage is then unknown.

use super::api::TursoFirewall;
use crate::core::inventory::Asset;

pub const DATABASE: &str = "database";

/// The assets of `organization`'s databases, by name (what a block names).
pub fn database_assets(organization: &str, names: Vec<String>) -> Vec<Asset> {
    names
        .into_iter()
        .map(|n| Asset::new(DATABASE, n.clone(), n).within(organization))
        .collect()
}

pub fn covers(block: &TursoFirewall, asset: &Asset) -> bool {
    asset.kind == DATABASE
        && block.database == asset.id
        && asset.parent.as_deref() == Some(block.organization.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_database_is_covered_by_the_block_naming_its_organisation_and_name() {
        let assets = database_assets("acme", vec!["orders".into(), "orders-branch".into()]);
        let got: Vec<(&str, &str, Option<&str>)> = assets
            .iter()
            .map(|a| (a.id.as_str(), a.name.as_str(), a.parent.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("orders", "orders", Some("acme")),
                ("orders-branch", "orders-branch", Some("acme"))
            ]
        );
        let block: TursoFirewall =
            serde_json::from_value(json!({"organization": "acme", "database": "orders"}))
                .expect("block");
        assert!(covers(&block, &assets[0]));
        assert!(!covers(&block, &assets[1]));
        let elsewhere = Asset::new(DATABASE, "orders", "orders").within("other");
        assert!(!covers(&block, &elsewhere));
        assert!(!covers(
            &block,
            &Asset::new("zone", "orders", "orders").within("acme")
        ));
    }
}
