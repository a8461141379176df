//! Vercel's team in `perimeter demo` (the `demo` feature): the Vercel emulator seeded from
//! examples/demo/vercel-team.yaml, drifted from examples/vercel/.

use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::vercel::{Seed, VercelEmulator};

use crate::api::CloudProvider;
use crate::demo::Account;
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/vercel-team.yaml");
/// The access token the emulator accepts; the examples' Secret holds it in the demo.
const TOKEN: &str = "demo-token";
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/vercel/provider.yaml",
        include_str!("../../../examples/vercel/provider.yaml"),
    ),
    (
        "examples/vercel/firewall-web.yaml",
        include_str!("../../../examples/vercel/firewall-web.yaml"),
    ),
    (
        "examples/vercel/monitoring.yaml",
        include_str!("../../../examples/vercel/monitoring.yaml"),
    ),
];
const EDITS: &[&str] = &[
    "firewall switched off on storefront",
    "OWASP managed ruleset turned off",
    "scanner range 203.0.113.0/24 unblocked",
];

struct Demo {
    emulator: VercelEmulator,
    /// Keeps the emulator serving.
    _running: RunningEmulator,
    endpoint: String,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

async fn launch() -> Result<Demo, String> {
    let seed: Seed = serde_yaml::from_str(SEED).map_err(|e| format!("demo seed: {e}"))?;
    let emulator = VercelEmulator::new(seed);
    // Who switched the OWASP rule set off, stamped now so it is inside the attribution window.
    let when = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(4);
    emulator.mutate(|seed| {
        for project in seed.teams.iter_mut().flat_map(|t| t.projects.iter_mut()) {
            if let Some(owasp) = project.firewall.pointer_mut("/managedRules/owasp") {
                owasp["updatedAt"] = when.to_string().into();
                owasp["userId"] = "user_2f9Xq1LeeDemo".into();
                owasp["username"] = "lee".into();
            }
        }
    });
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the Vercel emulator: {e}"))?;
    let endpoint = running.base_url();
    Ok(Demo {
        emulator,
        _running: running,
        endpoint,
    })
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Vercel
    }

    fn banner(&self) -> String {
        format!(
            "Vercel emulator:     {} (seeded from examples/demo/vercel-team.yaml)",
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
        let firewall = |edit: &dyn Fn(&mut serde_json::Value)| {
            self.emulator.mutate(|seed| {
                for project in seed.teams.iter_mut().flat_map(|t| &mut t.projects) {
                    edit(&mut project.firewall);
                }
            });
        };
        match i {
            0 => firewall(&|fw| fw["firewallEnabled"] = false.into()),
            1 => firewall(&|fw| fw["managedRules"]["owasp"]["active"] = false.into()),
            2 => firewall(&|fw| {
                if let Some(ips) = fw.get_mut("ips").and_then(serde_json::Value::as_array_mut) {
                    ips.retain(|r| r["ip"] != "203.0.113.0/24");
                }
            }),
            _ => {}
        }
    }

    fn check_hint(&self) -> Option<String> {
        Some(format!(
            "PERIMETER_SECRET_VERCEL_API_TOKEN={TOKEN} cargo run -- check --manifests examples/vercel --endpoint vercel-main={}",
            self.endpoint
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every edit changes the team once the demo has enforced the examples (so a pass after it
    /// has something to find), and there is one function per description.
    #[tokio::test]
    async fn every_edit_changes_the_account() {
        let demo = launch().await.expect("the demo account starts");
        demo.emulator.mutate(|seed| {
            for project in seed.teams.iter_mut().flat_map(|t| &mut t.projects) {
                project.firewall["firewallEnabled"] = true.into();
                project.firewall["managedRules"]["owasp"]["active"] = true.into();
                project.firewall["ips"] = serde_json::json!([
                    {"hostname": "shop.example.com", "ip": "203.0.113.0/24", "action": "deny"}
                ]);
            }
        });
        for (i, edit) in EDITS.iter().enumerate() {
            let before = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            demo.edit(i);
            let after = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            assert_ne!(before, after, "edit {i} ({edit}) changed nothing");
        }
    }
}
