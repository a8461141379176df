//! AWS's boundary assets: the VPCs and security groups of each region of the `CloudProvider`
//! (`DescribeVpcs`, `DescribeSecurityGroups`, `DescribeNetworkAcls`, paged by the SDK, each
//! page a counted and rate-limited call). A security group is covered by a block of its region
//! that manages it (by `groupId`, or `vpcId` + `groupName`); a VPC by a block of its region
//! that manages one of its security groups or one of its network ACLs. Network ACLs are not
//! counted as assets of their own: every VPC has a default one that most accounts never
//! touch, and the boundary they guard is the VPC's, which its security groups guard as well.
//! The `findings` guard alone covers nothing: it reports open ingress, it is not a firewall
//! of the VPC.

use super::Aws;
use super::api::AwsFirewall;
use super::model::GroupObs;
use crate::core::inventory::Asset;
use crate::error::{Category, ProviderError};

pub const VPC: &str = "vpc";
pub const SECURITY_GROUP: &str = "securityGroup";

/// A VPC as listed: its id and its `Name` tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpcObs {
    pub vpc_id: String,
    pub name: Option<String>,
    /// Its network ACLs' ids.
    pub acls: Vec<String>,
}

/// The assets of one region, in the order listed: its VPCs, then its security groups.
pub fn region_assets(region: &str, vpcs: &[VpcObs], groups: &[GroupObs]) -> Vec<Asset> {
    let vpcs = vpcs.iter().map(|v| {
        Asset::new(VPC, &v.vpc_id, v.name.clone().unwrap_or_default())
            .in_region(region)
            .with_parts(v.acls.clone())
    });
    let groups = groups.iter().map(|g| {
        let asset = Asset::new(SECURITY_GROUP, &g.group_id, &g.group_name).in_region(region);
        match &g.vpc_id {
            Some(vpc) => asset.within(vpc),
            None => asset,
        }
    });
    vpcs.chain(groups).collect()
}

/// Whether `block` manages `asset` (see the module's words); `all` gives a VPC its groups.
pub fn covers(block: &AwsFirewall, asset: &Asset, all: &[Asset]) -> bool {
    // A block without a region holds only `findings`.
    if block.region.is_none() || block.region != asset.region {
        return false;
    }
    let groups = block.security_groups.as_deref().unwrap_or_default();
    let manages = |group: &Asset| {
        groups.iter().any(|g| {
            g.group_id.as_deref() == Some(group.id.as_str())
                || (g.group_id.is_none()
                    && g.vpc_id.is_some()
                    && g.vpc_id == group.parent
                    && g.group_name.as_deref() == Some(group.name.as_str()))
        })
    };
    match asset.kind {
        SECURITY_GROUP => manages(asset),
        VPC => {
            let acls = block.network_acls.as_deref().unwrap_or_default();
            groups
                .iter()
                .any(|g| g.vpc_id.as_deref() == Some(asset.id.as_str()))
                || acls.iter().any(|a| asset.parts.contains(&a.network_acl_id))
                || all.iter().any(|a| {
                    a.kind == SECURITY_GROUP
                        && a.region == asset.region
                        && a.parent.as_deref() == Some(asset.id.as_str())
                        && manages(a)
                })
        }
        _ => false,
    }
}

impl Aws {
    /// Every region's assets; one region that cannot be read fails the whole list (coverage
    /// counted on the regions that answered would read as better than it is).
    pub(super) async fn assets(&self) -> Result<Vec<Asset>, ProviderError> {
        if self.regions.is_empty() {
            return Err(ProviderError::new(
                Category::InvalidSpec,
                "DescribeVpcs",
                "spec.regions: none listed, so no region's VPCs can be listed",
            ));
        }
        let mut out = Vec::new();
        for region in &self.regions {
            let in_region = |mut e: ProviderError| {
                e.message = format!("{region}: {}", e.message);
                e
            };
            let mut vpcs = self.named_vpcs(region).await.map_err(in_region)?;
            let acls = self.acl_vpcs(region).await.map_err(in_region)?;
            for (acl, vpc) in acls {
                if let Some(v) = vpcs.iter_mut().find(|v| v.vpc_id == vpc) {
                    v.acls.push(acl);
                }
            }
            let groups = self.groups(region).await.map_err(in_region)?;
            out.extend(region_assets(region, &vpcs, &groups));
        }
        Ok(out)
    }

