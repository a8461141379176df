//! PyYAML (YAML 1.1, `yaml.safe_load_all`) as an independent reader of what Perimeter writes
//! and ships, through tests/yaml11_load.py and the project's `.venv`.

// Each test binary that includes this file uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The documents of each file, as PyYAML reads them.
pub fn pyyaml(paths: &[PathBuf]) -> BTreeMap<PathBuf, Vec<Value>> {
    let python = root().join(".venv/bin/python");
    let out = std::process::Command::new(&python)
        .arg(root().join("tests/yaml11_load.py"))
        .args(paths)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", python.display()));
    assert!(
        out.status.success(),
        "PyYAML failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let map: BTreeMap<String, Vec<Value>> =
        serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    map.into_iter()
        .map(|(k, v)| (PathBuf::from(k), v))
        .collect()
}

/// The CRDs of `crds/perimeter.yaml` as PyYAML reads them.
pub fn pyyaml_crds() -> Vec<Value> {
    let path = root().join("crds/perimeter.yaml");
    pyyaml(std::slice::from_ref(&path))
        .remove(&path)
        .expect("crds/perimeter.yaml was read")
}

/// Numbers compared by value: PyYAML reads `400.0` as a float and `400` as an int, serde keeps
/// what the schema type said.
pub fn numbers_by_value(v: &Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map_or(Value::Null, Value::from),
        Value::Array(a) => Value::Array(a.iter().map(numbers_by_value).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), numbers_by_value(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Every `*.yaml`/`*.yml` file under `dir`, recursively, in name order.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
