//! Slack's workspace in `perimeter demo` (the `demo` feature): the Slack emulator seeded from
//! examples/demo/slack-workspace.yaml, drifted from examples/slack/.

use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::slack::{Seed, SlackEmulator};

use crate::api::CloudProvider;
use crate::demo::Account;
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/slack-workspace.yaml");
const BOT_USER: &str = "U0PERIMBOT";
const OPS_ALERTS: &str = "C0ALERTS01";
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/slack/provider.yaml",
        include_str!("../../../examples/slack/provider.yaml"),
    ),
    (
        "examples/slack/monitoring-alert-channels.yaml",
        include_str!("../../../examples/slack/monitoring-alert-channels.yaml"),
    ),
];
const EDITS: &[&str] = &["the bot removed from #ops-alerts by a workspace admin"];

struct Demo {
    emulator: SlackEmulator,
    /// Keeps the emulator serving.
    _running: RunningEmulator,
    /// The emulator's base URL with Slack's `/api` prefix.
    endpoint: String,
    token: String,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

async fn launch() -> Result<Demo, String> {
    let mut seed: Seed = serde_yaml::from_str(SEED).map_err(|e| format!("demo seed: {e}"))?;
    // No key material is built in: the demo token is random for each run.
    let token = format!("xoxb-{}", random_hex());
    for t in &mut seed.tokens {
        t.token = token.clone();
    }
    seed.validate().map_err(|e| format!("demo seed: {e}"))?;
    let emulator = SlackEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the Slack emulator: {e}"))?;
    let endpoint = format!("{}/api", running.base_url());
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
        crate::api::ProviderType::Slack
    }

    fn banner(&self) -> String {
        format!(
            "Slack emulator:      {} (seeded from examples/demo/slack-workspace.yaml)",
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
                if let Some(c) = seed.channels.iter_mut().find(|c| c.id == OPS_ALERTS) {
                    c.members.retain(|m| m != BOT_USER);
                }
            });
        }
    }

    fn check_hint(&self) -> Option<String> {
        Some(format!(
            "PERIMETER_SECRET_SLACK_BOT_TOKEN='<the demo token>' cargo run -- check --manifests examples/slack --endpoint slack-main={}",
            self.endpoint
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every edit changes the workspace, and the token is generated at start.
    #[tokio::test]
    async fn every_edit_changes_the_account() {
        let demo = launch().await.expect("the demo account starts");
        for (i, edit) in EDITS.iter().enumerate() {
            let before = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            demo.edit(i);
            let after = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            assert_ne!(before, after, "edit {i} ({edit}) changed nothing");
        }
        assert!(demo.token.starts_with("xoxb-") && !demo.token.contains("replaced"));
    }
}
