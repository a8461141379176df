//! Perimeter: firewall and network-monitoring state of every provider, declared as
//! Kubernetes resources, checked continuously and enforced where asked.
//!
//! - [`api`]: the custom resource types (generated CRDs live in `crds/`).
//! - [`core`]: the pure model, drift computation and plan; no I/O.
//! - [`providers`]: one module per provider behind one trait; [`http`] is their shared HTTP layer.
//! - [`reconcile`]: one sync of one policy as a pipeline, used by the operator, `check` and `demo`.
//! - [`controller`]: the Kubernetes controllers around that pipeline (status, Events, finalizers).
//! - [`metrics`]: the Prometheus series and the `/metrics` server.

pub mod api;
pub mod compliance;
pub mod core;
pub mod error;
pub mod http;
pub mod metrics;
pub mod secret;

pub use error::{Category, Error, ProviderError};
pub use metrics::Metrics;
pub use secret::SecretString;
pub mod addressset;
pub mod controller;
/// Not in the operator image: built with the `demo` feature only.
#[cfg(feature = "demo")]
pub mod demo;
pub mod inventory;
pub mod local;
pub mod manifests;
pub mod memory;
pub mod providers;
pub mod reconcile;
pub mod report;
pub mod status;
pub mod trust;
pub mod yaml;
