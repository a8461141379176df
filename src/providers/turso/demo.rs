//! Turso's organisation in `perimeter demo` (the `demo` feature): the Turso emulator seeded
//! from examples/demo/turso-organisation.yaml, drifted from examples/turso/.

use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::turso::{Database, Seed, TursoEmulator};

use crate::api::CloudProvider;
use crate::demo::Account;
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/turso-organisation.yaml");
/// The platform API token the emulator accepts; the examples' Secret holds it in the demo.
const TOKEN: &str = "turso_demo_token";
const ORDERS: &str = "orders";
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/turso/provider.yaml",
        include_str!("../../../examples/turso/provider.yaml"),
    ),
    (
        "examples/turso/addressset-compute-egress.yaml",
        include_str!("../../../examples/turso/addressset-compute-egress.yaml"),
    ),
    (
        "examples/turso/firewall-orders.yaml",
        include_str!("../../../examples/turso/firewall-orders.yaml"),
    ),
    (
        "examples/turso/firewall-analytics.yaml",
        include_str!("../../../examples/turso/firewall-analytics.yaml"),
    ),
    (
        "examples/turso/monitoring.yaml",
        include_str!("../../../examples/turso/monitoring.yaml"),
    ),
];
const EDITS: &[&str] = &[
    "orders delete protection switched off",
    "orders reopened to 0.0.0.0/0",
];

struct Demo {
    emulator: TursoEmulator,
    /// Keeps the emulator serving.
    _running: RunningEmulator,
    endpoint: String,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

/// The seed with its audit entries moved to the hours before `now` (newest last in the file,
/// an hour apart), so they fall inside the client's audit window whenever the demo runs.
fn seed_at(now: jiff::Timestamp) -> Result<Seed, String> {
    let mut seed: Seed = serde_yaml::from_str(SEED).map_err(|e| format!("demo seed: {e}"))?;
    for org in &mut seed.organizations {
        let count = org.audit_logs.len() as i64;
        for (i, entry) in org.audit_logs.iter_mut().enumerate() {
            let at = now
                .checked_sub(jiff::SignedDuration::from_hours(count - i as i64))
                .map_err(|e| format!("demo seed: {e}"))?;
            entry.created_at = at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        }
    }
    seed.validate().map_err(|e| format!("demo seed: {e}"))?;
    Ok(seed)
}

async fn launch() -> Result<Demo, String> {
    let emulator = TursoEmulator::new(seed_at(jiff::Timestamp::now())?);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the Turso emulator: {e}"))?;
    let endpoint = running.base_url();
    Ok(Demo {
        emulator,
        _running: running,
        endpoint,
    })
}

impl Demo {
    fn orders(&self, edit: impl FnOnce(&mut Database)) {
        self.emulator.mutate(|seed| {
            if let Some(db) = seed
                .organizations
                .iter_mut()
                .flat_map(|o| o.databases.iter_mut())
                .find(|d| d.name == ORDERS)
            {
                edit(db);
            }
        });
    }
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Turso
    }

    fn banner(&self) -> String {
        format!(
            "Turso emulator:      {} (seeded from examples/demo/turso-organisation.yaml)",
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
        crate::demo::wire_token(provider, TOKEN, &self.endpoint, credentials, options);
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
            0 => self.orders(|d| d.delete_protection = false),
            1 => self.orders(|d| d.allowed_ips = vec!["0.0.0.0/0".into()]),
            _ => {}
        }
    }

