//! The Supabase blocks of `FirewallPolicy` and `MonitoringPolicy`: the settings of one project
//! that the Supabase Management API exposes (database network restrictions, database SSL
//! enforcement, the Auth server's rate limits) and the services whose health it reports.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// A project ref: 20 lower-case letters (the spec's `ref` path parameter).
pub const PROJECT_REF_PATTERN: &str = r"^[a-z]{20}$";
/// An IPv4 CIDR; the address is masked to its network before comparing.
const CIDR_V4_PATTERN: &str = r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$";
/// An IPv6 CIDR; compared in canonical form (`2001:DB8::/32` equals `2001:db8::/32`).
const CIDR_V6_PATTERN: &str = r"^[0-9a-fA-F:]{2,39}/[0-9]{1,3}$";

/// One Supabase project's perimeter. A field that is absent is not managed at all.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupabaseFirewall {
    /// Project ref (20 lower-case letters), as in `https://<ref>.supabase.co`.
    #[schemars(regex(pattern = PROJECT_REF_PATTERN))]
    pub project_ref: String,
    /// IPv4 ranges allowed to reach the database (direct Postgres and the pooler). The whole
    /// list replaces the project's (`/network-restrictions/apply`); `0.0.0.0/0` allows every
    /// IPv4 address. An empty list allows none. The change counts as done only once Supabase
    /// reports it `applied`; while it is `stored`, the policy is not in sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 500), inner(regex(pattern = CIDR_V4_PATTERN)))]
    pub db_allowed_cidrs: Option<Vec<String>>,
    /// IPv6 ranges allowed to reach the database; `::/0` allows every IPv6 address. Written
    /// together with `dbAllowedCidrs` (when only one list is declared, the other is kept as
    /// it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 500), inner(regex(pattern = CIDR_V6_PATTERN)))]
    pub db_allowed_cidrs_v6: Option<Vec<String>>,
    /// Address sets of the policy's namespace whose addresses are added to `dbAllowedCidrs` (IPv4) and
    /// `dbAllowedCidrsV6` (IPv6); with any set named, both lists are managed (an absent one is
    /// then empty plus the set's addresses of its family). Nothing is
    /// written while a named set is missing, not Ready or stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(max = 16), inner(length(min = 1, max = 253), regex(pattern = crate::api::addressset::NAME_PATTERN)))]
    pub db_allowed_address_sets: Option<Vec<String>>,
    /// Whether the database refuses connections without SSL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssl_enforcement: Option<SslEnforcement>,
    /// The Auth server's rate limits (`rate_limit_*` of `/config/auth`): the project's edge
    /// limits on sign-ups, sign-ins and e-mail/SMS sending. Only the limits given are checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_rate_limits: Option<AuthRateLimits>,
    /// `Report`: read the addresses Supabase has banned (brute-force protection of Postgres
    /// and the pooler; one request more per read) and report them as a `NetworkBans` finding.
    /// `Ignore` or absent: do not read them (a sync reads only what the policy declares). Bans
    /// are never lifted by Perimeter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_bans: Option<BanReporting>,
}

/// SSL enforcement settings, as the API names them.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SslEnforcement {
    /// `true`: the database accepts only SSL connections.
    pub database: bool,
}

/// Auth rate limits. Each is a count per window that Supabase defines per limit (per hour
/// for e-mails and SMS, per 5 minutes for token refreshes and verifications, per hour for
/// anonymous sign-ins, OTPs and Web3 sign-ins, per IP address).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthRateLimits {
    /// `rate_limit_anonymous_users`: anonymous sign-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub anonymous_users: Option<u32>,
    /// `rate_limit_email_sent`: e-mails sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub email_sent: Option<u32>,
    /// `rate_limit_sms_sent`: SMS messages sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub sms_sent: Option<u32>,
    /// `rate_limit_token_refresh`: token refreshes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub token_refresh: Option<u32>,
    /// `rate_limit_verify`: sign-up and sign-in verifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub verify: Option<u32>,
    /// `rate_limit_otp`: one-time passwords.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub otp: Option<u32>,
    /// `rate_limit_web3`: Web3 sign-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2147483647))]
    pub web3: Option<u32>,
}

/// Whether a project's network bans are read and reported.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum BanReporting {
    Report,
    #[default]
    Ignore,
}

/// One Supabase project's monitoring: the services that must be healthy. The Management API
/// has no alerting or log-drain endpoint, so Supabase declares no alert route; pair it with a
/// monitoring provider for alerting.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SupabaseMonitoring {
    /// Project ref (20 lower-case letters).
    #[schemars(regex(pattern = PROJECT_REF_PATTERN))]
    pub project_ref: String,
    /// Services that must report `ACTIVE_HEALTHY` (`/health`); each one that does not is
    /// drift and a `ServiceUnhealthy` finding. Health is observed, never enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    #[schemars(length(min = 1, max = 8))]
    pub healthy_services: Option<Vec<Service>>,
}

/// A service of a Supabase project, as `/health` names it.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    Auth,
    Db,
    DbPostgresUser,
    Pooler,
    Realtime,
    Rest,
    Storage,
    PgBouncer,
}

impl Service {
    pub const ALL: [Service; 8] = [
        Self::Auth,
        Self::Db,
        Self::DbPostgresUser,
        Self::Pooler,
        Self::Realtime,
        Self::Rest,
        Self::Storage,
        Self::PgBouncer,
    ];

    /// The API's name of the service (the `services` query value and the answer's `name`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Db => "db",
            Self::DbPostgresUser => "db_postgres_user",
            Self::Pooler => "pooler",
            Self::Realtime => "realtime",
            Self::Rest => "rest",
            Self::Storage => "storage",
            Self::PgBouncer => "pg_bouncer",
        }
    }
}
