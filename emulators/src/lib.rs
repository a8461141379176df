//! Stateful local emulators of provider APIs, used by tests and by `perimeter demo`.
//!
//! Production code paths never talk to these: they exist so the operator can be exercised end to
//! end (including retries, throttling and malformed answers) without real provider accounts.
//!
//! Layout: one module per provider ([`aws`], [`cloudflare`], [`gcp`], [`supabase`], [`slack`], …), each a stateful axum app
//! seeded from a serde document (YAML or JSON) and inspectable from tests. Every provider shares
//! [`faults`] (fault injection as an axum middleware) and [`server`] (binding a port, the request
//! log, timestamps and deterministic ids), so a new provider is a sibling module that builds its
//! router and hands it to [`server::instrument`] and [`server::serve`]. AWS is the exception to
//! the middleware: its four wire protocols share one port, so it dispatches, logs and injects
//! faults itself, answering each in the protocol's own error shape (XML, CBOR or JSON).

pub mod aws;
pub mod betterstack;
pub mod cloudflare;
pub mod faults;
pub mod fleet;
pub mod gcp;
pub mod qdrant;
pub mod server;
pub mod slack;
pub mod supabase;
pub mod triggerdev;
pub mod turso;
pub mod upstash;
pub mod vercel;
