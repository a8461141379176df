//! Better Stack's team in `perimeter demo` (the `demo` feature): the Better Stack emulator
//! seeded from examples/demo/betterstack-team.yaml, drifted from examples/betterstack/.

use perimeter_emulators::betterstack::{BetterstackEmulator, Seed};
use perimeter_emulators::server::RunningEmulator;
use serde_json::Value;

use crate::api::CloudProvider;
use crate::demo::Account;
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/betterstack-team.yaml");
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/betterstack/provider.yaml",
        include_str!("../../../examples/betterstack/provider.yaml"),
    ),
    (
        "examples/betterstack/monitoring.yaml",
        include_str!("../../../examples/betterstack/monitoring.yaml"),
    ),
];
const EDITS: &[&str] = &[
    "Better Stack replaced a probe address of its eu cluster (the AddressSet betterstack-probes follows; the status zone's allowlist drifts)",
    "homepage monitor paused in the Better Stack dashboard",
];
/// The probe address the first edit replaces, and its replacement.
const RETIRED_PROBE: &str = "139.162.156.157";
const NEW_PROBE: &str = "139.162.156.201";
/// The seed's word for "checked a minute before the demo started".
const RECENT: &str = "recent";
const HOMEPAGE: u64 = 101;

struct Demo {
    emulator: BetterstackEmulator,
    /// Keeps the emulator serving.
    _running: RunningEmulator,
    endpoint: String,
    token: String,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

async fn launch() -> Result<Demo, String> {
    let mut seed: Seed = serde_yaml::from_str(SEED).map_err(|e| format!("demo seed: {e}"))?;
    // No key material is built in: the token is random for each run.
    let token = format!("betterstack-demo-{}", random_hex());
    seed.tokens = vec![token.clone()];
    let recent = (jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60)).to_string();
    for m in &mut seed.monitors {
        if m.attributes.get("last_checked_at").and_then(Value::as_str) == Some(RECENT) {
            m.attributes
                .insert("last_checked_at".into(), Value::String(recent.clone()));
        }
    }
    seed.validate().map_err(|e| format!("demo seed: {e}"))?;
    let emulator = BetterstackEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the Better Stack emulator: {e}"))?;
    let endpoint = running.base_url();
    Ok(Demo {
        emulator,
        _running: running,
        endpoint,
        token,
    })
}

/// 128 random bits as hex, from the operating system's generator.
fn random_hex() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Betterstack
    }

    fn banner(&self) -> String {
        format!(
            "Better Stack emulator: {} (seeded from examples/demo/betterstack-team.yaml)",
            self.endpoint
        )
    }

    fn examples(&self) -> &'static [(&'static str, &'static str)] {
        EXAMPLES
    }

    fn wire(
        &self,
        provider: &mut CloudProvider,
        credentials: &mut CredentialSource,
        options: &mut Options,
    ) -> Result<(), String> {
        crate::demo::wire_token(provider, &self.token, &self.endpoint, credentials, options);
        Ok(())
    }

    fn requests(&self) -> perimeter_emulators::server::RequestLog {
        self.emulator.log()
    }

    fn writes(&self) -> usize {
        self.emulator.log().writes().len()
    }

    fn edits(&self) -> &'static [&'static str] {
        EDITS
    }

    fn edit(&self, i: usize) {
        if i == 0 {
            self.emulator.mutate(|seed| {
                // Back and forth, so every round of edits changes the list.
                if let Some(eu) = seed.ips_by_cluster.get_mut("eu") {
                    let (from, to) = if eu.iter().any(|ip| ip == RETIRED_PROBE) {
                        (RETIRED_PROBE, NEW_PROBE)
                    } else {
                        (NEW_PROBE, RETIRED_PROBE)
                    };
                    eu.retain(|ip| ip != from);
                    eu.push(to.to_string());
                }
            });
        }
        if i == 1 {
            self.emulator.mutate(|seed| {
                if let Some(m) = seed.monitors.iter_mut().find(|m| m.id == HOMEPAGE) {
                    m.attributes.insert("paused".into(), Value::Bool(true));
                    m.attributes
                        .insert("status".into(), Value::String("paused".into()));
                }
            });
        }
    }

    fn check_hint(&self) -> Option<String> {
        // The token is this run's, valid only against this emulator.
        Some(format!(
            "PERIMETER_SECRET_BETTERSTACK_API_TOKEN='{}' cargo run -- check --manifests examples/betterstack --endpoint betterstack-main={}",
            self.token, self.endpoint
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every edit changes the team, the token is generated, and the seed's recent checks are
    /// stamped at start.
    #[tokio::test]
    async fn every_edit_changes_the_team() {
        let demo = launch().await.expect("the demo team starts");
        let snapshot = demo.emulator.snapshot();
        assert!(
            snapshot
                .monitors
                .iter()
                .all(|m| m.attributes.get("last_checked_at") != Some(&Value::from(RECENT)))
        );
        for (i, edit) in EDITS.iter().enumerate() {
            let before = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            demo.edit(i);
            let after = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            assert_ne!(before, after, "edit {i} ({edit}) changed nothing");
        }
        assert!(demo.token.len() > 30 && !demo.token.contains('\''));
        let hint = demo.check_hint().expect("a hint");
        assert!(hint.contains(&format!("'{}'", demo.token)), "{hint}");
    }
}
