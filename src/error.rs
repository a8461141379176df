//! Typed errors with a bounded category. The category — never the message — becomes a
//! metric label, an Event reason and a condition reason.

use std::time::Duration;

/// Why something failed, from a closed list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// The policy or provider resource cannot be acted on as written.
    InvalidSpec,
    /// The referenced `CloudProvider` does not exist.
    ProviderNotFound,
    /// The `CloudProvider` type has no client in this version.
    ProviderNotSupported,
    /// The policy's provider block does not match the referenced `CloudProvider`'s type.
    ProviderMismatch,
    /// The credential Secret or key is absent or empty.
    CredentialsMissing,
    /// The operator's admin does not allow what the object asks for (the operator's own
    /// identity, an endpoint that is not the provider's, a Secret without the credential label,
    /// a ClusterCloudProvider not shared with the namespace).
    Forbidden,
    /// The provider rejected the credential (401/403).
    CredentialsRejected,
    /// The provider answered 429 and asked to wait longer than we are willing to.
    Throttled,
    /// The provider did not answer in time.
    Timeout,
    /// The provider could not be reached (connection refused, DNS, TLS).
    Unreachable,
    /// The provider answered 5xx.
    ProviderError,
    /// The provider answered something that is not its documented shape.
    BadResponse,
    /// The provider refused a write (4xx other than auth and throttling).
    WriteRejected,
    /// A call to the Kubernetes API failed.
    Kubernetes,
    /// An `AddressSet` the policy names is missing, not `Ready`, stale, or unsuitable where
    /// it is named: nothing is written until it can be used whole.
    AddressSetNotReady,
}

impl Category {
    pub const ALL: [Category; 15] = [
        Self::InvalidSpec,
        Self::ProviderNotFound,
        Self::ProviderNotSupported,
        Self::ProviderMismatch,
        Self::CredentialsMissing,
        Self::Forbidden,
        Self::CredentialsRejected,
        Self::Throttled,
        Self::Timeout,
        Self::Unreachable,
        Self::ProviderError,
        Self::BadResponse,
        Self::WriteRejected,
        Self::Kubernetes,
        Self::AddressSetNotReady,
    ];

    /// The category whose reason this is.
    pub fn from_reason(reason: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.reason() == reason)
    }

    /// CamelCase, for condition and Event reasons.
    pub fn reason(self) -> &'static str {
        match self {
            Self::InvalidSpec => "InvalidSpec",
            Self::ProviderNotFound => "ProviderNotFound",
            Self::ProviderNotSupported => "ProviderNotSupported",
            Self::ProviderMismatch => "ProviderMismatch",
            Self::CredentialsMissing => "CredentialsMissing",
            Self::Forbidden => "Forbidden",
            Self::CredentialsRejected => "CredentialsRejected",
            Self::Throttled => "Throttled",
            Self::Timeout => "Timeout",
            Self::Unreachable => "Unreachable",
            Self::ProviderError => "ProviderError",
            Self::BadResponse => "BadResponse",
            Self::WriteRejected => "WriteRejected",
            Self::Kubernetes => "KubernetesError",
            Self::AddressSetNotReady => "AddressSetNotReady",
        }
    }

    /// snake_case, for metric labels.
    pub fn label(self) -> &'static str {
        match self {
            Self::InvalidSpec => "invalid_spec",
            Self::ProviderNotFound => "provider_not_found",
            Self::ProviderNotSupported => "provider_not_supported",
            Self::ProviderMismatch => "provider_mismatch",
            Self::CredentialsMissing => "credentials_missing",
            Self::Forbidden => "forbidden",
            Self::CredentialsRejected => "credentials_rejected",
            Self::Throttled => "throttled",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::ProviderError => "provider_error",
            Self::BadResponse => "bad_response",
            Self::WriteRejected => "write_rejected",
            Self::Kubernetes => "kubernetes",
            Self::AddressSetNotReady => "address_set_not_ready",
        }
    }

    /// Whether the provider's state is unknown after this error (a read could not complete).
    pub fn is_provider_read_failure(self) -> bool {
        matches!(
            self,
            Self::CredentialsRejected
                | Self::Throttled
                | Self::Timeout
                | Self::Unreachable
                | Self::ProviderError
                | Self::BadResponse
        )
    }
}

/// A failed provider call. The message is built by the HTTP layer from the status and the
/// provider's error codes, with the credential redacted; it never contains request headers.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct ProviderError {
    pub category: Category,
    pub operation: &'static str,
    pub message: String,
    /// How long the provider asked us to wait, when it said so.
    pub retry_after: Option<Duration>,
    /// The HTTP status of the provider's refusal, when it answered with one (a provider that
    /// must tell e.g. 402 from 403 reads it here, never from the message).
    pub status: Option<u16>,
}

impl ProviderError {
    pub fn new(category: Category, operation: &'static str, message: impl Into<String>) -> Self {
        Self {
            category,
            operation,
            message: message.into(),
            retry_after: None,
            status: None,
        }
    }
}

/// Everything that can stop one sync of one policy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    #[error("CloudProvider {0:?} not found in the policy's namespace")]
    ProviderNotFound(String),
    #[error("{0}")]
    ProviderNotSupported(String),
    #[error("{0}")]
    ProviderMismatch(String),
    #[error("credentials: {0}")]
    CredentialsMissing(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    AddressSet(#[from] crate::core::addresses::SetError),
}

impl Error {
    pub fn category(&self) -> Category {
        match self {
            Self::InvalidSpec(_) => Category::InvalidSpec,
            Self::ProviderNotFound(_) => Category::ProviderNotFound,
            Self::ProviderNotSupported(_) => Category::ProviderNotSupported,
            Self::ProviderMismatch(_) => Category::ProviderMismatch,
            Self::CredentialsMissing(_) => Category::CredentialsMissing,
            Self::Forbidden(_) => Category::Forbidden,
            Self::Provider(e) => e.category,
            Self::Kube(_) => Category::Kubernetes,
            Self::AddressSet(_) => Category::AddressSetNotReady,
        }
    }
}
