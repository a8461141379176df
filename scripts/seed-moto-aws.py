#!/usr/bin/env python3
"""Seed a moto server with a mid-sized AWS account, or report what it holds.

Used by tests/aws_check_scale.rs and scripts/bench-aws-check (run with .venv/bin/python).

    seed-moto-aws.py --endpoint URL [--vpcs 50] [--groups-per-vpc 5] [--flow-logs 38]
    seed-moto-aws.py --endpoint URL --report

Seeding creates, in us-east-1 (moto adds a default VPC with its default group, and a default
group to every VPC):
  * VPCS VPCs, each with GROUPS_PER_VPC security groups holding an ingress rule from 10.0.0.0/8;
  * 7 of those groups also open to the world (0.0.0.0/0 or ::/0), the first one on SSH (22);
  * flow logs (ALL traffic, CloudWatch Logs group `perimeter-flow`) on the first FLOW_LOGS VPCs.
It prints JSON with the ids a scanner must find: `worldOpenGroups` and `vpcsWithoutFlowLogs`
(the uncovered seeded VPCs plus moto's default VPC).

`--report` prints the same two lists as the account holds them now (DescribeSecurityGroups,
DescribeVpcs, DescribeFlowLogs), plus counts.
"""

import argparse
import json
import sys

import boto3

REGION = "us-east-1"
FLOW_LOG_GROUP = "perimeter-flow"
FLOW_LOG_ROLE = "arn:aws:iam::123456789012:role/vpc-flow-logs-delivery"
WORLD = ("0.0.0.0/0", "::/0")

# (protocol, from, to, cidr) of the world-open rules, one per group; the first is SSH.
WORLD_OPEN_RULES = [
    ("tcp", 22, 22, "0.0.0.0/0"),
    ("tcp", 3389, 3389, "0.0.0.0/0"),
    ("tcp", 80, 80, "::/0"),
    ("tcp", 443, 443, "0.0.0.0/0"),
    ("-1", -1, -1, "0.0.0.0/0"),
    ("tcp", 8080, 8090, "::/0"),
    ("udp", 53, 53, "0.0.0.0/0"),
]


def client(endpoint):
    return boto3.client(
        "ec2",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def permission(proto, from_port, to_port, cidr):
    p = {"IpProtocol": proto}
    if proto != "-1":
        p["FromPort"] = from_port
        p["ToPort"] = to_port
    if ":" in cidr:
        p["Ipv6Ranges"] = [{"CidrIpv6": cidr}]
    else:
        p["IpRanges"] = [{"CidrIp": cidr}]
    return p


def pages(ec2, operation, key, **kwargs):
    for page in ec2.get_paginator(operation).paginate(**kwargs):
        yield from page[key]


def report(ec2):
    groups = list(pages(ec2, "describe_security_groups", "SecurityGroups"))
    open_groups = sorted(
        g["GroupId"]
        for g in groups
        if any(
            r.get("CidrIp") in WORLD or r.get("CidrIpv6") in WORLD
            for p in g.get("IpPermissions", [])
            for r in p.get("IpRanges", []) + p.get("Ipv6Ranges", [])
        )
    )
    vpcs = sorted(v["VpcId"] for v in pages(ec2, "describe_vpcs", "Vpcs"))
    covered = {f["ResourceId"] for f in pages(ec2, "describe_flow_logs", "FlowLogs")}
    return {
        "vpcs": vpcs,
        "securityGroups": len(groups),
        "worldOpenGroups": open_groups,
        "vpcsWithoutFlowLogs": sorted(v for v in vpcs if v not in covered),
    }


def seed(ec2, n_vpcs, per_vpc, n_flow):
    vpcs = []
    groups = []
    for i in range(n_vpcs):
        # 10.i/16 for the first 256; then /24s of 172.16.0.0/12, so up to 4,352 VPCs
        cidr = f"10.{i}.0.0/16" if i < 256 else f"172.{16 + (i - 256) // 256}.{(i - 256) % 256}.0/24"
        vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        vpcs.append(vpc)
        for j in range(per_vpc):
            gid = ec2.create_security_group(
                GroupName=f"app-{i}-{j}", Description=f"app {i}/{j}", VpcId=vpc
            )["GroupId"]
            groups.append(gid)
            ec2.authorize_security_group_ingress(
                GroupId=gid, IpPermissions=[permission("tcp", 443, 443, "10.0.0.0/8")]
            )
    # Spread the open groups over the account: every 37th group.
    open_groups = []
    for k, rule in enumerate(WORLD_OPEN_RULES):
        gid = groups[(k * 37) % len(groups)]
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=[permission(*rule)])
        open_groups.append(gid)
    with_logs = vpcs[:n_flow]
    if with_logs:
        out = ec2.create_flow_logs(
            ResourceIds=with_logs,
            ResourceType="VPC",
            TrafficType="ALL",
            LogDestinationType="cloud-watch-logs",
            LogGroupName=FLOW_LOG_GROUP,
            DeliverLogsPermissionArn=FLOW_LOG_ROLE,
        )
        if out.get("Unsuccessful"):
            sys.exit(f"CreateFlowLogs failed: {out['Unsuccessful']}")
    default_vpcs = sorted(
        v["VpcId"]
        for v in pages(ec2, "describe_vpcs", "Vpcs", Filters=[{"Name": "is-default", "Values": ["true"]}])
    )
    return {
        "region": REGION,
        "vpcs": vpcs,
        "defaultVpcs": default_vpcs,
        "flowLogGroup": FLOW_LOG_GROUP,
        "flowLogRole": FLOW_LOG_ROLE,
        "sshGroup": open_groups[0],
        "worldOpenGroups": sorted(open_groups),
        "vpcsWithoutFlowLogs": sorted(vpcs[n_flow:] + default_vpcs),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--vpcs", type=int, default=50)
    ap.add_argument("--groups-per-vpc", type=int, default=5)
    ap.add_argument("--flow-logs", type=int, default=38)
    ap.add_argument("--report", action="store_true", help="print the account's state, write nothing")
    args = ap.parse_args()
    ec2 = client(args.endpoint)
    if args.report:
        out = report(ec2)
    else:
        out = seed(ec2, args.vpcs, args.groups_per_vpc, args.flow_logs)
        out["securityGroups"] = report(ec2)["securityGroups"]
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
