#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The served OpenAPI document is committed as `docs/openapi/admin.json`, so that a change of
//! the HTTP contract shows in review. `UPDATE_SNAPSHOTS=1 cargo test -p admin` rewrites it.

use std::path::PathBuf;

#[test]
fn openapi_document_matches_the_committed_snapshot() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi/admin.json");
    testkit::snapshot::assert_snapshot(
        &path,
        &(admin::openapi::document_json() + "\n"),
        "cargo test -p admin --test openapi_snapshot",
    );
}

#[test]
fn every_route_is_documented() {
    let doc: serde_json::Value = serde_json::from_str(&admin::openapi::document_json()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/v1/account", vec!["get"]),
        ("/v1/accounts", vec!["post"]),
        ("/v1/tokens", vec!["get", "post"]),
        ("/v1/tokens/{token_id}", vec!["delete"]),
        ("/v1/bots", vec!["get", "post"]),
        ("/v1/bots/{bot_id}", vec!["get", "patch", "delete"]),
        ("/v1/bots/{bot_id}/validate", vec!["post"]),
        ("/v1/bots/{bot_id}/publish", vec!["post"]),
        ("/v1/bots/{bot_id}/versions", vec!["get"]),
        ("/v1/bots/{bot_id}/versions/{version}", vec!["get"]),
        ("/v1/integrations", vec!["get", "post"]),
        (
            "/v1/integrations/{integration_id}",
            vec!["get", "patch", "delete"],
        ),
        ("/v1/integrations/{integration_id}/activate", vec!["post"]),
        ("/v1/integrations/{integration_id}/deactivate", vec!["post"]),
        ("/v1/dead-letters", vec!["get"]),
        ("/v1/dead-letters/{dead_letter_id}", vec!["get", "delete"]),
        ("/v1/dead-letters/{dead_letter_id}/replay", vec!["post"]),
        ("/v1/dead-letters/{dead_letter_id}/discard", vec!["post"]),
        ("/v1/bots/{bot_id}/test-runs", vec!["get", "post"]),
        ("/v1/test-runs/{run_id}", vec!["get"]),
        ("/v1/test-runs/{run_id}/cancel", vec!["post"]),
    ] {
        for method in methods {
            assert!(
                paths[path][method].is_object(),
                "{method} {path} undocumented"
            );
        }
    }
}
