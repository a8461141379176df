//! The Kubernetes API of Perimeter (`perimeter.dev/v1alpha1`): custom resource types from
//! which the CRDs in `crds/` are generated.

pub mod addressset;
pub mod common;
pub mod compliance;
pub mod firewall;
pub mod monitoring;
pub mod provider;

pub use addressset::{AddressSet, AddressSetSpec, AddressSetStatus};
pub use common::*;
pub use compliance::{ControlAssessment, ControlAssessmentSpec, ControlAssessmentStatus};
pub use firewall::{FirewallPolicy, FirewallPolicySpec};
pub use monitoring::{MonitoringPolicy, MonitoringPolicySpec};
pub use provider::{
    AssetKindCount, CloudProvider, CloudProviderSpec, CloudProviderStatus, ClusterCloudProvider,
    ClusterCloudProviderSpec, InventoryStatus,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

/// All CRDs, in the order they are written to `crds/`, with every integer bounded by its type.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        CloudProvider::crd(),
        ClusterCloudProvider::crd(),
        FirewallPolicy::crd(),
        MonitoringPolicy::crd(),
        ControlAssessment::crd(),
        AddressSet::crd(),
    ]
    .into_iter()
    .map(bound_integers)
    .collect()
}

/// The CRDs as one multi-document YAML stream (what `perimeter crds` prints). Every string
/// that YAML 1.1 (kubectl, helm, PyYAML) or YAML 1.2 would read as another type is quoted.
pub fn crds_yaml() -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&crate::yaml::to_yaml(&serde_json::to_value(&crd)?));
    }
    Ok(out)
}

/// Gives every `type: integer` of the CRD's schemas the range of its Rust type (schemars'
/// `format`), keeping tighter bounds. Without it the API server stores a value serde then
/// refuses, and the typed list of the whole kind fails. uint64 is clamped to int64: the API
/// server stores integers as int64.
fn bound_integers(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let Ok(mut json) = serde_json::to_value(&crd) else {
        return crd;
    };
    if let Some(versions) = json
        .pointer_mut("/spec/versions")
        .and_then(Value::as_array_mut)
    {
        for version in versions {
            if let Some(schema) = version.pointer_mut("/schema/openAPIV3Schema") {
                bound_schema(schema);
            }
        }
    }
    serde_json::from_value(json).unwrap_or(crd)
}

