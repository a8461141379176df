//! The pure core: the provider-neutral model, normalisation and the diff.
//! No HTTP, no Kubernetes, no clock — everything here is tested with tables.

pub mod addresses;
pub mod attribution;
pub mod drift;
pub mod hostnames;
pub mod inventory;
pub mod model;
pub mod normalize;
pub mod routing;

pub use drift::{Change, Diff, Drift, DriftKind, Undeclared, cleanup, diff};
pub use model::{Item, Locator, Section, SectionKind, State};
