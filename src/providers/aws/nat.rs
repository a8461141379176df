//! The `awsNatGateways` source of an `AddressSet`: the Elastic IPs of the account's NAT
//! gateways (`DescribeNatGateways`), region by region. The request asks for `available`
//! gateways of the named VPCs only, and the answer is filtered again here: a gateway that is
//! `pending`, `deleting` or `failed` holds an address that does not (or no longer) carry
//! traffic, and must not reach an allowlist whatever the server did with the filter.

use aws_sdk_ec2::types::Filter;

use super::Aws;
use crate::api::addressset::AwsNatGateways;
use crate::error::{Category, ProviderError};

const OP: &str = "DescribeNatGateways";
const FIELD: &str = "spec.source.awsNatGateways";

/// One NAT gateway as read, before it is judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatGatewayObs {
    pub id: String,
    pub state: String,
    pub vpc_id: Option<String>,
    /// Every `NatGatewayAddresses[].PublicIp` (a private NAT gateway has none).
    pub public_ips: Vec<String>,
}

/// The regions read: those the source names, each of which must be one of the
/// CloudProvider's; none named: all of the CloudProvider's.
pub fn regions_to_read(
    source: &AwsNatGateways,
    account_regions: &[String],
) -> Result<Vec<String>, ProviderError> {
    let invalid = |message: String| ProviderError::new(Category::InvalidSpec, OP, message);
    if source.regions.is_empty() {
        if account_regions.is_empty() {
            return Err(invalid(format!(
                "{FIELD}.regions: none named and the CloudProvider lists no regions (spec.regions)"
            )));
        }
        return Ok(account_regions.to_vec());
    }
    for (i, region) in source.regions.iter().enumerate() {
        if !account_regions.contains(region) {
            return Err(invalid(format!(
                "{FIELD}.regions[{i}]: {:?} is not one of the CloudProvider's regions ({})",
                region.chars().take(40).collect::<String>(),
                account_regions.join(", ")
            )));
        }
    }
    Ok(source.regions.clone())
}

/// The public addresses of the `available` gateways of `vpc_ids` (all VPCs when empty), each
/// as a host route. A gateway in another state, or of another VPC, is left out.
pub fn nat_addresses(gateways: &[NatGatewayObs], vpc_ids: &[String]) -> Vec<String> {
    gateways
        .iter()
        .filter(|g| g.state == "available")
        .filter(|g| vpc_ids.is_empty() || g.vpc_id.as_ref().is_some_and(|v| vpc_ids.contains(v)))
        .flat_map(|g| g.public_ips.iter().map(|ip| host_route(ip)))
        .collect()
}

/// `203.0.113.7` → `203.0.113.7/32`. Anything else stays as it is, for the caller's
/// validation to refuse by name (an Elastic IP is always a bare IPv4 address).
fn host_route(ip: &str) -> String {
    if ip.parse::<std::net::Ipv4Addr>().is_ok() {
        format!("{ip}/32")
    } else {
        ip.to_string()
    }
}

impl Aws {
    /// The source's addresses, read from every region it covers; one failed region fails
    /// the whole read (a set built from the regions that happened to answer would cut the
    /// others' traffic off).
    pub(super) async fn nat_gateway_addresses(
        &self,
        source: &AwsNatGateways,
    ) -> Result<Vec<String>, ProviderError> {
        let regions = regions_to_read(source, &self.regions)?;
        let mut out = Vec::new();
        for region in &regions {
            let gateways = self
                .nat_gateways(region, &source.vpc_ids)
                .await
                .map_err(|mut e| {
                    e.message = format!("{region}: {}", e.message);
                    e
                })?;
            out.extend(nat_addresses(&gateways, &source.vpc_ids));
        }
        Ok(out)
    }

