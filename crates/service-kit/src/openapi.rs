//! Completes a generated OpenAPI document with what every route of a service shares, so that
//! each operation lists every status it can answer and each request schema carries the edge's
//! limits (docs/openapi/README.md). The handlers' `#[utoipa::path]` attributes say what is
//! particular to them; this adds, where missing:
//!
//! - 401, 500 and 503 to authenticated operations (a bad credential; a bug; the database away);
//! - 400 (not JSON), 413 (over the byte limit), 415 (not JSON's content type, when the service
//!   checks it) and 422 (refused text, a limit, a field) to operations with a body;
//! - 404 to operations with a path parameter (an id that names nothing, or is no id);
//! - 422 to operations with query parameters;
//! - to every string of a request schema without its own: `maxLength` (the edge's
//!   `max_string_chars`) and a pattern without U+0000; to arrays `maxItems`; to free-form
//!   objects `maxProperties`.
//!
//! It works on the JSON of the document, after utoipa has written it.

use serde_json::{json, Map, Value};

use crate::edge::TextLimits;

/// Text PostgreSQL can store: anything but U+0000 (an ECMA-262 and Python `re` pattern).
pub const STORABLE_TEXT_PATTERN: &str = "^[^\\u0000]*$";

/// What a service's routes share.
pub struct Completion {
    /// Whether the operation at this path needs credentials.
    pub authenticated: fn(&str) -> bool,
    /// Whether a body with another content type than JSON is refused (415).
    pub checks_content_type: bool,
    pub limits: TextLimits,
    /// Failed sign-ins are limited per client address (429 on every authenticated route).
    pub limits_failed_sign_ins: bool,
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// Adds the shared responses and the request schemas' limits to `doc`.
pub fn complete(doc: &mut Value, completion: &Completion) {
    merge_tagged_unions(doc);
    let mut request_schemas = Vec::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) else {
                    continue;
                };
                let has_body = operation.contains_key("requestBody");
                if let Some(body) = operation.get_mut("requestBody") {
                    collect_refs(body, &mut request_schemas);
                    limit_schemas(body, &completion.limits);
                }
                let has_query = operation
                    .get("parameters")
                    .and_then(Value::as_array)
                    .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
                if !(completion.authenticated)(path) {
                    // Probes and the document itself: no credentials asked.
                    operation.insert("security".into(), json!([]));
                }
                let responses = operation
                    .entry("responses")
                    .or_insert_with(|| json!({}))
                    .as_object_mut();
                let Some(responses) = responses else { continue };
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description));
                };
                if (completion.authenticated)(path) {
                    add("401", "No credentials, or invalid ones (`unauthorized`)");
                    if completion.limits_failed_sign_ins {
                        add(
                            "429",
                            "Too many failed sign-ins from this address \
                             (`too_many_failed_sign_ins`); retry after `Retry-After` seconds",
                        );
                    }
                    add(
                        "500",
                        "An internal error (`internal_error`); it has been logged",
                    );
                    add(
                        "503",
                        "The database or the broker is unavailable (`unavailable`); retry",
                    );
                }
                if has_body {
                    add(
                        "400",
                        "The body is not JSON (`malformed_json`), or could not be read",
                    );
                    add("413", "The body is over the byte limit (`body_too_large`)");
                    if completion.checks_content_type {
                        add(
                            "415",
                            "The body's content type is not JSON (`unsupported_media_type`)",
                        );
                    }
                    add(
                        "422",
                        "A field is refused: text that cannot be stored (`invalid_text`: NUL, a \
                         lone surrogate, bytes that are not UTF-8), a limit (`invalid_field`: \
                         length, depth, members, duplicate keys), a wrong type or an unknown \
                         field (`invalid_body`); the message names the field",
                    );
                }
                if path.contains('{') {
                    add("404", "The path names nothing (of this account)");
                }
                if has_query {
                    add("422", "A query parameter is invalid (`invalid_query`)");
                }
            }
        }
    }
    let limits = completion.limits;
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        let mut seen = Vec::new();
        while let Some(name) = request_schemas.pop() {
            if seen.contains(&name) {
                continue;
            }
            if let Some(schema) = schemas.get_mut(&name) {
                collect_refs(schema, &mut request_schemas);
                limit_schemas(schema, &limits);
            }
            seen.push(name);
        }
    }
}

