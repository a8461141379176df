//! Reading Perimeter manifests from a folder (for `check` and `demo`, where no API server
//! validated them): the same CEL rules as the CRD schema are evaluated here.

use std::path::Path;

use kube::api::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;

use crate::api::{
    CloudProvider, ClusterCloudProvider, ControlAssessment, FirewallPolicy, MonitoringPolicy,
};

/// The Perimeter objects found in a folder; other kinds are ignored.
#[derive(Debug, Default, Clone)]
pub struct Manifests {
    pub providers: Vec<CloudProvider>,
    pub cluster_providers: Vec<ClusterCloudProvider>,
    pub firewalls: Vec<FirewallPolicy>,
    pub monitors: Vec<MonitoringPolicy>,
    pub assessments: Vec<ControlAssessment>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
}

impl Manifests {
    /// Reads every `*.yaml`/`*.yml` file in `dir` (not recursive), in name order.
    pub fn load_dir(dir: &Path) -> Result<Self, ManifestError> {
        let io = |e| ManifestError::Io {
            path: dir.display().to_string(),
            source: e,
        };
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
            })
            .collect();
        files.sort();
        let mut out = Self::default();
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|e| ManifestError::Io {
                path: file.display().to_string(),
                source: e,
            })?;
            out.add_yaml(&file.display().to_string(), &text)?;
        }
        Ok(out)
    }

    /// Adds every Perimeter document of a multi-document YAML text.
    pub fn add_yaml(&mut self, origin: &str, text: &str) -> Result<(), ManifestError> {
        for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let where_ = format!("{origin} (document {})", i + 1);
            let invalid = |message: String| ManifestError::Invalid {
                path: where_.clone(),
                message,
            };
            let value = Value::deserialize(doc).map_err(|e| invalid(e.to_string()))?;
            if value.is_null() {
                continue;
            }
            let head: Head =
                serde_json::from_value(value.clone()).map_err(|e| invalid(e.to_string()))?;
            if head.api_version != "perimeter.dev/v1alpha1" {
                continue;
            }
            let label = format!(
                "{} {}",
                head.kind,
                value
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            );
            match head.kind.as_str() {
                "CloudProvider" => {
                    self.providers
                        .push(parse(&value).map_err(|e| invalid(format!("{label}: {e}")))?);
                }
                "ClusterCloudProvider" => {
                    self.cluster_providers
                        .push(parse(&value).map_err(|e| invalid(format!("{label}: {e}")))?);
                }
                "FirewallPolicy" => {
                    self.firewalls
                        .push(parse(&value).map_err(|e| invalid(format!("{label}: {e}")))?);
                }
                "MonitoringPolicy" => {
                    self.monitors
                        .push(parse(&value).map_err(|e| invalid(format!("{label}: {e}")))?);
                }
                "ControlAssessment" => {
                    self.assessments
                        .push(parse(&value).map_err(|e| invalid(format!("{label}: {e}")))?);
                }
                other => return Err(invalid(format!("unknown Perimeter kind {other:?}"))),
            }
        }
        Ok(())
    }

    pub fn provider(&self, namespace: &str, name: &str) -> Option<&CloudProvider> {
        self.providers.iter().find(|p| {
            p.metadata.name.as_deref() == Some(name) && namespace_of(&p.metadata) == namespace
        })
    }
}

fn parse<T>(value: &Value) -> Result<T, String>
where
    T: serde::de::DeserializeOwned + kube::CustomResourceExt + serde::Serialize,
{
    let obj: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    // The rules an API server would evaluate at admission (x-kubernetes-validations).
    kube::core::cel::validate_cel(&obj).map_err(|e| e.to_string())?;
    Ok(obj)
}

pub fn namespace_of(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

/// Parses one YAML document into JSON (test fixtures, seeds).
pub fn yaml_to_json(text: &str) -> Result<Value, String> {
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROVIDER: &str = "apiVersion: perimeter.dev/v1alpha1\nkind: CloudProvider\nmetadata: {name: cf}\nspec:\n  type: cloudflare\n  accountId: a1\n  credentials: {secretRef: {name: s, key: k}}\n";
    const POLICY: &str = "apiVersion: perimeter.dev/v1alpha1\nkind: FirewallPolicy\nmetadata: {name: p}\nspec:\n  providerRef: {name: cf}\n";

    /// The CEL rules of the CRDs, evaluated locally: each case is a manifest and the message
    /// it must be rejected with (or None when valid).
    #[test]
    fn schema_rules_table() {
        let zone = "  cloudflare:\n    zoneId: 023e105f4ecef8ad9ca31a8372d0c353\n";
        let cases: Vec<(String, Option<&str>)> = vec![
            (PROVIDER.to_string(), None),
            (
                PROVIDER.replace("  accountId: a1\n", ""),
                Some("needs spec.accountId"),
            ),
            (
                format!("{PROVIDER}  endpoint: http://api.example.com/client/v4\n"),
                Some("endpoint must use https"),
            ),
            (
                format!("{PROVIDER}  endpoint: http://127.0.0.1:8080/client/v4\n"),
                None,
            ),
            (
                format!("{PROVIDER}  endpoint: \"http://[::1]:8080\"\n"),
                None,
            ),
            (
                format!("{PROVIDER}  endpoint: http://localhost.evil.com/\n"),
                Some("endpoint must use https"),
            ),
            (
                format!("{PROVIDER}  endpoint: https://proxy.example.com/client/v4\n"),
                None,
            ),
            (format!("{POLICY}{zone}"), None),
            (POLICY.to_string(), Some("exactly one provider block")),
            (
                format!(
                    "{POLICY}{zone}    ipAccessRules: [{{mode: block, target: country, value: Germany}}]\n"
                ),
                Some("two-letter ISO code"),
            ),
            (
                format!(
                    "{POLICY}{zone}    ipAccessRules: [{{mode: block, target: asn, value: \"13335\"}}]\n"
                ),
                Some("AS13335"),
            ),
            (
                format!(
                    "{POLICY}{zone}    rateLimitRules: [{{ref: a, expression: x, action: block, characteristics: [ip.src, cf.colo.id], period: 45, requestsPerPeriod: 1, mitigationTimeout: 0}}]\n"
                ),
                Some("period must be one of"),
            ),
            (
                format!(
                    "{POLICY}{zone}    wafCustomRules: [{{ref: a, expression: x, action: block, actionParameters: {{phases: [http_ratelimit]}}}}]\n"
                ),
                Some("only valid for action skip"),
            ),
        ];
        for (yaml, want) in cases {
            let got = Manifests::default().add_yaml("case", &yaml);
            match (got, want) {
                (Ok(()), None) => {}
                (Err(e), Some(msg)) => assert!(
                    e.to_string().contains(msg),
                    "{yaml}\n→ {e}\nshould mention {msg:?}"
                ),
                (Ok(()), Some(msg)) => panic!("{yaml}\nshould be rejected with {msg:?}"),
                (Err(e), None) => panic!("{yaml}\nshould be valid: {e}"),
            }
        }
    }

    #[test]
    fn other_kinds_are_ignored_and_unknown_perimeter_kinds_rejected() {
        let mut m = Manifests::default();
        assert!(
            m.add_yaml(
                "x",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\n"
            )
            .is_ok()
        );
        assert!(
            m.add_yaml("x", "apiVersion: perimeter.dev/v1alpha1\nkind: Mystery\n")
                .is_err()
        );
    }
}
