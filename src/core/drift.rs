//! The pure diff: (desired, observed) → drift entries and an ordered plan of changes.

use std::collections::BTreeSet;

use serde_json::Value;

use super::model::{Item, Section, SectionKind, State};

/// What undeclared items at the provider are: left alone and listed, or drift to remove.
/// (The policy field `unmanaged: Report | Remove`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Undeclared {
    #[default]
    Report,
    Remove,
}

/// What kind of difference a drift entry describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DriftKind {
    /// Declared but absent at the provider.
    Missing,
    /// Present at both, with a different value.
    Changed,
    /// Present at the provider, not declared, and the policy says undeclared items are drift.
    Unexpected,
    /// Declared rules are all present, in another evaluation order.
    Order,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "Missing",
            Self::Changed => "Changed",
            Self::Unexpected => "Unexpected",
            Self::Order => "Order",
        }
    }
}

/// One drifted field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// e.g. `wafCustomRules[block-admin].action`, `settings[ssl]`, `ipAccessRules[ip:192.0.2.1]`.
    pub path: String,
    pub kind: DriftKind,
    pub desired: Option<String>,
    pub observed: Option<String>,
}

/// One change to make at the provider. Providers turn these into API calls; a section
/// replaced as a whole (a ruleset) is written once whatever the number of changes in it.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Create {
        section: String,
        key: String,
    },
    Update {
        section: String,
        key: String,
        fields: Vec<String>,
    },
    Delete {
        section: String,
        key: String,
    },
    Reorder {
        section: String,
    },
}

impl Change {
    pub fn section(&self) -> &str {
        match self {
            Self::Create { section, .. }
            | Self::Update { section, .. }
            | Self::Delete { section, .. }
            | Self::Reorder { section } => section,
        }
    }

    /// A short, secret-free description for status and logs.
    pub fn describe(&self) -> String {
        match self {
            Self::Create { section, key } => format!("create {section}[{key}]"),
            Self::Update {
                section,
                key,
                fields,
            } => format!("update {section}[{key}] ({})", fields.join(", ")),
            Self::Delete { section, key } => format!("delete {section}[{key}]"),
            Self::Reorder { section } => format!("reorder {section}"),
        }
    }
}

/// The outcome of comparing one policy's desired and observed state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diff {
    pub drift: Vec<Drift>,
    /// Ordered so that protection is added before anything is taken away:
    /// creates and updates first, deletes last.
    pub plan: Vec<Change>,
    /// Declared items found at the provider.
    pub managed: u32,
    /// Undeclared items found at the provider, as `section[key]`.
    pub unmanaged: Vec<String>,
}

impl Diff {
    pub fn in_sync(&self) -> bool {
        self.drift.is_empty()
    }
}

/// Compares the declared sections of `desired` with what was observed.
/// A desired section absent from `observed` is treated as empty at the provider.
pub fn diff(desired: &State, observed: &State, unmanaged: Undeclared) -> Diff {
    let mut out = Diff::default();
    let mut deletes = Vec::new();
    let empty = Section::new("", SectionKind::Unordered, Vec::new());
    for want in &desired.sections {
        let have = observed.section(&want.name).unwrap_or(&empty);
        diff_section(want, have, unmanaged, &mut out, &mut deletes);
    }
    out.plan.extend(deletes);
    out
}

