//! Address sets, resolved: the normalisation of a set's addresses, and the resolver that
//! substitutes the sets a policy names with their addresses before the policy's target is
//! built. Pure: the caller says which sets exist and in what state.

use std::collections::BTreeMap;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::normalize::{self, Invalid};
/// How many addresses one set may hold, declared or read: more is an error naming the count,
/// never a truncated set.
pub const MAX_ADDRESSES: usize = 2000;

/// Why a set's addresses cannot be used; each is a `Ready` reason of the set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetProblem {
    #[error("{0}")]
    InvalidAddress(String),
    #[error("the source answered no address: a set is never silently empty")]
    Empty,
    #[error("{0} addresses, more than the {MAX_ADDRESSES} a set may hold")]
    TooMany(usize),
}

impl SetProblem {
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidAddress(_) => "InvalidAddress",
            Self::Empty => "Empty",
            Self::TooMany(_) => "TooMany",
        }
    }
}

/// The addresses of a source, in canonical form (masked to the network, canonical text, an
/// explicit prefix), IPv4 before IPv6, in address order, each once. `field` names where the
/// entries came from (`spec.addresses`) in the error of a malformed one: a malformed entry
/// fails the whole set, never drops out of it.
pub fn normalise(field: &str, entries: &[String]) -> Result<Vec<String>, SetProblem> {
    if entries.is_empty() {
        return Err(SetProblem::Empty);
    }
    let mut parsed = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let canonical = normalize::cidr(entry)
            .map_err(|e: Invalid| SetProblem::InvalidAddress(format!("{field}[{i}]: {}", e.0)))?;
        let (addr, prefix) = canonical
            .split_once('/')
            .and_then(|(a, p)| Some((a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?)))
            .ok_or_else(|| SetProblem::InvalidAddress(format!("{field}[{i}]: {entry:?}")))?;
        parsed.push(((addr, prefix), canonical));
    }
    parsed.sort();
    parsed.dedup_by(|a, b| a.0 == b.0);
    if parsed.len() > MAX_ADDRESSES {
        return Err(SetProblem::TooMany(parsed.len()));
    }
    Ok(parsed.into_iter().map(|(_, c)| c).collect())
}

/// SHA-256 of the addresses, one per line, as lower-case hex.
pub fn digest(addresses: &[String]) -> String {
    let mut hasher = Sha256::new();
    for a in addresses {
        hasher.update(a.as_bytes());
        hasher.update(b"\n");
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether an address in canonical form is IPv6.
pub fn is_v6(address: &str) -> bool {
    address.contains(':')
}

/// A canonical address without its prefix when it is a host route (`192.0.2.1/32` →
/// `192.0.2.1`), for APIs that take bare addresses.
pub fn host_or_cidr(address: &str) -> &str {
    address
        .strip_suffix("/32")
        .filter(|a| !is_v6(a))
        .or_else(|| address.strip_suffix("/128").filter(|a| is_v6(a)))
        .unwrap_or(address)
}

/// What a policy may know of one set of its namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetState {
    /// Resolved, valid and fresh.
    Ready {
        addresses: Vec<String>,
        digest: String,
    },
    /// Not usable, and why (not resolved yet, its source unreadable, stale…).
    NotReady(String),
}

impl SetState {
    /// A resolved set.
    pub fn ready(addresses: Vec<String>) -> Self {
        let digest = digest(&addresses);
        Self::Ready { addresses, digest }
    }
}

/// A set a policy cannot use: where it names it, which set, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: AddressSet {name:?} {why}")]
pub struct SetError {
    /// `spec.supabase.dbAllowedAddressSets[0]`.
    pub field: String,
    pub name: String,
    pub why: String,
    /// The set exists but is not usable now (its source failed, it is stale): it may become
    /// usable without anybody changing the policy. A missing set, or one whose addresses do
    /// not fit where they are named, is not transient.
    pub transient: bool,
}

/// Substitutes the address sets a policy names with their addresses, and records which it
/// used. Built with the sets of the policy's namespace; [`Resolver::collecting`] builds one
/// that only records the names (what a policy references, to requeue it on a set's change).
#[derive(Debug, Clone)]
pub struct Resolver {
    namespace: String,
    /// `None`: collecting names only.
    sets: Option<BTreeMap<String, SetState>>,
    used: BTreeMap<String, String>,
    referenced: Vec<String>,
}

impl Resolver {
    pub fn new(namespace: &str, sets: BTreeMap<String, SetState>) -> Self {
        Self {
            namespace: namespace.to_string(),
            sets: Some(sets),
            used: BTreeMap::new(),
            referenced: Vec::new(),
        }
    }

    /// A resolver that answers every set as empty and records the names asked for.
    pub fn collecting() -> Self {
        Self {
            namespace: String::new(),
            sets: None,
            used: BTreeMap::new(),
            referenced: Vec::new(),
        }
    }

    /// The addresses of set `name`, named at `field`.
    pub fn addresses(&mut self, field: &str, name: &str) -> Result<Vec<String>, SetError> {
        if !self.referenced.iter().any(|n| n == name) {
            self.referenced.push(name.to_string());
        }
        let Some(sets) = &self.sets else {
            return Ok(Vec::new());
        };
        let error = |why: String, transient: bool| SetError {
            field: field.to_string(),
            name: name.to_string(),
            why,
            transient,
        };
        match sets.get(name) {
            None => Err(error(
                format!("not found in namespace {:?}", self.namespace),
                false,
            )),
            Some(SetState::NotReady(why)) => Err(error(
                format!("is not ready ({why}); nothing is written until it is"),
                true,
            )),
            Some(SetState::Ready { addresses, digest }) => {
                self.used.insert(name.to_string(), digest.clone());
                Ok(addresses.clone())
            }
        }
    }

    /// The addresses of each set of `names`, the list at `field`, in order of the names.
    pub fn expand(&mut self, field: &str, names: &[String]) -> Result<Vec<String>, SetError> {
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            out.extend(self.addresses(&format!("{field}[{i}]"), name)?);
        }
        Ok(out)
    }

    /// A set's addresses are unsuitable where they are named (an IPv6 address for an
    /// IPv4-only allowlist).
    pub fn unsuitable(field: &str, name: &str, why: impl Into<String>) -> SetError {
        SetError {
            field: field.to_string(),
            name: name.to_string(),
            why: why.into(),
            transient: false,
        }
    }

    /// The sets used, by name, with the digest of what was used.
    pub fn used(&self) -> Vec<(String, String)> {
        self.used
            .iter()
            .map(|(name, digest)| (name.clone(), digest.clone()))
            .collect()
    }

    /// The names asked for, in first-asked order.
    pub fn referenced(&self) -> &[String] {
        &self.referenced
    }
}

