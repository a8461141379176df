//! Reading Perimeter manifests from files (for `check`, `demo` and `report --manifests`,
//! where no API server validated them), the way `kubectl apply --validate=strict` would have
//! the API server check them: read as YAML 1.1 ([`yaml`]), validated against the generated
//! `openAPIV3Schema` ([`schema`]), then against the CEL rules, then parsed into the typed
//! object. Every problem of every file is collected, so one run shows them all; nothing is
//! returned (and so no provider is called) while any remains.

pub mod schema;

use std::collections::BTreeSet;

use std::fmt;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::ObjectMeta;
use serde::Serialize;
use serde_json::Value;

use crate::api::{
    AddressSet, CloudProvider, ClusterCloudProvider, ControlAssessment, FirewallPolicy,
    MonitoringPolicy,
};
use crate::yaml;
use schema::Violation;

/// The Perimeter objects found; documents of other API groups are listed in `ignored`.
#[derive(Debug, Default, Clone)]
pub struct Manifests {
    pub providers: Vec<CloudProvider>,
    pub cluster_providers: Vec<ClusterCloudProvider>,
    pub firewalls: Vec<FirewallPolicy>,
    pub monitors: Vec<MonitoringPolicy>,
    pub assessments: Vec<ControlAssessment>,
    pub address_sets: Vec<AddressSet>,
    pub ignored: Vec<Ignored>,
    /// `Kind namespace/name` of every object added, with where it came from: the API server
    /// keeps one object per name, so a second document with the same one is refused rather
    /// than quietly replacing the first (or, here, running twice under one name).
    defined: std::collections::BTreeMap<String, String>,
}

/// A document that is not a Perimeter object (a Secret, a ConfigMap…): not an error.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ignored {
    pub file: String,
    pub document: usize,
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One reason a manifest is refused, located as precisely as known.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: String,
    pub document: Option<usize>,
    pub line: Option<usize>,
    /// `FirewallPolicy perimeter/edge-firewall`.
    pub object: Option<String>,
    /// `spec.cloudflare.wafCustomRules[2].action`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        match (self.document, self.line) {
            (Some(d), Some(l)) => write!(f, " (document {d}, line {l})")?,
            (Some(d), None) => write!(f, " (document {d})")?,
            (None, Some(l)) => write!(f, " (line {l})")?,
            (None, None) => {}
        }
        if let Some(o) = &self.object {
            write!(f, ": {o}")?;
        }
        if let Some(field) = self.field.as_ref().filter(|f| !f.is_empty()) {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}", render_problems(.0))]
    Invalid(Vec<Problem>),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl ManifestError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid(p) => p,
            Self::Io { .. } => &[],
        }
    }
}

