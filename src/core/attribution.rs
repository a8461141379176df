//! Who changed a drifted field, and when: a provider's audit log mapped onto drift paths.
//!
//! A provider reads its audit log (Cloudflare's account audit logs, Upstash's and Turso's
//! audit logs…) into [`AuditEvent`]s, each naming the section (and, when the log says, the item)
//! it changed, who changed it and when. [`attribute`] then gives each drift entry the newest
//! event that touched it. Perimeter's own writes are recognised by the provider (its own
//! identity, its key, or a write this process made: [`OwnWrites`]) and shown as
//! [`PERIMETER`], never as the person who owns the credential.
//!
//! Attribution never stops a sync: a log that cannot be read, or a provider that keeps none
//! Perimeter reads, leaves every entry unattributed with the reason in the summary.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::drift::{Drift, DriftKind};

/// How the operator's own changes are named in `changedBy`.
pub const PERIMETER: &str = "Perimeter";

/// How far back audit logs are read: a drift older than this is unattributed.
pub const LOOKBACK: SignedDuration = SignedDuration::from_hours(7 * 24);

/// How far from one of its own writes an audit event may be stamped and still count as that
/// write: the write's round trip, a coarse (whole-second) audit timestamp and clock skew.
pub const OWN_WRITE_SKEW: SignedDuration = SignedDuration::from_secs(120);

/// Who made a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The operator itself.
    Perimeter,
    /// Someone or something else, as the log names them (an e-mail, a user name, a role),
    /// and how, when the log says (`UI`, `API`, a key's name).
    Other { name: String, via: Option<String> },
}

impl Actor {
    pub fn other(name: impl Into<String>, via: Option<String>) -> Self {
        Self::Other {
            name: name.into(),
            via: via.filter(|v| !v.is_empty()),
        }
    }

    /// `dana@example.com via UI`, `Perimeter`.
    pub fn label(&self) -> String {
        match self {
            Self::Perimeter => PERIMETER.to_string(),
            Self::Other { name, via: None } => name.clone(),
            Self::Other {
                name,
                via: Some(via),
            } => format!("{name} via {via}"),
        }
    }
}

/// One change an audit log records, mapped onto Perimeter's sections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// The section it changed, as drift paths name it (`settings`, `wafCustomRules`).
    pub section: String,
    /// The item, when the log names it; `None`: the section as a whole (a ruleset replaced in
    /// one write), which then attributes every drifted item of the section.
    pub key: Option<String>,
    pub actor: Actor,
    pub at: Timestamp,
}

/// What a provider's audit log said for one sync.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Trail {
    /// The provider keeps no audit log Perimeter reads.
    #[default]
    NotKept,
    /// The log exists but could not be read (no permission, a plan without it, an error):
    /// the reason, secret-free.
    Unreadable(String),
    /// Events since `since`, from `source` (`the Cloudflare account audit log`).
    Read {
        source: &'static str,
        since: Timestamp,
        events: Vec<AuditEvent>,
    },
}

/// Who changed one drifted field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribution {
    /// [`Actor::label`].
    pub by: String,
    /// RFC 3339.
    pub at: String,
    pub perimeter: bool,
    /// The event named the section, not the item: the newest change to the section.
    pub whole_section: bool,
}

/// Attributions of one sync's drift, by drift path, and a sentence for status.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Attributions {
    pub by_path: BTreeMap<String, Attribution>,
    /// `2 of 3 drifted field(s) attributed from the Cloudflare account audit log (last 7 days)`,
    /// or `unattributed: …` with the reason.
    pub summary: String,
    /// The provider keeps an audit log Perimeter reads (whether or not it could be read).
    pub kept: bool,
}

impl Attributions {
    pub fn get(&self, path: &str) -> Option<&Attribution> {
        self.by_path.get(path)
    }

    /// Who caused the drift, grouped by actor, for an Event: `dana@example.com via UI
    /// (settings[ssl], settings[min_tls_version])`. At most `limit` actors, then `and N more`.
    pub fn by_actor(&self, limit: usize) -> String {
        let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (path, a) in &self.by_path {
            groups.entry(a.by.as_str()).or_default().push(path);
        }
        let mut parts: Vec<String> = groups
            .iter()
            .take(limit)
            .map(|(by, paths)| {
                let shown: Vec<&str> = paths.iter().take(3).copied().collect();
                let more = if paths.len() > 3 {
                    format!(", and {} more", paths.len() - 3)
                } else {
                    String::new()
                };
                format!("{by} ({}{more})", shown.join(", "))
            })
            .collect();
        if groups.len() > limit {
            parts.push(format!("and {} more", groups.len() - limit));
        }
        parts.join("; ")
    }
}