/// A block whose address sets were not substituted ([`Resolver`]) is never mapped as if it
/// named none: with `unmanaged: Remove`, that would delete every rule the sets stand for.
pub fn unresolved(field: &str) -> super::normalize::Invalid {
    super::normalize::Invalid(format!(
        "{field}: address sets were not resolved before the target was built"
    ))
}

/// Appends the canonical addresses `extra` to `list` (created when absent), leaving out those
/// the list already holds in any spelling (`192.0.2.1` is `192.0.2.1/32`): the list an
/// address-set reference adds to. An address both declared and in a set is allowed once.
pub fn merge(list: &mut Option<Vec<String>>, extra: Vec<String>) {
    let list = list.get_or_insert_with(Vec::new);
    for a in extra {
        let present = list
            .iter()
            .any(|e| *e == a || normalize::cidr(e).is_ok_and(|c| c == a));
        if !present {
            list.push(a);
        }
    }
}

/// What a flat allowlist takes, for [`merge_sets`]: whose list it is (in messages), whether
/// it takes IPv4 only, and how many entries it may hold in all.
#[derive(Clone, Copy, Debug)]
pub struct ListRules {
    /// e.g. "Upstash's allowlist".
    pub whose: &'static str,
    pub ipv4_only: bool,
    pub max: Option<usize>,
}

