//! The host-firewall checks Perimeter keeps as Fleet policies: one osquery query per platform.
//! A host passes a Fleet policy when its query returns a row. The SQL lives here, not in the
//! manifest, so whoever writes a FirewallPolicy cannot make a check that always passes.

use super::api::Platform;

/// What Perimeter names its policies: every Fleet policy whose name starts so is Perimeter's
/// (and only those are ever updated or, with `unmanaged: Remove`, deleted).
pub const NAME_PREFIX: &str = "Perimeter: ";

/// Application firewall on, with exceptions (1) or blocking all incoming connections (2).
pub const MACOS: &str = "SELECT 1 FROM alf WHERE global_state >= 1;";

/// Windows Defender Firewall on for the domain, private (`StandardProfile`) and public
/// profiles, and no Group Policy value switching one off (a policy value wins over the local
/// one).
pub const WINDOWS: &str = "SELECT 1 WHERE (SELECT COUNT(*) FROM registry WHERE path IN (\
'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\DomainProfile\\EnableFirewall', \
'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\StandardProfile\\EnableFirewall', \
'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\SharedAccess\\Parameters\\FirewallPolicy\\PublicProfile\\EnableFirewall') \
AND data = '1') = 3 AND NOT EXISTS (SELECT 1 FROM registry WHERE path LIKE \
'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\WindowsFirewall\\%\\EnableFirewall' AND data = '0');";

/// The filter table's INPUT chain drops by default (ufw enabled, or hand-written iptables),
/// or firewalld or nftables is running (their rules are not visible to the iptables table).
pub const LINUX: &str = "SELECT 1 WHERE EXISTS (SELECT 1 FROM iptables WHERE filter_name = 'filter' \
AND chain = 'INPUT' AND policy = 'DROP') OR EXISTS (SELECT 1 FROM systemd_units WHERE id IN \
('firewalld.service', 'nftables.service') AND active_state = 'active');";

/// Everything Perimeter sends for one platform's policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    pub platform: Platform,
    /// The Fleet policy's name (its stable key).
    pub name: &'static str,
    pub query: &'static str,
    /// Fleet's `platform` value.
    pub fleet_platform: &'static str,
    pub description: &'static str,
    pub resolution: &'static str,
}

pub fn check(platform: Platform) -> Check {
    match platform {
        Platform::Macos => Check {
            platform,
            name: "Perimeter: macOS host firewall",
            query: MACOS,
            fleet_platform: "darwin",
            description: "The macOS application firewall is on (managed by Perimeter).",
            resolution: "Turn the firewall on in System Settings > Network > Firewall, or with an MDM profile (com.apple.security.firewall EnableFirewall).",
        },
        Platform::Windows => Check {
            platform,
            name: "Perimeter: Windows host firewall",
            query: WINDOWS,
            fleet_platform: "windows",
            description: "Windows Defender Firewall is on for the domain, private and public profiles (managed by Perimeter).",
            resolution: "Turn Windows Defender Firewall on for every profile (Group Policy or Intune firewall profile); remove any policy that disables it.",
        },
        Platform::Linux => Check {
            platform,
            name: "Perimeter: Linux host firewall",
            query: LINUX,
            fleet_platform: "linux",
            description: "A host firewall is active: iptables INPUT drops by default, or firewalld or nftables runs (managed by Perimeter).",
            resolution: "Enable ufw (ufw default deny incoming; ufw enable), firewalld or nftables on the host.",
        },
    }
}

/// The check a managed policy name belongs to.
pub fn by_name(name: &str) -> Option<Check> {
    [Platform::Macos, Platform::Windows, Platform::Linux]
        .into_iter()
        .map(check)
        .find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// `table_name("x")` and every `Column("y", …)` of a trimmed osquery spec.
    fn parse_spec(text: &str) -> (String, BTreeSet<String>) {
        let quoted = |after: &str| -> Option<String> {
            let rest = after.split_once('"')?.1;
            Some(rest.split_once('"')?.0.to_string())
        };
        let table = text
            .split("table_name(")
            .nth(1)
            .and_then(quoted)
            .expect("table_name");
        let columns = text.split("Column(").skip(1).filter_map(quoted).collect();
        (table, columns)
    }

    /// The specs of one platform's folder: table → columns.
    fn specs(folder: &str) -> BTreeMap<String, BTreeSet<String>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/conformance/fleet/osquery")
            .join(folder);
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).expect("spec folder").flatten() {
            let text = std::fs::read_to_string(entry.path()).expect("spec");
            let (table, columns) = parse_spec(&text);
            out.insert(table, columns);
        }
        out
    }

    const SQL_WORDS: &[&str] = &[
        "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "EXISTS", "IN", "LIKE", "COUNT",
    ];

    /// The identifiers of a query outside string literals, and the tables it reads (the word
    /// after each FROM).
    fn identifiers(query: &str) -> (Vec<String>, BTreeSet<String>) {
        let mut bare = String::new();
        let mut in_string = false;
        for c in query.chars() {
            if c == '\'' {
                in_string = !in_string;
                bare.push(' ');
            } else if !in_string {
                bare.push(c);
            }
        }
        assert!(!in_string, "unbalanced quote in {query}");
        let words: Vec<String> = bare
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty() && !w.chars().all(|c| c.is_ascii_digit()))
            .map(str::to_string)
            .collect();
        let tables = words
            .windows(2)
            .filter(|w| w[0].eq_ignore_ascii_case("FROM"))
            .map(|w| w[1].clone())
            .collect();
        (words, tables)
    }

    /// Errors of one query against a platform's specs: unknown tables, and identifiers that
    /// are neither SQL words nor columns of the tables it reads.
    fn problems(query: &str, specs: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
        let (words, tables) = identifiers(query);
        let mut out = Vec::new();
        let mut columns = BTreeSet::new();
        for t in &tables {
            match specs.get(t) {
                Some(c) => columns.extend(c.iter().cloned()),
                None => out.push(format!("no table {t}")),
            }
        }
        for w in &words {
            let known = SQL_WORDS.contains(&w.to_ascii_uppercase().as_str())
                || tables.contains(w)
                || columns.contains(w);
            if !known {
                out.push(format!("no column {w}"));
            }
        }
        out
    }

    #[test]
    fn every_query_uses_real_osquery_tables_and_columns() {
        for (platform, folder) in [
            (Platform::Macos, "darwin"),
            (Platform::Windows, "windows"),
            (Platform::Linux, "linux"),
        ] {
            let specs = specs(folder);
            let c = check(platform);
            assert_eq!(
                problems(c.query, &specs),
                Vec::<String>::new(),
                "{platform:?}"
            );
            assert_eq!(
                c.fleet_platform, folder,
                "Fleet's platform is osquery's folder"
            );
            assert!(c.name.starts_with(NAME_PREFIX));
            assert_eq!(by_name(c.name), Some(c));
        }
        // And the check can fail: a column that does not exist, a table of another platform.
        let darwin = specs("darwin");
        assert_eq!(
            problems("SELECT 1 FROM alf WHERE enabled = 1;", &darwin),
            ["no column enabled"]
        );
        assert_eq!(
            problems(
                "SELECT 1 FROM windows_security_center WHERE firewall = 'Good';",
                &darwin
            ),
            ["no table windows_security_center", "no column firewall"]
        );
    }
}
