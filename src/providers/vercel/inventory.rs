//! Vercel's boundary assets: the projects of the team (or personal account), each covered by
//! a FirewallPolicy whose block names its `projectId`, whatever sections it declares (a
//! block is the project's firewall, as Vercel has one per project).

use serde_json::Value;

use super::api::VercelFirewall;
use crate::core::inventory::Asset;

pub const PROJECT: &str = "project";

/// A project of `GET /v10/projects` (its id, and its name to show); `None` without an id.
/// Its public hostnames are the aliases of its production deployment
/// (`targets.production.alias`: its production domains, `*.vercel.app` included), which the
/// list carries; a project never deployed to production serves none.
pub fn project_asset(project: &Value) -> Option<Asset> {
    let id = project
        .get("id")
        .and_then(Value::as_str)
        .filter(|i| !i.is_empty())?;
    let name = project
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let aliases = project
        .pointer("/targets/production/alias")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>())
        .unwrap_or_default();
    Some(Asset::new(PROJECT, id, name).serving(aliases))
}

/// The `from` of the next page of `GET /v10/projects`: `pagination.next`, a continuation
/// token or (in the older form) a timestamp; `None` on the last page.
pub fn next_page(answer: &Value) -> Option<String> {
    match answer.get("pagination")?.get("next")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub fn covers(block: &VercelFirewall, asset: &Asset) -> bool {
    asset.kind == PROJECT && block.project_id == asset.id
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const P1: &str = "prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB";
    const P2: &str = "prj_9a7806061c88ada191ed06f989cc";

    #[test]
    fn a_project_is_read_by_id_and_name_and_pages_follow_next() {
        let cases = [
            (json!({"id": P1, "name": "shop"}), Some((P1, "shop"))),
            (json!({"id": P1}), Some((P1, P1))),
            (json!({"name": "shop"}), None),
            (json!({"id": "", "name": "shop"}), None),
        ];
        for (project, want) in cases {
            let got = project_asset(&project);
            assert!(got.is_none_or(|a| a.hosts.is_empty()), "{project}");
            let got = project_asset(&project);
            assert_eq!(
                got.as_ref().map(|a| (a.id.as_str(), a.name.as_str())),
                want,
                "{project}"
            );
        }
        let pages = [
            (
                json!({"pagination": {"count": 20, "next": "JBSWY3DP"}}),
                Some("JBSWY3DP"),
            ),
            (
                json!({"pagination": {"count": 20, "next": 1_700_000_000_000u64}}),
                Some("1700000000000"),
            ),
            (json!({"pagination": {"count": 3, "next": null}}), None),
            (json!({"pagination": {"count": 3, "next": ""}}), None),
            (json!({"projects": []}), None),
        ];
        for (answer, want) in pages {
            assert_eq!(next_page(&answer).as_deref(), want, "{answer}");
        }
    }

    #[test]
    fn a_project_serves_the_aliases_of_its_production_deployment() {
        let p = json!({"id": P1, "name": "shop", "targets": {
            "production": {"alias": ["shop.example.com", "shop-acme.vercel.app", 7]},
            "preview": {"alias": ["shop-git-x.vercel.app"]}
        }});
        let got = project_asset(&p).expect("asset");
        assert_eq!(got.hosts, ["shop.example.com", "shop-acme.vercel.app"]);
        let none = json!({"id": P1, "targets": {"production": null}});
        assert!(project_asset(&none).expect("asset").hosts.is_empty());
    }

    #[test]
    fn a_block_covers_only_the_project_it_names() {
        let block: VercelFirewall =
            serde_json::from_value(json!({"projectId": P1})).expect("block");
        assert!(covers(&block, &Asset::new(PROJECT, P1, "shop")));
        assert!(!covers(&block, &Asset::new(PROJECT, P2, "blog")));
        assert!(!covers(&block, &Asset::new("zone", P1, "shop")));
    }
}
