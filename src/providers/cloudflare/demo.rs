//! Cloudflare's account in `perimeter demo` (the `demo` feature): the Cloudflare emulator seeded
//! from examples/demo/cloudflare-account.yaml, drifted from examples/cloudflare/.

use perimeter_emulators::cloudflare::{AuditLog, CloudflareEmulator, Seed, Zone, dashboard_change};
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
    // Stamped now, so the seeded drift's dashboard edits are inside the audit log's window.
    emulator.mutate(|seed| {
        let history = seeded_history(seed);
        if let Some(account) = seed.accounts.first_mut() {
            account.audit_logs.extend(history);
        }
    });
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
            0 => self.emulator.mutate(|seed| {
                waf_rule_disabled(seed);
                let entries: Vec<AuditLog> = seed
                    .zones
                    .iter()
                    .map(|z| ruleset_change(z, "http_request_firewall_custom", EDITOR, 0))
                    .collect();
                log(seed, entries);
            }),
            1 => self.emulator.mutate(|seed| {
                let mut entries = Vec::new();
                for zone in &mut seed.zones {
                    zone.settings.insert(
                        "security_level".into(),
                        serde_json::Value::from("essentially_off"),
                    );
                    entries.push(setting_change(zone, "security_level", EDITOR, 0));
                }
                log(seed, entries);
            }),
            2 => self.emulator.mutate(|seed| {
                let mut entries = Vec::new();
                for zone in &mut seed.zones {
                    zone.access_rules
                        .retain(|r| r.configuration.value != "AS64496");
                    entries.push(access_rule_change(zone, "rule_delete", EDITOR, 0));
                }
                log(seed, entries);
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

/// Who makes the demo's dashboard edits between passes.
const EDITOR: &str = "dana@example.com";

/// The audit log behind the seeded drift (see examples/demo/cloudflare-account.yaml): who
/// weakened what in the dashboard, and when. TLS 1.0 was never changed (it is the default) and
/// the office range was never added, so those stay unattributed, as they are.
fn seeded_history(seed: &Seed) -> Vec<AuditLog> {
    const HOUR: i64 = 3600;
    let Some(zone) = seed.zones.iter().find(|z| z.name == "example.com") else {
        return Vec::new();
    };
    vec![
        ruleset_change(
            zone,
            "http_request_firewall_custom",
            "oncall-sre@example.com",
            3 * 24 * HOUR,
        ),
        ruleset_change(zone, "http_ratelimit", "dana@example.com", 2 * 24 * HOUR),
        setting_change(zone, "ssl", "dana@example.com", 26 * HOUR),
        access_rule_change(zone, "rule_update", "marc@example.com", 5 * HOUR),
    ]
}

fn log(seed: &mut Seed, entries: Vec<AuditLog>) {
    if let Some(account) = seed.accounts.first_mut() {
        account.audit_logs.extend(entries);
    }
}

fn zone_metadata(zone: &Zone) -> serde_json::Value {
    serde_json::json!({ "zone_name": zone.name })
}

fn ruleset_change(zone: &Zone, phase: &str, who: &str, seconds_ago: i64) -> AuditLog {
    let id = zone
        .rulesets
        .get(phase)
        .and_then(|r| r.id.clone())
        .unwrap_or_default();
    let mut metadata = zone_metadata(zone);
    metadata["phase"] = phase.into();
    dashboard_change(who, "update", ("ruleset", &id), metadata, seconds_ago)
}

fn setting_change(zone: &Zone, setting: &str, who: &str, seconds_ago: i64) -> AuditLog {
    let mut metadata = zone_metadata(zone);
    metadata["name"] = setting.into();
    if let Some(value) = zone.settings.get(setting) {
        metadata["value"] = value.clone();
    }
    dashboard_change(
        who,
        "change_setting",
        ("zone", &zone.id),
        metadata,
        seconds_ago,
    )
}

fn access_rule_change(zone: &Zone, action: &str, who: &str, seconds_ago: i64) -> AuditLog {
    dashboard_change(
        who,
        action,
        ("firewall.access_rule", ""),
        zone_metadata(zone),
        seconds_ago,
    )
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
