//! One sanitiser for every piece of provider text that may reach status, Events, logs or the
//! CLI (error messages, Logpush `error_message`, operation errors). The credential the client
//! presents is removed separately ([`crate::SecretString::redact`]); this catches what the
//! client cannot know: keys echoed back by a provider, keys inside a destination URL, tokens
//! of another system.
//!
//! Rules, in order (each table-tested below):
//! 1. control characters become spaces;
//! 2. URLs (`scheme://…`) are shown as [`mask_destination`] shows them: user info, query
//!    values, key-like path segments and fragments masked;
//! 3. `header_<Name>=<value>` (Cloudflare's form for HTTP destinations), `Authorization:` /
//!    `Authorization=`, and `Bearer <token>`: the value goes, with its scheme word
//!    (`Bearer`, `Basic`, `Splunk`, …); a standalone `Basic <token>` goes when the token looks
//!    like base64 (digit, `=`, or mixed case), so English ("Basic plan") survives;
//! 4. `name=value`, `name: value`, `"name":"value"` where the name contains `key`, `token`,
//!    `secret`, `passw(or)d`, `pwd`, `signature`, `sig`, `credential` or `session`: the value;
//! 5. Slack tokens (`xoxb-…`, `xoxp-…`, `xapp-…` and the other `xox?-` kinds) and Trigger.dev
//!    keys (`tr_dev_…`, `tr_prod_…`, `tr_stg_…`, `tr_preview_…`, `tr_pat_…`), whatever their length or case;
//! 6. opaque tokens: a run of `[A-Za-z0-9+/=_-]` of at least 24 characters with upper case,
//!    lower case and a digit (base64 keys, AWS secrets, Cloudflare tokens, JWT parts), or one
//!    whose `/`-separated pieces include one of at least 40 characters with a digit (long hex
//!    keys). Lower-case ids (Cloudflare's 32-hex ids, GCP names, AWS `sg-…`) are kept;
//! 7. the result is cut to `max` characters (`…` marks the cut).

use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::core::normalize::mask_destination;

pub const MASK: &str = "***";