    async fn named_vpcs(&self, region: &str) -> Result<Vec<VpcObs>, ProviderError> {
        let op = "DescribeVpcs";
        let mut pages = self.ec2(region).describe_vpcs().into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            for v in page.vpcs() {
                let Some(id) = v.vpc_id() else {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        op,
                        "a VPC without an id",
                    ));
                };
                out.push(VpcObs {
                    acls: Vec::new(),
                    vpc_id: id.to_string(),
                    name: v
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some("Name"))
                        .and_then(|t| t.value())
                        .map(str::to_string),
                });
            }
        }
        Ok(out)
    }

    /// Every network ACL of the region with its VPC: `(acl id, vpc id)`.
    async fn acl_vpcs(&self, region: &str) -> Result<Vec<(String, String)>, ProviderError> {
        let op = "DescribeNetworkAcls";
        let mut pages = self
            .ec2(region)
            .describe_network_acls()
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(op, false, &e))?;
            for acl in page.network_acls() {
                let (Some(id), Some(vpc)) = (acl.network_acl_id(), acl.vpc_id()) else {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        op,
                        "a network ACL without an id or a VPC",
                    ));
                };
                out.push((id.to_string(), vpc.to_string()));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const R: &str = "eu-west-1";
    const VPC_A: &str = "vpc-0a1b2c3d4e5f60718";
    const VPC_B: &str = "vpc-0c9d8e7f6a5b40312";
    const WEB: &str = "sg-0f00dfeed1234abcd";
    const DEFAULT_B: &str = "sg-0aa11bb22cc33dd44";
    const ACL_A: &str = "acl-0f1e2d3c4b5a69788";

    fn inventory() -> Vec<Asset> {
        let group = |id: &str, name: &str, vpc: &str| GroupObs {
            group_id: id.into(),
            group_name: name.into(),
            vpc_id: Some(vpc.into()),
        };
        region_assets(
            R,
            &[
                VpcObs {
                    vpc_id: VPC_A.into(),
                    name: Some("prod".into()),
                    acls: vec![ACL_A.into()],
                },
                VpcObs {
                    vpc_id: VPC_B.into(),
                    name: None,
                    acls: Vec::new(),
                },
            ],
            &[group(WEB, "web", VPC_A), group(DEFAULT_B, "default", VPC_B)],
        )
    }

    fn block(v: serde_json::Value) -> AwsFirewall {
        serde_json::from_value(v).expect("block")
    }

    #[test]
    fn region_assets_list_vpcs_then_groups_with_their_vpc() {
        let all = inventory();
        let got: Vec<(&str, &str, &str, Option<&str>)> = all
            .iter()
            .map(|a| (a.kind, a.id.as_str(), a.name.as_str(), a.parent.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (VPC, VPC_A, "prod", None),
                (VPC, VPC_B, VPC_B, None),
                (SECURITY_GROUP, WEB, "web", Some(VPC_A)),
                (SECURITY_GROUP, DEFAULT_B, "default", Some(VPC_B)),
            ]
        );
        assert!(all.iter().all(|a| a.region.as_deref() == Some(R)));
    }

    /// What each block covers of the inventory (VPC A with group web, VPC B with its default
    /// group), by the ids of what it covers.
    #[test]
    fn a_block_covers_the_groups_it_manages_and_their_vpcs_in_its_region() {
        let by_name = json!({"region": R, "securityGroups": [
            {"vpcId": VPC_A, "groupName": "web", "ingress": []}]});
        let by_id = json!({"region": R, "securityGroups": [{"groupId": WEB, "ingress": []}]});
        let cases: Vec<(serde_json::Value, &[&str])> = vec![
            (by_name, &[VPC_A, WEB]),
            (by_id.clone(), &[VPC_A, WEB]),
            // Another region: nothing.
            (
                json!({"region": "us-east-1", "securityGroups": [{"groupId": WEB, "ingress": []}]}),
                &[],
            ),
            // The findings guard alone, with or without a region: nothing.
            (json!({"findings": {"worldOpenIngress": "Forbid"}}), &[]),
            (
                json!({"region": R, "findings": {"worldOpenIngress": "Forbid"}}),
                &[],
            ),
            // A group named in a VPC that has no group of that name: the VPC, not the group.
            (
                json!({"region": R, "securityGroups": [
                    {"vpcId": VPC_B, "groupName": "web", "ingress": []}]}),
                &[VPC_B],
            ),
            // Only a network ACL: its VPC, which lists it.
            (
                json!({"region": R, "networkAcls": [
                    {"networkAclId": ACL_A, "entries": []}]}),
                &[VPC_A],
            ),
            // A network ACL of no listed VPC, or in another region: nothing.
            (
                json!({"region": R, "networkAcls": [
                    {"networkAclId": "acl-0000000000000000a", "entries": []}]}),
                &[],
            ),
            (
                json!({"region": "us-east-1", "networkAcls": [
                    {"networkAclId": ACL_A, "entries": []}]}),
                &[],
            ),
        ];
        let all = inventory();
        for (b, want) in cases {
            let fw = block(b.clone());
            let got: Vec<&str> = all
                .iter()
                .filter(|a| covers(&fw, a, &all))
                .map(|a| a.id.as_str())
                .collect();
            assert_eq!(got, want, "{b}");
        }
        // An asset of another provider's kind is never covered.
        let fw = block(by_id);
        assert!(!covers(
            &fw,
            &Asset::new("zone", WEB, "").in_region(R),
            &all
        ));
    }
}
