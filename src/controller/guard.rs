//! Objects as the watches deliver them: parsed, or kept as "invalid" with the field that did
//! not parse, so one stored object that the types refuse (a value the schema let through, a
//! field from a newer version) fails alone instead of stopping the watch of its whole kind.
//! (kube's `DeserializeGuard` does the same but loses the field path and the status.)

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A watched object: `Ok` when it parses as `K`.
#[derive(Clone, Debug)]
pub struct Parsed<K>(pub Result<K, Invalid>);

/// An object that does not parse.
#[derive(Clone, Debug)]
pub struct Invalid {
    pub metadata: ObjectMeta,
    /// Where parsing stopped, e.g. `spec.cloudflare.rateLimitRules[0].requestsPerPeriod`.
    pub field: String,
    /// The parser's reason, bounded in length.
    pub error: String,
    /// The object's stored status, to write a new one only when it differs.
    pub status: Option<Value>,
}

impl Invalid {
    /// What the status and the Event say.
    pub fn message(&self) -> String {
        format!(
            "the stored object does not parse: {}: {}",
            if self.field.is_empty() || self.field == "." {
                "(object)"
            } else {
                &self.field
            },
            self.error
        )
    }
}

impl<K> Parsed<K> {
    pub fn ok(&self) -> Option<&K> {
        self.0.as_ref().ok()
    }
}

const MAX_ERROR_CHARS: usize = 300;

impl<'de, K> Deserialize<'de> for Parsed<K>
where
    K: DeserializeOwned + Resource,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match serde_path_to_error::deserialize::<_, K>(&value) {
            Ok(obj) => Ok(Self(Ok(obj))),
            Err(e) => {
                let metadata = value
                    .get("metadata")
                    .cloned()
                    .map(serde_json::from_value::<ObjectMeta>)
                    .transpose()
                    .map_err(serde::de::Error::custom)?
                    .unwrap_or_default();
                let field = e.path().to_string();
                let error: String = e
                    .into_inner()
                    .to_string()
                    .chars()
                    .take(MAX_ERROR_CHARS)
                    .collect();
                Ok(Self(Err(Invalid {
                    metadata,
                    field,
                    error,
                    status: value.get("status").cloned(),
                })))
            }
        }
    }
}

impl<K: Resource> Resource for Parsed<K> {
    type DynamicType = K::DynamicType;
    type Scope = K::Scope;

    fn kind(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::kind(dt)
    }

    fn group(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::group(dt)
    }

    fn version(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::version(dt)
    }

    fn plural(dt: &Self::DynamicType) -> Cow<'_, str> {
        K::plural(dt)
    }

    fn meta(&self) -> &ObjectMeta {
        match &self.0 {
            Ok(k) => k.meta(),
            Err(e) => &e.metadata,
        }
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        match &mut self.0 {
            Ok(k) => k.meta_mut(),
            Err(e) => &mut e.metadata,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::FirewallPolicy;
    use serde_json::json;

    #[test]
    fn an_unparsable_object_keeps_its_metadata_and_names_the_field() {
        let good = json!({"apiVersion": "perimeter.dev/v1alpha1", "kind": "FirewallPolicy",
            "metadata": {"name": "ok", "namespace": "a"},
            "spec": {"providerRef": {"name": "cf"}, "cloudflare": {"zoneId": "023e105f4ecef8ad9ca31a8372d0c353"}}});
        let parsed: Parsed<FirewallPolicy> = serde_json::from_value(good.clone()).expect("parse");
        assert!(parsed.ok().is_some());
        let mut bad = good;
        bad["spec"]["cloudflare"]["rateLimitRules"] = json!([{"ref": "r", "expression": "true",
            "action": "block", "characteristics": ["ip.src", "cf.colo.id"], "period": 60,
            "requestsPerPeriod": 99_999_999_999u64, "mitigationTimeout": 0}]);
        bad["status"] = json!({"driftCount": 1});
        let parsed: Parsed<FirewallPolicy> = serde_json::from_value(bad).expect("parse");
        let invalid = parsed.0.expect_err("invalid");
        assert_eq!(invalid.metadata.name.as_deref(), Some("ok"));
        assert_eq!(
            invalid.field,
            "spec.cloudflare.rateLimitRules[0].requestsPerPeriod"
        );
        assert!(
            invalid.message().contains("99999999999"),
            "{}",
            invalid.message()
        );
        assert_eq!(invalid.status, Some(json!({"driftCount": 1})));
    }
}
