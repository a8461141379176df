//! Turso's boundary assets: the databases of the CloudProvider's organisation (`accountId`;
//! `listDatabases`, one answer, not paged; branches included, as each has its own allow
//! rules). A database is covered by a FirewallPolicy whose block names its organisation and
//! name. Without an `accountId` there is no organisation to list: coverage is then unknown.

use serde_json::Value;

use super::api::TursoFirewall;
use crate::core::inventory::Asset;
use crate::core::normalize::Invalid;

pub const DATABASE: &str = "database";

/// The assets of `organization`'s databases of a `listDatabases` answer, by name (what a
/// block names), each serving its `Hostname` (`<db>-<org>.turso.io`, libSQL over HTTP).
pub fn database_assets(organization: &str, answer: &Value) -> Result<Vec<Asset>, Invalid> {
    let names = super::model::database_names(answer)?;
    let dbs = answer
        .get("databases")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    Ok(names
        .into_iter()
        .zip(dbs)
        .map(|(n, db)| {
            let host = db.get("Hostname").and_then(Value::as_str);
            Asset::new(DATABASE, n.clone(), n)
                .within(organization)
                .serving(host)
        })
        .collect())
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
        let answer = json!({"databases": [
            {"Name": "orders", "Hostname": "orders-acme.turso.io"},
            {"Name": "orders-branch"}
        ]});
        let assets = database_assets("acme", &answer).expect("assets");
        assert_eq!(assets[0].hosts, ["orders-acme.turso.io"]);
        assert!(assets[1].hosts.is_empty());
        assert!(database_assets("acme", &json!({"databases": [{"Hostname": "x"}]})).is_err());
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