/// The section and item key a drift path names: `wafCustomRules[block-admin].action` →
/// (`wafCustomRules`, `block-admin`); `settings` → (`settings`, none). Keys may hold
/// brackets (`ipAccessRules[ip:2001:db8::/32]` does not, but a name could): the key ends at
/// the bracket that balances the first.
pub fn split_path(path: &str) -> (&str, Option<&str>) {
    let Some(open) = path.find('[') else {
        let section = path.split('.').next().unwrap_or(path);
        return (section, None);
    };
    let section = &path[..open];
    let mut depth = 0usize;
    for (i, c) in path[open..].char_indices() {
        match c {
            '[' => depth += 1,
            ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return (section, Some(&path[open + 1..open + i]));
                }
            }
            _ => {}
        }
    }
    (section, Some(&path[open + 1..]))
}

/// The item key `path` names in `section`: `Some(None)` for the section itself (or one of its
/// own fields, `wafCustomRules.order`), `Some(Some(key))` for an item, `None` when the path is
/// not in that section. Sections may hold brackets themselves (AWS's
/// `securityGroups[sg-1].ingress`), so the section is matched as a whole, not split off at the
/// first bracket; for a section without brackets this is [`split_path`].
pub fn locate<'a>(path: &'a str, section: &str) -> Option<Option<&'a str>> {
    let rest = path.strip_prefix(section)?;
    if rest.is_empty() || rest.starts_with('.') {
        return Some(None);
    }
    if !rest.starts_with('[') {
        return None;
    }
    let (_, key) = split_path(rest);
    Some(key)
}

/// Gives each drift entry the newest event of its section that names its item or the whole
/// section. An event names nothing it cannot be matched to: a drift with no matching event
/// stays unattributed rather than borrow the nearest change.
pub fn attribute(drift: &[Drift], trail: &Trail) -> Attributions {
    let (source, since, events) = match trail {
        Trail::NotKept => {
            return Attributions {
                by_path: BTreeMap::new(),
                summary: "unattributed: no audit log is read for this provider".to_string(),
                kept: false,
            };
        }
        Trail::Unreadable(reason) => {
            return Attributions {
                by_path: BTreeMap::new(),
                summary: format!("unattributed: the audit log could not be read ({reason})"),
                kept: true,
            };
        }
        Trail::Read {
            source,
            since,
            events,
        } => (source, since, events),
    };
    let mut newest_first: Vec<&AuditEvent> = events.iter().collect();
    newest_first.sort_by_key(|e| std::cmp::Reverse(e.at));
    let mut by_path = BTreeMap::new();
    for d in drift {
        let mut found = None;
        for e in &newest_first {
            let Some(key) = locate(&d.path, &e.section) else {
                continue;
            };
            // A section-wide change says nothing of an item that is missing: it may never
            // have existed. Only an event naming the item attributes its absence.
            let section_wide_counts = d.kind != DriftKind::Missing || key.is_none();
            let matches = match e.key.as_deref() {
                None => section_wide_counts,
                Some(k) => Some(k) == key,
            };
            if matches {
                found = Some((*e, key));
                break;
            }
        }
        if let Some((e, key)) = found {
            let section = &e.section;
            let whole_section = e.key.is_none() && key.is_some();
            // Said in the name itself, so no reader takes it for this item's own change.
            let by = if whole_section {
                format!("{} (last change to {section})", e.actor.label())
            } else {
                e.actor.label()
            };
            by_path.insert(
                d.path.clone(),
                Attribution {
                    by,
                    at: e.at.round(jiff::Unit::Second).unwrap_or(e.at).to_string(),
                    perimeter: e.actor == Actor::Perimeter,
                    whole_section,
                },
            );
        }
    }
    // The window, not its start: a summary that moved at every sync would rewrite the
    // status at every sync.
    let _ = since;
    let window = LOOKBACK.as_hours() / 24;
    let summary = if by_path.is_empty() {
        format!(
            "unattributed: {source} records no change to the drifted fields in the last {window} days"
        )
    } else {
        format!(
            "{} of {} drifted field(s) attributed from {source} (last {window} days)",
            by_path.len(),
            drift.len()
        )
    };
    Attributions {
        by_path,
        summary,
        kept: true,
    }
}

/// Writes this process made, so their audit events are recognised as Perimeter's even where
/// the log names the credential's owner (a person) as the actor. Lasts as long as the client:
/// after a restart, earlier writes are attributed to whoever the log names, with how
/// (`via API`), which is what the log says — never hidden.
#[derive(Clone, Debug, Default)]
pub struct OwnWrites {
    /// (scope — a zone, a database —, section, when the write was sent)
    writes: Vec<(String, String, Timestamp)>,
}

