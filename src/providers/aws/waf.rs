//! WAFv2: web ACLs (written whole, with their lock token) and IP sets — reads, writes, and the
//! mapping between the SDK's rules and the policy's.

use std::collections::BTreeSet;

use super::Aws;
use super::client::from_raw;
use super::model::{self, WafRuleObs};
use super::sections::{IP_SETS, Part, WEB_ACLS};
use crate::core::{Change, Item, State};
use crate::error::{Category, ProviderError};
use crate::providers::aws::api::{IpSet, WafRule, WebAcl};
use crate::providers::aws::interceptor::error_code;
use crate::providers::{Observation, Target};

impl Aws {
    /// The declared web ACLs: their default action (`webAcls`) and rules
    /// (`webAcls[<SCOPE>/<name>].rules`).
    pub(super) async fn observe_web_acls(
        &self,
        region: &str,
        desired: &State,
        obs: &mut Observation,
    ) -> Result<(), ProviderError> {
        let Some(acls) = desired.section(WEB_ACLS) else {
            return Ok(());
        };
        let mut settings = Vec::new();
        for want in &acls.items {
            let acl: WebAcl = from_raw(want, "GetWebACL")?;
            let Some((id, web_acl, _)) = self.get_web_acl(region, &acl).await? else {
                continue;
            };
            let default = match web_acl.default_action() {
                Some(d) if d.block().is_some() => "Block",
                _ => "Allow",
            };
            settings.push(
                Item::new(&want.key)
                    .field("defaultAction", default)
                    .with_handle(id),
            );
            let rules = web_acl
                .rules()
                .iter()
                .map(|r| model::observed_waf_rule(&waf_rule_obs(r)))
                .collect();
            obs.state
                .push(Part::WafRules(want.key.clone()).section(rules));
        }
        obs.state.push(Part::WebAcls.section(settings));
        Ok(())
    }

    /// The IP sets of the scopes the declared ones are in.
    pub(super) async fn observe_ip_sets(
        &self,
        region: &str,
        desired: &State,
        obs: &mut Observation,
    ) -> Result<(), ProviderError> {
        let Some(sets) = desired.section(IP_SETS) else {
            return Ok(());
        };
        let mut scopes = BTreeSet::new();
        for want in &sets.items {
            let set: IpSet = from_raw(want, "ListIPSets")?;
            scopes.insert(set.scope.as_str());
        }
        let mut items = Vec::new();
        for scope in scopes {
            for (name, id) in self.list_ip_sets(region, scope).await? {
                let got = self
                    .waf(region)
                    .get_ip_set()
                    .name(&name)
                    .scope(scope.into())
                    .id(&id)
                    .send()
                    .await
                    .map_err(|e| self.err("GetIPSet", false, &e))?;
                let Some(set) = got.ip_set() else { continue };
                items.push(
                    model::observed_ip_set(
                        scope,
                        &name,
                        set.ip_address_version().as_str(),
                        set.addresses(),
                    )
                    .with_handle(id),
                );
            }
        }
        obs.state.push(Part::IpSets.section(items));
        Ok(())
    }

