//! Each provider's official API hosts, and the host patterns an admin may add.

use crate::api::ProviderType;

/// The hosts a provider's API is served from. A credential of that type goes nowhere else
/// unless the admin allows it. `*.` matches one or more labels in front of the suffix.
pub fn official(provider: ProviderType) -> &'static [&'static str] {
    match provider {
        ProviderType::Cloudflare => &["api.cloudflare.com"],
        ProviderType::Vercel => &["api.vercel.com"],
        ProviderType::Supabase => &["api.supabase.com"],
        ProviderType::Turso => &["api.turso.tech"],
        ProviderType::Qdrant => &["api.cloud.qdrant.io"],
        ProviderType::Upstash => &["api.upstash.com"],
        // No public management API: nothing is ever called (`providers::modal`).
        ProviderType::Modal => &[],
        ProviderType::Triggerdev => &["api.trigger.dev"],
        // Regional and FIPS endpoints, China partition, dual-stack (`*.api.aws`).
        ProviderType::Aws => &["*.amazonaws.com", "*.amazonaws.com.cn", "*.api.aws"],
        ProviderType::Gcp => &["*.googleapis.com"],
        ProviderType::Betterstack => &["uptime.betterstack.com", "betteruptime.com"],
        ProviderType::Slack => &["slack.com", "hooks.slack.com"],
        // Self-hosted: the organisation's own server, which only the admin can allow
        // (`--allow-endpoint-host`); no host is trusted by default.
        ProviderType::Fleet => &[],
    }
}

/// Whether `host` (lower case) on `port` is an official API host of `provider` (https, 443).
pub fn is_official(provider: ProviderType, host: &str, port: Option<u16>) -> bool {
    port.is_none_or(|p| p == 443)
        && official(provider)
            .iter()
            .any(|p| HostPattern::host_only(p).matches(host, None))
}

/// Google's token endpoints: OAuth2 (`oauth2.googleapis.com`, legacy `accounts.google.com`),
/// STS (`sts.googleapis.com` and its regional and Private Service Connect forms) and IAM
/// Credentials (`iamcredentials.googleapis.com`), all https.
pub const GOOGLE_TOKEN_HOSTS: &[&str] = &["*.googleapis.com", "accounts.google.com"];

/// A host an admin allows: `name`, `*.suffix`, an IPv4 address or `[v6]`, each optionally with
/// `:port` (without it, any port).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPattern {
    /// Lower case, without brackets; for a wildcard, the suffix without `*.`.
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

impl HostPattern {
    /// Parses an admin's pattern; refuses anything that is not a host (a URL, a path, `*`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || {
            format!("{raw:?} is not a host pattern (name, *.suffix, IP or [IPv6], optional :port)")
        };
        let raw = raw.trim();
        let (wildcard, rest) = match raw.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (v6, after) = inner.split_once(']').ok_or_else(bad)?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(bad)?),
            };
            (v6, port)
        } else {
            match rest.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        let host = host.to_ascii_lowercase();
        let valid = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
            && !host.starts_with('.')
            && (!wildcard || !host.contains(':'));
        if !valid {
            return Err(bad());
        }
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad)?),
        };
        Ok(Self {
            host,
            wildcard,
            port,
        })
    }

    fn host_only(pattern: &str) -> Self {
        match pattern.strip_prefix("*.") {
            Some(suffix) => Self {
                host: suffix.to_string(),
                wildcard: true,
                port: None,
            },
            None => Self {
                host: pattern.to_string(),
                wildcard: false,
                port: None,
            },
        }
    }

    /// Whether `host` (lower case, no brackets) on `port` (as written; `None` = the scheme's
    /// default) matches. A pattern with a port matches only that port written explicitly or
    /// implied by https (443).
    pub fn matches(&self, host: &str, port: Option<u16>) -> bool {
        let host_ok = if self.wildcard {
            host.strip_suffix(self.host.as_str())
                .and_then(|front| front.strip_suffix('.'))
                .is_some_and(|front| !front.is_empty())
        } else {
            host == self.host
        };
        let port_ok = match self.port {
            None => true,
            Some(p) => port.unwrap_or(443) == p,
        };
        host_ok && port_ok
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.wildcard {
            f.write_str("*.")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// Whether `host` is one of Google's token hosts or an admin-allowed one.
pub fn is_token_host(host: &str, port: Option<u16>, extra: &[HostPattern]) -> bool {
    port.is_none_or(|p| p == 443)
        && GOOGLE_TOKEN_HOSTS
            .iter()
            .any(|p| HostPattern::host_only(p).matches(host, None))
        || extra.iter().any(|p| p.matches(host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = |s: &str| HostPattern::parse(s).expect(s);
        let cases = [
            (p("127.0.0.1"), "127.0.0.1", Some(8080), true),
            (p("127.0.0.1:8080"), "127.0.0.1", Some(8080), true),
            (p("127.0.0.1:8080"), "127.0.0.1", Some(8081), false),
            (p("*.corp.example"), "proxy.corp.example", None, true),
            (p("*.corp.example"), "a.b.corp.example", None, true),
            (p("*.corp.example"), "corp.example", None, false),
            (p("*.corp.example"), "evilcorp.example", None, false),
            (p("[::1]:9000"), "::1", Some(9000), true),
            (
                p("Proxy.Corp.Example:443"),
                "proxy.corp.example",
                None,
                true,
            ),
        ];
        for (pattern, host, port, want) in cases {
            assert_eq!(
                pattern.matches(host, port),
                want,
                "{pattern} vs {host}:{port:?}"
            );
        }
        for bad in [
            "",
            "*",
            "https://x",
            "x/y",
            "x:0",
            "x:port",
            "*.",
            "*.[::1]",
            ".x",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(p("*.corp.example:8443").to_string(), "*.corp.example:8443");
    }

    #[test]
    fn official_hosts() {
        use ProviderType::*;
        let cases = [
            (Cloudflare, "api.cloudflare.com", None, true),
            (Cloudflare, "api.cloudflare.com", Some(8443), false),
            (Aws, "ec2.eu-west-1.amazonaws.com", Some(443), true),
            (Aws, "amazonaws.com", None, false),
            (Aws, "ec2.eu-west-1.amazonaws.com.evil.example", None, false),
            (Gcp, "compute.googleapis.com", None, true),
            (Gcp, "googleapis.com.evil.example", None, false),
        ];
        for (provider, host, port, want) in cases {
            assert_eq!(is_official(provider, host, port), want, "{provider} {host}");
        }
        assert!(is_token_host("sts.googleapis.com", None, &[]));
        assert!(is_token_host("accounts.google.com", None, &[]));
        assert!(!is_token_host("sts.googleapis.com", Some(8443), &[]));
        assert!(!is_token_host("127.0.0.1", Some(8080), &[]));
        let lab = [HostPattern::parse("127.0.0.1").expect("pattern")];
        assert!(is_token_host("127.0.0.1", Some(8080), &lab));
    }
}
