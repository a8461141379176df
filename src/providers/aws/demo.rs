//! AWS's account in `perimeter demo` (the `demo` feature): the AWS emulator seeded from
//! examples/demo/aws-account.yaml, drifted from examples/aws/.

use perimeter_emulators::aws::{AwsEmulator, Seed, SgRule, TrailEvent, console_change};
use perimeter_emulators::server::RunningEmulator;
use serde_json::json;

use crate::api::CloudProvider;
use crate::api::provider::SecretKeyRef;
use crate::demo::{Account, wire_secret};
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/aws-account.yaml");
/// Static keys the emulator accepts (its seed lists the id). Never valid anywhere real; the
/// examples use the workload's ambient identity instead.
const KEY_ID: &str = "AKIAPERIMETERDEMO000";
const SECRET: &str = "perimeter-demo-secret-not-valid-anywhere";
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/aws/provider.yaml",
        include_str!("../../../examples/aws/provider.yaml"),
    ),
    (
        "examples/aws/firewall.yaml",
        include_str!("../../../examples/aws/firewall.yaml"),
    ),
    (
        "examples/aws/monitoring.yaml",
        include_str!("../../../examples/aws/monitoring.yaml"),
    ),
];
const EDITS: &[&str] = &["AWS: SSH on security group web re-opened to 0.0.0.0/0"];

struct Demo {
    emulator: AwsEmulator,
    /// Keeps the emulator serving.
    _running: RunningEmulator,
    endpoint: String,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

async fn launch() -> Result<Demo, String> {
    let seed: Seed = serde_yaml::from_str(SEED).map_err(|e| format!("aws demo seed: {e}"))?;
    let emulator = AwsEmulator::new(seed);
    // Stamped now, so the seeded drift's console edits are inside CloudTrail's look-back.
    emulator.mutate(|seed| seed.cloud_trail.extend(seeded_history()));
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the AWS emulator: {e}"))?;
    let endpoint = running.base_url();
    Ok(Demo {
        emulator,
        _running: running,
        endpoint,
    })
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Aws
    }

    fn banner(&self) -> String {
        format!(
            "AWS emulator:        {} (seeded from examples/demo/aws-account.yaml)",
            self.endpoint
        )
    }

    fn examples(&self) -> &'static [(&'static str, &'static str)] {
        EXAMPLES
    }

    /// The examples use the workload's identity (IRSA); static demo keys in a (local) Secret
    /// stand in.
    fn wire(
        &self,
        provider: &mut CloudProvider,
        credentials: &mut CredentialSource,
        options: &mut Options,
    ) -> Result<(), String> {
        let secret = SecretKeyRef {
            name: "aws-demo".into(),
            key: "credentials".into(),
        };
        let keys = serde_json::json!({ "accessKeyId": KEY_ID, "secretAccessKey": SECRET });
        let keys = keys.to_string();
        wire_secret(
            provider,
            secret,
            &keys,
            &self.endpoint,
            credentials,
            options,
        );
        Ok(())
    }

    fn requests(&self) -> perimeter_emulators::server::RequestLog {
        self.emulator.log().clone()
    }

    /// Every AWS call is a POST (EC2 Query, CBOR, JSON-RPC), so writes are counted by
    /// operation name.
    fn writes(&self) -> usize {
        const READS: [&str; 4] = ["/Describe", "/List", "/Get", "/LookupEvents"];
        self.emulator
            .log()
            .entries()
            .iter()
            .filter(|e| !READS.iter().any(|r| e.path.contains(r)))
            .count()
    }

    fn edits(&self) -> &'static [&'static str] {
        EDITS
    }

    fn edit(&self, i: usize) {
        if i == 0 {
            self.emulator.mutate(|seed| {
                ssh_reopened(seed);
                seed.cloud_trail.push(ssh_opened(EDITOR, 0));
            });
        }
    }
}

const WEB: &str = "sg-0f00dfeed1234abcd";
/// The IAM Identity Center role people sign in to the console with.
const SSO_ROLE: &str = "AWSReservedSSO_PowerUser_5f3a9c0d2e1b4a67";
const EDITOR: &str = "dana@example.com";

