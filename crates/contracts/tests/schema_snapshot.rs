//! The committed JSON Schemas in `proto/v1/` must be exactly what the Rust types generate.
//! `UPDATE_SNAPSHOTS=1 cargo test -p contracts --test schema_snapshot` rewrites them instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use contracts::v1::schemas;

fn proto_v1() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto/v1")
}

#[test]
fn committed_schemas_match_the_types() {
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    let mut drifted = Vec::new();
    for schema in schemas() {
        let path = proto_v1().join(schema.file_name());
        let generated = schema.to_pretty_json();
        if update {
            std::fs::write(&path, &generated).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == generated => {}
            Ok(committed) => drifted.push(format!(
                "{} differs from line {}",
                path.display(),
                first_difference(&committed, &generated)
            )),
            Err(err) => drifted.push(format!("{} unreadable: {err}", path.display())),
        }
    }
    assert!(
        drifted.is_empty(),
        "the wire contracts changed: {drifted:?}\nIf intended (and compatible, see proto/README.md), \
         run `UPDATE_SNAPSHOTS=1 cargo test -p contracts --test schema_snapshot` and commit proto/."
    );
}

#[test]
fn no_stray_schema_files() {
    // A schema whose type was removed or renamed must not linger as if it were still a contract.
    let expected: Vec<String> = schemas().iter().map(|s| s.file_name()).collect();
    for entry in std::fs::read_dir(proto_v1()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".schema.json") {
            assert!(expected.contains(&name), "{name} has no Rust type");
        }
    }
}

/// 1-based number of the first line where the two texts differ.
fn first_difference(a: &str, b: &str) -> usize {
    let mut lines = a.lines().zip(b.lines());
    lines
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.lines().count().min(b.lines().count()))
        + 1
}