    async fn list_ip_sets(
        &self,
        region: &str,
        scope: &str,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .waf(region)
                .list_ip_sets()
                .scope(scope.into())
                .limit(100)
                .set_next_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.err("ListIPSets", false, &e))?;
            for s in page.ip_sets() {
                if let (Some(n), Some(i)) = (s.name(), s.id()) {
                    out.push((n.to_string(), i.to_string()));
                }
            }
            marker = next_marker(page.next_marker(), page.ip_sets().is_empty());
            if marker.is_none() {
                return Ok(out);
            }
        }
        Err(too_many_pages("ListIPSets"))
    }

    async fn find_web_acl(
        &self,
        region: &str,
        scope: &str,
        name: &str,
    ) -> Result<Option<String>, ProviderError> {
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .waf(region)
                .list_web_acls()
                .scope(scope.into())
                .limit(100)
                .set_next_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.err("ListWebACLs", false, &e))?;
            if let Some(found) = page.web_acls().iter().find(|a| a.name() == Some(name)) {
                return Ok(found.id().map(str::to_string));
            }
            marker = next_marker(page.next_marker(), page.web_acls().is_empty());
            if marker.is_none() {
                return Ok(None);
            }
        }
        Err(too_many_pages("ListWebACLs"))
    }

    /// The web ACL with its id and lock token, or `None` when it does not exist.
    async fn get_web_acl(
        &self,
        region: &str,
        acl: &WebAcl,
    ) -> Result<Option<(String, aws_sdk_wafv2::types::WebAcl, String)>, ProviderError> {
        let scope = acl.scope.as_str();
        let Some(id) = self.find_web_acl(region, scope, &acl.name).await? else {
            return Ok(None);
        };
        let got = self
            .waf(region)
            .get_web_acl()
            .name(&acl.name)
            .scope(scope.into())
            .id(&id)
            .send()
            .await
            .map_err(|e| self.err("GetWebACL", false, &e))?;
        let (Some(web_acl), Some(token)) = (got.web_acl(), got.lock_token()) else {
            return Err(ProviderError::new(
                Category::BadResponse,
                "GetWebACL",
                "answer without WebACL or LockToken",
            ));
        };
        Ok(Some((id, web_acl.clone(), token.to_string())))
    }

    /// Writes one web ACL whole: declared rules as declared, undeclared rules kept unless the
    /// plan deletes them. A stale lock token (someone wrote in between) re-reads once.
    pub(super) async fn write_web_acl(
        &self,
        region: &str,
        target: &Target,
        key: &str,
        removed: &BTreeSet<String>,
    ) -> Result<(), ProviderError> {
        let item = target
            .desired
            .section(WEB_ACLS)
            .and_then(|s| s.get(key))
            .ok_or_else(|| {
                ProviderError::new(Category::InvalidSpec, "UpdateWebACL", "undeclared web ACL")
            })?;
        let acl: WebAcl = from_raw(item, "UpdateWebACL")?;
        let declared = acl
            .rules
            .iter()
            .map(sdk_waf_rule)
            .collect::<Result<Vec<_>, _>>()?;
        let default = default_action(&acl.default_action)?;
        for attempt in 0..2 {
            let Some((id, current, token)) = self.get_web_acl(region, &acl).await? else {
                let visibility = visibility(&acl.name)?;
                self.waf(region)
                    .create_web_acl()
                    .name(&acl.name)
                    .scope(acl.scope.as_str().into())
                    .default_action(default.clone())
                    .set_rules(Some(declared.clone()))
                    .visibility_config(visibility)
                    .send()
                    .await
                    .map_err(|e| self.err("CreateWebACL", true, &e))?;
                return Ok(());
            };
            let names: BTreeSet<&str> = acl.rules.iter().map(|r| r.name.as_str()).collect();
            let mut rules = declared.clone();
            rules.extend(
                current
                    .rules()
                    .iter()
                    .filter(|r| !names.contains(r.name()) && !removed.contains(r.name()))
                    .cloned(),
            );
            let visibility = match current.visibility_config() {
                Some(v) => v.clone(),
                None => visibility(&acl.name)?,
            };
            let sent = self
                .waf(region)
                .update_web_acl()
                .name(&acl.name)
                .scope(acl.scope.as_str().into())
                .id(&id)
                .default_action(default.clone())
                .set_rules(Some(rules))
                .visibility_config(visibility)
                .lock_token(token)
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(()),
                Err(e) if attempt == 0 && error_code(&e) == Some("WAFOptimisticLockException") => {
                    tracing::info!("web ACL {key} changed while being written; re-reading once");
                }
                Err(e) => return Err(self.err("UpdateWebACL", true, &e)),
            }
        }
        Err(ProviderError::new(
            Category::WriteRejected,
            "UpdateWebACL",
            "the web ACL kept changing (WAFOptimisticLockException twice)",
        ))
    }

    pub(super) async fn write_ip_set(
        &self,
        region: &str,
        target: &Target,
        change: &Change,
        observed: &State,
    ) -> Result<(), ProviderError> {
        let waf = self.waf(region);
        match change {
            Change::Create { key, .. } | Change::Update { key, .. } => {
                let item = target
                    .desired
                    .section(IP_SETS)
                    .and_then(|s| s.get(key))
                    .ok_or_else(|| {
                        ProviderError::new(
                            Category::InvalidSpec,
                            "UpdateIPSet",
                            "undeclared IP set",
                        )
                    })?;
                let set: IpSet = from_raw(item, "UpdateIPSet")?;
                let addresses = item
                    .fields
                    .get("addresses")
                    .and_then(|a| serde_json::from_value::<Vec<String>>(a.clone()).ok())
                    .unwrap_or_default();
                let handle = observed
                    .section(IP_SETS)
                    .and_then(|s| s.get(key))
                    .and_then(|i| i.handle.clone());
                let Some(id) = handle else {
                    waf.create_ip_set()
                        .name(&set.name)
                        .scope(set.scope.as_str().into())
                        .ip_address_version(set.ip_address_version.as_str().into())
                        .set_addresses(Some(addresses))
                        .send()
                        .await
                        .map_err(|e| self.err("CreateIPSet", true, &e))?;
                    return Ok(());
                };
                for attempt in 0..2 {
                    let got = waf
                        .get_ip_set()
                        .name(&set.name)
                        .scope(set.scope.as_str().into())
                        .id(&id)
                        .send()
                        .await
                        .map_err(|e| self.err("GetIPSet", false, &e))?;
                    let token = got.lock_token().unwrap_or_default().to_string();
                    let sent = waf
                        .update_ip_set()
                        .name(&set.name)
                        .scope(set.scope.as_str().into())
                        .id(&id)
                        .set_addresses(Some(addresses.clone()))
                        .lock_token(token)
                        .send()
                        .await;
                    match sent {
                        Ok(_) => return Ok(()),
                        Err(e)
                            if attempt == 0
                                && error_code(&e) == Some("WAFOptimisticLockException") => {}
                        Err(e) => return Err(self.err("UpdateIPSet", true, &e)),
                    }
                }
                Err(ProviderError::new(
                    Category::WriteRejected,
                    "UpdateIPSet",
                    "the IP set kept changing (WAFOptimisticLockException twice)",
                ))
            }
            Change::Delete { key, .. } => {
                let Some(id) = observed
                    .section(IP_SETS)
                    .and_then(|s| s.get(key))
                    .and_then(|i| i.handle.clone())
                else {
                    return Ok(());
                };
                let (scope, name) = key.split_once('/').unwrap_or(("REGIONAL", key));
                let got = waf
                    .get_ip_set()
                    .name(name)
                    .scope(scope.into())
                    .id(&id)
                    .send()
                    .await
                    .map_err(|e| self.err("GetIPSet", false, &e))?;
                waf.delete_ip_set()
                    .name(name)
                    .scope(scope.into())
                    .id(&id)
                    .lock_token(got.lock_token().unwrap_or_default())
                    .send()
                    .await
                    .map_err(|e| self.err("DeleteIPSet", true, &e))?;
                Ok(())
            }
            Change::Reorder { .. } => Ok(()),
        }
    }
}

