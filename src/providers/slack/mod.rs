//! Slack Web API (`https://slack.com/api`, a bot token): the alert channels of one workspace.

pub mod api;
pub mod model;
