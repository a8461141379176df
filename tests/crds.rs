//! The CRDs in `crds/` are generated from the Rust types; this fails when they differ.
//! Regenerate with `cargo run -- crds > crds/perimeter.yaml`
//! (or `PERIMETER_UPDATE_CRDS=1 cargo test --test crds`, which also refreshes the chart's copy).
//! The Helm chart ships a byte-identical copy in `charts/perimeter/crds/perimeter.yaml`.

use std::path::PathBuf;

use perimeter::manifests::{Catalog, Manifests};
use perimeter::yaml;
use serde_json::{Value, json};

#[path = "support/yaml11.rs"]
mod yaml11;
use yaml11::{numbers_by_value, pyyaml, pyyaml_crds, root, yaml_files};

#[test]
fn committed_crds_match_the_code() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crds/perimeter.yaml");
    let generated = perimeter::api::crds_yaml().expect("CRDs serialise");
    if std::env::var_os("PERIMETER_UPDATE_CRDS").is_some() {
        std::fs::write(&path, &generated).expect("write crds");
        std::fs::write(chart_crds(), &generated).expect("write the chart's crds");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "crds/perimeter.yaml is stale: run `cargo run -- crds > crds/perimeter.yaml`"
    );
}

fn chart_crds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("charts/perimeter/crds/perimeter.yaml")
}

/// One source of truth: the chart's CRDs are a copy of the generated file, byte for byte.
#[test]
fn chart_crds_are_a_copy_of_crds() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read(root.join("crds/perimeter.yaml")).expect("read crds/");
    let chart = std::fs::read(chart_crds()).unwrap_or_default();
    assert!(
        chart == committed,
        "charts/perimeter/crds/perimeter.yaml differs from crds/perimeter.yaml: run \
         `cp crds/perimeter.yaml charts/perimeter/crds/perimeter.yaml`"
    );
}

#[test]
fn crds_carry_printer_columns_and_status_subresources() {
    let crds = perimeter::api::crds();
    let names: Vec<_> = crds
        .iter()
        .map(|c| c.metadata.name.clone().unwrap_or_default())
        .collect();
    assert_eq!(
        names,
        [
            "cloudproviders.perimeter.dev",
            "clustercloudproviders.perimeter.dev",
            "firewallpolicies.perimeter.dev",
            "monitoringpolicies.perimeter.dev",
            "controlassessments.perimeter.dev",
            "addresssets.perimeter.dev"
        ]
    );
    let scopes: Vec<_> = crds.iter().map(|c| c.spec.scope.as_str()).collect();
    assert_eq!(
        scopes,
        [
            "Namespaced",
            "Cluster",
            "Namespaced",
            "Namespaced",
            "Cluster",
            "Namespaced"
        ]
    );
    for crd in &crds {
        let v = &crd.spec.versions[0];
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some(),
            "{:?} has a status subresource",
            crd.metadata.name
        );
        let columns: Vec<_> = v
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        assert!(
            columns.contains(&"Ready") && columns.contains(&"Age"),
            "{columns:?}"
        );
    }
    let fw = &crds[2].spec.versions[0];
    let columns: Vec<_> = fw
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        ["Provider", "Mode", "InSync", "Drift", "Ready", "Age"]
    );
    let sets = &crds[5];
    assert_eq!(sets.spec.names.short_names, Some(vec!["aset".to_string()]));
    assert_eq!(
        sets.spec.names.categories,
        Some(vec!["perimeter".to_string()])
    );
    let columns: Vec<_> = sets.spec.versions[0]
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Count", "Ready", "Reason", "Observed", "Age"]);
}

fn crds_json() -> Vec<Value> {
    perimeter::api::crds()
        .iter()
        .map(|c| serde_json::to_value(c).expect("CRD JSON"))
        .collect()
}