const MAX_PAGES: u32 = 200;

fn next_marker(marker: Option<&str>, empty_page: bool) -> Option<String> {
    marker
        .filter(|m| !m.is_empty() && !empty_page)
        .map(str::to_string)
}

fn too_many_pages(operation: &'static str) -> ProviderError {
    ProviderError::new(
        Category::BadResponse,
        operation,
        format!("more than {MAX_PAGES} pages"),
    )
}

fn waf_rule_obs(r: &aws_sdk_wafv2::types::Rule) -> WafRuleObs {
    let action = if let Some(o) = r.override_action() {
        if o.count().is_some() {
            "override:Count"
        } else {
            "override:None"
        }
        .to_string()
    } else if let Some(a) = r.action() {
        if a.allow().is_some() {
            "Allow"
        } else if a.block().is_some() {
            "Block"
        } else if a.count().is_some() {
            "Count"
        } else {
            "other"
        }
        .to_string()
    } else {
        "none".to_string()
    };
    let statement = match r.statement() {
        Some(s) if s.ip_set_reference_statement().is_some() => format!(
            "ipSet:{}",
            s.ip_set_reference_statement()
                .map(|i| i.arn())
                .unwrap_or_default()
        ),
        Some(s) if s.rate_based_statement().is_some() => {
            let rb = s.rate_based_statement();
            let window = rb.map_or(0, |r| r.evaluation_window_sec());
            format!(
                "rateBased:{}/{}s",
                rb.map_or(0, |r| r.limit()),
                if window == 0 { 300 } else { window }
            )
        }
        Some(s) if s.managed_rule_group_statement().is_some() => {
            let m = s.managed_rule_group_statement();
            format!(
                "managed:{}/{}",
                m.map(|m| m.vendor_name()).unwrap_or_default(),
                m.map(|m| m.name()).unwrap_or_default()
            )
        }
        _ => "other".to_string(),
    };
    WafRuleObs {
        name: r.name().to_string(),
        priority: r.priority(),
        action,
        statement,
    }
}