static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>`]+"#).expect("a constant pattern")
});

/// An auth scheme word that precedes a credential.
const SCHEME: &str = r"(?:Bearer|Basic|Token|Splunk|Bot|Digest|Negotiate|AWS4-HMAC-SHA256)";

static HEADER_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r#"(?i)(\bheader_[A-Za-z0-9_-]+\s*=\s*|\b(?:proxy-)?authorization"?\s*[:=]\s*"?)((?:{SCHEME}(?:\s+|%20|\+))?[^\s&"',;]+)"#
    ))
    .expect("a constant pattern")
});

static BEARER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(Bearer(?:\s+|%20|\+))[A-Za-z0-9+/=._~-]+").expect("a constant pattern")
});

static BASIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(Basic(?:\s+|%20|\+))([A-Za-z0-9+/=._~-]{6,})").expect("a constant pattern")
});

static NAMED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)([A-Za-z0-9_.-]*(?:key|token|secret|passw(?:or)?d|pwd|signature|sig|credential|session)[A-Za-z0-9_.-]*"?\s*[:=]\s*"?)([^\s&"',;]+)"#,
    )
    .expect("a constant pattern")
});

static SLACK_TOKEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:xox[abeoprs]|xapp)-[A-Za-z0-9-]+").expect("a constant pattern")
});

static TRIGGER_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\btr_(?:dev|prod|stg|pat|preview)_[A-Za-z0-9_]+").expect("a constant pattern")
});

static OPAQUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[A-Za-z0-9+/=_-]{24,}").expect("a constant pattern"));

/// `text` with credential-looking content masked, control characters removed, and at most
/// `max` characters long. See the module documentation for the rules.
pub fn sanitize(text: &str, max: usize) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = URL.replace_all(&text, |c: &Captures| {
        let raw = &c[0];
        // Sentence punctuation right after a URL is not part of it.
        let url = raw.trim_end_matches(['.', ',', ';', ':', ')', ']']);
        format!("{}{}", mask_destination(url), &raw[url.len()..])
    });
    let text = HEADER_VALUE.replace_all(&text, |c: &Captures| masked(&c[1], &c[2]));
    let text = BEARER.replace_all(&text, |c: &Captures| format!("{}{MASK}", &c[1]));
    let text = BASIC.replace_all(&text, |c: &Captures| {
        let token = &c[2];
        let lower = token.chars().any(|c| c.is_ascii_lowercase());
        let upper = token.chars().any(|c| c.is_ascii_uppercase());
        if token.contains(|c: char| c.is_ascii_digit() || c == '=') || (lower && upper) {
            format!("{}{MASK}", &c[1])
        } else {
            c[0].to_string()
        }
    });
    let text = NAMED.replace_all(&text, |c: &Captures| {
        if &c[2] == MASK {
            c[0].to_string()
        } else {
            masked(&c[1], &c[2])
        }
    });
    let text = SLACK_TOKEN.replace_all(&text, MASK);
    let text = TRIGGER_KEY.replace_all(&text, MASK);
    let text = OPAQUE.replace_all(&text, |c: &Captures| {
        if is_opaque(&c[0]) {
            MASK.to_string()
        } else {
            c[0].to_string()
        }
    });
    bound(&text, max)
}

/// `prefix` and the mask, keeping sentence punctuation that ended the masked value.
fn masked(prefix: &str, value: &str) -> String {
    let kept = value.trim_end_matches([':', '.', ')', ']']);
    format!("{prefix}{MASK}{}", &value[kept.len()..])
}

fn is_opaque(run: &str) -> bool {
    let lower = run.chars().any(|c| c.is_ascii_lowercase());
    let upper = run.chars().any(|c| c.is_ascii_uppercase());
    let digit = run.chars().any(|c| c.is_ascii_digit());
    (lower && upper && digit)
        || run
            .split('/')
            .any(|piece| piece.len() >= 40 && piece.chars().any(|c| c.is_ascii_digit()))
}

fn bound(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_table() {
        let cases = [
            // Provider messages without secrets pass unchanged.
            ("10000 Authentication error", "10000 Authentication error"),
            (
                "FAILED_PRECONDITION Fingerprint mismatch",
                "FAILED_PRECONDITION Fingerprint mismatch",
            ),
            (
                "zone 023e105f4ecef8ad9ca31a8372d0c353 not found",
                "zone 023e105f4ecef8ad9ca31a8372d0c353 not found",
            ),
            (
                "The security group 'sg-0123456789abcdef0' does not exist",
                "The security group 'sg-0123456789abcdef0' does not exist",
            ),
            (
                "projects/my-project-123456/global/firewalls/allow-ssh-from-the-bastion-1",
                "projects/my-project-123456/global/firewalls/allow-ssh-from-the-bastion-1",
            ),
            ("Basic plan required", "Basic plan required"),
            (
                "The security token included in the request is invalid.",
                "The security token included in the request is invalid.",
            ),
            // URLs: user info, query values, key-like segments.
            (
                "error posting to https://u:p@ss@siem.example.com/in?token=abc&x=1: 401",
                "error posting to https://***@siem.example.com/in?token=***&x=***: 401",
            ),
            (
                "POST https://http-intake.logs.datadoghq.com/v1/input/0123456789abcdef0123456789abcdef failed.",
                "POST https://http-intake.logs.datadoghq.com/v1/input/*** failed.",
            ),
            // header_* values, Authorization, Bearer, Basic.
            (
                "destination rejected header_Authorization=Bearer abc.def-ghi: 403",
                "destination rejected header_Authorization=***: 403",
            ),
            (
                "bad header_X-Api-Key=k1 and header_DD-API-KEY = zz",
                "bad header_X-Api-Key=*** and header_DD-API-KEY = ***",
            ),
            ("Authorization: Basic dXNlcjpwYXNz", "Authorization: ***"),
            (
                "authorization=Splunk%20abc-123&x=1",
                "authorization=***&x=1",
            ),
            ("sent Bearer eyJhbGciOi.eyJzdWIi.sig", "sent Bearer ***"),
            ("sent basic dXNlcjpwYXNz", "sent basic ***"),
            // name=value pairs.
            (
                "secret-access-key=abc&region=eu access_key: xyz",
                "secret-access-key=***&region=eu access_key: ***",
            ),
            (
                r#"{"access_token":"ya29.short"}"#,
                r#"{"access_token":"***"}"#,
            ),
            (
                "X-Amz-Signature=deadbeef password=hunter2",
                "X-Amz-Signature=*** password=***",
            ),
            ("Invalid token: expired", "Invalid token: ***"),
            // Opaque tokens.
            (
                "key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY refused",
                "key *** refused",
            ),
            (
                "session FwoGZXIvYXdzEJr//////////wEaDM3token refused",
                "session *** refused",
            ),
            (
                "hex 0123456789abcdef0123456789abcdef01234567 refused",
                "hex *** refused",
            ),
            ("jwt eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.x", "jwt ***.x"),
            // Slack tokens, short or lower-case ones too (the opaque rule would miss them).
            ("token xoxb-12-34-abcdef revoked", "token *** revoked"),
            ("echo xapp-1-a0b1c2-d3 and xoxp-1-2-3.", "echo *** and ***."),
            // Trigger.dev keys, lower-case or short ones too.
            (
                "key tr_prod_abc123 and tr_dev_x, tr_stg_Q1 or TR_PAT_deadbeef.",
                "key *** and ***, *** or ***.",
            ),
            ("the tr_prod_ prefix", "the tr_prod_ prefix"),
            // Control characters and length.
            ("a\u{1b}[31mb\nc", "a [31mb c"),
        ];
        for (input, want) in cases {
            assert_eq!(sanitize(input, 500), want, "sanitize({input:?})");
        }
        assert_eq!(sanitize(&"x".repeat(1000), 300).chars().count(), 301);
        assert!(sanitize(&"x".repeat(1000), 300).ends_with('…'));
        assert_eq!(sanitize("short", 300), "short");
    }
}
