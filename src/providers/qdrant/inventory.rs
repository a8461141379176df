//! Qdrant Cloud's boundary assets: the clusters of the CloudProvider's account
//! (`ListClusters`, paged by `pageToken`; the management key needs `read:clusters`, which
//! Observe needs anyway). A cluster is covered by a FirewallPolicy whose block names its
//! account and cluster id. Without an `accountId` on the CloudProvider nothing can be listed:
//! coverage is then unknown.

use serde_json::Value;

use super::api::QdrantFirewall;
use crate::core::inventory::Asset;

pub const CLUSTER: &str = "cluster";

/// A cluster of `ListClusters` by its id, with its name to show, within `account`, serving
/// the host of `state.endpoint.url` (`https://<id>.<region>.cloud.qdrant.io`); `None` without
/// an id.
pub fn cluster_asset(cluster: &Value, account: &str) -> Option<Asset> {
    let id = cluster
        .get("id")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())?;
    let name = cluster
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let host = cluster
        .pointer("/state/endpoint/url")
        .and_then(Value::as_str)
        .and_then(|u| url::Url::parse(u).ok())
        .and_then(|u| u.host_str().map(str::to_string));
    Some(Asset::new(CLUSTER, id, name).within(account).serving(host))
}

/// GUIDs are compared without regard to case, as the API does.
pub fn covers(block: &QdrantFirewall, asset: &Asset) -> bool {
    asset.kind == CLUSTER
        && block.cluster_id.eq_ignore_ascii_case(&asset.id)
        && asset
            .parent
            .as_deref()
            .is_some_and(|a| block.account_id.eq_ignore_ascii_case(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACCOUNT: &str = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    const OTHER: &str = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
    const C1: &str = "11111111-2222-4333-8444-555555555555";
    const C2: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";

    #[test]
    fn a_cluster_is_read_by_id_and_covered_by_the_block_naming_its_account_and_id() {
        let got = cluster_asset(&json!({"id": C1, "name": "search"}), ACCOUNT).expect("asset");
        assert_eq!(
            (got.id.as_str(), got.name.as_str(), got.parent.as_deref()),
            (C1, "search", Some(ACCOUNT))
        );
        assert!(got.hosts.is_empty());
        assert!(cluster_asset(&json!({"name": "search"}), ACCOUNT).is_none());
        let served = json!({"id": C1, "state": {"endpoint": {"url": "https://c1.eu-central-1-0.aws.cloud.qdrant.io"}}});
        let got = cluster_asset(&served, ACCOUNT).expect("asset");
        assert_eq!(got.hosts, ["c1.eu-central-1-0.aws.cloud.qdrant.io"]);
        let garbage = json!({"id": C1, "state": {"endpoint": {"url": "not a url"}}});
        assert!(
            cluster_asset(&garbage, ACCOUNT)
                .expect("asset")
                .hosts
                .is_empty()
        );
        let block: QdrantFirewall =
            serde_json::from_value(json!({"accountId": ACCOUNT, "clusterId": C1.to_uppercase()}))
                .expect("block");
        let cluster = |id: &str, account: &str| Asset::new(CLUSTER, id, "x").within(account);
        assert!(covers(&block, &cluster(C1, ACCOUNT)));
        assert!(!covers(&block, &cluster(C2, ACCOUNT)));
        assert!(!covers(&block, &cluster(C1, OTHER)));
        assert!(!covers(&block, &Asset::new(CLUSTER, C1, "x")));
        assert!(!covers(
            &block,
            &Asset::new("zone", C1, "x").within(ACCOUNT)
        ));
    }
}
