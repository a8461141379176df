//! Better Stack Uptime (`https://uptime.betterstack.com`, a team's API token as a bearer
//! token): monitors, heartbeats, escalation policies and status pages.

pub mod api;
pub mod model;