    async fn nat_gateways(
        &self,
        region: &str,
        vpc_ids: &[String],
    ) -> Result<Vec<NatGatewayObs>, ProviderError> {
        let mut request = self
            .ec2(region)
            .describe_nat_gateways()
            .filter(Filter::builder().name("state").values("available").build());
        if !vpc_ids.is_empty() {
            request = request.filter(
                Filter::builder()
                    .name("vpc-id")
                    .set_values(Some(vpc_ids.to_vec()))
                    .build(),
            );
        }
        let mut pages = request.into_paginator().send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.err(OP, false, &e))?;
            for g in page.nat_gateways() {
                let Some(id) = g.nat_gateway_id() else {
                    return Err(ProviderError::new(
                        Category::BadResponse,
                        OP,
                        "a NAT gateway without an id",
                    ));
                };
                out.push(NatGatewayObs {
                    id: id.to_string(),
                    // Without a state the gateway is not known to be available: left out.
                    state: g
                        .state()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    vpc_id: g.vpc_id().map(str::to_string),
                    public_ips: g
                        .nat_gateway_addresses()
                        .iter()
                        .filter_map(|a| a.public_ip().map(str::to_string))
                        .collect(),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(regions: &[&str], vpcs: &[&str]) -> AwsNatGateways {
        serde_json::from_value(serde_json::json!({
            "providerRef": {"name": "aws"}, "regions": regions, "vpcIds": vpcs
        }))
        .expect("source")
    }

    fn gw(id: &str, state: &str, vpc: Option<&str>, ips: &[&str]) -> NatGatewayObs {
        NatGatewayObs {
            id: id.into(),
            state: state.into(),
            vpc_id: vpc.map(str::to_string),
            public_ips: ips.iter().map(|s| (*s).to_string()).collect(),
        }
    }

    /// Answers → addresses: only `available` gateways, of the named VPCs, every public
    /// address as a host route; a private gateway contributes nothing; an address that is
    /// not IPv4 is passed on unchanged (the caller's validation names it).
    #[test]
    fn nat_addresses_table() {
        let all = vec![
            gw(
                "nat-1",
                "available",
                Some("vpc-0a"),
                &["203.0.113.7", "203.0.113.8"],
            ),
            gw("nat-2", "pending", Some("vpc-0a"), &["203.0.113.9"]),
            gw("nat-3", "deleting", Some("vpc-0b"), &["198.51.100.1"]),
            gw("nat-4", "available", Some("vpc-0b"), &["198.51.100.2"]),
            gw("nat-5", "available", Some("vpc-0b"), &[]),
            gw("nat-6", "", Some("vpc-0a"), &["192.0.2.1"]),
            gw("nat-7", "available", None, &["192.0.2.2"]),
        ];
        let cases: [(&[&str], &[&str]); 4] = [
            (
                &[],
                &[
                    "203.0.113.7/32",
                    "203.0.113.8/32",
                    "198.51.100.2/32",
                    "192.0.2.2/32",
                ],
            ),
            (&["vpc-0a"], &["203.0.113.7/32", "203.0.113.8/32"]),
            (&["vpc-0b", "vpc-0c"], &["198.51.100.2/32"]),
            (&["vpc-0c"], &[]),
        ];
        for (vpcs, want) in cases {
            let vpcs: Vec<String> = vpcs.iter().map(|s| (*s).to_string()).collect();
            assert_eq!(nat_addresses(&all, &vpcs), want, "vpcs {vpcs:?}");
        }
        let odd = [gw(
            "nat-8",
            "available",
            None,
            &["not-an-ip", "2001:db8::1"],
        )];
        assert_eq!(nat_addresses(&odd, &[]), ["not-an-ip", "2001:db8::1"]);
    }

    /// The regions read: all of the CloudProvider's, or a subset of them; a region the
    /// CloudProvider does not list is refused naming the field and the region.
    #[test]
    fn regions_to_read_table() {
        let account: Vec<String> = vec!["eu-west-1".into(), "us-east-1".into()];
        assert_eq!(
            regions_to_read(&source(&[], &[]), &account).expect("all"),
            account
        );
        assert_eq!(
            regions_to_read(&source(&["us-east-1"], &[]), &account).expect("subset"),
            ["us-east-1"]
        );
        let e = regions_to_read(&source(&["eu-west-1", "ap-south-1"], &[]), &account)
            .expect_err("not the account's");
        assert_eq!(e.category, Category::InvalidSpec);
        assert!(
            e.message.contains("spec.source.awsNatGateways.regions[1]")
                && e.message.contains("ap-south-1"),
            "{e}"
        );
        let e = regions_to_read(&source(&[], &[]), &[]).expect_err("no regions");
        assert!(e.message.contains("spec.regions"), "{e}");
    }
}
