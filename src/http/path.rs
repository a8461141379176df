//! Request paths that cannot leave the API they were meant for.
//!
//! Ids reach URL paths from two hostile places: specs (`zoneId`, `accountId`, policy names)
//! and provider answers (rule ids, operation names). `zoneId: ../../accounts/x` used to
//! become `/client/accounts/x/…`, because URL parsing resolves dot segments. Every id goes
//! through [`segment`] where the path is built, and [`join`] refuses, before any I/O, a path
//! that would still resolve anywhere but below the base URL's path.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::Url;

use crate::error::{Category, ProviderError};

/// Everything but RFC 3986's unreserved characters is encoded: `/`, `?`, `#`, `%`, `\` and
/// `;` lose their meaning, so an id is always exactly one segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why an id cannot be one path segment, whatever its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsafe {
    Empty,
    /// `.` or `..`: URL parsing resolves them even when percent-encoded.
    DotSegment,
}

impl std::fmt::Display for Unsafe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Empty => "it is empty",
            Self::DotSegment => "it is a dot segment",
        })
    }
}

/// `value` as one percent-encoded path segment, or why it cannot be one.
pub fn segment(value: &str) -> Result<String, Unsafe> {
    match value {
        "" => Err(Unsafe::Empty),
        "." | ".." => Err(Unsafe::DotSegment),
        _ => Ok(utf8_percent_encode(value, SEGMENT).to_string()),
    }
}

/// [`segment`] for an id a spec gave: refused as `InvalidSpec`, naming the field.
pub fn spec_segment(
    operation: &'static str,
    field: &str,
    value: &str,
) -> Result<String, ProviderError> {
    segment(value).map_err(|why| {
        ProviderError::new(
            Category::InvalidSpec,
            operation,
            format!(
                "{field} {:?} cannot be used in a request path: {why}",
                shown(value)
            ),
        )
    })
}

/// [`segment`] for an id a provider answered with: refused as `BadResponse`.
pub fn answer_segment(
    operation: &'static str,
    what: &str,
    value: &str,
) -> Result<String, ProviderError> {
    segment(value).map_err(|why| {
        ProviderError::new(
            Category::BadResponse,
            operation,
            format!(
                "the provider's {what} {:?} cannot be used in a request path: {why}",
                shown(value)
            ),
        )
    })
}

/// A slash-separated name the provider answered with (`projects/p/alertPolicies/1`), each part
/// encoded with [`answer_segment`].
pub fn answer_segments(
    operation: &'static str,
    what: &str,
    value: &str,
) -> Result<String, ProviderError> {
    value
        .split('/')
        .map(|part| answer_segment(operation, what, part))
        .collect::<Result<Vec<_>, _>>()
        .map(|parts| parts.join("/"))
}

fn shown(value: &str) -> String {
    value.chars().take(64).collect()
}

/// Why [`join`] refused a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub &'static str);

