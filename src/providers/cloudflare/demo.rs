//! Cloudflare's account in `perimeter demo` (the `demo` feature): the Cloudflare emulator seeded
//! from examples/demo/cloudflare-account.yaml, drifted from examples/cloudflare/.

use perimeter_emulators::cloudflare::{CloudflareEmulator, Seed};
use perimeter_emulators::server::RunningEmulator;

use crate::api::CloudProvider;
use crate::demo::Account;
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/cloudflare-account.yaml");
/// The API token the emulator accepts; the examples' Secret holds it in the demo.
const TOKEN: &str = "demo-token";
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/cloudflare/provider.yaml",
        include_str!("../../../examples/cloudflare/provider.yaml"),
    ),
    (
        "examples/cloudflare/firewall-edge.yaml",
        include_str!("../../../examples/cloudflare/firewall-edge.yaml"),
    ),
    (
        "examples/cloudflare/firewall-access.yaml",
        include_str!("../../../examples/cloudflare/firewall-access.yaml"),
    ),
    (
        "examples/cloudflare/monitoring.yaml",
        include_str!("../../../examples/cloudflare/monitoring.yaml"),
    ),
];
const EDITS: &[&str] = &[
    "WAF rule block-known-scanners disabled",
    "security level lowered to essentially_off",
    "abuse ASN AS64496 unblocked",
];

struct Demo {
    emulator: CloudflareEmulator,
    /// Keeps the emulator serving.
    _running: RunningEmulator,
    /// Its API root, `…/client/v4`.
    endpoint: String,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

async fn launch() -> Result<Demo, String> {
    let seed: Seed = serde_yaml::from_str(SEED).map_err(|e| format!("demo seed: {e}"))?;
    let emulator = CloudflareEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the Cloudflare emulator: {e}"))?;
    let endpoint = format!("{}/client/v4", running.base_url());
    Ok(Demo {
        emulator,
        _running: running,
        endpoint,
    })
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Cloudflare
    }

    fn banner(&self) -> String {
        format!(
            "Cloudflare emulator: {} (seeded from examples/demo/cloudflare-account.yaml)",
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
            0 => self.emulator.mutate(waf_rule_disabled),
            1 => self.emulator.mutate(|seed| {
                for zone in &mut seed.zones {
                    zone.settings.insert(
                        "security_level".into(),
                        serde_json::Value::from("essentially_off"),
                    );
                }
            }),
            2 => self.emulator.mutate(|seed| {
                for zone in &mut seed.zones {
                    zone.access_rules
                        .retain(|r| r.configuration.value != "AS64496");
                }
            }),
            _ => {}
        }
    }

    fn check_hint(&self) -> Option<String> {
        Some(format!(
            "PERIMETER_SECRET_CLOUDFLARE_API_TOKEN={TOKEN} cargo run -- check --manifests examples/cloudflare --endpoint cloudflare-main={}",
            self.endpoint
        ))
    }
}

/// The first dashboard edit: the scanner-blocking WAF rule switched off.
fn waf_rule_disabled(seed: &mut Seed) {
    for zone in &mut seed.zones {
        for rs in zone.rulesets.values_mut() {
            for rule in rs
                .rules
                .iter_mut()
                .filter(|r| r.reference.as_deref() == Some("block-known-scanners"))
            {
                rule.enabled = Some(false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every edit changes the account (so a pass after it has something to find), and there
    /// is one function per description.
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
