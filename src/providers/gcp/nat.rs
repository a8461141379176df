//! The `gcpCloudNat` source of an `AddressSet`: the external addresses a Cloud NAT uses, as
//! its router reports them (`routers.getRouterStatus`: `result.natStatus[]`, addresses
//! allocated by hand and automatically). The router's configuration is not enough: with
//! automatic allocation, only the status says which addresses Google picked.

use serde_json::Value;

use super::Gcp;
use crate::api::addressset::GcpCloudNat;
use crate::error::{Category, ProviderError};
use crate::http::{Request, spec_segment};

const OP: &str = "get_router_status";
const FIELD: &str = "spec.source.gcpCloudNat";
/// The address lists of a `RouterStatusNatStatus` that carry traffic: those new connections
/// use, and the draining ones, which existing connections keep using until they close (an
/// allowlist that dropped them would cut those connections in the middle of a reallocation).
const IN_USE: [&str; 4] = [
    "userAllocatedNatIps",
    "autoAllocatedNatIps",
    "drainUserAllocatedNatIps",
    "drainAutoAllocatedNatIps",
];

/// The addresses of a `RouterStatusResponse`: of the NAT named `nat`, or of every NAT of the
/// router; each IPv4 address as a host route. A NAT the router does not report is an error
/// naming the field; a wrongly shaped answer is an error, never a shorter list.
pub fn router_nat_addresses(answer: &Value, nat: Option<&str>) -> Result<Vec<String>, String> {
    let Some(answer) = answer.as_object() else {
        return Err("the router status is not an object".into());
    };
    // Every router has a status (its network at least): an answer without one is not
    // Compute's, and must not read as a router without NAT.
    let statuses = match answer.get("result") {
        None | Some(Value::Null) => return Err("the router status has no result".into()),
        Some(Value::Object(result)) => match result.get("natStatus") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) => list.clone(),
            Some(_) => return Err("result.natStatus is not a list".into()),
        },
        Some(_) => return Err("result is not an object".into()),
    };
    let mut names = Vec::new();
    let mut out = Vec::new();
    for (i, status) in statuses.iter().enumerate() {
        let name = status
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("result.natStatus[{i}] has no name"))?;
        names.push(name);
        if nat.is_some_and(|n| n != name) {
            continue;
        }
        for key in IN_USE {
            let ips = match status.get(key) {
                None | Some(Value::Null) => continue,
                Some(Value::Array(ips)) => ips,
                Some(_) => return Err(format!("result.natStatus[{i}].{key} is not a list")),
            };
            for (j, ip) in ips.iter().enumerate() {
                let ip = ip
                    .as_str()
                    .ok_or_else(|| format!("result.natStatus[{i}].{key}[{j}] is not a string"))?;
                out.push(host_route(ip));
            }
        }
    }
    if let Some(n) = nat
        && !names.contains(&n)
    {
        return Err(format!(
            "{FIELD}.nat: the router reports no NAT {n:?} (it reports {})",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    }
    Ok(out)
}

/// `203.0.113.7` → `203.0.113.7/32`; anything else unchanged, for the caller's validation.
fn host_route(ip: &str) -> String {
    if ip.parse::<std::net::Ipv4Addr>().is_ok() {
        format!("{ip}/32")
    } else {
        ip.to_string()
    }
}

/// The schema's name rule, again, for objects stored without it: a region or router name
/// becomes a path segment.
fn compute_name(field: &str, value: &str) -> Result<(), ProviderError> {
    let ok = (1..=63).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && !value.ends_with('-')
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ProviderError::new(
            Category::InvalidSpec,
            OP,
            format!(
                "{FIELD}.{field}: {:?} is not a Compute name",
                value.chars().take(70).collect::<String>()
            ),
        ))
    }
}

