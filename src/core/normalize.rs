//! Normalisation, so that states that mean the same never show drift
//! (CIDR forms, letter case, whitespace in expressions, defaults).

use std::net::IpAddr;

/// Why a value could not be normalised; the message is safe to show (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// An IP address in canonical text form (`2001:DB8::0001` → `2001:db8::1`).
pub fn ip(value: &str) -> Result<String, Invalid> {
    value
        .trim()
        .parse::<IpAddr>()
        .map(|a| a.to_string())
        .map_err(|_| Invalid(format!("{value:?} is not an IP address")))
}

/// A CIDR in canonical form: address masked to its network, canonical text, explicit prefix.
/// `192.0.2.7/24` → `192.0.2.0/24`; a bare address becomes a host route (`/32`, `/128`).
pub fn cidr(value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    let bad = || Invalid(format!("{value:?} is not a CIDR such as 198.51.100.0/24"));
    let (addr, prefix) = match value.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (value, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u8 = match prefix {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => max,
    };
    if prefix > max {
        return Err(bad());
    }
    let network = match addr {
        IpAddr::V4(a) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            IpAddr::from((u32::from(a) & mask).to_be_bytes())
        }
        IpAddr::V6(a) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix))
            };
            IpAddr::from((u128::from(a) & mask).to_be_bytes())
        }
    };
    Ok(format!("{network}/{prefix}"))
}

/// A rules-language expression with insignificant whitespace collapsed, outside string literals.
pub fn expression(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut pending_space = false;
    for ch in value.trim().chars() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
            continue;
        }
        if ch.is_whitespace() {
            pending_space = true;
            continue;
        }
        if pending_space && !out.is_empty() && !out.ends_with('(') && ch != ')' {
            out.push(' ');
        }
        pending_space = false;
        if ch == '"' {
            in_string = true;
        }
        out.push(ch);
    }
    out
}

/// An identifier compared without regard to case (country codes, ASNs, e-mail addresses).
pub fn folded(value: &str) -> String {
    value.trim().to_ascii_lowercase()
}

/// A destination URI safe to display: query values and user info are masked, since
/// Logpush destinations may embed access keys (`s3://b?access-key-id=…&secret-access-key=…`).
pub fn mask_destination(uri: &str) -> String {
    let (base, query) = match uri.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (uri, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) => format!("{scheme}://***@{host}"),
            None => base.to_string(),
        },
        None => base.to_string(),
    };
    match query {
        None => base,
        Some(q) => {
            let masked: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) => format!("{k}=***"),
                    None => kv.to_string(),
                })
                .collect();
            format!("{base}?{}", masked.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_table() {
        let cases = [
            ("192.0.2.7/24", Ok("192.0.2.0/24")),
            ("192.0.2.0/24", Ok("192.0.2.0/24")),
            (" 10.0.0.1 ", Ok("10.0.0.1/32")),
            ("0.0.0.0/0", Ok("0.0.0.0/0")),
            ("2001:DB8:0:0::1/64", Ok("2001:db8::/64")),
            ("2001:db8::1", Ok("2001:db8::1/128")),
            ("::/0", Ok("::/0")),
            ("192.0.2.0/33", Err(())),
            ("192.0.2.0/x", Err(())),
            ("example.com/24", Err(())),
            ("", Err(())),
        ];
        for (input, want) in cases {
            let got = cidr(input).map_err(|_| ());
            assert_eq!(got.as_deref().map_err(|_| ()), want, "cidr({input:?})");
        }
    }

    #[test]
    fn ip_table() {
        assert_eq!(ip("2001:DB8::0001").as_deref(), Ok("2001:db8::1"));
        assert_eq!(ip(" 192.0.2.1").as_deref(), Ok("192.0.2.1"));
        assert!(ip("192.0.2.1/32").is_err());
        assert!(ip("300.0.0.1").is_err());
    }

    #[test]
    fn expression_table() {
        let cases = [
            ("(ip.src eq 1.2.3.4)", "(ip.src eq 1.2.3.4)"),
            ("  ( ip.src   eq 1.2.3.4 )\n", "(ip.src eq 1.2.3.4)"),
            ("(http.host eq \"a  b\")", "(http.host eq \"a  b\")"),
            (
                "(a eq \"x\\\"  y\")  and\n(b)",
                "(a eq \"x\\\"  y\") and (b)",
            ),
            ("(a)\tor (b)", "(a) or (b)"),
        ];
        for (input, want) in cases {
            assert_eq!(expression(input), want, "expression({input:?})");
        }
    }

    #[test]
    fn expressions_that_differ_in_meaning_stay_different() {
        assert_ne!(
            expression("(http.host eq \"a b\")"),
            expression("(http.host eq \"ab\")")
        );
        assert_ne!(expression("(a eq 1)"), expression("(a eq 2)"));
    }

    #[test]
    fn masking_hides_credentials_but_keeps_the_destination_readable() {
        let cases = [
            (
                "s3://logs/cf?region=eu-west-1&access-key-id=AKIA123&secret-access-key=abc",
                "s3://logs/cf?region=***&access-key-id=***&secret-access-key=***",
            ),
            (
                "https://user:pass@siem.example.com/ingest",
                "https://***@siem.example.com/ingest",
            ),
            (
                "https://siem.example.com/ingest",
                "https://siem.example.com/ingest",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(mask_destination(input), want);
        }
    }
}