fn diff_section(
    want: &Section,
    have: &Section,
    unmanaged: Undeclared,
    out: &mut Diff,
    deletes: &mut Vec<Change>,
) {
    let name = &want.name;
    let declared: BTreeSet<&str> = want.items.iter().map(|i| i.key.as_str()).collect();
    for item in &want.items {
        let path = format!("{name}[{}]", item.key);
        match have.get(&item.key) {
            None => {
                out.drift.push(Drift {
                    path,
                    kind: DriftKind::Missing,
                    desired: Some(render_item(item)),
                    observed: None,
                });
                out.plan.push(Change::Create {
                    section: name.clone(),
                    key: item.key.clone(),
                });
            }
            Some(seen) => {
                out.managed += 1;
                let changed = diff_fields(&path, item, seen, want.kind, &mut out.drift);
                if !changed.is_empty() {
                    out.plan.push(Change::Update {
                        section: name.clone(),
                        key: item.key.clone(),
                        fields: changed,
                    });
                }
            }
        }
    }
    if want.kind == SectionKind::Settings {
        return;
    }
    if want.kind == SectionKind::Violations {
        for seen in have
            .items
            .iter()
            .filter(|i| !declared.contains(i.key.as_str()))
        {
            out.drift.push(Drift {
                path: format!("{name}[{}]", seen.key),
                kind: DriftKind::Unexpected,
                desired: None,
                observed: Some(render_item(seen)),
            });
        }
        return;
    }
    let mut removed = BTreeSet::new();
    for seen in have
        .items
        .iter()
        .filter(|i| !declared.contains(i.key.as_str()))
    {
        match unmanaged {
            Undeclared::Report => out.unmanaged.push(format!("{name}[{}]", seen.key)),
            Undeclared::Remove => {
                out.drift.push(Drift {
                    path: format!("{name}[{}]", seen.key),
                    kind: DriftKind::Unexpected,
                    desired: None,
                    observed: Some(render_item(seen)),
                });
                deletes.push(Change::Delete {
                    section: name.clone(),
                    key: seen.key.clone(),
                });
                removed.insert(seen.key.as_str());
            }
        }
    }
    if want.kind == SectionKind::Ordered {
        let desired_order: Vec<&str> = want
            .items
            .iter()
            .map(|i| i.key.as_str())
            .filter(|k| have.get(k).is_some())
            .collect();
        let observed_order: Vec<&str> = have
            .items
            .iter()
            .map(|i| i.key.as_str())
            .filter(|k| declared.contains(k))
            .collect();
        if desired_order != observed_order {
            out.drift.push(Drift {
                path: format!("{name}.order"),
                kind: DriftKind::Order,
                desired: Some(desired_order.join(", ")),
                observed: Some(observed_order.join(", ")),
            });
            out.plan.push(Change::Reorder {
                section: name.clone(),
            });
        }
    }
}

/// Compares the fields the desired item declares; returns the names of those that differ.
fn diff_fields(
    path: &str,
    want: &Item,
    have: &Item,
    kind: SectionKind,
    drift: &mut Vec<Drift>,
) -> Vec<String> {
    let mut changed = Vec::new();
    for (field, value) in &want.fields {
        let seen = have.fields.get(field);
        if seen == Some(value) {
            continue;
        }
        let field_path = if kind == SectionKind::Settings && field == "value" {
            path.to_string()
        } else {
            format!("{path}.{field}")
        };
        drift.push(Drift {
            path: field_path,
            kind: DriftKind::Changed,
            desired: Some(render(value)),
            observed: seen.map(render),
        });
        changed.push(field.clone());
    }
    changed
}

/// What deleting a policy with `deletionPolicy: Delete` does: every declared section stays
/// declared but empty, and each declared item found at the provider becomes a delete.
/// Undeclared items are kept; settings cannot be "removed" and are left as they are.
pub fn cleanup(desired: &State, observed: &State) -> (State, Vec<Change>) {
    let mut emptied = State::default();
    let mut plan = Vec::new();
    for section in desired
        .sections
        .iter()
        .filter(|s| s.kind != SectionKind::Settings)
    {
        // The same section, emptied: its provider still finds what it is by its locator.
        emptied.push(Section {
            name: section.name.clone(),
            kind: section.kind,
            items: Vec::new(),
            locator: section.locator.clone(),
        });
        let Some(seen) = observed.section(&section.name) else {
            continue;
        };
        for item in section.items.iter().filter(|i| seen.get(&i.key).is_some()) {
            plan.push(Change::Delete {
                section: section.name.clone(),
                key: item.key.clone(),
            });
        }
    }
    (emptied, plan)
}

