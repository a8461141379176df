//! The operator's evidence store: one ConfigMap per assessment, `perimeter-evidence-<name>` in
//! the operator's namespace, holding `trail.json` (the trail, capped by its [`Retention`]:
//! the newest `maxRecords` records under 900 KiB, plus the anchor of the last one dropped)
//! and `assessment.json` (the full latest result, for `perimeter report --cluster`).
//!
//! [`Stored`] is what was read, decoded and re-encoded without the API; [`ConfigMapStore`] is
//! the only part here that talks to Kubernetes. A save replaces exactly the version read, so
//! two writers cannot silently drop each other's records.
//!
//! [`Retention`]: super::Retention

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, PostParams};

use super::Trail;
use crate::compliance::Assessment;
use crate::error::Error;

pub const TRAIL_KEY: &str = "trail.json";
pub const RESULT_KEY: &str = "assessment.json";

/// Name of the ConfigMap holding an assessment's evidence.
pub fn evidence_configmap(assessment: &str) -> String {
    format!("perimeter-evidence-{assessment}")
}

/// One assessment's evidence ConfigMap as read, or its absence.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stored {
    configmap: Option<ConfigMap>,
}

impl Stored {
    pub fn new(configmap: Option<ConfigMap>) -> Self {
        Self { configmap }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.configmap
            .as_ref()
            .and_then(|c| c.data.as_ref())
            .and_then(|d| d.get(key))
            .map(String::as_str)
    }

    /// The trail to extend: empty when none is stored yet. A stored trail that does not parse
    /// is an error, never an empty trail: saving over it would erase the evidence.
    pub fn trail(&self) -> serde_json::Result<Trail> {
        self.get(TRAIL_KEY)
            .map_or_else(|| Ok(Trail::default()), serde_json::from_str)
    }

    /// The trail and the latest result, as `perimeter report --cluster` exports them: `None`
    /// until both are stored; an error names the key that does not parse.
    pub fn contents(&self) -> Result<Option<(Trail, Assessment)>, String> {
        let (Some(trail), Some(result)) = (self.get(TRAIL_KEY), self.get(RESULT_KEY)) else {
            return Ok(None);
        };
        let trail = serde_json::from_str(trail).map_err(|e| format!("{TRAIL_KEY}: {e}"))?;
        let result = serde_json::from_str(result).map_err(|e| format!("{RESULT_KEY}: {e}"))?;
        Ok(Some((trail, result)))
    }

    /// The ConfigMap a save writes: the one read with its data replaced (it carries the
    /// resourceVersion read), or a new one named for `assessment` when none was stored.
    pub fn updated(
        &self,
        assessment: &str,
        trail: &Trail,
        result: &Assessment,
    ) -> serde_json::Result<ConfigMap> {
        let data = BTreeMap::from([
            (TRAIL_KEY.to_string(), serde_json::to_string(trail)?),
            (RESULT_KEY.to_string(), serde_json::to_string(result)?),
        ]);
        Ok(match &self.configmap {
            Some(cm) => ConfigMap {
                data: Some(data),
                ..cm.clone()
            },
            None => ConfigMap {
                metadata: ObjectMeta {
                    name: Some(evidence_configmap(assessment)),
                    labels: Some(BTreeMap::from([(
                        "app.kubernetes.io/managed-by".to_string(),
                        "perimeter".to_string(),
                    )])),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            },
        })
    }
}

/// The evidence ConfigMaps of one namespace.
#[derive(Clone)]
pub struct ConfigMapStore {
    api: Api<ConfigMap>,
    namespace: String,
}

impl ConfigMapStore {
    pub fn new(client: Client, namespace: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
        }
    }

    /// Where an assessment's evidence is kept, as status and reports name it.
    pub fn location(&self, assessment: &str) -> String {
        format!(
            "ConfigMap {}/{}",
            self.namespace,
            evidence_configmap(assessment)
        )
    }

    pub async fn read(&self, assessment: &str) -> Result<Stored, kube::Error> {
        let configmap = self.api.get_opt(&evidence_configmap(assessment)).await?;
        Ok(Stored::new(configmap))
    }

