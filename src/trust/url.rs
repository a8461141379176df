//! One URL rule for every URL a credential may travel to: `spec.endpoint` and the URLs a
//! credential file names. The CRD schema states the same rule (a pattern plus CEL `url()`), so
//! the API server, `perimeter check` and the controller refuse the same strings.
//!
//! A URL is accepted only as written in canonical form: `http` or `https` in lower case, a
//! lower-case host name or IP literal that the WHATWG parser leaves unchanged (so `127.1`,
//! `0x7f000001` or percent-encoded hosts, which parsers read differently, are refused), an
//! optional port, a path without dot segments, no user info (`http://[::1]:@attacker/` reads as
//! user `[::1]:` at host `attacker`), no fragment, and a query only where the rule allows one.
//! Plain `http` only to the hosts a rule lists (loopback, for emulators).

/// What one kind of URL may contain.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    pub allow_query: bool,
    /// `@` in the path (IAM resource names carry e-mail addresses); never in the authority.
    pub allow_at_in_path: bool,
    /// Hosts that may be reached over plain http (the request never leaves the machine or the
    /// link); every other host needs https.
    pub plain_http_hosts: &'static [&'static str],
}

const LOOPBACK: &[&str] = &["localhost", "127.0.0.1", "::1"];
/// Loopback and the link-local instance metadata service (GCE, Azure IMDS, AWS IMDS).
const LOOPBACK_AND_METADATA: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "::1",
    "169.254.169.254",
    "metadata.google.internal",
];

impl Rules {
    /// `spec.endpoint`: a base URL, no query.
    pub const ENDPOINT: Rules = Rules {
        allow_query: false,
        allow_at_in_path: false,
        plain_http_hosts: LOOPBACK,
    };
    /// A token endpoint named in a credential file.
    pub const TOKEN: Rules = Rules {
        allow_query: false,
        allow_at_in_path: true,
        plain_http_hosts: LOOPBACK,
    };
    /// `credential_source.url`: may carry a query (Azure IMDS takes `api-version`, `resource`).
    pub const SUBJECT_SOURCE: Rules = Rules {
        allow_query: true,
        allow_at_in_path: true,
        plain_http_hosts: LOOPBACK_AND_METADATA,
    };
}

/// A URL that passed [`parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub https: bool,
    /// Lower case; an IPv6 literal without its brackets.
    pub host: String,
    /// The port as written, if any.
    pub port: Option<u16>,
    /// The URL as given (already canonical).
    pub url: String,
}

impl Checked {
    /// The port requests go to.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(if self.https { 443 } else { 80 })
    }

    /// `host[:port]` as written, for messages.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }
}

/// The longest URL accepted (the CRD's `maxLength` for `endpoint`).
pub const MAX_LEN: usize = 2048;

