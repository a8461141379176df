//! A provider-neutral picture of firewall and monitoring state.
//!
//! Every provider maps its own API objects into [`State`]: named sections (a ruleset,
//! a set of access rules, a group of settings), each holding items with a stable key and
//! normalised fields. Drift is then computed once, for every provider, in [`super::drift`].

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

/// How items of a section relate to each other and to undeclared items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    /// Items are evaluated in order (firewall rulesets): their relative order is part of the state.
    Ordered,
    /// Items form a set keyed by their key (access rules, alert policies, log jobs).
    Unordered,
    /// Fixed, named settings: only declared keys are compared; others are never "unmanaged".
    Settings,
    /// What must not be found at all and that no write can take away (hosts failing an
    /// endpoint check): declared empty, every observed item is drift whatever `unmanaged`
    /// says, and no change is planned for it.
    Violations,
}

/// One rule, policy, job or setting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Item {
    /// Stable identity within the section (a rule `ref`, `target:value`, a policy name).
    pub key: String,
    /// Normalised fields that are compared. Fields absent here are not compared.
    pub fields: BTreeMap<String, Value>,
    /// Provider id of an observed item (used to update or delete it); never compared.
    pub handle: Option<String>,
    /// The provider's own object for an observed item, so writes can keep fields Perimeter
    /// does not manage (for example an unmanaged rule inside a replaced ruleset); never compared.
    pub raw: Option<Value>,
}

impl Item {
    pub fn new(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            ..Self::default()
        }
    }

    pub fn field(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.fields.insert(name.to_string(), value.into());
        self
    }

    /// Adds the field only when a value is given; absent means "not compared".
    pub fn opt_field<V: Into<Value>>(mut self, name: &str, value: Option<V>) -> Self {
        if let Some(v) = value {
            self.fields.insert(name.to_string(), v.into());
        }
        self
    }

    pub fn with_handle(mut self, handle: impl Into<String>) -> Self {
        self.handle = Some(handle.into());
        self
    }

    pub fn with_raw(mut self, raw: Value) -> Self {
        self.raw = Some(raw);
        self
    }
}

/// What a section is to the provider that built it (which security group and direction, which
/// region), so that its client never parses the section's name back. Opaque to the core: the
/// diff matches sections by name and never looks at it; only the provider that set it can read
/// it ([`Locator::get`] with its own type).
#[derive(Clone)]
pub struct Locator {
    value: Arc<dyn Any + Send + Sync>,
    /// The value's `Debug` text: what `Debug` shows and `==` compares.
    text: Arc<str>,
}

impl Locator {
    pub fn new<T: Any + Send + Sync + fmt::Debug>(value: T) -> Self {
        Self {
            text: format!("{value:?}").into(),
            value: Arc::new(value),
        }
    }

    /// The value, if it is a `T` (another provider's locator is not).
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.value.downcast_ref()
    }
}

impl fmt::Debug for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Two locators are equal when they print the same: the value's type is not known here.
impl PartialEq for Locator {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// A group of items that the provider stores together.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// Name as users read it in drift paths, e.g. `wafCustomRules`.
    pub name: String,
    pub kind: SectionKind,
    pub items: Vec<Item>,
    /// Set by providers whose sections are not fixed names (one per security group, per
    /// region…); see [`Locator`].
    pub locator: Option<Locator>,
}

impl Section {
    pub fn new(name: impl Into<String>, kind: SectionKind, items: Vec<Item>) -> Self {
        Self {
            name: name.into(),
            kind,
            items,
            locator: None,
        }
    }

    pub fn with_locator(mut self, locator: Locator) -> Self {
        self.locator = Some(locator);
        self
    }

    /// The provider's locator, if this section has one of type `T`.
    pub fn locator<T: Any>(&self) -> Option<&T> {
        self.locator.as_ref().and_then(Locator::get)
    }

    pub fn get(&self, key: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.key == key)
    }
}

/// The state of one policy's scope at one provider: the declared sections only.
/// A section that is not declared is not read and not compared ("missing" is not "empty").
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    pub sections: Vec<Section>,
}

impl State {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    pub fn push(&mut self, section: Section) {
        self.sections.push(section);
    }
}

/// Checks that no two desired items of a section share a key. The CRD schema rejects
/// duplicates at admission; this catches them in `check` and demo runs, where no API server
/// validated the manifest, and after normalisation (two spellings of one CIDR).
pub fn unique_keys(
    section: &str,
    items: Vec<Item>,
) -> Result<Vec<Item>, crate::core::normalize::Invalid> {
    let mut seen = std::collections::BTreeSet::new();
    for item in &items {
        if !seen.insert(item.key.as_str()) {
            return Err(crate::core::normalize::Invalid(format!(
                "{section}: {:?} is declared twice",
                item.key
            )));
        }
    }
    Ok(items)
}

/// The finding the core itself reports: an item present at the provider but not declared.
/// Providers list their own codes in their registry [`Info`](crate::providers::registry::Info).
pub const UNMANAGED_RULE: &str = "UnmanagedRule";

/// A finding any provider reports when the account's plan does not allow what the policy
/// declares (Supabase's `entitlement: disallowed`). A policy with it is drifted for that
/// reason: its `InSync` condition carries it as the reason and the finding's message.
pub const NOT_ENTITLED: &str = "NotEntitled";

/// A finding any provider reports when a service the policy requires healthy is not
/// (Supabase's `/health`). Health is observed, never written: Enforce cannot heal a service.
pub const SERVICE_UNHEALTHY: &str = "ServiceUnhealthy";

/// A finding any provider reports when its audit log shows a change to something a policy
/// manages that Perimeter did not make (Upstash, Turso), with the actor and the time.
pub const CHANGED_OUTSIDE_PERIMETER: &str = "ChangedOutsidePerimeter";

/// A finding any provider reports for drift on a setting its API cannot write (Upstash's
/// Prometheus integration, TLS of a Qdrant hybrid-cloud cluster): the message says what a
/// person must do, and where.
pub const MANUAL_CHANGE_NEEDED: &str = "ManualChangeNeeded";

/// Findings that name drift Enforce cannot correct. A drifted policy with one of them has it
/// as its `InSync` reason (the first present, in this order), with the finding's message,
/// rather than "not yet corrected".
pub const NOT_ENFORCEABLE: [&str; 3] = [NOT_ENTITLED, SERVICE_UNHEALTHY, MANUAL_CHANGE_NEEDED];

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Mine(&'static str);

    #[test]
    fn a_locator_is_read_back_only_as_its_own_type() {
        let section = Section::new("s", SectionKind::Unordered, Vec::new())
            .with_locator(Locator::new(Mine("sg-1")));
        assert_eq!(section.locator::<Mine>(), Some(&Mine("sg-1")));
        assert!(section.locator::<String>().is_none(), "another type");
        assert!(
            Section::new("s", SectionKind::Unordered, Vec::new())
                .locator::<Mine>()
                .is_none()
        );
        // Equality and Debug go by the value's Debug text.
        assert_eq!(Locator::new(Mine("a")), Locator::new(Mine("a")));
        assert_ne!(Locator::new(Mine("a")), Locator::new(Mine("b")));
        assert_eq!(format!("{:?}", Locator::new(Mine("a"))), r#"Mine("a")"#);
    }
}