/// Merges the sets `names` (the list at `field`, e.g. `spec.upstash.allowedAddressSets`) into
/// `list`, each entry once. A set that does not fit `rules` (an IPv6 range for an IPv4-only
/// list, a list past its bound) is refused naming it, never written in part.
pub fn merge_sets(
    sets: &mut Resolver,
    field: &str,
    names: &[String],
    list: &mut Option<Vec<String>>,
    rules: ListRules,
) -> Result<(), SetError> {
    for (i, name) in names.iter().enumerate() {
        let field = format!("{field}[{i}]");
        let found = sets.addresses(&field, name)?;
        if rules.ipv4_only
            && let Some(v6) = found.iter().find(|a| is_v6(a))
        {
            return Err(Resolver::unsuitable(
                &field,
                name,
                format!(
                    "holds the IPv6 range {v6}, and {} takes IPv4 only",
                    rules.whose
                ),
            ));
        }
        merge(list, found);
        let count = list.as_ref().map_or(0, Vec::len);
        if let Some(max) = rules.max.filter(|max| count > *max) {
            return Err(Resolver::unsuitable(
                &field,
                name,
                format!(
                    "takes the list to {count} entries, and {} takes at most {max}",
                    rules.whose
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_string()).collect()
    }

    /// Canonical, sorted (IPv4 first, by address then prefix), deduplicated; a malformed entry
    /// fails the set naming its index; empty and oversized sets fail.
    #[test]
    fn normalise_table() {
        type Case<'a> = (&'a [&'a str], Result<&'a [&'a str], &'a str>);
        let cases: [Case; 9] = [
            (
                &["198.51.100.7/24", "10.0.0.1", "2001:DB8::1", "9.9.9.9/32"],
                Ok(&[
                    "9.9.9.9/32",
                    "10.0.0.1/32",
                    "198.51.100.0/24",
                    "2001:db8::1/128",
                ]),
            ),
            (
                &["192.0.2.1", "192.0.2.1/32", " 192.0.2.1 "],
                Ok(&["192.0.2.1/32"]),
            ),
            (
                &["2001:db8::/32", "2001:0db8:0000::/32", "::/0"],
                Ok(&["::/0", "2001:db8::/32"]),
            ),
            (
                &["10.0.0.0/8", "10.0.0.0/16"],
                Ok(&["10.0.0.0/8", "10.0.0.0/16"]),
            ),
            (&[], Err("Empty")),
            (&["192.0.2.1", "not-an-ip"], Err("spec.addresses[1]")),
            (&["192.0.2.0/33"], Err("spec.addresses[0]")),
            (&["300.1.1.1"], Err("spec.addresses[0]")),
            (&["2001:db8::/129"], Err("spec.addresses[0]")),
        ];
        for (input, want) in cases {
            let got = normalise("spec.addresses", &strings(input));
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(got, strings(want), "{input:?}"),
                (Err(e), Err(want)) => {
                    let text = format!("{} {e}", e.reason());
                    assert!(text.contains(want), "{input:?}: {text}");
                }
                (got, want) => panic!("{input:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_set_is_bounded_and_says_its_count() {
        let many: Vec<String> = (0..=MAX_ADDRESSES)
            .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
            .collect();
        let e = normalise("spec.addresses", &many).expect_err("too many");
        assert_eq!(e, SetProblem::TooMany(MAX_ADDRESSES + 1));
        assert!(e.to_string().contains("2001 addresses"), "{e}");
        assert!(normalise("spec.addresses", &many[..MAX_ADDRESSES]).is_ok());
        // Duplicates do not count twice.
        let mut doubled = many[..MAX_ADDRESSES].to_vec();
        doubled.extend(many[..10].iter().cloned());
        assert_eq!(normalise("x", &doubled).map(|a| a.len()), Ok(MAX_ADDRESSES));
    }

    #[test]
    fn digest_is_of_the_sorted_list() {
        let a = normalise("x", &strings(&["192.0.2.1", "10.0.0.0/8"])).expect("ok");
        let b = normalise("x", &strings(&["10.0.0.1/8", "192.0.2.1/32"])).expect("ok");
        assert_eq!(digest(&a), digest(&b));
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), digest(&a[..1]));
    }

    #[test]
    fn host_routes_become_bare_addresses() {
        for (input, want) in [
            ("192.0.2.1/32", "192.0.2.1"),
            ("2001:db8::1/128", "2001:db8::1"),
            ("192.0.2.0/24", "192.0.2.0/24"),
            ("2001:db8::/32", "2001:db8::/32"),
        ] {
            assert_eq!(host_or_cidr(input), want);
        }
    }

    /// Missing, not-ready and ready sets; the error names the field and the namespace; only
    /// ready sets are recorded as used, with their digest.
    #[test]
    fn resolver_table() {
        let ready = SetState::ready(strings(&["192.0.2.1/32"]));
        let sets = BTreeMap::from([
            ("probes".to_string(), ready.clone()),
            (
                "egress".to_string(),
                SetState::NotReady("SourceUnreadable".into()),
            ),
        ]);
        let mut r = Resolver::new("team-a", sets);
        let field = "spec.supabase.dbAllowedAddressSets";
        assert_eq!(
            r.expand(field, &strings(&["probes"])),
            Ok(strings(&["192.0.2.1/32"]))
        );
        let missing = r.expand(field, &strings(&["probes", "x"])).expect_err("x");
        assert_eq!(
            missing.to_string(),
            "spec.supabase.dbAllowedAddressSets[1]: AddressSet \"x\" not found in namespace \"team-a\""
        );
        let not_ready = r.expand(field, &strings(&["egress"])).expect_err("egress");
        assert!(
            not_ready.to_string().starts_with(
                "spec.supabase.dbAllowedAddressSets[0]: AddressSet \"egress\" is not ready (SourceUnreadable)"
            ),
            "{not_ready}"
        );
        let SetState::Ready { digest, .. } = ready else {
            panic!("ready")
        };
        assert_eq!(r.used(), vec![("probes".to_string(), digest)]);
        assert_eq!(r.referenced(), strings(&["probes", "x", "egress"]));
    }

    #[test]
    fn a_collecting_resolver_records_names_only() {
        let mut r = Resolver::collecting();
        assert_eq!(r.expand("f", &strings(&["a", "b", "a"])), Ok(Vec::new()));
        assert_eq!(r.referenced(), strings(&["a", "b"]));
        assert!(r.used().is_empty());
    }

    #[test]
    fn merge_appends_once() {
        let mut list = Some(strings(&["10.0.0.0/8", "198.51.100.7"]));
        merge(
            &mut list,
            strings(&["10.0.0.0/8", "192.0.2.1/32", "198.51.100.7/32"]),
        );
        assert_eq!(
            list,
            Some(strings(&["10.0.0.0/8", "198.51.100.7", "192.0.2.1/32"]))
        );
        let mut none = None;
        merge(&mut none, strings(&["192.0.2.1/32"]));
        assert_eq!(none, Some(strings(&["192.0.2.1/32"])));
    }
}