    /// Writes `trail` and `result` over what `read` returned. A concurrent writer makes the
    /// replace fail (409, the resourceVersion no longer matches) instead of losing a record;
    /// the next reconcile starts over.
    pub async fn save(
        &self,
        assessment: &str,
        read: &Stored,
        trail: &Trail,
        result: &Assessment,
    ) -> Result<(), Error> {
        let cm = read
            .updated(assessment, trail, result)
            .map_err(|e| Error::Kube(kube::Error::SerdeError(e)))?;
        let params = PostParams::default();
        if read.configmap.is_some() {
            self.api
                .replace(&evidence_configmap(assessment), &params, &cm)
                .await?;
        } else {
            self.api.create(&params, &cm).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use serde_json::json;

    use super::*;
    use crate::api::compliance::ControlAssessment;
    use crate::compliance::{Snapshot, assess};

    fn assessment() -> ControlAssessment {
        serde_json::from_value(json!({
            "apiVersion": "perimeter.dev/v1alpha1", "kind": "ControlAssessment",
            "metadata": {"name": "de-cm-1"},
            "spec": {"control": "DE.CM-1"}
        }))
        .unwrap_or_else(|e| panic!("assessment: {e}"))
    }

    /// A trail of one record and the result behind it.
    fn evaluated() -> (Trail, Assessment) {
        let mut trail = Trail::default();
        let now: Timestamp = "2026-11-28T10:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("time: {e}"));
        let (report, written) = assess(&assessment(), &Snapshot::default(), &mut trail, "s", now);
        assert!(written);
        (trail, report.result)
    }

    fn configmap(data: serde_json::Value) -> Stored {
        Stored::new(Some(
            serde_json::from_value(json!({
                "metadata": {"name": "perimeter-evidence-de-cm-1", "namespace": "perimeter",
                             "resourceVersion": "42", "uid": "u1",
                             "labels": {"app.kubernetes.io/managed-by": "perimeter"}},
                "data": data
            }))
            .unwrap_or_else(|e| panic!("configmap: {e}")),
        ))
    }

    #[test]
    fn nothing_stored_is_an_empty_trail_and_no_report() {
        for (name, stored) in [
            ("no ConfigMap", Stored::new(None)),
            ("no data", Stored::new(Some(ConfigMap::default()))),
            ("other keys", configmap(json!({"notes.txt": "hello"}))),
        ] {
            assert_eq!(
                stored.trail().map_err(|e| e.to_string()),
                Ok(Trail::default()),
                "{name}"
            );
            assert_eq!(stored.contents(), Ok(None), "{name}");
        }
        let (trail, _) = evaluated();
        let trail_only = configmap(json!({ TRAIL_KEY: serde_json::to_string(&trail).ok() }));
        assert_eq!(trail_only.contents(), Ok(None), "no result yet");
    }

    #[test]
    fn an_unreadable_trail_is_an_error_not_an_empty_trail() {
        let (_, result) = evaluated();
        let result = serde_json::to_string(&result).ok();
        for text in ["{not json", "null", r#"{"records": "many"}"#] {
            let stored = configmap(json!({ TRAIL_KEY: text, RESULT_KEY: result }));
            assert!(stored.trail().is_err(), "{text}");
            let err = stored.contents().err().unwrap_or_default();
            assert!(err.starts_with("trail.json: "), "{text}: {err}");
        }
        let (trail, _) = evaluated();
        let stored = configmap(json!({
            TRAIL_KEY: serde_json::to_string(&trail).ok(),
            RESULT_KEY: "{}"
        }));
        let err = stored.contents().err().unwrap_or_default();
        assert!(err.starts_with("assessment.json: "), "{err}");
    }

    #[test]
    fn a_saved_trail_and_result_read_back_unchanged() {
        let (trail, result) = evaluated();
        let written = Stored::new(None)
            .updated("de-cm-1", &trail, &result)
            .unwrap_or_else(|e| panic!("encode: {e}"));
        let back = Stored::new(Some(written));
        assert_eq!(back.trail().ok(), Some(trail.clone()));
        assert_eq!(back.contents(), Ok(Some((trail, result))));
    }

    #[test]
    fn a_new_configmap_is_named_and_labelled_and_a_replace_keeps_the_version_read() {
        let (trail, result) = evaluated();
        let new = Stored::new(None)
            .updated("de-cm-1", &trail, &result)
            .unwrap_or_else(|e| panic!("encode: {e}"));
        assert_eq!(
            new.metadata.name.as_deref(),
            Some("perimeter-evidence-de-cm-1")
        );
        assert_eq!(new.metadata.resource_version, None);
        assert_eq!(
            new.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app.kubernetes.io/managed-by"))
                .map(String::as_str),
            Some("perimeter")
        );

        let read = configmap(json!({TRAIL_KEY: "{}", "notes.txt": "hello"}));
        let replaced = read
            .updated("de-cm-1", &trail, &result)
            .unwrap_or_else(|e| panic!("encode: {e}"));
        assert_eq!(replaced.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(replaced.metadata.uid.as_deref(), Some("u1"));
        let keys: Vec<&str> = replaced
            .data
            .iter()
            .flat_map(|d| d.keys().map(String::as_str))
            .collect();
        // The store owns the whole ConfigMap: keys it did not write do not survive a save.
        assert_eq!(keys, [RESULT_KEY, TRAIL_KEY]);
        assert_eq!(Stored::new(Some(replaced)).trail().ok(), Some(trail));
    }
}
