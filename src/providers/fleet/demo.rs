//! The Fleet server in `perimeter demo` (the `demo` feature): the Fleet emulator seeded from
//! examples/demo/fleet-server.yaml (250 hosts), drifted from examples/fleet/.

use perimeter_emulators::fleet::{FleetEmulator, Host, Seed};
use perimeter_emulators::server::RunningEmulator;
use serde::Deserialize;

use super::queries;
use crate::api::CloudProvider;
use crate::demo::Account;
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/fleet-server.yaml");
/// The API token the emulator accepts; the examples' Secret holds it in the demo.
const TOKEN: &str = "fleet-demo-api-token";
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/fleet/provider.yaml",
        include_str!("../../../examples/fleet/provider.yaml"),
    ),
    (
        "examples/fleet/firewall-endpoints.yaml",
        include_str!("../../../examples/fleet/firewall-endpoints.yaml"),
    ),
    (
        "examples/fleet/monitoring.yaml",
        include_str!("../../../examples/fleet/monitoring.yaml"),
    ),
];
const EDITS: &[&str] = &[
    "mac-042's application firewall switched off",
    "the Linux firewall policy deleted in Fleet's UI",
];
const LINUX_POLICY: &str = "Perimeter: Linux host firewall";

/// Healthy hosts the seed file describes by count rather than one by one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Generated {
    prefix: String,
    count: u64,
    platform: String,
    #[serde(default)]
    team_id: Option<u64>,
}

/// The seed file: the emulator's seed, plus `generatedHosts`; a policy whose query is empty
/// gets Perimeter's own query.
fn seed() -> Result<Seed, String> {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(SEED).map_err(|e| format!("demo seed: {e}"))?;
    let generated = match doc.as_mapping_mut() {
        Some(m) => m.remove("generatedHosts"),
        None => None,
    };
    let generated: Vec<Generated> = match generated {
        Some(v) => serde_yaml::from_value(v).map_err(|e| format!("demo seed: {e}"))?,
        None => Vec::new(),
    };
    let mut seed: Seed = serde_yaml::from_value(doc).map_err(|e| format!("demo seed: {e}"))?;
    for p in &mut seed.policies {
        if p.query.is_empty() {
            let check = queries::by_name(&p.name)
                .ok_or_else(|| format!("demo seed: {:?} has no query", p.name))?;
            p.query = check.query.to_string();
        }
    }
    let mut id = seed.hosts.iter().map(|h| h.id).max().unwrap_or(0);
    for g in generated {
        for i in 1..=g.count {
            id += 1;
            seed.hosts.push(Host {
                id,
                hostname: format!("{}-{i:03}", g.prefix),
                display_name: String::new(),
                hardware_serial: format!("SN{id:08}"),
                platform: g.platform.clone(),
                team_id: g.team_id,
                // Spread over the last half hour, as agents check in.
                seen_minutes_ago: i % 30,
                failing: Vec::new(),
            });
        }
    }
    Ok(seed)
}

struct Demo {
    emulator: FleetEmulator,
    /// Keeps the emulator serving.
    _running: RunningEmulator,
    endpoint: String,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

async fn launch() -> Result<Demo, String> {
    let emulator = FleetEmulator::new(seed()?);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the Fleet emulator: {e}"))?;
    let endpoint = running.base_url();
    Ok(Demo {
        emulator,
        _running: running,
        endpoint,
    })
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Fleet
    }

    fn banner(&self) -> String {
        format!(
            "Fleet emulator:      {} (seeded from examples/demo/fleet-server.yaml)",
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
        // The endpoint given here is the admin's (as `--endpoint` is), so the emulator's
        // loopback host is allowed for this account only.
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
            0 => self.emulator.mutate(|seed| {
                if let Some(h) = seed.hosts.iter_mut().find(|h| h.hostname == "mac-042") {
                    h.failing.push("Perimeter: macOS host firewall".into());
                }
            }),
            1 => self.emulator.console_delete(
                ("Sam Okafor", "sam.okafor@example.com"),
                LINUX_POLICY,
                None,
            ),
            _ => {}
        }
    }

    fn check_hint(&self) -> Option<String> {
        Some(format!(
            "PERIMETER_SECRET_FLEET_API_TOKEN={TOKEN} cargo run -- check --manifests examples/fleet --endpoint fleet-corp={}",
            self.endpoint
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 250 hosts, two of them failing; the Windows and Linux policies carry Perimeter's query
    /// and the macOS one the edited query (the drift the demo shows).
    #[test]
    fn the_seed_has_250_hosts_two_failing() {
        let seed = seed().expect("seed");
        assert_eq!(seed.hosts.len(), 250);
        let failing: Vec<&str> = seed
            .hosts
            .iter()
            .filter(|h| !h.failing.is_empty())
            .map(|h| h.hostname.as_str())
            .collect();
        assert_eq!(failing, ["kiosk-lobby", "fin-laptop-07"]);
        let mut names: Vec<&str> = seed.hosts.iter().map(|h| h.hostname.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 250, "host names are unique");
        for p in &seed.policies {
            match queries::by_name(&p.name) {
                Some(c) if c.platform == super::super::api::Platform::Macos => {
                    assert_ne!(p.query, c.query)
                }
                Some(c) => assert_eq!(p.query, c.query),
                None => assert!(!p.name.starts_with("Perimeter: ")),
            }
        }
    }

    /// Every edit changes the server (so a pass after it has something to find).
    #[tokio::test]
    async fn every_edit_changes_the_account() {
        let demo = launch().await.expect("the demo account starts");
        for (i, edit) in EDITS.iter().enumerate() {
            let before = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            demo.edit(i);
            let after = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            assert_ne!(before, after, "edit {i} ({edit}) changed nothing");
        }
    }
}
