//! The seed document: the initial state of the emulated Vercel account, and also the shape
//! [`super::VercelEmulator::snapshot`] returns, so a snapshot can seed a new emulator.
//!
//! Firewall configurations, drains and legacy log drains are kept as JSON in the API's own
//! shapes (the official OpenAPI document's field names), so what a test seeds is what the
//! client reads.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validate;

/// Initial (or current, when taken from a snapshot) emulated state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Seed {
    /// Bearer tokens accepted. Empty means every request is refused.
    pub tokens: Vec<String>,
    /// Teams, and the token owner's personal account (`personal: true`): requests without
    /// `teamId` address the personal account.
    pub teams: Vec<Team>,
}

/// What a plan lets a team use; a write that needs more is answered 402.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Hobby,
    #[default]
    Pro,
    Enterprise,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Team {
    /// `team_…` (or the user id of a personal account); generated when empty.
    pub id: String,
    pub slug: String,
    pub name: String,
    pub personal: bool,
    pub plan: Plan,
    pub projects: Vec<Project>,
    /// `/v1/drains` objects as `getDrains` lists them.
    pub drains: Vec<Value>,
    /// Deprecated `/v1/log-drains` objects.
    pub log_drains: Vec<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Project {
    /// `prj_…`; generated when empty.
    pub id: String,
    pub name: String,
    /// The active firewall configuration as `getFirewallConfig` answers it; read-only fields
    /// (`id`, `version`, `updatedAt`, rule and IP ids, `ownerId`, `projectKey`, `changes`,
    /// `crs` defaults) are filled in when missing.
    pub firewall: Value,
    pub attack_mode: AttackMode,
    /// System-mitigation bypass entries in the PascalCase shape `getBypassIp` lists.
    pub bypass: Vec<Value>,
    /// What `getActiveAttackStatus` reports (`anomalies` items).
    pub anomalies: Vec<Value>,
    /// The aliases of its production deployment (its production domains); with none, the
    /// project has no production deployment and `getProjects` carries no `targets`.
    pub domains: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AttackMode {
    pub enabled: bool,
    /// Milliseconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_until: Option<i64>,
    pub updated_at: i64,
}

impl Seed {
    /// Checks the seed the way the API would check the same objects written through it.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        let mut ids = std::collections::BTreeSet::new();
        if self.teams.iter().filter(|t| t.personal).count() > 1 {
            problems.push("more than one personal account".to_string());
        }
        for team in &self.teams {
            if !team.id.is_empty() && !ids.insert(team.id.clone()) {
                problems.push(format!("duplicate team id {}", team.id));
            }
            for project in &team.projects {
                if !project.id.is_empty() && !ids.insert(project.id.clone()) {
                    problems.push(format!("duplicate project id {}", project.id));
                }
                if !project.firewall.is_null()
                    && let Err(e) = validate::firewall_config(&project.firewall, true)
                {
                    problems.push(format!("project {:?}: firewall: {e}", project.name));
                }
            }
            for drain in &team.drains {
                if let Err(e) = validate::drain(drain, true) {
                    problems.push(format!("team {:?}: drain: {e}", team.slug));
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
