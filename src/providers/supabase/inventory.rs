//! Supabase's boundary assets: the projects the token sees (`GET /v1/projects`, one answer,
//! not paged; OAuth scope `projects:read`), each covered by a FirewallPolicy whose block
//! names its `projectRef`.

use serde_json::Value;

use super::api::SupabaseFirewall;
use crate::core::inventory::Asset;

pub const PROJECT: &str = "project";

/// A project of `GET /v1/projects` by its ref (what a block names), with its name to show
/// and the public hostname of its API (`<ref>.supabase.co`; the database's `db.<ref>…` is not
/// an HTTP endpoint to monitor); `None` without a ref.
pub fn project_asset(project: &Value) -> Option<Asset> {
    let r = project
        .get("ref")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())?;
    let name = project
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let api = format!("{r}.supabase.co");
    Some(Asset::new(PROJECT, r, name).serving([api]))
}

pub fn covers(block: &SupabaseFirewall, asset: &Asset) -> bool {
    asset.kind == PROJECT && block.project_ref == asset.id
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const R1: &str = "qwertyuiopasdfghjklz";
    const R2: &str = "abcdefghijklmnopqrst";

    #[test]
    fn a_project_is_read_by_ref_and_covered_by_the_block_naming_it() {
        let cases = [
            (
                json!({"ref": R1, "id": R1, "name": "shop"}),
                Some((R1, "shop")),
            ),
            (json!({"ref": R1}), Some((R1, R1))),
            (json!({"id": R1, "name": "shop"}), None),
            (json!({"ref": "", "name": "shop"}), None),
        ];
        for (project, want) in cases {
            let got = project_asset(&project);
            assert!(
                got.as_ref()
                    .is_none_or(|a| a.hosts == [format!("{}.supabase.co", a.id)]),
                "{project}"
            );
            assert_eq!(
                got.as_ref().map(|a| (a.id.as_str(), a.name.as_str())),
                want,
                "{project}"
            );
        }
        let block: SupabaseFirewall =
            serde_json::from_value(json!({"projectRef": R1})).expect("block");
        assert!(covers(&block, &Asset::new(PROJECT, R1, "shop")));
        assert!(!covers(&block, &Asset::new(PROJECT, R2, "blog")));
        assert!(!covers(&block, &Asset::new("zone", R1, "shop")));
    }
}
