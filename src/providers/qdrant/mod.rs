//! Qdrant Cloud management API (`https://api.cloud.qdrant.io`, the REST/JSON gateway of the
//! gRPC services): a cluster's IP allowlist (written only through `UpdateCluster` with an
//! update mask), its TLS, its database API keys' expiry and its built-in alerts.
//!
//! This first slice holds the policy blocks and the pure model; the client comes next.

pub mod api;
pub mod model;

pub use model::{firewall_target, monitoring_target};
