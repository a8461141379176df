//! Trigger.dev's account in `perimeter demo` (the `demo` feature): the Trigger.dev emulator
//! seeded from examples/demo/triggerdev-prod.yaml, drifted from examples/triggerdev/.

use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::triggerdev::{Run, SecretKey, Seed, TriggerdevEmulator};

use crate::api::CloudProvider;
use crate::demo::Account;
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/triggerdev-prod.yaml");
const ENVIRONMENT: &str = "prod";
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/triggerdev/provider.yaml",
        include_str!("../../../examples/triggerdev/provider.yaml"),
    ),
    (
        "examples/triggerdev/monitoring.yaml",
        include_str!("../../../examples/triggerdev/monitoring.yaml"),
    ),
];
const EDITS: &[&str] = &[
    "charge-invoice failed again",
    "the TimeoutError group resolved in the dashboard",
];

struct Demo {
    emulator: TriggerdevEmulator,
    _running: RunningEmulator,
    endpoint: String,
    /// Generated at start: no key material is built in.
    key: String,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

async fn launch() -> Result<Demo, String> {
    let mut seed: Seed = serde_yaml::from_str(SEED).map_err(|e| format!("demo seed: {e}"))?;
    let key = format!("tr_prod_{:032x}", rand::random::<u128>());
    seed.keys.push(SecretKey {
        key: key.clone(),
        environment: ENVIRONMENT.into(),
    });
    seed.validate().map_err(|e| format!("demo seed: {e}"))?;
    let emulator = TriggerdevEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the Trigger.dev emulator: {e}"))?;
    let endpoint = running.base_url();
    Ok(Demo {
        emulator,
        _running: running,
        endpoint,
        key,
    })
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Triggerdev
    }

    fn banner(&self) -> String {
        format!(
            "Trigger.dev emulator: {} (seeded from examples/demo/triggerdev-prod.yaml)",
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
        crate::demo::wire_token(provider, &self.key, &self.endpoint, credentials, options);
        Ok(())
    }

    fn requests(&self) -> perimeter_emulators::server::RequestLog {
        self.emulator.log()
    }

    fn edits(&self) -> &'static [&'static str] {
        EDITS
    }

    fn edit(&self, i: usize) {
        match i {
            0 => self.emulator.mutate(|s| {
                let n = s.runs.len();
                s.runs.push(Run {
                    id: format!("run_cm3a1again{n:04}"),
                    environment: ENVIRONMENT.into(),
                    task_identifier: "charge-invoice".into(),
                    status: "FAILED".into(),
                    created_minutes_ago: 1,
                });
            }),
            1 => self.emulator.mutate(|s| {
                for g in &mut s.errors {
                    if g.status == "unresolved" {
                        g.status = "resolved".into();
                    }
                }
            }),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every edit changes the account, and the generated key is a secret key of the seeded
    /// environment.
    #[tokio::test]
    async fn every_edit_changes_the_account() {
        let demo = launch().await.expect("the demo account starts");
        assert!(demo.key.starts_with("tr_prod_") && demo.key.len() > 30);
        for (i, edit) in EDITS.iter().enumerate() {
            let before = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            demo.edit(i);
            let after = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            assert_ne!(before, after, "edit {i} ({edit}) changed nothing");
        }
    }
}