/// CloudTrail's record of the console edits behind the seeded drift (see
/// examples/demo/aws-account.yaml): who opened SSH, removed the bastion rule, loosened the
/// rate limit and disabled GuardDuty. The rest (a stale description, the missing NACL entry
/// and office address, the staging VPC's flow log, the alarm) was never there, or changed
/// before the look-back: it stays unattributed, as it is.
fn seeded_history() -> Vec<TrailEvent> {
    const HOUR: i64 = 3600;
    vec![
        ssh_opened("sam@example.com", 50 * HOUR),
        console_change(
            "sam@example.com",
            SSO_ROLE,
            "ec2",
            "RevokeSecurityGroupIngress",
            json!({"groupId": WEB, "ipPermissions": {"items": [{"ipProtocol": "tcp",
                "fromPort": 22, "toPort": 22,
                "ipRanges": {"items": [{"cidrIp": "10.20.0.0/24"}]}}]}}),
            50 * HOUR - 60,
        ),
        console_change(
            "oncall-sre@example.com",
            SSO_ROLE,
            "wafv2",
            "UpdateWebACL",
            json!({"name": "prod-alb", "scope": "REGIONAL", "id": "prod-alb"}),
            30 * HOUR,
        ),
        console_change(
            "lee@example.com",
            SSO_ROLE,
            "guardduty",
            "UpdateDetector",
            json!({"detectorId": "6cc6a6f1b2d3e4f5a6b7c8d9e0f1a2b3", "enable": false,
                "findingPublishingFrequency": "SIX_HOURS"}),
            6 * HOUR,
        ),
    ]
}

/// A console edit opening SSH on the web group to the world, `seconds_ago`.
fn ssh_opened(who: &str, seconds_ago: i64) -> TrailEvent {
    console_change(
        who,
        SSO_ROLE,
        "ec2",
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": WEB, "ipPermissions": {"items": [{"ipProtocol": "tcp",
            "fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
        seconds_ago,
    )
}

/// Someone "temporarily" re-opens SSH on the web group to the world.
fn ssh_reopened(seed: &mut Seed) {
    for group in seed
        .security_groups
        .iter_mut()
        .filter(|g| g.group_name == "web")
    {
        group.ingress.push(SgRule {
            protocol: "tcp".into(),
            from_port: Some(22),
            to_port: Some(22),
            cidr_ipv4: Some("0.0.0.0/0".into()),
            description: Some("quick fix, remove later".into()),
            ..SgRule::default()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The edit leaves what the AWS firewall example forbids: SSH open to the world on the web
    /// group, as a rule with an id like any other.
    #[tokio::test]
    async fn the_edit_reopens_ssh_to_the_world_on_the_web_group() {
        let demo = launch().await.expect("the demo account starts");
        let open = |aws: &AwsEmulator| {
            aws.snapshot()
                .security_groups
                .iter()
                .filter(|g| g.group_name == "web")
                .flat_map(|g| g.ingress.clone())
                .filter(|r| r.cidr_ipv4.as_deref() == Some("0.0.0.0/0") && r.from_port == Some(22))
                .map(|r| r.rule_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(open(&demo.emulator).len(), 1, "the seed's own drift");
        demo.edit(0);
        let ids = open(&demo.emulator);
        assert_eq!(ids.len(), 2);
        assert!(ids.iter().all(|id| id.starts_with("sgr-")), "{ids:?}");
        // CloudTrail records it as the editor's console change, the newest of the history.
        let trail = demo.emulator.snapshot().cloud_trail;
        let newest = trail
            .iter()
            .max_by(|a, b| a.event_time.cmp(&b.event_time))
            .expect("a history");
        assert_eq!(
            (newest.event_name.as_str(), newest.username.as_str()),
            ("AuthorizeSecurityGroupIngress", EDITOR)
        );
        assert_eq!(newest.record["sessionCredentialFromConsole"], "true");
    }
}
