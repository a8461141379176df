//! Upstash's boundary assets: the Redis databases of the account or team the key belongs to
//! (`GET /v2/redis/databases`, one answer, not paged), each covered by a FirewallPolicy whose
//! block names its `databaseId`. The list carries each database's password; only the id and
//! the name are kept.

use serde_json::Value;

use super::api::UpstashFirewall;
use crate::core::inventory::Asset;

pub const DATABASE: &str = "database";

/// A database of `listDatabases` by its id, with its name to show and its public hostname:
/// `endpoint`, which the spec says may be a full host or a slug (`beloved-stallion-58500`,
/// served as `<slug>.upstash.io`); `None` without an id.
pub fn database_asset(db: &Value) -> Option<Asset> {
    let id = db
        .get("database_id")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())?;
    let name = db
        .get("database_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let host = db
        .get("endpoint")
        .and_then(Value::as_str)
        .filter(|e| !e.is_empty())
        .map(|e| {
            if e.contains('.') {
                e.to_string()
            } else {
                format!("{e}.upstash.io")
            }
        });
    Some(Asset::new(DATABASE, id, name).serving(host))
}

pub fn covers(block: &UpstashFirewall, asset: &Asset) -> bool {
    asset.kind == DATABASE && block.database_id == asset.id
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const D1: &str = "96ad0856-03b1-4ee7-9666-e81abd0349e1";
    const D2: &str = "0d7b1f2e-5c4a-4b8e-9f3d-2a1c6e8b7d90";

    #[test]
    fn a_database_is_read_by_id_without_its_password_and_covered_by_the_block_naming_it() {
        let cases = [
            (
                json!({"database_id": D1, "database_name": "cache", "password": "hunter2"}),
                Some((D1, "cache")),
            ),
            (json!({"database_id": D1}), Some((D1, D1))),
            (json!({"database_name": "cache"}), None),
        ];
        for (db, want) in cases {
            let got = database_asset(&db);
            assert_eq!(
                got.as_ref().map(|a| (a.id.as_str(), a.name.as_str())),
                want,
                "{db}"
            );
            assert!(!format!("{got:?}").contains("hunter2"));
        }
        let hosts = [
            (
                json!({"database_id": D1, "endpoint": "beloved-stallion-58500"}),
                vec!["beloved-stallion-58500.upstash.io"],
            ),
            (
                json!({"database_id": D1, "endpoint": "eu1-x.upstash.io"}),
                vec!["eu1-x.upstash.io"],
            ),
            (json!({"database_id": D1, "endpoint": ""}), vec![]),
            (json!({"database_id": D1}), vec![]),
        ];
        for (db, want) in hosts {
            assert_eq!(database_asset(&db).expect("asset").hosts, want, "{db}");
        }
        let block: UpstashFirewall =
            serde_json::from_value(json!({"databaseId": D1})).expect("block");
        assert!(covers(&block, &Asset::new(DATABASE, D1, "cache")));
        assert!(!covers(&block, &Asset::new(DATABASE, D2, "queue")));
        assert!(!covers(&block, &Asset::new("zone", D1, "cache")));
    }
}
