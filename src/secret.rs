//! Credentials as a type whose `Debug` and `Display` never show the value.

use std::fmt;

/// A credential read from a Secret or the environment. Only [`SecretString::expose`]
/// reveals it, and only the HTTP layer calls that, to build an `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// Replaces every occurrence of the secret in `text` (defence in depth for messages that
    /// quote a provider's answer, in case a provider ever echoes the credential).
    pub fn redact(&self, text: &str) -> String {
        if self.0.len() < 4 {
            return text.to_string();
        }
        text.replace(&self.0, "[REDACTED]")
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([REDACTED])")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_the_value() {
        let s = SecretString::new("cf-token-123456");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert!(!format!("{s:?}").contains("123456"));
        assert_eq!(
            s.redact("bad token cf-token-123456 given"),
            "bad token [REDACTED] given"
        );
        assert_eq!(s.expose(), "cf-token-123456");
    }
}
