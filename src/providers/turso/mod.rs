//! Turso Platform API (`https://api.turso.tech`): a database's access allow rules and delete
//! protection (its configuration, read and written whole per declared setting), and what the
//! organisation's database list, audit log and API tokens show (read only).

pub mod api;
pub mod model;

pub use model::{firewall_target, monitoring_target};