/// The URL of `path` below `base`, refused unless it stays below the base URL's path: no dot
/// segment (also percent-encoded), no `?`, `#`, `\`, empty segment, whitespace or control
/// character, and the parsed URL's path must be exactly the base's path followed by `path`
/// (no resolution happened). An empty `path` is the base URL itself (token endpoints).
pub fn join(base: &str, path: &str) -> Result<Url, Refused> {
    let base_url = Url::parse(base).map_err(|_| Refused("the base URL does not parse"))?;
    if path.is_empty() {
        return Ok(base_url);
    }
    if !path.starts_with('/') {
        return Err(Refused("the path does not start with /"));
    }
    if base_url.query().is_some() || base_url.fragment().is_some() {
        return Err(Refused("the base URL has a query or fragment"));
    }
    if path
        .chars()
        .any(|c| matches!(c, '?' | '#' | '\\') || c.is_whitespace() || c.is_control())
    {
        return Err(Refused(
            "the path holds ?, #, \\, whitespace or a control character",
        ));
    }
    for part in path[1..].split('/') {
        if part.is_empty() {
            return Err(Refused("the path has an empty segment"));
        }
        let decoded = percent_encoding::percent_decode_str(part).collect::<Vec<u8>>();
        if decoded == b"." || decoded == b".." {
            return Err(Refused("the path has a dot segment"));
        }
    }
    let joined = format!("{}{path}", base.trim_end_matches('/'));
    let url = Url::parse(&joined).map_err(|_| Refused("the URL does not parse"))?;
    let expected = format!("{}{path}", base_url.path().trim_end_matches('/'));
    if url.path() != expected
        || url.host_str() != base_url.host_str()
        || url.port_or_known_default() != base_url.port_or_known_default()
        || url.scheme() != base_url.scheme()
    {
        return Err(Refused("the path would resolve outside the base URL"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_table() {
        let cases = [
            (
                "023e105f4ecef8ad9ca31a8372d0c353",
                Ok("023e105f4ecef8ad9ca31a8372d0c353"),
            ),
            ("allow-ssh_v1.2~x", Ok("allow-ssh_v1.2~x")),
            ("../../accounts/x", Ok("..%2F..%2Faccounts%2Fx")),
            ("%2e%2e", Ok("%252e%252e")),
            ("a?b#c", Ok("a%3Fb%23c")),
            ("a\\b", Ok("a%5Cb")),
            ("a;b c", Ok("a%3Bb%20c")),
            ("zöne", Ok("z%C3%B6ne")),
            ("...", Ok("...")),
            ("", Err(Unsafe::Empty)),
            (".", Err(Unsafe::DotSegment)),
            ("..", Err(Unsafe::DotSegment)),
        ];
        for (input, want) in cases {
            assert_eq!(
                segment(input),
                want.map(str::to_string),
                "segment({input:?})"
            );
        }
    }

    #[test]
    fn segments_from_specs_and_answers_have_their_own_category() {
        let e = spec_segment("op", "zoneId", "..").expect_err("refused");
        assert_eq!(e.category, Category::InvalidSpec);
        assert!(e.message.contains("zoneId"), "{}", e.message);
        let e = answer_segment("op", "rule id", "").expect_err("refused");
        assert_eq!(e.category, Category::BadResponse);
        assert_eq!(
            answer_segments("op", "name", "projects/p/alertPolicies/1 2")
                .map_err(|e| e.message)
                .as_deref(),
            Ok("projects/p/alertPolicies/1%202")
        );
        assert!(answer_segments("op", "name", "projects/../x").is_err());
    }

    #[test]
    fn join_table() {
        let base = "https://api.cloudflare.com/client/v4";
        let ok = [
            (
                "/zones/abc/firewall/access_rules/rules",
                "https://api.cloudflare.com/client/v4/zones/abc/firewall/access_rules/rules",
            ),
            (
                "/zones/..%2F..%2Faccounts",
                "https://api.cloudflare.com/client/v4/zones/..%2F..%2Faccounts",
            ),
            (
                "/zones/a%252e%252e",
                "https://api.cloudflare.com/client/v4/zones/a%252e%252e",
            ),
            (
                "/zones/...",
                "https://api.cloudflare.com/client/v4/zones/...",
            ),
            ("", "https://api.cloudflare.com/client/v4"),
        ];
        for (path, want) in ok {
            assert_eq!(
                join(base, path).map(|u| u.to_string()).as_deref(),
                Ok(want),
                "{path:?}"
            );
        }
        let refused = [
            "/zones/../../accounts/x",
            "/zones/%2e%2e/%2E%2E/accounts/x",
            "/zones/.%2e/x",
            "/zones/./x",
            "/zones/x/..",
            "/zones/x?y=1",
            "/zones/x#y",
            "/zones\\..\\x",
            "/zones//x",
            "/zones/x/",
            "/zones/a b",
            "/zones/a\nb",
            "zones/x",
            "//evil.example/x",
        ];
        for path in refused {
            assert!(join(base, path).is_err(), "{path:?} should be refused");
        }
        // A base URL with a query (an external-account credential_source.url) is used as is,
        // but nothing is appended to it.
        let with_query = "http://169.254.169.254/token?api-version=1";
        assert_eq!(
            join(with_query, "").map(|u| u.to_string()).as_deref(),
            Ok(with_query)
        );
        assert!(join(with_query, "/x").is_err());
        // A trailing slash on the base changes nothing.
        assert_eq!(
            join("http://127.0.0.1:1/", "/x")
                .map(|u| u.to_string())
                .as_deref(),
            Ok("http://127.0.0.1:1/x")
        );
    }
}