/// kubectl and helm read YAML 1.1 (go-yaml v2), where `on`/`off` are booleans: the committed
/// CRDs must mean to PyYAML (an independent YAML 1.1 reader) exactly what the code generates.
#[test]
fn crds_read_the_same_in_yaml_1_1() {
    let want: Vec<Value> = crds_json().iter().map(numbers_by_value).collect();
    let py: Vec<Value> = pyyaml_crds().iter().map(numbers_by_value).collect();
    assert_eq!(py.len(), want.len());
    for (got, want) in py.iter().zip(&want) {
        assert!(
            got == want,
            "PyYAML reads {} differently",
            want["metadata"]["name"]
        );
    }
    let text = std::fs::read_to_string(root().join("crds/perimeter.yaml")).expect("crds");
    let ours: Vec<Value> = yaml::load_all(&text, &yaml::LIMITS)
        .expect("our YAML 1.1 loader reads the CRDs")
        .iter()
        .map(|d| numbers_by_value(&d.value))
        .collect();
    assert!(
        ours == want,
        "the YAML 1.1 loader reads the CRDs differently"
    );
    // The enum values that YAML 1.1 turned into booleans before are strings.
    let firewall = |all: Vec<Value>| {
        all.into_iter()
            .find(|c| c["metadata"]["name"] == "firewallpolicies.perimeter.dev")
            .expect("the FirewallPolicy CRD")
    };
    let tls13 = firewall(crds_json());
    let settings = tls13.pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/cloudflare/properties/settings/properties/tls13/enum");
    let py_settings = firewall(pyyaml_crds()).pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/cloudflare/properties/settings/properties/tls13/enum").cloned();
    assert_eq!(py_settings.as_ref(), settings);
    assert_eq!(py_settings, Some(json!(["on", "off", "zrt", null])));
}

/// Every example under examples/ (recursively), read as YAML 1.1 by PyYAML and by Perimeter's
/// loader, means the same to both, and every Perimeter object in them is valid against the
/// CRDs as PyYAML reads them.
#[test]
fn examples_are_valid_against_the_crds_as_yaml_1_1_reads_them() {
    let catalog = Catalog::from_json(&pyyaml_crds());
    let files = yaml_files(&root().join("examples"));
    let py = pyyaml(&files);
    let mut objects = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("example");
        let ours: Vec<Value> = yaml::load_all(&text, &yaml::LIMITS)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
            .iter()
            .map(|d| numbers_by_value(&d.value))
            .collect();
        let theirs: Vec<Value> = py[file].iter().map(numbers_by_value).collect();
        assert!(
            ours == theirs,
            "{}: PyYAML and the YAML 1.1 loader disagree; quote the ambiguous value",
            file.display()
        );
        // Other YAML 1.x readers (serde_yaml here, YAML 1.2) must agree too.
        let v12: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| numbers_by_value(&serde::Deserialize::deserialize(d).expect("yaml 1.2")))
            .filter(|v: &Value| !v.is_null())
            .collect();
        assert!(
            ours == v12,
            "{}: YAML 1.1 and 1.2 read it differently; quote the ambiguous value",
            file.display()
        );
        // Emulator seeds and the Alertmanager configuration are not Kubernetes objects.
        if !py[file].iter().all(|d| d.get("apiVersion").is_some()) {
            continue;
        }
        objects += py[file]
            .iter()
            .filter(|d| {
                d["apiVersion"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("perimeter.dev/"))
            })
            .count();
        let mut m = Manifests::default();
        m.add_yaml_with(&catalog, &file.display().to_string(), &text)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    assert!(
        objects >= 10,
        "only {objects} Perimeter objects in examples/"
    );
}

/// Strings that YAML 1.1 or 1.2 would read as something else, written by the CRD emitter,
/// read back by PyYAML unchanged.
#[test]
fn emitted_tricky_strings_round_trip_through_pyyaml() {
    let tricky = [
        "on",
        "No",
        "y",
        "n",
        "0755",
        "1:20",
        "190:20:30",
        "~",
        "null",
        "",
        ".inf",
        ".nan",
        "2026-01-01",
        "2001-12-14 21:59:43.10 -5",
        "yes please",
        " lead",
        "trail ",
        "#x",
        "a #b",
        "a: b",
        "key:",
        "- x",
        "multi\nline\n",
        "two\nlines",
        "  indented\nblock",
        "1e3",
        "1.5e+3",
        "=",
        "<<",
        "0x1F",
        "0b101",
        "+1",
        "1_000",
        "tab\t",
        "nel\u{85}x",
        "quote ' \"",
        "@at",
        "`tick",
        "%pct",
        "ünïcødé",
    ];
    let value = json!({
        "strings": tricky.to_vec(),
        "keys": tricky.iter().map(|s| (s.to_string(), json!(s))).collect::<serde_json::Map<_, _>>(),
        "numbers": [0, -1, 1.5, 4_294_967_295_u64, 9.223_372_036_854_776e18, 1e-7],
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tricky.yaml");
    std::fs::write(&path, yaml::to_yaml(&value)).expect("write");
    let back = pyyaml(std::slice::from_ref(&path))
        .remove(&path)
        .expect("read");
    assert_eq!(back.len(), 1);
    assert_eq!(numbers_by_value(&back[0]), numbers_by_value(&value));
}
