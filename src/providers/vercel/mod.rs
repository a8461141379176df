//! Vercel: a project's firewall (Vercel WAF) and the team's drains, through Vercel's REST API.

pub mod api;
pub mod model;