fn invalid(operation: &'static str, e: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(Category::InvalidSpec, operation, e.to_string())
}

fn visibility(name: &str) -> Result<aws_sdk_wafv2::types::VisibilityConfig, ProviderError> {
    aws_sdk_wafv2::types::VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(name)
        .build()
        .map_err(|e| invalid("UpdateWebACL", e))
}

fn default_action(action: &str) -> Result<aws_sdk_wafv2::types::DefaultAction, ProviderError> {
    use aws_sdk_wafv2::types as w;
    let b = w::DefaultAction::builder();
    Ok(match action {
        "Block" => b.block(w::BlockAction::builder().build()).build(),
        _ => b.allow(w::AllowAction::builder().build()).build(),
    })
}

fn sdk_waf_rule(rule: &WafRule) -> Result<aws_sdk_wafv2::types::Rule, ProviderError> {
    use aws_sdk_wafv2::types as w;
    let op = "UpdateWebACL";
    let s = &rule.statement;
    let statement = if let Some(r) = &s.ip_set_reference {
        w::Statement::builder()
            .ip_set_reference_statement(
                w::IpSetReferenceStatement::builder()
                    .arn(&r.arn)
                    .build()
                    .map_err(|e| invalid(op, e))?,
            )
            .build()
    } else if let Some(r) = &s.rate_based {
        w::Statement::builder()
            .rate_based_statement(
                w::RateBasedStatement::builder()
                    .limit(r.limit)
                    .evaluation_window_sec(r.evaluation_window_sec.unwrap_or(300))
                    .aggregate_key_type(w::RateBasedStatementAggregateKeyType::Ip)
                    .build()
                    .map_err(|e| invalid(op, e))?,
            )
            .build()
    } else if let Some(m) = &s.managed_rule_group {
        w::Statement::builder()
            .managed_rule_group_statement(
                w::ManagedRuleGroupStatement::builder()
                    .vendor_name(&m.vendor_name)
                    .name(&m.name)
                    .build()
                    .map_err(|e| invalid(op, e))?,
            )
            .build()
    } else {
        return Err(invalid(
            op,
            format!("rule {} has no supported statement", rule.name),
        ));
    };
    let mut b = w::Rule::builder()
        .name(&rule.name)
        .priority(rule.priority)
        .statement(statement)
        .visibility_config(visibility(&rule.name)?);
    if s.managed_rule_group.is_some() {
        let o = w::OverrideAction::builder();
        b = b.override_action(if rule.override_to_count == Some(true) {
            o.count(w::CountAction::builder().build()).build()
        } else {
            o.none(w::NoneAction::builder().build()).build()
        });
    } else {
        let a = w::RuleAction::builder();
        b = b.action(match rule.action {
            Some(crate::providers::aws::api::WafAction::Block) => {
                a.block(w::BlockAction::builder().build()).build()
            }
            Some(crate::providers::aws::api::WafAction::Count) => {
                a.count(w::CountAction::builder().build()).build()
            }
            _ => a.allow(w::AllowAction::builder().build()).build(),
        });
    }
    b.build().map_err(|e| invalid(op, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waf_markers_stop_on_empty_pages_and_missing_markers() {
        assert_eq!(next_marker(Some("m2"), false), Some("m2".into()));
        assert_eq!(next_marker(Some(""), false), None);
        assert_eq!(next_marker(None, false), None);
        assert_eq!(next_marker(Some("m2"), true), None);
    }
}