/// Parses `raw` under `rules`. Errors say what is wrong without quoting more than the host.
pub fn parse(raw: &str, rules: Rules) -> Result<Checked, String> {
    if raw.len() > MAX_LEN {
        return Err(format!("a URL is at most {MAX_LEN} characters"));
    }
    if let Some(c) = raw
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '\\' | '#'))
    {
        let what = match c {
            '@' => "user info (@)".to_string(),
            '#' => "a fragment (#)".to_string(),
            '\\' => "a backslash".to_string(),
            _ => "whitespace or control characters".to_string(),
        };
        return Err(format!("the URL must not contain {what}"));
    }
    let (https, rest) = if let Some(rest) = raw.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = raw.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err("the URL must start with https:// (or http:// to loopback)".into());
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    if query.is_some() && !rules.allow_query {
        return Err("the URL must not carry a query (?)".into());
    }
    let (authority, path) = match before_query.find('/') {
        Some(i) => before_query.split_at(i),
        None => (before_query, ""),
    };
    if authority.contains('@') || (path.contains('@') && !rules.allow_at_in_path) {
        return Err("the URL must not contain user info (@)".into());
    }
    let (host, port) = split_authority(authority)?;
    if path
        .split('/')
        .any(|seg| seg == "." || seg == ".." || seg.to_ascii_lowercase().contains("%2e"))
    {
        return Err("the URL path must not contain dot segments".into());
    }
    // The WHATWG parser (what reqwest and the SDKs use) must read the host exactly as written.
    let parsed = ::url::Url::parse(raw).map_err(|e| format!("not a valid URL ({e})"))?;
    let seen = parsed
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string())
        .unwrap_or_default();
    if seen != host {
        return Err(format!(
            "the host must be written in canonical form ({} reads as {seen})",
            shown(authority)
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the URL must not contain user info".into());
    }
    if !https && !rules.plain_http_hosts.contains(&host.as_str()) {
        return Err(format!(
            "plain http is allowed only to {}; {} needs https so the credential never crosses a network in clear text",
            rules.plain_http_hosts.join(", "),
            shown(authority)
        ));
    }
    Ok(Checked {
        https,
        host,
        port,
        url: raw.to_string(),
    })
}

/// `host[:port]` or `[v6][:port]`, lower case only.
fn split_authority(authority: &str) -> Result<(String, Option<u16>), String> {
    if authority.is_empty() {
        return Err("the URL has no host".into());
    }
    let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
        let (v6, after) = inner
            .split_once(']')
            .ok_or_else(|| "an IPv6 host needs a closing ]".to_string())?;
        if v6.is_empty()
            || !v6
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err("an IPv6 host may contain only hex digits, : and .".into());
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| "only :port may follow an IPv6 host".to_string())?,
            ),
        };
        (v6.to_string(), port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let name_ok = host
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-' || c == ':');
    if host.is_empty() || !name_ok {
        return Err(format!(
            "the host {} must be a lower-case name or an IP address",
            shown(&host)
        ));
    }
    let port = match port {
        None => None,
        Some(p) => {
            let n = (!p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()))
                .then(|| p.parse::<u16>().ok())
                .flatten()
                .filter(|n| *n > 0)
                .ok_or_else(|| "the port must be a number from 1 to 65535".to_string())?;
            Some(n)
        }
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Text from a URL for a message: bounded and printable.
fn shown(s: &str) -> String {
    let s: String = s.chars().filter(|c| !c.is_control()).take(100).collect();
    format!("{s:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        let ok = |raw: &str| parse(raw, Rules::ENDPOINT).map(|c| (c.https, c.host, c.port));
        type Want<'a> = Result<(bool, &'a str, Option<u16>), &'a str>;
        let cases: &[(&str, Want)] = &[
            (
                "https://api.cloudflare.com/client/v4",
                Ok((true, "api.cloudflare.com", None)),
            ),
            (
                "https://api.cloudflare.com:8443",
                Ok((true, "api.cloudflare.com", Some(8443))),
            ),
            (
                "http://127.0.0.1:8080/client/v4",
                Ok((false, "127.0.0.1", Some(8080))),
            ),
            ("http://localhost/", Ok((false, "localhost", None))),
            ("http://[::1]:9000/x", Ok((false, "::1", Some(9000)))),
            ("https://[2001:db8::1]/", Ok((true, "2001:db8::1", None))),
            // user info, in every spelling the issue found
            ("http://[::1]:@attacker.example/", Err("user info")),
            ("http://localhost:@attacker.example/", Err("user info")),
            ("https://user:pass@api.cloudflare.com/", Err("user info")),
            ("https://api.cloudflare.com/#frag", Err("fragment")),
            ("https://api.cloudflare.com/?x=1", Err("query")),
            ("https://api.cloudflare.com\\@evil/", Err("backslash")),
            ("http://api.example.com/", Err("plain http")),
            ("http://127.0.0.2:8080/", Err("plain http")),
            ("http://localhost.evil.example/", Err("plain http")),
            ("ftp://api.cloudflare.com/", Err("must start with")),
            ("HTTPS://api.cloudflare.com/", Err("must start with")),
            ("https://API.cloudflare.com/", Err("lower-case")),
            ("http://127.1/", Err("canonical")),
            ("http://0x7f000001/", Err("canonical")),
            ("https://api.cloudflare.com/a/../b", Err("dot segments")),
            ("https://api.cloudflare.com/%2E%2E/b", Err("dot segments")),
            ("https://api.cloudflare.com:0/", Err("port")),
            ("https://api.cloudflare.com:99999/", Err("port")),
            ("https://api.cloudflare.com:/", Err("port")),
            ("https:///path", Err("no host")),
            ("https://api .cloudflare.com/", Err("whitespace")),
            ("https://[::1/", Err("closing")),
            ("https://[::1]x/", Err("only :port")),
        ];
        for (raw, want) in cases {
            match (ok(raw), want) {
                (Ok((h, host, port)), Ok((wh, whost, wport))) => {
                    assert_eq!((h, host.as_str(), port), (*wh, *whost, *wport), "{raw}");
                }
                (Err(e), Err(needle)) => assert!(e.contains(needle), "{raw}: {e}"),
                (got, want) => panic!("{raw}: got {got:?}, want {want:?}"),
            }
        }
        let long = format!("https://api.cloudflare.com/{}", "a".repeat(MAX_LEN));
        assert!(parse(&long, Rules::ENDPOINT).is_err());
    }

    #[test]
    fn subject_source_urls_may_carry_a_query_and_reach_the_metadata_server() {
        let imds = "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://x";
        assert!(parse(imds, Rules::SUBJECT_SOURCE).is_ok());
        assert!(parse(imds, Rules::TOKEN).is_err());
        assert!(parse("http://metadata.google.internal/x", Rules::SUBJECT_SOURCE).is_ok());
        assert!(parse("http://169.254.169.254/x", Rules::ENDPOINT).is_err());
        assert!(parse("http://169.254.169.254:@evil/x", Rules::SUBJECT_SOURCE).is_err());
    }
}
