//! Supabase Management API: a project's database network restrictions (replaced whole by
//! `/network-restrictions/apply`), database SSL enforcement, the Auth server's rate limits,
//! network bans (read only) and service health (read only).

pub mod api;
pub mod model;

pub use model::{firewall_target, monitoring_target};
