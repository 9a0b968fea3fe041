#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The gateway's OpenAPI document is committed as `docs/openapi/api-gateway.json`.

use std::path::PathBuf;

#[test]
fn openapi_document_matches_the_committed_snapshot() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi/api-gateway.json");
    testkit::snapshot::assert_snapshot(
        &path,
        &(api_gateway::openapi::document_json() + "\n"),
        "cargo test -p api-gateway --test openapi_snapshot",
    );
}

#[test]
fn both_endpoints_and_their_status_codes_are_documented() {
    let doc: serde_json::Value =
        serde_json::from_str(&api_gateway::openapi::document_json()).unwrap();
    let start = &doc["paths"]["/api/integrations/api/{integration_id}/session/"]["post"];
    let message = &doc["paths"]
        ["/api/integrations/api/{integration_id}/session/{session_id}/message/"]["post"];
    for operation in [start, message] {
        for status in [
            "200", "400", "401", "404", "409", "413", "422", "429", "500", "503", "504",
        ] {
            assert!(
                operation["responses"][status].is_object(),
                "{status} undocumented"
            );
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["SessionResponse"].is_object());
    assert!(schemas["BotMessage"].is_object());
}
