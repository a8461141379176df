//! What the AWS side of the HTTP layer tells apart in a request or an error, used by both the
//! connector and call counter (`interceptor`) and the read sharing (`share`): whether an
//! operation writes, and the answers Perimeter refused to take in.

use aws_smithy_runtime_api::client::result::ConnectorError;

/// Whether an AWS operation changes state: every read Perimeter sends is a `Describe…`,
/// `List…`, `Get…` or CloudTrail's `LookupEvents`.
pub fn is_write(operation: &str) -> bool {
    !["Describe", "List", "Get", "LookupEvents"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// An answer Perimeter refused to take in; found again by [`super::interceptor::sdk_error`] in the error's sources.
#[derive(Clone, Debug, thiserror::Error)]
pub(super) enum Refused {
    #[error("HTTP {status}: {size} exceeds the {cap_mib} MiB cap on one answer; not read further")]
    TooLarge {
        status: u16,
        size: String,
        cap_mib: usize,
    },
    #[error("HTTP {status}: redirect to {host} not followed (check the endpoint)")]
    Redirect { status: u16, host: String },
    #[error("a request to {host} was not sent: not an AWS API host nor the account's endpoint")]
    Egress { host: String },
}

/// The refusal among an error's sources, if there is one.
pub(super) fn refusal(err: &ConnectorError) -> Option<&Refused> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r);
        }
        current = e.source();
    }
    None
}
