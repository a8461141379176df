//! Upstash's account in `perimeter demo` (the `demo` feature): the Upstash emulator seeded
//! from examples/demo/upstash-account.yaml, drifted from examples/upstash/.

use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::upstash::{AuditLog, Database, Seed, UpstashEmulator};

use crate::api::CloudProvider;
use crate::demo::Account;
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/upstash-account.yaml");
/// The account e-mail and key name the seed holds; the key itself is generated at start.
const EMAIL: &str = "demo@example.com";
const KEY_NAME: &str = "perimeter";
const SESSIONS: &str = "3f6c2a1e-8b7d-4c5e-9a0f-1b2c3d4e5f60";
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/upstash/provider.yaml",
        include_str!("../../../examples/upstash/provider.yaml"),
    ),
    (
        "examples/upstash/firewall-sessions.yaml",
        include_str!("../../../examples/upstash/firewall-sessions.yaml"),
    ),
    (
        "examples/upstash/firewall-cache.yaml",
        include_str!("../../../examples/upstash/firewall-cache.yaml"),
    ),
    (
        "examples/upstash/monitoring.yaml",
        include_str!("../../../examples/upstash/monitoring.yaml"),
    ),
];
const EDITS: &[&str] = &["sessions allowlist reopened to 0.0.0.0/0 in the console"];

struct Demo {
    emulator: UpstashEmulator,
    /// Keeps the emulator serving.
    _running: RunningEmulator,
    endpoint: String,
    /// The credential JSON the examples' Secret holds in the demo.
    credential: String,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

fn now_seconds() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A console change to the sessions allowlist, stamped `ago` seconds before now.
fn console_change(ago: i64) -> AuditLog {
    AuditLog {
        timestamp: now_seconds() - ago,
        action_string: "Update IP Allowlist".into(),
        entity: "sessions".into(),
        actor: "dev@example.com".into(),
        source: "CONSOLE".into(),
        ip: "192.0.2.44".into(),
    }
}

async fn launch() -> Result<Demo, String> {
    let mut seed: Seed = serde_yaml::from_str(SEED).map_err(|e| format!("demo seed: {e}"))?;
    // No key material is built in: the demo key is random for each run.
    let key = format!("upstash-demo-{}", uuid_like());
    for k in &mut seed.keys {
        k.key = key.clone();
    }
    // Stamped now, so the change is inside the audit log's look-back window.
    seed.audit_logs.push(console_change(2 * 3600));
    seed.validate().map_err(|e| format!("demo seed: {e}"))?;
    let emulator = UpstashEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the Upstash emulator: {e}"))?;
    let endpoint = running.base_url();
    let credential =
        serde_json::json!({"email": EMAIL, "apiKey": key, "keyName": KEY_NAME}).to_string();
    Ok(Demo {
        emulator,
        _running: running,
        endpoint,
        credential,
    })
}

/// 128 random bits as hex, from the operating system's generator.
fn uuid_like() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Demo {
    fn sessions(&self, edit: impl FnOnce(&mut Database)) {
        self.emulator.mutate(|seed| {
            if let Some(d) = seed
                .databases
                .iter_mut()
                .find(|d| d.database_id == SESSIONS)
            {
                edit(d);
            }
        });
    }
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Upstash
    }

    fn banner(&self) -> String {
        format!(
            "Upstash emulator:    {} (seeded from examples/demo/upstash-account.yaml)",
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
        crate::demo::wire_token(
            provider,
            &self.credential,
            &self.endpoint,
            credentials,
            options,
        );
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
            self.sessions(|d| d.allowed_ip_ranges = Some(vec!["0.0.0.0/0".into()]));
            self.emulator
                .mutate(|seed| seed.audit_logs.push(console_change(0)));
        }
    }

    fn check_hint(&self) -> Option<String> {
        // The key is this run's, valid only against this emulator: printed so the line runs
        // as it is (the JSON holds no single quote, so it quotes whole for a POSIX shell).
        Some(format!(
            "PERIMETER_SECRET_UPSTASH_API_CREDENTIAL='{}' cargo run -- check --manifests examples/upstash --endpoint upstash-main={}",
            self.credential, self.endpoint
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every edit changes the account (so a pass after it has something to find), and there is
    /// one function per description. The edits come after Enforce, so each is checked on a
    /// database already brought in line.
    #[tokio::test]
    async fn every_edit_changes_the_account() {
        let demo = launch().await.expect("the demo account starts");
        demo.sessions(|d| d.allowed_ip_ranges = Some(vec!["203.0.113.16/28".into()]));
        for (i, edit) in EDITS.iter().enumerate() {
            let before = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            demo.edit(i);
            let after = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            assert_ne!(before, after, "edit {i} ({edit}) changed nothing");
        }
        assert!(
            !demo.credential.contains("upstash-demo-key"),
            "generated at start"
        );
        // The hint runs as printed: it holds this run's credential, whole and quoted.
        let hint = demo.check_hint().expect("a hint");
        assert!(hint.contains(&format!("'{}'", demo.credential)), "{hint}");
        assert!(!demo.credential.contains('\''));
    }
}