fn render_problems(problems: &[Problem]) -> String {
    let mut out = format!(
        "{} problem(s) in the manifests; nothing was checked against any provider:",
        problems.len()
    );
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

/// One served version of a custom resource kind, from its CRD, with its checks prepared once
/// (the CEL rules compiled, the patterns built), so validating a document costs only the walk.
#[derive(Debug, Clone)]
pub struct KindSchema {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespaced: bool,
    status_subresource: bool,
    schema: Value,
    patterns: Arc<schema::Patterns>,
    rules: Arc<kube::core::cel::CompiledSchema>,
}

/// The kinds Perimeter serves, read from CRDs at run time: a new kind needs no code here
/// beyond the typed parse in [`Manifests::add_typed`].
pub struct Catalog {
    kinds: Vec<KindSchema>,
    groups: BTreeSet<String>,
    cel: kube::core::cel::Validator,
}

/// What a document is.
pub enum Class<'c> {
    Perimeter(&'c KindSchema),
    Other { api_version: String, kind: String },
}

impl Catalog {
    /// The catalog of this build's CRDs, built once per process (generating the CRDs and
    /// compiling their rules costs far more than validating a document).
    pub fn builtin() -> &'static Self {
        static BUILTIN: LazyLock<Catalog> =
            LazyLock::new(|| Catalog::from_crds(&crate::api::crds()));
        &BUILTIN
    }

    pub fn from_crds(crds: &[CustomResourceDefinition]) -> Self {
        let json: Vec<Value> = crds
            .iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect();
        Self::from_json(&json)
    }

    /// From CRDs as JSON (for instance `crds/perimeter.yaml` read by another YAML parser).
    pub fn from_json(crds: &[Value]) -> Self {
        let mut kinds = Vec::new();
        let mut groups = BTreeSet::new();
        for crd in crds {
            let spec = &crd["spec"];
            let (Some(group), Some(kind)) =
                (spec["group"].as_str(), spec["names"]["kind"].as_str())
            else {
                continue;
            };
            groups.insert(group.to_string());
            for version in spec["versions"].as_array().into_iter().flatten() {
                let (Some(name), true) = (
                    version["name"].as_str(),
                    version["served"].as_bool().unwrap_or(false),
                ) else {
                    continue;
                };
                let schema = version["schema"]["openAPIV3Schema"].clone();
                kinds.push(KindSchema {
                    group: group.to_string(),
                    version: name.to_string(),
                    kind: kind.to_string(),
                    namespaced: spec["scope"].as_str() != Some("Cluster"),
                    status_subresource: version["subresources"].get("status").is_some(),
                    patterns: Arc::new(schema::Patterns::of(&schema)),
                    rules: Arc::new(kube::core::cel::compile_schema(&schema)),
                    schema,
                });
            }
        }
        Self {
            kinds,
            groups,
            cel: kube::core::cel::Validator::new(),
        }
    }

    /// Which kind a document claims to be; an error names the field at fault.
    pub fn classify(&self, doc: &Value) -> Result<Class<'_>, Violation> {
        let field = |name: &str| -> Result<String, Violation> {
            match doc.get(name) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(other) => Err(Violation {
                    field: name.to_string(),
                    message: format!("must be a string, not {}", schema::show(other)),
                }),
                None => Err(Violation {
                    field: name.to_string(),
                    message: "Required value: every manifest needs apiVersion and kind".into(),
                }),
            }
        };
        let api_version = field("apiVersion")?;
        let kind = field("kind")?;
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        let ours = self.groups.contains(group);
        if !ours {
            // A group that merely looks like ours is a typo, not somebody else's object.
            if group.contains("perimeter") {
                return Err(Violation {
                    field: "apiVersion".into(),
                    message: format!(
                        "unknown apiVersion {api_version:?}: Perimeter serves {}",
                        self.served()
                    ),
                });
            }
            return Ok(Class::Other { api_version, kind });
        }
        let of_kind: Vec<&KindSchema> = self
            .kinds
            .iter()
            .filter(|k| k.group == group && k.kind == kind)
            .collect();
        if of_kind.is_empty() {
            let known: BTreeSet<&str> = self
                .kinds
                .iter()
                .filter(|k| k.group == group)
                .map(|k| k.kind.as_str())
                .collect();
            return Err(Violation {
                field: "kind".into(),
                message: format!(
                    "unknown kind {kind:?} in {group} (known: {})",
                    known.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        of_kind
            .into_iter()
            .find(|k| k.version == version)
            .map(Class::Perimeter)
            .ok_or_else(|| Violation {
                field: "apiVersion".into(),
                message: format!(
                    "unknown apiVersion {api_version:?} for {kind}: Perimeter serves {}",
                    self.served()
                ),
            })
    }

    fn served(&self) -> String {
        let versions: BTreeSet<String> = self
            .kinds
            .iter()
            .map(|k| format!("{}/{}", k.group, k.version))
            .collect();
        versions.into_iter().collect::<Vec<_>>().join(", ")
    }

    /// The API server's admission checks: the schema (strict), then the CEL rules. The
    /// document is pruned as the API server would (status, nulls of non-nullable fields).
    pub fn validate(&self, kind: &KindSchema, doc: &mut Value) -> Vec<Violation> {
        if kind.status_subresource
            && let Some(map) = doc.as_object_mut()
        {
            // With a status subresource the API server ignores status on create and update.
            map.remove("status");
        }
        let violations =
            schema::validate_object_with(&kind.schema, &kind.patterns, doc, kind.namespaced);
        if !violations.is_empty() {
            // CEL rules assume the schema holds (the API server skips them on a bad type).
            return violations;
        }
        let context = kube::core::cel::RootContext {
            api_version: format!("{}/{}", kind.group, kind.version),
            api_group: kind.group.clone(),
            kind: kind.kind.clone(),
        };
        match self
            .cel
            .validate_compiled_with_context(&kind.rules, doc, None, Some(&context))
        {
            Ok(()) => Vec::new(),
            Err(errors) => errors
                .iter()
                .map(|e| Violation {
                    field: e.field_path.clone(),
                    message: e.message.clone(),
                })
                .collect(),
        }
    }
}

/// `Kind namespace/name` (or `Kind name` for a cluster-scoped kind), from an unvalidated document.
fn object_label(doc: &Value, kind: &str, namespaced: bool) -> String {
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("(no name)");
    if namespaced {
        let ns = doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default");
        format!("{kind} {ns}/{name}")
    } else {
        format!("{kind} {name}")
    }
}

/// Why a field holds a boolean, a number or null although the author likely meant the text:
/// YAML 1.1 typed an unquoted scalar (`on`, `yes`, `012345678901`, `~`).
fn hint(notes: &[yaml::Note], field: &str) -> Option<(usize, String)> {
    notes.iter().find(|n| n.path == field).map(|n| {
        (
            n.line,
            format!(
                "(the unquoted `{}` is not a string in YAML 1.1, which kubectl and helm read; quote it: {})",
                n.text,
                yaml::quoted(&n.text)
            ),
        )
    })
}

impl Manifests {
    /// Reads every `*.yaml`/`*.yml` file in `dir` (not recursive), in name order, and refuses
    /// them all if any document is invalid.
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
        let catalog = Catalog::builtin();
        let mut out = Self::default();
        let mut problems = Vec::new();
        for file in files {
            let origin = file.display().to_string();
            match yaml::read_file(&file, &yaml::LIMITS) {
                Ok(text) => out.add_text(catalog, &origin, &text, &mut problems),
                Err(e) => problems.push(Problem {
                    file: origin,
                    document: e.document,
                    line: e.line,
                    object: None,
                    field: None,
                    message: e.message,
                }),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(ManifestError::Invalid(problems))
        }
    }

    /// Adds every Perimeter document of a multi-document YAML text, or none if any is invalid.
    pub fn add_yaml(&mut self, origin: &str, text: &str) -> Result<(), ManifestError> {
        self.add_yaml_with(Catalog::builtin(), origin, text)
    }

    /// [`Self::add_yaml`] against the kinds of a given catalog (for instance CRDs read back
    /// from `crds/perimeter.yaml`).
    pub fn add_yaml_with(
        &mut self,
        catalog: &Catalog,
        origin: &str,
        text: &str,
    ) -> Result<(), ManifestError> {
        let mut problems = Vec::new();
        let mut added = Self::default();
        added.add_text(catalog, origin, text, &mut problems);
        if !problems.is_empty() {
            return Err(ManifestError::Invalid(problems));
        }
        let twice: Vec<Problem> = added
            .defined
            .iter()
            .filter_map(|(label, place)| {
                let first = self.defined.get(label)?;
                Some(Problem {
                    file: origin.to_string(),
                    document: None,
                    line: None,
                    object: Some(label.clone()),
                    field: Some("metadata.name".into()),
                    message: format!(
                        "{label} is already defined ({first}); {place} defines it again"
                    ),
                })
            })
            .collect();
        if !twice.is_empty() {
            return Err(ManifestError::Invalid(twice));
        }
        // Taken apart field by field, so a kind added later cannot be dropped here unnoticed.
        let Self {
            providers,
            cluster_providers,
            firewalls,
            monitors,
            assessments,
            address_sets,
            ignored,
            defined,
        } = added;
        self.defined.extend(defined);
        self.providers.extend(providers);
        self.cluster_providers.extend(cluster_providers);
        self.firewalls.extend(firewalls);
        self.monitors.extend(monitors);
        self.assessments.extend(assessments);
        self.address_sets.extend(address_sets);
        self.ignored.extend(ignored);
        Ok(())
    }

    fn add_text(
        &mut self,
        catalog: &Catalog,
        origin: &str,
        text: &str,
        problems: &mut Vec<Problem>,
    ) {
        let docs = match yaml::load_all(text, &yaml::LIMITS) {
            Ok(d) => d,
            Err(e) => {
                problems.push(Problem {
                    file: origin.to_string(),
                    document: e.document,
                    line: e.line,
                    object: None,
                    field: None,
                    message: e.message,
                });
                return;
            }
        };
        for doc in docs {
            self.add_document(catalog, origin, doc, problems);
        }
    }

    fn add_document(
        &mut self,
        catalog: &Catalog,
        origin: &str,
        doc: yaml::Document,
        problems: &mut Vec<Problem>,
    ) {
        let yaml::Document {
            index,
            line,
            mut value,
            notes,
        } = doc;
        let problem = |object: Option<String>, v: Violation| {
            let (line, message) = match hint(&notes, &v.field) {
                Some((at, h)) => (at, format!("{} {h}", v.message)),
                None => (line, v.message),
            };
            Problem {
                file: origin.to_string(),
                document: Some(index),
                line: Some(line),
                object,
                field: Some(v.field),
                message,
            }
        };
        if !value.is_object() {
            problems.push(problem(
                None,
                Violation {
                    field: String::new(),
                    message: format!(
                        "a manifest is a mapping with apiVersion and kind, not {}",
                        schema::show(&value)
                    ),
                },
            ));
            return;
        }
        let kind = match catalog.classify(&value) {
            Ok(Class::Perimeter(kind)) => kind,
            Ok(Class::Other { api_version, kind }) => {
                self.ignored.push(Ignored {
                    file: origin.to_string(),
                    document: index,
                    api_version,
                    kind,
                    name: value
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                });
                return;
            }
            Err(v) => {
                let kind = value
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("(no kind)");
                problems.push(problem(Some(object_label(&value, kind, true)), v));
                return;
            }
        };
        let label = object_label(&value, &kind.kind, kind.namespaced);
        let violations = catalog.validate(kind, &mut value);
        if !violations.is_empty() {
            problems.extend(
                violations
                    .into_iter()
                    .map(|v| problem(Some(label.clone()), v)),
            );
            return;
        }
        let place = format!("{origin}, document {index}");
        if let Some(first) = self.defined.get(&label) {
            let message = format!("{label} is already defined ({first}); a second one is refused");
            problems.push(problem(
                Some(label),
                Violation {
                    field: "metadata.name".into(),
                    message,
                },
            ));
            return;
        }
        match self.add_typed(&kind.kind, value) {
            Ok(()) => {
                self.defined.insert(label, place);
            }
            Err(v) => problems.push(problem(Some(label), v)),
        }
    }

    /// The typed parse, after validation: a residual serde error still names its field.
    fn add_typed(&mut self, kind: &str, value: Value) -> Result<(), Violation> {
        match kind {
            "CloudProvider" => self.providers.push(typed(value)?),
            "ClusterCloudProvider" => self.cluster_providers.push(typed(value)?),
            "FirewallPolicy" => self.firewalls.push(typed(value)?),
            "MonitoringPolicy" => self.monitors.push(typed(value)?),
            "ControlAssessment" => self.assessments.push(typed(value)?),
            "AddressSet" => self.address_sets.push(typed(value)?),
            other => {
                return Err(Violation {
                    field: "kind".into(),
                    message: format!("{other} is a Perimeter kind that this command does not read"),
                });
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

fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, Violation> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        Violation {
            field: if field == "." { String::new() } else { field },
            message: e.into_inner().to_string(),
        }
    })
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
        assert_eq!(
            m.ignored,
            [Ignored {
                file: "x".into(),
                document: 1,
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: Some("c".into()),
            }]
        );
        assert!(
            m.add_yaml("x", "apiVersion: perimeter.dev/v1alpha1\nkind: Mystery\n")
                .is_err()
        );
    }

    /// The validator knows kinds from their CRD alone: a new (here cluster-scoped) kind is
    /// validated without code, and only its typed parse needs a line in `add_typed`.
    #[test]
    fn a_new_kind_is_validated_from_its_crd_alone() {
        let crd = serde_json::json!({"spec": {
            "group": "perimeter.dev",
            "names": {"kind": "ClusterThing"},
            "scope": "Cluster",
            "versions": [{"name": "v1alpha1", "served": true, "schema": {"openAPIV3Schema": {
                "type": "object",
                "required": ["spec"],
                "properties": {"spec": {"type": "object", "properties": {
                    "count": {"type": "integer", "maximum": 3.0}
                }}}
            }}}]
        }});
        let catalog = Catalog::from_json(&[crd]);
        let doc = |n: u32| {
            format!(
                "apiVersion: perimeter.dev/v1alpha1\nkind: ClusterThing\nmetadata: {{name: x, namespace: dropped}}\nspec: {{count: {n}}}\n"
            )
        };
        let invalid = Manifests::default()
            .add_yaml_with(&catalog, "f", &doc(4))
            .expect_err("count > 3")
            .to_string();
        assert!(
            invalid.contains(
                "f (document 1, line 1): ClusterThing x: spec.count: Invalid value: 4: must be less than or equal to 3"
            ),
            "{invalid}"
        );
        let unread = Manifests::default()
            .add_yaml_with(&catalog, "f", &doc(1))
            .expect_err("no typed reader")
            .to_string();
        assert!(
            unread
                .contains("kind: ClusterThing is a Perimeter kind that this command does not read"),
            "{unread}"
        );
    }

    /// One object per kind, namespace and name, as the API server keeps: a second document
    /// with the same ones is refused naming both places, in one text, in one folder, or
    /// across `add_yaml` calls; the same name in another namespace or kind is another object.
    #[test]
    fn an_object_defined_twice_is_refused_naming_both_places() {
        let policy =
            &format!("{POLICY}  cloudflare:\n    zoneId: 023e105f4ecef8ad9ca31a8372d0c353\n");
        let twice = format!("{PROVIDER}---\n{policy}---\n{policy}");
        let err = Manifests::default()
            .add_yaml("a.yaml", &twice)
            .expect_err("defined twice")
            .to_string();
        assert!(
            err.contains("FirewallPolicy default/p is already defined (a.yaml, document 2)"),
            "{err}"
        );

        let mut m = Manifests::default();
        m.add_yaml("a.yaml", &format!("{PROVIDER}---\n{policy}"))
            .expect("valid");
        let err = m
            .add_yaml("b.yaml", policy)
            .expect_err("defined in another file")
            .to_string();
        assert!(
            err.contains("already defined (a.yaml, document 2)"),
            "{err}"
        );
        assert!(err.contains("b.yaml, document 1 defines it again"), "{err}");
        assert_eq!(m.firewalls.len(), 1, "nothing of b.yaml was added");

        let other_namespace = policy.replace("{name: p}", "{name: p, namespace: shop}");
        let other_kind = policy.replace("FirewallPolicy", "MonitoringPolicy");
        m.add_yaml("c.yaml", &format!("{other_namespace}---\n{other_kind}"))
            .expect("other objects");

        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["1.yaml", "2.yaml"] {
            std::fs::write(dir.path().join(f), policy).expect("write");
        }
        let err = Manifests::load_dir(dir.path())
            .expect_err("defined in two files")
            .to_string();
        assert!(err.contains("1.yaml, document 1"), "{err}");
    }
}