    fn check_hint(&self) -> Option<String> {
        Some(format!(
            "PERIMETER_SECRET_TURSO_API_TOKEN={TOKEN} cargo run -- check --manifests examples/turso --endpoint turso-main={}",
            self.endpoint
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The demo's audit entries fall inside the client's audit window, in the file's order.
    #[test]
    fn audit_entries_are_moved_into_the_window() {
        let now: jiff::Timestamp = "2026-11-29T12:00:00Z".parse().expect("instant");
        let seed = seed_at(now).expect("seed");
        let times: Vec<&str> = seed.organizations[0]
            .audit_logs
            .iter()
            .map(|e| e.created_at.as_str())
            .collect();
        assert_eq!(times, ["2026-11-29T10:00:00Z", "2026-11-29T11:00:00Z"]);
    }

    /// Every edit changes the organisation (so a pass after it has something to find). The
    /// edits come after Enforce, so each is checked on a database already brought in line.
    #[tokio::test]
    async fn every_edit_changes_the_account() {
        let demo = launch().await.expect("the demo account starts");
        demo.orders(|d| {
            d.delete_protection = true;
            d.allowed_ips = vec!["203.0.113.16/28".into()];
        });
        for (i, edit) in EDITS.iter().enumerate() {
            let before = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            demo.edit(i);
            let after = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            assert_ne!(before, after, "edit {i} ({edit}) changed nothing");
        }
    }

    /// The examples' `turso` block (`spec.turso`) of each policy manifest, by file.
    fn example_blocks() -> Vec<(&'static str, serde_json::Value)> {
        EXAMPLES
            .iter()
            .filter_map(|(path, text)| {
                let doc = crate::manifests::yaml_to_json(text).expect("example parses");
                let block = doc.get("spec")?.get("turso")?.clone();
                Some((*path, block))
            })
            .collect()
    }

    /// The demo account drifts from the examples the way the seed says: orders open to
    /// 0.0.0.0/0 and unprotected (and unprotected by mallory, outside Perimeter), analytics
    /// with a leftover address rule, scratch open and undeclared, an unrestricted token.
    #[tokio::test]
    async fn the_seed_drifts_from_the_examples() {
        use crate::api::{Mode, UnmanagedPolicy};
        use crate::http::HttpSettings;
        use crate::providers::turso::api::{TursoFirewall, TursoMonitoring};
        use crate::providers::turso::{Turso, firewall_target, monitoring_target};
        use crate::reconcile::sync;

        let demo = launch().await.expect("the demo account starts");
        let client = Turso::with_settings(
            HttpSettings::new("turso", demo.endpoint.clone()),
            Some("acme-shop".into()),
            crate::secret::SecretString::new(TOKEN),
            None,
        )
        .expect("client");
        // The declared address sets of the examples, as local mode resolves them.
        let declared = EXAMPLES
            .iter()
            .filter_map(|(_, text)| {
                let doc = crate::manifests::yaml_to_json(text).expect("example parses");
                let set: crate::api::AddressSet = serde_json::from_value(doc).ok()?;
                let addresses = set.spec.addresses.as_deref()?;
                let addresses =
                    crate::core::addresses::normalise("spec.addresses", addresses).ok()?;
                Some((
                    set.metadata.name.unwrap_or_default(),
                    crate::core::addresses::SetState::ready(addresses),
                ))
            })
            .collect();
        let mut sets = crate::core::addresses::Resolver::new("perimeter", declared);
        let mut seen = Vec::new();
        for (path, block) in example_blocks() {
            let target = if path.contains("monitoring") {
                let mon: TursoMonitoring = serde_json::from_value(block).expect("block");
                monitoring_target(&mon).expect("target")
            } else {
                let fw: TursoFirewall = serde_json::from_value(block).expect("block");
                let fw = crate::providers::turso::model::with_address_sets(&fw, &mut sets)
                    .expect("the example's sets");
                firewall_target(&fw).expect("target")
            };
            let out = sync(&client, &target, Mode::Observe, UnmanagedPolicy::Report).await;
            assert!(out.error.is_none(), "{path}: {:?}", out.error);
            let drift: Vec<String> = out
                .remaining
                .iter()
                .flat_map(|d| d.drift.iter().map(|x| x.path.clone()))
                .collect();
            let findings: Vec<String> = out
                .findings
                .iter()
                .map(|f| format!("{} {}", f.code, f.subject))
                .collect();
            seen.push((path, drift, findings));
        }
        let want = [
            (
                "examples/turso/firewall-orders.yaml",
                vec![
                    "configuration[allowedIps]",
                    "configuration[deleteProtection]",
                ],
                vec!["ChangedOutsidePerimeter databases[orders]"],
            ),
            (
                "examples/turso/firewall-analytics.yaml",
                vec!["configuration[allowedIps]"],
                vec![],
            ),
            (
                "examples/turso/monitoring.yaml",
                vec![],
                vec![
                    "NetworkOpen databases[orders]",
                    "NetworkOpen databases[scratch]",
                    "ApiTokenUnscoped apiTokens[laptop]",
                ],
            ),
        ];
        assert_eq!(seen.len(), want.len());
        for ((path, drift, findings), (want_path, want_drift, want_findings)) in
            seen.iter().zip(want)
        {
            assert_eq!(*path, want_path);
            assert_eq!(drift, &want_drift, "{path}");
            assert_eq!(findings, &want_findings, "{path}");
        }
        assert_eq!(demo.writes(), 0, "Observe writes nothing");
    }
}
