#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The scenario files' JSON Schema is committed as `proto/test-runner/scenario.schema.json`;
//! this fails when the Rust types and the file drift (`UPDATE_SNAPSHOTS=1` rewrites it). Every
//! example scenario also parses.

use std::path::PathBuf;

#[test]
fn scenario_schema_matches_the_committed_file() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../proto/test-runner/scenario.schema.json");
    let schema = serde_json::to_string_pretty(&test_runner::scenario::json_schema()).unwrap();
    testkit::snapshot::assert_snapshot(
        &path,
        &(schema + "\n"),
        "cargo test -p test-runner --test schema_snapshot",
    );
}

#[test]
fn bad_scenarios_are_refused_with_the_reason() {
    let two_inputs = "name: x\nturns:\n  - {text: a, option: b}\n";
    let err = test_runner::Scenario::parse(two_inputs)
        .unwrap_err()
        .to_string();
    assert!(err.contains("turn 1: exactly one of"), "{err}");
    let unknown = "name: x\nturns:\n  - {txt: a}\n";
    let err = test_runner::Scenario::parse(unknown)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `txt`"), "{err}");
    let regex = "name: x\nturns:\n  - text: a\n    expect: {messages: [{regex: '('}]}\n";
    let err = test_runner::Scenario::parse(regex).unwrap_err().to_string();
    assert!(err.contains("regex"), "{err}");
}
