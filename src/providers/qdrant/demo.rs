//! Qdrant Cloud's account in `perimeter demo` (the `demo` feature): the Qdrant emulator
//! seeded from examples/demo/qdrant-account.yaml, drifted from examples/qdrant/.

use perimeter_emulators::qdrant::{Cluster, QdrantEmulator, Seed};
use perimeter_emulators::server::RunningEmulator;

use crate::api::CloudProvider;
use crate::demo::Account;
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/qdrant-account.yaml");
/// The management key the emulator accepts; the examples' Secret holds it in the demo.
const KEY: &str = "qdrant-demo-management-key";
const PRODUCTION: &str = "7e6f2a4c-1b2d-4c3e-8f90-a1b2c3d4e5f6";
/// The seeded key that expires soon: its expiry is moved to this long after the demo starts,
/// so it is always within the examples' horizon.
const EXPIRING_KEY: &str = "ingest-pipeline";
const EXPIRES_IN_HOURS: i64 = 72;
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/qdrant/provider.yaml",
        include_str!("../../../examples/qdrant/provider.yaml"),
    ),
    (
        "examples/qdrant/firewall-search.yaml",
        include_str!("../../../examples/qdrant/firewall-search.yaml"),
    ),
    (
        "examples/qdrant/firewall-staging.yaml",
        include_str!("../../../examples/qdrant/firewall-staging.yaml"),
    ),
    (
        "examples/qdrant/monitoring.yaml",
        include_str!("../../../examples/qdrant/monitoring.yaml"),
    ),
];
const EDITS: &[&str] = &[
    "search-prod reopened to 0.0.0.0/0",
    "search-prod allowlist emptied (open to everyone)",
];

struct Demo {
    emulator: QdrantEmulator,
    /// Keeps the emulator serving.
    _running: RunningEmulator,
    endpoint: String,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

async fn launch() -> Result<Demo, String> {
    let mut seed: Seed = serde_yaml::from_str(SEED).map_err(|e| format!("demo seed: {e}"))?;
    let soon = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(EXPIRES_IN_HOURS))
        .map_err(|e| format!("demo seed: {e}"))?;
    for key in &mut seed.database_api_keys {
        if key.name == EXPIRING_KEY {
            key.expires_at = Some(soon.to_string());
        }
    }
    seed.validate().map_err(|e| format!("demo seed: {e}"))?;
    let emulator = QdrantEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the Qdrant emulator: {e}"))?;
    let endpoint = running.base_url();
    Ok(Demo {
        emulator,
        _running: running,
        endpoint,
    })
}

impl Demo {
    fn production(&self, edit: impl FnOnce(&mut Cluster)) {
        self.emulator.mutate(|seed| {
            if let Some(c) = seed.clusters.iter_mut().find(|c| c.id == PRODUCTION) {
                edit(c);
            }
        });
    }
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Qdrant
    }

    fn banner(&self) -> String {
        format!(
            "Qdrant Cloud emulator: {} (seeded from examples/demo/qdrant-account.yaml)",
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
        crate::demo::wire_token(provider, KEY, &self.endpoint, credentials, options);
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
        match i {
            0 => self.production(|c| c.allowed_ip_source_ranges.push("0.0.0.0/0".into())),
            1 => self.production(|c| c.allowed_ip_source_ranges.clear()),
            _ => {}
        }
    }

    fn check_hint(&self) -> Option<String> {
        Some(format!(
            "PERIMETER_SECRET_QDRANT_API_KEY={KEY} cargo run -- check --manifests examples/qdrant --endpoint qdrant-main={}",
            self.endpoint
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every edit changes the account (so a pass after it has something to find), and the
    /// expiring key is moved into the horizon whatever the day.
    #[tokio::test]
    async fn every_edit_changes_the_account_and_the_key_expires_soon() {
        let demo = launch().await.expect("the demo account starts");
        let key = demo
            .emulator
            .snapshot()
            .database_api_keys
            .into_iter()
            .find(|k| k.name == EXPIRING_KEY)
            .and_then(|k| k.expires_at)
            .expect("the expiring key");
        let at: jiff::Timestamp = key.parse().expect("an instant");
        let left = at.duration_since(jiff::Timestamp::now());
        assert!(
            left.as_hours() > 0 && left.as_hours() <= EXPIRES_IN_HOURS,
            "{left:?}"
        );
        demo.production(|c| {
            c.allowed_ip_source_ranges = vec!["198.51.100.0/24".into(), "203.0.113.16/28".into()];
        });
        for (i, edit) in EDITS.iter().enumerate() {
            let before = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            demo.edit(i);
            let after = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            assert_ne!(before, after, "edit {i} ({edit}) changed nothing");
        }
    }
}
