//! Upstash Developer API (`https://api.upstash.com/v2`, HTTP Basic with the account e-mail and
//! a Developer API key): one Redis database's IP allowlist, TLS, security add-ons and
//! Prometheus integration, and the account's audit log.
//!
//! The allowlist write (`POST /redis/update-allowlist/{id}`) and its read-back
//! (`allowed_ip_ranges`) are not in Upstash's official OpenAPI document; Upstash's own Terraform
//! provider uses them.

pub mod api;
pub mod model;