impl OwnWrites {
    /// Remembers a write, forgetting those older than [`LOOKBACK`].
    pub fn record(&mut self, scope: &str, section: &str, at: Timestamp) {
        let horizon = at - LOOKBACK;
        self.writes.retain(|(_, _, t)| *t >= horizon);
        self.writes
            .push((scope.to_string(), section.to_string(), at));
    }

    /// Whether an event stamped `at` on `section` of `scope` is one of these writes.
    pub fn covers(&self, scope: &str, section: &str, at: Timestamp) -> bool {
        self.writes.iter().any(|(s, sec, t)| {
            s == scope && sec == section && at.duration_since(*t).abs() <= OWN_WRITE_SKEW
        })
    }
}

/// The ids a provider gave Perimeter's own writes (AWS request ids, GCP operation names), for
/// providers whose audit log carries the same id: an entry with one of them is Perimeter's,
/// whoever the credential belongs to. Kept for [`LOOKBACK`] and at most [`OwnIds::CAP`] ids
/// (the oldest go first); compared without case.
#[derive(Clone, Debug, Default)]
pub struct OwnIds {
    ids: std::collections::VecDeque<(String, Timestamp)>,
}

impl OwnIds {
    pub const CAP: usize = 10_000;

    pub fn record(&mut self, id: &str, at: Timestamp) {
        let horizon = at - LOOKBACK;
        while self
            .ids
            .front()
            .is_some_and(|(_, t)| *t < horizon || self.ids.len() >= Self::CAP)
        {
            self.ids.pop_front();
        }
        self.ids.push_back((id.to_ascii_lowercase(), at));
    }

