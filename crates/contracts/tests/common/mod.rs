#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod json_schema;

use std::path::PathBuf;

pub fn proto_v1() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto/v1")
}

/// A committed schema, as other languages would read it.
pub fn committed_schema(name: &str) -> serde_json::Value {
    let path = proto_v1().join(format!("{name}.schema.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// `(file name, JSON)` of every example of the contract `name`.
pub fn examples(name: &str) -> Vec<(String, serde_json::Value)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(proto_v1().join("examples")).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        if file.starts_with(&format!("{name}.")) && file.ends_with(".json") {
            let text = std::fs::read_to_string(proto_v1().join("examples").join(&file)).unwrap();
            found.push((file, serde_json::from_str(&text).unwrap()));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}
