//! Supabase's organisation in `perimeter demo` (the `demo` feature): the Supabase emulator
//! seeded from examples/demo/supabase-organisation.yaml, drifted from examples/supabase/.

use perimeter_emulators::server::RunningEmulator;
use perimeter_emulators::supabase::{Seed, SupabaseEmulator};

use crate::api::CloudProvider;
use crate::demo::Account;
use crate::local::{CredentialSource, Options};

const SEED: &str = include_str!("../../../examples/demo/supabase-organisation.yaml");
/// The access token the emulator accepts; the examples' Secret holds it in the demo.
const TOKEN: &str = "sbp_demo_token";
const PRODUCTION: &str = "shopprodxqzkvbnmlrtw";
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/supabase/provider.yaml",
        include_str!("../../../examples/supabase/provider.yaml"),
    ),
    (
        "examples/supabase/firewall-database.yaml",
        include_str!("../../../examples/supabase/firewall-database.yaml"),
    ),
    (
        "examples/supabase/firewall-analytics.yaml",
        include_str!("../../../examples/supabase/firewall-analytics.yaml"),
    ),
    (
        "examples/supabase/monitoring.yaml",
        include_str!("../../../examples/supabase/monitoring.yaml"),
    ),
];
const EDITS: &[&str] = &[
    "shop-prod SSL enforcement switched off",
    "shop-prod database reopened to 0.0.0.0/0",
    "shop-prod e-mail rate limit raised to 1000",
];

struct Demo {
    emulator: SupabaseEmulator,
    /// Keeps the emulator serving.
    _running: RunningEmulator,
    endpoint: String,
}

pub async fn start() -> Result<Box<dyn Account>, String> {
    Ok(Box::new(launch().await?))
}

async fn launch() -> Result<Demo, String> {
    let seed: Seed = serde_yaml::from_str(SEED).map_err(|e| format!("demo seed: {e}"))?;
    seed.validate().map_err(|e| format!("demo seed: {e}"))?;
    let emulator = SupabaseEmulator::new(seed);
    let running = emulator
        .start("127.0.0.1:0")
        .await
        .map_err(|e| format!("starting the Supabase emulator: {e}"))?;
    let endpoint = running.base_url();
    Ok(Demo {
        emulator,
        _running: running,
        endpoint,
    })
}

impl Demo {
    fn production(&self, edit: impl FnOnce(&mut perimeter_emulators::supabase::Project)) {
        self.emulator.mutate(|seed| {
            if let Some(p) = seed
                .projects
                .iter_mut()
                .find(|p| p.project_ref == PRODUCTION)
            {
                edit(p);
            }
        });
    }
}

impl Account for Demo {
    fn provider_type(&self) -> crate::api::ProviderType {
        crate::api::ProviderType::Supabase
    }

    fn banner(&self) -> String {
        format!(
            "Supabase emulator:   {} (seeded from examples/demo/supabase-organisation.yaml)",
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

    /// Bans are read with a POST (the API's choice): not a write.
    fn writes(&self) -> usize {
        self.emulator
            .log()
            .writes()
            .iter()
            .filter(|w| !w.path.ends_with("/network-bans/retrieve"))
            .count()
    }

    fn edits(&self) -> &'static [&'static str] {
        EDITS
    }

    fn edit(&self, i: usize) {
        match i {
            0 => self.production(|p| p.ssl_enforced = false),
            1 => self.production(|p| p.db_allowed_cidrs = vec!["0.0.0.0/0".into()]),
            2 => self.production(|p| {
                p.auth.insert("rate_limit_email_sent".into(), Some(1000));
            }),
            _ => {}
        }
    }

    fn check_hint(&self) -> Option<String> {
        Some(format!(
            "PERIMETER_SECRET_SUPABASE_API_TOKEN={TOKEN} cargo run -- check --manifests examples/supabase --endpoint supabase-main={}",
            self.endpoint
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every edit changes the organisation (so a pass after it has something to find), and
    /// there is one function per description. The edits come after Enforce, so each is
    /// checked on a project already brought in line.
    #[tokio::test]
    async fn every_edit_changes_the_account() {
        let demo = launch().await.expect("the demo account starts");
        demo.production(|p| {
            p.ssl_enforced = true;
            p.db_allowed_cidrs = vec!["198.51.100.0/24".into()];
            p.auth.insert("rate_limit_email_sent".into(), Some(30));
        });
        for (i, edit) in EDITS.iter().enumerate() {
            let before = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            demo.edit(i);
            let after = serde_json::to_value(demo.emulator.snapshot()).expect("json");
            assert_ne!(before, after, "edit {i} ({edit}) changed nothing");
        }
    }
}