    /// Whether `id` (as the audit entry gives it) is one of these writes; never an empty id.
    pub fn contains(&self, id: &str) -> bool {
        !id.is_empty() && self.ids.iter().any(|(i, _)| i.eq_ignore_ascii_case(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift(path: &str) -> Drift {
        Drift {
            path: path.to_string(),
            kind: DriftKind::Changed,
            desired: None,
            observed: None,
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().expect("a timestamp")
    }

    /// Own write ids: matched without case, never an empty id, forgotten after the look-back
    /// window and past the cap (oldest first).
    #[test]
    fn own_ids_are_matched_without_case_and_forgotten_in_time_and_past_the_cap() {
        let t0 = at("2026-11-28T10:00:00Z");
        let mut own = OwnIds::default();
        own.record("ABC-1", t0);
        assert!(own.contains("abc-1") && own.contains("ABC-1"));
        assert!(!own.contains("") && !own.contains("abc-2"));
        own.record("abc-2", t0 + LOOKBACK + SignedDuration::from_secs(1));
        assert!(!own.contains("abc-1") && own.contains("abc-2"));
        for i in 0..OwnIds::CAP {
            own.record(
                &format!("id-{i}"),
                t0 + LOOKBACK + SignedDuration::from_secs(2),
            );
        }
        assert!(!own.contains("abc-2") && own.contains("id-0"));
        assert!(own.contains(&format!("id-{}", OwnIds::CAP - 1)));
    }

    fn event(section: &str, key: Option<&str>, actor: Actor, when: &str) -> AuditEvent {
        AuditEvent {
            section: section.to_string(),
            key: key.map(str::to_string),
            actor,
            at: at(when),
        }
    }

    fn dana() -> Actor {
        Actor::other("dana@example.com", Some("UI".into()))
    }

    #[test]
    fn split_path_table() {
        let cases = [
            ("settings[ssl]", ("settings", Some("ssl"))),
            (
                "wafCustomRules[block-admin].action",
                ("wafCustomRules", Some("block-admin")),
            ),
            ("wafCustomRules", ("wafCustomRules", None)),
            ("wafCustomRules.order", ("wafCustomRules", None)),
            ("rules[a[b]].x", ("rules", Some("a[b]"))),
            ("rules[unclosed", ("rules", Some("unclosed"))),
            (
                "ipAccessRules[ip:2001:db8::1]",
                ("ipAccessRules", Some("ip:2001:db8::1")),
            ),
        ];
        for (path, want) in cases {
            assert_eq!(split_path(path), want, "{path}");
        }
    }

    #[test]
    fn locate_matches_whole_sections_even_with_brackets() {
        let cases = [
            ("settings[ssl]", "settings", Some(Some("ssl"))),
            ("settings", "settings", Some(None)),
            ("wafCustomRules.order", "wafCustomRules", Some(None)),
            ("settingsX[ssl]", "settings", None),
            (
                "securityGroups[sg-1].ingress[tcp:22:0.0.0.0/0].description",
                "securityGroups[sg-1].ingress",
                Some(Some("tcp:22:0.0.0.0/0")),
            ),
            (
                "securityGroups[sg-1].ingress[tcp:22:0.0.0.0/0]",
                "securityGroups[sg-1].egress",
                None,
            ),
            (
                "eu-west-1/securityGroups[sg-1].ingress[all:all:sg-2]",
                "eu-west-1/securityGroups[sg-1].ingress",
                Some(Some("all:all:sg-2")),
            ),
            (
                "eu-west-1/securityGroups[sg-1].ingress[all:all:sg-2]",
                "securityGroups[sg-1].ingress",
                None,
            ),
        ];
        for (path, section, want) in cases {
            assert_eq!(locate(path, section), want, "{path} in {section}");
        }
        let trail = Trail::Read {
            source: "the test log",
            since: at("2026-11-23T00:00:00Z"),
            events: vec![
                event(
                    "securityGroups[sg-1].ingress",
                    Some("tcp:22:0.0.0.0/0"),
                    dana(),
                    "2026-11-29T10:00:00Z",
                ),
                event(
                    "securityGroups[sg-1].egress",
                    None,
                    Actor::other("ops", None),
                    "2026-11-29T11:00:00Z",
                ),
            ],
        };
        let mut missing = drift("securityGroups[sg-1].ingress[tcp:22:0.0.0.0/0]");
        missing.kind = DriftKind::Unexpected;
        let got = attribute(
            &[
                missing,
                drift("securityGroups[sg-1].ingress[tcp:443:10.0.0.0/8].description"),
            ],
            &trail,
        );
        assert_eq!(
            got.get("securityGroups[sg-1].ingress[tcp:22:0.0.0.0/0]")
                .map(|a| a.by.as_str()),
            Some("dana@example.com via UI")
        );
        assert_eq!(
            got.get("securityGroups[sg-1].ingress[tcp:443:10.0.0.0/8].description"),
            None,
            "the egress change and another rule's event name nothing of this rule"
        );
    }

    #[test]
    fn attribution_table() {
        let read = |events: Vec<AuditEvent>| Trail::Read {
            source: "the test log",
            since: at("2026-11-23T00:00:00Z"),
            events,
        };
        struct Case {
            name: &'static str,
            drift: &'static str,
            trail: Trail,
            by: Option<(&'static str, &'static str, bool, bool)>,
        }
        let cases = [
            Case {
                name: "the item's own event",
                drift: "settings[ssl]",
                trail: read(vec![event(
                    "settings",
                    Some("ssl"),
                    dana(),
                    "2026-11-29T10:00:00Z",
                )]),
                by: Some((
                    "dana@example.com via UI",
                    "2026-11-29T10:00:00Z",
                    false,
                    false,
                )),
            },
            Case {
                name: "the newest of several",
                drift: "settings[ssl]",
                trail: read(vec![
                    event("settings", Some("ssl"), dana(), "2026-11-29T10:00:00Z"),
                    event(
                        "settings",
                        Some("ssl"),
                        Actor::other("ops", None),
                        "2026-11-29T11:00:00Z",
                    ),
                    event(
                        "settings",
                        Some("ssl"),
                        Actor::Perimeter,
                        "2026-11-28T11:00:00Z",
                    ),
                ]),
                by: Some(("ops", "2026-11-29T11:00:00Z", false, false)),
            },
            Case {
                name: "another item's event names nothing",
                drift: "settings[ssl]",
                trail: read(vec![event(
                    "settings",
                    Some("min_tls_version"),
                    dana(),
                    "2026-11-29T10:00:00Z",
                )]),
                by: None,
            },
            Case {
                name: "another section's event names nothing",
                drift: "rateLimitRules[login]",
                trail: read(vec![event(
                    "wafCustomRules",
                    None,
                    dana(),
                    "2026-11-29T10:00:00Z",
                )]),
                by: None,
            },
            Case {
                name: "a whole-section event covers its items",
                drift: "wafCustomRules[block-admin].action",
                trail: read(vec![event(
                    "wafCustomRules",
                    None,
                    dana(),
                    "2026-11-29T10:00:00Z",
                )]),
                by: Some((
                    "dana@example.com via UI (last change to wafCustomRules)",
                    "2026-11-29T10:00:00Z",
                    false,
                    true,
                )),
            },
            Case {
                name: "a whole-section event does not explain a missing item",
                drift: "ipAccessRules[ip:192.0.2.1]",
                trail: read(vec![event(
                    "ipAccessRules",
                    None,
                    dana(),
                    "2026-11-29T10:00:00Z",
                )]),
                by: None,
            },
            Case {
                name: "an event naming the missing item does",
                drift: "ipAccessRules[ip:192.0.2.1]",
                trail: read(vec![event(
                    "ipAccessRules",
                    Some("ip:192.0.2.1"),
                    dana(),
                    "2026-11-29T10:00:00Z",
                )]),
                by: Some((
                    "dana@example.com via UI",
                    "2026-11-29T10:00:00Z",
                    false,
                    false,
                )),
            },
            Case {
                name: "Perimeter's own write is never a person's",
                drift: "settings[ssl]",
                trail: read(vec![event(
                    "settings",
                    Some("ssl"),
                    Actor::Perimeter,
                    "2026-11-29T10:00:00Z",
                )]),
                by: Some(("Perimeter", "2026-11-29T10:00:00Z", true, false)),
            },
            Case {
                name: "no log kept",
                drift: "settings[ssl]",
                trail: Trail::NotKept,
                by: None,
            },
            Case {
                name: "log unreadable",
                drift: "settings[ssl]",
                trail: Trail::Unreadable("HTTP 403".into()),
                by: None,
            },
        ];
        for c in cases {
            let mut d = drift(c.drift);
            if c.name.contains("missing") {
                d.kind = DriftKind::Missing;
            }
            let got = attribute(&[d], &c.trail);
            let want =
                c.by.map(|(by, when, perimeter, whole_section)| Attribution {
                    by: by.to_string(),
                    at: when.to_string(),
                    perimeter,
                    whole_section,
                });
            assert_eq!(got.get(c.drift).cloned(), want, "{}", c.name);
            assert_eq!(
                got.summary.starts_with("unattributed"),
                want.is_none(),
                "{}: {}",
                c.name,
                got.summary
            );
        }
    }

    #[test]
    fn summaries_say_why_nothing_is_attributed() {
        let d = [drift("settings[ssl]")];
        assert_eq!(
            attribute(
                &d,
                &Trail::Unreadable("HTTP 403: the token lacks Audit Logs Read".into())
            )
            .summary,
            "unattributed: the audit log could not be read (HTTP 403: the token lacks Audit Logs Read)"
        );
        assert_eq!(
            attribute(&d, &Trail::NotKept).summary,
            "unattributed: no audit log is read for this provider"
        );
        let two = [drift("settings[ssl]"), drift("settings[waf]")];
        let trail = Trail::Read {
            source: "the test log",
            since: at("2026-11-23T00:00:00Z"),
            events: vec![event(
                "settings",
                Some("ssl"),
                dana(),
                "2026-11-29T10:00:00Z",
            )],
        };
        assert_eq!(
            attribute(&two, &trail).summary,
            "1 of 2 drifted field(s) attributed from the test log (last 7 days)"
        );
    }

    #[test]
    fn by_actor_groups_and_bounds() {
        let mut a = Attributions::default();
        for (path, by) in [
            ("settings[a]", "dana"),
            ("settings[b]", "dana"),
            ("settings[c]", "dana"),
            ("settings[d]", "dana"),
            ("waf[x]", "ops"),
            ("waf[y]", "zed"),
        ] {
            a.by_path.insert(
                path.to_string(),
                Attribution {
                    by: by.to_string(),
                    at: String::new(),
                    perimeter: false,
                    whole_section: false,
                },
            );
        }
        assert_eq!(
            a.by_actor(2),
            "dana (settings[a], settings[b], settings[c], and 1 more); ops (waf[x]); and 1 more"
        );
    }

    #[test]
    fn own_writes_cover_their_moment_scope_and_section_only() {
        let mut own = OwnWrites::default();
        own.record("zone-1", "settings", at("2026-11-29T10:00:00Z"));
        assert!(own.covers("zone-1", "settings", at("2026-11-29T10:01:00Z")));
        assert!(!own.covers("zone-1", "settings", at("2026-11-29T10:03:00Z")));
        assert!(!own.covers("zone-2", "settings", at("2026-11-29T10:00:00Z")));
        assert!(!own.covers("zone-1", "wafCustomRules", at("2026-11-29T10:00:00Z")));
        // A write past the look-back window is forgotten when the next is recorded.
        own.record("zone-1", "waf", at("2026-12-07T10:00:00Z"));
        assert!(!own.covers("zone-1", "settings", at("2026-11-29T10:00:00Z")));
    }
}