impl Gcp {
    pub(super) async fn cloud_nat_addresses(
        &self,
        source: &GcpCloudNat,
    ) -> Result<Vec<String>, ProviderError> {
        compute_name("region", &source.region)?;
        compute_name("router", &source.router)?;
        if let Some(nat) = &source.nat {
            compute_name("nat", nat)?;
        }
        let region = spec_segment(OP, &format!("{FIELD}.region"), &source.region)?;
        let router = spec_segment(OP, &format!("{FIELD}.router"), &source.router)?;
        let path = self.compute_path(&format!(
            "regions/{region}/routers/{router}/getRouterStatus"
        ));
        let Some(answer) = self.call(&self.compute, &Request::get(OP, path)).await? else {
            return Err(ProviderError::new(
                Category::InvalidSpec,
                OP,
                format!(
                    "{FIELD}.router: project {} has no router {:?} in region {}",
                    self.project, source.router, source.region
                ),
            ));
        };
        router_nat_addresses(&answer, source.nat.as_deref()).map_err(|message| {
            let category = if message.starts_with(FIELD) {
                Category::InvalidSpec
            } else {
                Category::BadResponse
            };
            ProviderError::new(category, OP, message)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Answers → addresses or the error: the allocation lists and the draining ones, one NAT
    /// or all, resource-URL lists ignored, an absent list empty; a missing NAT names the field; a
    /// wrongly shaped answer is an error.
    #[test]
    fn router_status_table() {
        let two = json!({"kind": "compute#routerStatusResponse", "result": {
        "network": "https://www.googleapis.com/compute/v1/projects/p/global/networks/default",
        "natStatus": [
            {"name": "nat-a", "userAllocatedNatIps": ["203.0.113.7"],
             "userAllocatedNatIpResources": ["https://www.googleapis.com/compute/v1/projects/p/regions/r/addresses/a"],
             "drainUserAllocatedNatIps": ["203.0.113.99"], "minExtraNatIpsNeeded": 0},
            {"name": "nat-b", "autoAllocatedNatIps": ["198.51.100.4", "198.51.100.5"],
             "drainAutoAllocatedNatIps": ["198.51.100.98"]}
        ]}});
        type Case<'a> = (Value, Option<&'a str>, Result<Vec<&'a str>, &'a str>);
        let cases: Vec<Case> = vec![
            (
                two.clone(),
                None,
                Ok(vec![
                    "203.0.113.7/32",
                    "203.0.113.99/32",
                    "198.51.100.4/32",
                    "198.51.100.5/32",
                    "198.51.100.98/32",
                ]),
            ),
            (
                two.clone(),
                Some("nat-b"),
                Ok(vec![
                    "198.51.100.4/32",
                    "198.51.100.5/32",
                    "198.51.100.98/32",
                ]),
            ),
            (
                two.clone(),
                Some("nat-c"),
                Err(
                    "spec.source.gcpCloudNat.nat: the router reports no NAT \"nat-c\" (it reports nat-a, nat-b)",
                ),
            ),
            (json!({"result": {"network": "n"}}), None, Ok(vec![])),
            (
                json!({"kind": "compute#routerStatusResponse"}),
                None,
                Err("the router status has no result"),
            ),
            (
                json!({"result": {}}),
                Some("nat-a"),
                Err(
                    "spec.source.gcpCloudNat.nat: the router reports no NAT \"nat-a\" (it reports none)",
                ),
            ),
            (
                json!({"result": {"natStatus": [{"name": "n", "userAllocatedNatIps": null}]}}),
                None,
                Ok(vec![]),
            ),
            (json!([]), None, Err("the router status is not an object")),
            (json!({"result": []}), None, Err("result is not an object")),
            (
                json!({"result": {"natStatus": {}}}),
                None,
                Err("result.natStatus is not a list"),
            ),
            (
                json!({"result": {"natStatus": [{"userAllocatedNatIps": ["192.0.2.1"]}]}}),
                None,
                Err("result.natStatus[0] has no name"),
            ),
            (
                json!({"result": {"natStatus": [{"name": "n", "autoAllocatedNatIps": "192.0.2.1"}]}}),
                None,
                Err("result.natStatus[0].autoAllocatedNatIps is not a list"),
            ),
            (
                json!({"result": {"natStatus": [{"name": "n", "userAllocatedNatIps": [7]}]}}),
                None,
                Err("result.natStatus[0].userAllocatedNatIps[0] is not a string"),
            ),
        ];
        for (i, (answer, nat, want)) in cases.into_iter().enumerate() {
            let got = router_nat_addresses(&answer, nat);
            let want = want
                .map(|v| v.into_iter().map(str::to_string).collect::<Vec<_>>())
                .map_err(str::to_string);
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn names_that_cannot_be_compute_names_are_refused_naming_the_field() {
        for ok in ["europe-west1", "nat-router", "r"] {
            assert!(compute_name("router", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Router",
            "1router",
            "router-",
            "a/b",
            "..",
            &"r".repeat(64),
        ] {
            let e = compute_name("router", bad).expect_err(bad);
            assert_eq!(e.category, Category::InvalidSpec);
            assert!(e.message.contains("spec.source.gcpCloudNat.router"), "{e}");
        }
    }
}
