//! The CRDs in `crds/` are generated from the Rust types; this fails when they differ.
//! Regenerate with `cargo run -- crds > crds/perimeter.yaml`
//! (or `PERIMETER_UPDATE_CRDS=1 cargo test --test crds`, which also refreshes the chart's copy).
//! The Helm chart ships a byte-identical copy in `charts/perimeter/crds/perimeter.yaml`.

use std::path::PathBuf;

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
            "controlassessments.perimeter.dev"
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
            "Cluster"
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
}