/// serde's internally tagged enums (`#[serde(tag = "kind")]`) come out of utoipa as
/// `oneOf: [{allOf: [{$ref: Variant}, {properties: {kind}}]}]`. When the variant refuses
/// unknown fields (`additionalProperties: false`), no instance satisfies that `allOf`: serde
/// removes the tag before the variant sees it, JSON Schema does not. Each branch becomes the
/// variant's schema with the tag added.
fn merge_tagged_unions(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let originals = schemas.clone();
    for schema in schemas.values_mut() {
        let Some(branches) = schema.get_mut("oneOf").and_then(Value::as_array_mut) else {
            continue;
        };
        for branch in branches.iter_mut() {
            let Some([variant, tag]) = branch
                .get("allOf")
                .and_then(Value::as_array)
                .and_then(|parts| <&[Value; 2]>::try_from(parts.as_slice()).ok())
            else {
                continue;
            };
            let Some(name) = variant["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            else {
                continue;
            };
            let (Some(mut merged), Some(tag_properties), Some(tag_required)) = (
                originals.get(name).cloned(),
                tag["properties"].as_object().cloned(),
                tag["required"].as_array().cloned(),
            ) else {
                continue;
            };
            if let Some(properties) = merged["properties"].as_object_mut() {
                properties.extend(tag_properties);
            }
            match merged["required"].as_array_mut() {
                Some(required) => required.extend(tag_required),
                None => merged["required"] = Value::Array(tag_required),
            }
            *branch = merged;
        }
    }
}

fn collect_refs(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                if let Some(name) = reference.strip_prefix("#/components/schemas/") {
                    into.push(name.to_owned());
                }
            }
            map.values().for_each(|v| collect_refs(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, into)),
        _ => {}
    }
}

fn has_type(schema: &Map<String, Value>, wanted: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(kind)) => kind == wanted,
        Some(Value::Array(kinds)) => kinds.iter().any(|k| k == wanted),
        _ => false,
    }
}

/// Walks a schema (not following `$ref`s) and adds the limits where a schema has none.
fn limit_schemas(value: &mut Value, limits: &TextLimits) {
    match value {
        Value::Object(schema) => {
            if has_type(schema, "string") && !schema.contains_key("enum") {
                schema
                    .entry("maxLength")
                    .or_insert_with(|| json!(limits.max_string_chars));
                schema
                    .entry("pattern")
                    .or_insert_with(|| json!(STORABLE_TEXT_PATTERN));
            }
            if has_type(schema, "array") {
                schema
                    .entry("maxItems")
                    .or_insert_with(|| json!(limits.max_array_items));
            }
            if has_type(schema, "object") && !schema.contains_key("properties") {
                schema
                    .entry("maxProperties")
                    .or_insert_with(|| json!(limits.max_object_properties));
            }
            for (key, child) in schema.iter_mut() {
                // Examples and enums are values, not schemas.
                if key != "example" && key != "examples" && key != "enum" && key != "default" {
                    limit_schemas(child, limits);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| limit_schemas(v, limits)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_unions_become_satisfiable() {
        let mut doc = json!({"components": {"schemas": {
            "Create": {"oneOf": [{"allOf": [
                {"$ref": "#/components/schemas/Api"},
                {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string", "enum": ["api"]}}}
            ]}]},
            "Api": {"type": "object", "additionalProperties": false, "required": ["name"],
                    "properties": {"name": {"type": "string"}}}
        }}});
        merge_tagged_unions(&mut doc);
        let branch = &doc["components"]["schemas"]["Create"]["oneOf"][0];
        assert_eq!(branch["required"], json!(["name", "kind"]));
        assert_eq!(branch["properties"]["kind"]["enum"], json!(["api"]));
        assert_eq!(branch["additionalProperties"], false);
    }

    #[test]
    fn shared_statuses_and_limits_are_added_where_missing() {
        let mut doc = json!({
            "paths": {"/v1/things/{id}": {"patch": {
                "parameters": [{"in": "path", "name": "id"}],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                "responses": {"200": {"description": "ok"}, "422": {"description": "mine"}}
            }}},
            "components": {"schemas": {"Thing": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 200},
                "note": {"type": ["string", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "extra": {"type": "object"}
            }}}}
        });
        complete(
            &mut doc,
            &Completion {
                authenticated: |path| path.starts_with("/v1"),
                checks_content_type: true,
                limits: TextLimits::default(),
                limits_failed_sign_ins: true,
            },
        );
        let responses = &doc["paths"]["/v1/things/{id}"]["patch"]["responses"];
        for status in [
            "200", "400", "401", "404", "413", "415", "422", "429", "500", "503",
        ] {
            assert!(responses[status].is_object(), "{status}");
        }
        assert_eq!(responses["422"]["description"], "mine");
        let thing = &doc["components"]["schemas"]["Thing"]["properties"];
        assert_eq!(thing["name"]["maxLength"], 200);
        assert_eq!(thing["name"]["pattern"], STORABLE_TEXT_PATTERN);
        assert_eq!(thing["note"]["maxLength"], 16 * 1024);
        assert_eq!(thing["tags"]["maxItems"], 10_000);
        assert_eq!(thing["tags"]["items"]["pattern"], STORABLE_TEXT_PATTERN);
        assert_eq!(thing["extra"]["maxProperties"], 1_000);
    }
}