/// A compact, stable rendering of a value for status and terminals.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn render_item(item: &Item) -> String {
    let map: serde_json::Map<String, Value> = item
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::Locator;

    fn rule(key: &str, action: &str) -> Item {
        Item::new(key)
            .field("expression", "(ip.src eq 192.0.2.1)")
            .field("action", action)
    }

    fn ordered(items: Vec<Item>) -> State {
        State {
            sections: vec![Section::new("wafCustomRules", SectionKind::Ordered, items)],
        }
    }

    fn unordered(items: Vec<Item>) -> State {
        State {
            sections: vec![Section::new("ipAccessRules", SectionKind::Unordered, items)],
        }
    }

    struct Case {
        name: &'static str,
        desired: State,
        observed: State,
        unmanaged: Undeclared,
        drift: Vec<(&'static str, DriftKind)>,
        plan: Vec<Change>,
        unmanaged_found: Vec<&'static str>,
    }

    fn c(section: &str, key: &str) -> (String, String) {
        (section.to_string(), key.to_string())
    }

    fn cases() -> Vec<Case> {
        let (s, k) = c("wafCustomRules", "b");
        vec![
            Case {
                name: "identical ordered rules are in sync",
                desired: ordered(vec![rule("a", "block"), rule("b", "log")]),
                observed: ordered(vec![rule("a", "block"), rule("b", "log")]),
                unmanaged: Undeclared::Report,
                drift: vec![],
                plan: vec![],
                unmanaged_found: vec![],
            },
            Case {
                name: "a changed action is one drifted field and one update",
                desired: ordered(vec![rule("a", "block"), rule("b", "block")]),
                observed: ordered(vec![rule("a", "block"), rule("b", "log")]),
                unmanaged: Undeclared::Report,
                drift: vec![("wafCustomRules[b].action", DriftKind::Changed)],
                plan: vec![Change::Update {
                    section: s.clone(),
                    key: k.clone(),
                    fields: vec!["action".into()],
                }],
                unmanaged_found: vec![],
            },
            Case {
                name: "reordered rules in an ordered section are order drift",
                desired: ordered(vec![rule("a", "block"), rule("b", "log")]),
                observed: ordered(vec![rule("b", "log"), rule("a", "block")]),
                unmanaged: Undeclared::Report,
                drift: vec![("wafCustomRules.order", DriftKind::Order)],
                plan: vec![Change::Reorder { section: s.clone() }],
                unmanaged_found: vec![],
            },
            Case {
                name: "reordered items in an unordered section are in sync",
                desired: unordered(vec![rule("a", "block"), rule("b", "log")]),
                observed: unordered(vec![rule("b", "log"), rule("a", "block")]),
                unmanaged: Undeclared::Report,
                drift: vec![],
                plan: vec![],
                unmanaged_found: vec![],
            },
            Case {
                name: "an unmanaged rule between declared ones is reported, not drift",
                desired: ordered(vec![rule("a", "block"), rule("b", "log")]),
                observed: ordered(vec![
                    rule("a", "block"),
                    rule("x", "skip"),
                    rule("b", "log"),
                ]),
                unmanaged: Undeclared::Report,
                drift: vec![],
                plan: vec![],
                unmanaged_found: vec!["wafCustomRules[x]"],
            },
            Case {
                name: "an unmanaged rule is drift and a delete when the policy removes them",
                desired: ordered(vec![rule("a", "block")]),
                observed: ordered(vec![rule("x", "skip"), rule("a", "block")]),
                unmanaged: Undeclared::Remove,
                drift: vec![("wafCustomRules[x]", DriftKind::Unexpected)],
                plan: vec![Change::Delete {
                    section: s.clone(),
                    key: "x".into(),
                }],
                unmanaged_found: vec![],
            },
            Case {
                name: "deletes come after creates so protection is never removed first",
                desired: unordered(vec![rule("new", "block")]),
                observed: unordered(vec![rule("old", "block")]),
                unmanaged: Undeclared::Remove,
                drift: vec![
                    ("ipAccessRules[new]", DriftKind::Missing),
                    ("ipAccessRules[old]", DriftKind::Unexpected),
                ],
                plan: vec![
                    Change::Create {
                        section: "ipAccessRules".into(),
                        key: "new".into(),
                    },
                    Change::Delete {
                        section: "ipAccessRules".into(),
                        key: "old".into(),
                    },
                ],
                unmanaged_found: vec![],
            },
            Case {
                name: "a declared empty section reports everything observed as unmanaged",
                desired: unordered(vec![]),
                observed: unordered(vec![rule("x", "block")]),
                unmanaged: Undeclared::Report,
                drift: vec![],
                plan: vec![],
                unmanaged_found: vec!["ipAccessRules[x]"],
            },
            Case {
                name: "a section that is not declared is not compared at all",
                desired: State::default(),
                observed: unordered(vec![rule("x", "block")]),
                unmanaged: Undeclared::Remove,
                drift: vec![],
                plan: vec![],
                unmanaged_found: vec![],
            },
            Case {
                name: "a section missing from the observation counts as empty",
                desired: ordered(vec![rule("a", "block")]),
                observed: State::default(),
                unmanaged: Undeclared::Report,
                drift: vec![("wafCustomRules[a]", DriftKind::Missing)],
                plan: vec![Change::Create {
                    section: s.clone(),
                    key: "a".into(),
                }],
                unmanaged_found: vec![],
            },
            Case {
                name: "a field the desired item leaves out is not compared",
                desired: ordered(vec![Item::new("a").field("action", "block")]),
                observed: ordered(vec![rule("a", "block").field("description", "set by hand")]),
                unmanaged: Undeclared::Report,
                drift: vec![],
                plan: vec![],
                unmanaged_found: vec![],
            },
            Case {
                name: "settings compare only declared keys and never report unmanaged ones",
                desired: State {
                    sections: vec![Section::new(
                        "settings",
                        SectionKind::Settings,
                        vec![Item::new("ssl").field("value", "strict")],
                    )],
                },
                observed: State {
                    sections: vec![Section::new(
                        "settings",
                        SectionKind::Settings,
                        vec![
                            Item::new("ssl").field("value", "full"),
                            Item::new("waf").field("value", "off"),
                        ],
                    )],
                },
                unmanaged: Undeclared::Remove,
                drift: vec![("settings[ssl]", DriftKind::Changed)],
                plan: vec![Change::Update {
                    section: "settings".into(),
                    key: "ssl".into(),
                    fields: vec!["value".into()],
                }],
                unmanaged_found: vec![],
            },
            Case {
                name: "a missing setting value is drift with no observed value",
                desired: State {
                    sections: vec![Section::new(
                        "settings",
                        SectionKind::Settings,
                        vec![Item::new("ssl").field("value", "strict")],
                    )],
                },
                observed: State {
                    sections: vec![Section::new(
                        "settings",
                        SectionKind::Settings,
                        vec![Item::new("ssl")],
                    )],
                },
                unmanaged: Undeclared::Report,
                drift: vec![("settings[ssl]", DriftKind::Changed)],
                plan: vec![Change::Update {
                    section: "settings".into(),
                    key: "ssl".into(),
                    fields: vec!["value".into()],
                }],
                unmanaged_found: vec![],
            },
            Case {
                name: "a missing declared rule does not also count as order drift",
                desired: ordered(vec![rule("a", "block"), rule("b", "log"), rule("c", "log")]),
                observed: ordered(vec![rule("a", "block"), rule("c", "log")]),
                unmanaged: Undeclared::Report,
                drift: vec![("wafCustomRules[b]", DriftKind::Missing)],
                plan: vec![Change::Create {
                    section: s.clone(),
                    key: "b".into(),
                }],
                unmanaged_found: vec![],
            },
        ]
    }

    #[test]
    fn diff_table() {
        for case in cases() {
            let got = diff(&case.desired, &case.observed, case.unmanaged);
            let drift: Vec<(&str, DriftKind)> = got
                .drift
                .iter()
                .map(|d| (d.path.as_str(), d.kind))
                .collect();
            assert_eq!(drift, case.drift, "{}: drift", case.name);
            assert_eq!(got.plan, case.plan, "{}: plan", case.name);
            assert_eq!(
                got.unmanaged, case.unmanaged_found,
                "{}: unmanaged",
                case.name
            );
            assert_eq!(
                got.in_sync(),
                case.drift.is_empty(),
                "{}: in_sync",
                case.name
            );
        }
    }

    #[test]
    fn drift_shows_desired_and_observed_values() {
        let got = diff(
            &ordered(vec![rule("a", "block")]),
            &ordered(vec![rule("a", "log")]),
            Undeclared::Report,
        );
        assert_eq!(
            got.drift,
            vec![Drift {
                path: "wafCustomRules[a].action".into(),
                kind: DriftKind::Changed,
                desired: Some("block".into()),
                observed: Some("log".into()),
            }]
        );
        assert_eq!(got.managed, 1);
    }

    #[test]
    fn cleanup_deletes_declared_items_found_and_keeps_the_rest() {
        let mut desired = ordered(vec![rule("a", "block"), rule("gone", "block")]);
        desired.sections[0].locator = Some(Locator::new(("ruleset", 7)));
        desired.push(Section::new(
            "settings",
            SectionKind::Settings,
            vec![Item::new("ssl").field("value", "strict")],
        ));
        let observed = ordered(vec![rule("x", "skip"), rule("a", "block")]);
        let (emptied, plan) = cleanup(&desired, &observed);
        assert_eq!(
            plan,
            vec![Change::Delete {
                section: "wafCustomRules".into(),
                key: "a".into()
            }]
        );
        assert_eq!(emptied.sections.len(), 1, "settings are never removed");
        assert!(emptied.sections[0].items.is_empty());
        assert_eq!(
            emptied.sections[0].locator::<(&str, i32)>(),
            Some(&("ruleset", 7)),
            "the emptied section is still the provider's section"
        );
    }

    /// The drift is the same whatever locators the provider set, on either side.
    #[test]
    fn locators_never_count_as_drift() {
        let desired = ordered(vec![rule("a", "block")]);
        let mut located = desired.clone();
        located.sections[0].locator = Some(Locator::new("one"));
        let mut other = desired.clone();
        other.sections[0].locator = Some(Locator::new(2_u8));
        for (want, have) in [
            (&located, &desired),
            (&desired, &located),
            (&located, &other),
        ] {
            let d = diff(want, have, Undeclared::Remove);
            assert!(d.in_sync() && d.plan.is_empty(), "{want:?} / {have:?}");
        }
    }

    #[test]
    fn non_string_values_render_as_json() {
        assert_eq!(render(&json!(true)), "true");
        assert_eq!(
            render(&json!(["ip.src", "cf.colo.id"])),
            r#"["ip.src","cf.colo.id"]"#
        );
        assert_eq!(render(&json!("strict")), "strict");
    }

    /// A failing host is drift whatever `unmanaged` says, and nothing is planned: no write
    /// can make a host pass. An empty observation is in sync.
    #[test]
    fn violations_are_drift_and_never_planned() {
        let want = State {
            sections: vec![Section::new(
                "failingHosts",
                SectionKind::Violations,
                vec![],
            )],
        };
        let seen = State {
            sections: vec![Section::new(
                "failingHosts",
                SectionKind::Violations,
                vec![Item::new("mac-1").field("platform", "darwin")],
            )],
        };
        for unmanaged in [Undeclared::Report, Undeclared::Remove] {
            let d = diff(&want, &seen, unmanaged);
            assert_eq!(d.drift.len(), 1, "{unmanaged:?}");
            assert_eq!(d.drift[0].path, "failingHosts[mac-1]");
            assert_eq!(d.drift[0].kind, DriftKind::Unexpected);
            assert!(d.plan.is_empty() && d.unmanaged.is_empty(), "{d:?}");
            assert!(diff(&want, &want, unmanaged).in_sync());
        }
        let (_, plan) = cleanup(&want, &seen);
        assert!(plan.is_empty(), "{plan:?}");
    }
}
