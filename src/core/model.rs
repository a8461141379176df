//! A provider-neutral picture of firewall and monitoring state.
//!
//! Every provider maps its own API objects into [`State`]: named sections (a ruleset,
//! a set of access rules, a group of settings), each holding items with a stable key and
//! normalised fields. Drift is then computed once, for every provider, in [`super::drift`].

use std::collections::BTreeMap;

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

/// A group of items that the provider stores together.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// Name as users read it in drift paths, e.g. `wafCustomRules`.
    pub name: String,
    pub kind: SectionKind,
    pub items: Vec<Item>,
}

impl Section {
    pub fn new(name: impl Into<String>, kind: SectionKind, items: Vec<Item>) -> Self {
        Self {
            name: name.into(),
            kind,
            items,
        }
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
