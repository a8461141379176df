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

/// A destination URI safe to display. Logpush destinations carry credentials in several
/// places, and each is masked wholly:
/// - user info (`https://user:pass@host`): the URL parser takes the *last* `@` of the
///   authority as the separator, so a password holding `@` is masked too;
/// - every query value, keys kept (`s3://b?access-key-id=***&secret-access-key=***`,
///   `…?header_Authorization=***`, Azure SAS `sig=***`);
/// - path segments that look like keys (Sumo Logic `…/receiver/v1/http/<KEY>`, Datadog
///   `…/v1/input/<KEY>`): see [`looks_like_key`];
/// - the fragment.
///
/// A destination that does not parse as a URL is shown as `***`. Callers keep a digest of
/// the full value to see changes in what is masked.
pub fn mask_destination(uri: &str) -> String {
    match url::Url::parse(uri.trim()) {
        Ok(url) if !url.cannot_be_a_base() => mask_url(&url),
        _ => "***".to_string(),
    }
}

fn mask_url(url: &url::Url) -> String {
    let mut out = format!("{}:", url.scheme());
    if let Some(host) = url.host_str() {
        out.push_str("//");
        if !url.username().is_empty() || url.password().is_some() {
            out.push_str("***@");
        }
        out.push_str(host);
        if let Some(port) = url.port() {
            out.push_str(&format!(":{port}"));
        }
    }
    // Segments are shown decoded (`{DATE}`, not `%7BDATE%7D`), as they were written.
    let path: Vec<String> = url
        .path()
        .split('/')
        .map(|seg| {
            let shown: String = percent_encoding::percent_decode_str(seg)
                .decode_utf8_lossy()
                .chars()
                .filter(|c| !c.is_control())
                .collect();
            if looks_like_key(&shown) {
                "***".to_string()
            } else {
                shown
            }
        })
        .collect();
    out.push_str(&path.join("/"));
    if let Some(query) = url.query() {
        let masked: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) => format!("{k}=***"),
                None if looks_like_key(kv) => "***".to_string(),
                None => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&masked.join("&"));
    }
    if url.fragment().is_some() {
        out.push_str("#***");
    }
    out
}

/// Whether a path segment is probably a key rather than a name: at least 20 characters with
/// letters and digits, and either mixed case (base64 keys) or no `-`/`.` (hex keys). Names
/// people choose (`my-company-cloudflare-logs-2024`) keep their dashes and are shown;
/// `mycompanylogs20240101` is masked too, which costs only readability.
pub fn looks_like_key(segment: &str) -> bool {
    let has = |f: fn(&char) -> bool| segment.chars().any(|c| f(&c));
    segment.chars().count() >= 20
        && has(char::is_ascii_digit)
        && has(char::is_ascii_alphabetic)
        && ((has(char::is_ascii_uppercase) && has(char::is_ascii_lowercase))
            || !segment.contains(['-', '.']))
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
            // The last `@` of the authority separates the user info: the whole password goes.
            (
                "https://user:p@ss@word@siem.example.com/ingest",
                "https://***@siem.example.com/ingest",
            ),
            (
                "https://token@siem.example.com:8443/x",
                "https://***@siem.example.com:8443/x",
            ),
            (
                "https://siem.example.com/ingest",
                "https://siem.example.com/ingest",
            ),
            (
                "https://siem.example.com/ingest?header_Authorization=Bearer%20abc&header_X-Key=k&mode=x",
                "https://siem.example.com/ingest?header_Authorization=***&header_X-Key=***&mode=***",
            ),
            (
                "splunk://splunk.example.com:8088/services/collector/raw?channel=1&header_Authorization=Splunk%20abc",
                "splunk://splunk.example.com:8088/services/collector/raw?channel=***&header_Authorization=***",
            ),
            (
                "sumo://endpoint1.collection.us2.sumologic.com/receiver/v1/http/ZaVnC4dhaV2ZZls4RH5ALeFO-IQGaq0YW7Dpm1QXl8YE3PvS",
                "sumo://endpoint1.collection.us2.sumologic.com/receiver/v1/http/***",
            ),
            (
                "https://http-intake.logs.datadoghq.com/v1/input/0123456789abcdef0123456789abcdef?ddsource=cloudflare",
                "https://http-intake.logs.datadoghq.com/v1/input/***?ddsource=***",
            ),
            (
                "azure://container/path?sv=2020-08-04&sig=AbC%2Fdef",
                "azure://container/path?sv=***&sig=***",
            ),
            (
                "s3://my-company-cloudflare-logs-2024/firewall/{DATE}",
                "s3://my-company-cloudflare-logs-2024/firewall/{DATE}",
            ),
            (
                "https://siem.example.com/x#token=abc",
                "https://siem.example.com/x#***",
            ),
            ("not a url token=abc", "***"),
            ("", "***"),
        ];
        for (input, want) in cases {
            assert_eq!(mask_destination(input), want, "mask_destination({input:?})");
        }
    }

    #[test]
    fn key_like_segments() {
        for key in [
            "ZaVnC4dhaV2ZZls4RH5ALeFO-IQGaq0YW7Dpm1QXl8YE3PvS",
            "0123456789abcdef0123456789abcdef",
            "mycompanylogs20240101",
        ] {
            assert!(looks_like_key(key), "{key}");
        }
        for name in [
            "receiver",
            "my-company-cloudflare-logs-2024",
            "services",
            "logs.example.com-2024-01",
            "AVeryLongCamelCaseNameWithoutDigits",
        ] {
            assert!(!looks_like_key(name), "{name}");
        }
    }
}