/// The range of an integer `format`; an unknown or absent format is int64.
pub fn integer_range(format: Option<&str>) -> (i64, i64) {
    match format {
        Some("int8") => (i8::MIN.into(), i8::MAX.into()),
        Some("int16") => (i16::MIN.into(), i16::MAX.into()),
        Some("int32") => (i32::MIN.into(), i32::MAX.into()),
        Some("uint8") => (0, u8::MAX.into()),
        Some("uint16") => (0, u16::MAX.into()),
        Some("uint32") => (0, u32::MAX.into()),
        Some("uint64" | "uint" | "uint128") => (0, i64::MAX),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Walks the schema keywords only (never `enum`, `default` or `example` data).
pub fn bound_schema(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    if map.get("type").and_then(Value::as_str) == Some("integer") {
        let (lo, hi) = integer_range(map.get("format").and_then(Value::as_str));
        // An f64 bound: i64::MAX becomes 2^63, which no int64 reaches either.
        #[allow(clippy::cast_precision_loss)]
        let (lo, hi) = (lo as f64, hi as f64);
        let min = map
            .get("minimum")
            .and_then(Value::as_f64)
            .map_or(lo, |m| m.max(lo));
        let max = map
            .get("maximum")
            .and_then(Value::as_f64)
            .map_or(hi, |m| m.min(hi));
        map.insert("minimum".into(), Value::from(min));
        map.insert("maximum".into(), Value::from(max));
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = map.get_mut(key) {
            match child {
                Value::Array(items) => items.iter_mut().for_each(bound_schema),
                other => bound_schema(other),
            }
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(items)) = map.get_mut(key) {
            items.iter_mut().for_each(bound_schema);
        }
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        properties.values_mut().for_each(bound_schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A policy sets one provider block of a dozen: each is boxed, so an unset one costs a
    /// pointer, not the block's size (a 10,000-policy operator caches every policy, and held
    /// each unset block inline: 1,168 bytes a FirewallPolicy spec, now 160).
    #[test]
    fn unset_provider_blocks_cost_a_pointer() {
        let (firewall, monitoring) = (
            std::mem::size_of::<FirewallPolicySpec>(),
            std::mem::size_of::<MonitoringPolicySpec>(),
        );
        eprintln!("FirewallPolicySpec {firewall} B, MonitoringPolicySpec {monitoring} B");
        let blocks = crate::providers::registry::FIELDS.len();
        let controls = std::mem::size_of::<common::PolicyControls>();
        assert!(firewall <= controls + blocks * 8, "{firewall} B");
        assert!(monitoring <= controls + blocks * 8, "{monitoring} B");
    }

    /// Each case: the integer schema schemars emitted, and the bounds it must end with.
    #[test]
    fn integer_bounds_table() {
        let cases: [(Value, f64, f64); 9] = [
            (
                serde_json::json!({"type": "integer", "format": "int32"}),
                -2_147_483_648.0,
                2_147_483_647.0,
            ),
            (
                serde_json::json!({"type": "integer", "format": "uint32", "minimum": 0.0}),
                0.0,
                4_294_967_295.0,
            ),
            (
                serde_json::json!({"type": "integer", "format": "uint32", "minimum": 1.0}),
                1.0,
                4_294_967_295.0,
            ),
            (
                serde_json::json!({"type": "integer", "format": "uint16", "minimum": 400.0, "maximum": 499.0}),
                400.0,
                499.0,
            ),
            (
                serde_json::json!({"type": "integer", "format": "uint8", "maximum": 1000.0}),
                0.0,
                255.0,
            ),
            (
                serde_json::json!({"type": "integer", "format": "int32", "minimum": -1e12}),
                -2_147_483_648.0,
                2_147_483_647.0,
            ),
            (
                serde_json::json!({"type": "integer", "format": "uint64"}),
                0.0,
                i64::MAX as f64,
            ),
            (
                serde_json::json!({"type": "integer", "format": "int64"}),
                i64::MIN as f64,
                i64::MAX as f64,
            ),
            (
                serde_json::json!({"type": "integer"}),
                i64::MIN as f64,
                i64::MAX as f64,
            ),
        ];
        for (mut schema, min, max) in cases {
            let before = schema.clone();
            bound_schema(&mut schema);
            assert_eq!(schema["minimum"].as_f64(), Some(min), "{before}");
            assert_eq!(schema["maximum"].as_f64(), Some(max), "{before}");
        }
    }

    #[test]
    fn bounds_reach_nested_schemas_but_not_data() {
        let mut schema = serde_json::json!({
            "type": "object",
            "properties": {
                "list": {"type": "array", "items": {"type": "integer", "format": "int32"}},
                "map": {"type": "object", "additionalProperties": {"type": "integer", "format": "uint8"}},
                "data": {"type": "object", "default": {"type": "integer"}, "enum": [{"type": "integer"}]}
            }
        });
        bound_schema(&mut schema);
        assert_eq!(
            schema.pointer("/properties/list/items/maximum"),
            Some(&Value::from(2_147_483_647.0))
        );
        assert_eq!(
            schema.pointer("/properties/map/additionalProperties/maximum"),
            Some(&Value::from(255.0))
        );
        assert_eq!(
            schema.pointer("/properties/data/default"),
            Some(&serde_json::json!({"type": "integer"}))
        );
        assert_eq!(
            schema.pointer("/properties/data/enum/0"),
            Some(&serde_json::json!({"type": "integer"}))
        );
    }

    /// Every integer of every CRD ends up bounded, whatever kinds are added later.
    #[test]
    fn every_crd_integer_has_bounds() {
        fn walk(v: &Value, path: &str, unbounded: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if m.get("type").and_then(Value::as_str) == Some("integer")
                        && (m.get("minimum").is_none() || m.get("maximum").is_none())
                    {
                        unbounded.push(path.to_string());
                    }
                    for (k, c) in m {
                        walk(c, &format!("{path}/{k}"), unbounded);
                    }
                }
                Value::Array(a) => a
                    .iter()
                    .enumerate()
                    .for_each(|(i, c)| walk(c, &format!("{path}/{i}"), unbounded)),
                _ => {}
            }
        }
        let mut unbounded = Vec::new();
        for crd in crds() {
            for version in &crd.spec.versions {
                let schema = version
                    .schema
                    .as_ref()
                    .and_then(|s| s.open_api_v3_schema.as_ref());
                let json = serde_json::to_value(schema).expect("json");
                walk(
                    &json,
                    &format!("{}/{}", crd.spec.names.kind, version.name),
                    &mut unbounded,
                );
            }
        }
        assert!(unbounded.is_empty(), "{unbounded:?}");
    }
}
