#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Cross-account access is refused on every route, generated from the OpenAPI documents
//! (docs/security.md, "Tenancy"). Every document in `docs/openapi/` and every service's
//! served `/openapi.json` is read at test time, so a route added to any of them is covered the
//! day it is added.
//!
//! For each route and method, account B (the intruder, with valid credentials of its own)
//! addresses account A's objects: every `{parameter}` of the path is A's object, and every
//! property of the request body that names an object (`bot_id`, ...) is A's. The answer must
//! be exactly the answer for an object that does not exist (same status, same error code): A's
//! objects are indistinguishable from missing ones. The gateway is the exception the manual
//! makes (a wrong API key for an existing integration is 401, an unknown integration 404):
//! there B's valid key must get exactly what a made-up key gets. Bodies that
//! reference A's objects from B's own objects are checked the same way. Collection routes must
//! not show A's objects. At the end A's objects are exactly as they were.
//!
//! A path parameter this test does not know fails it, naming the parameter: teach
//! [`Objects::value`] how to make one of A's objects of that kind.

use std::collections::{BTreeMap, BTreeSet};

use e2e::{WhatsappPlatform, WhatsappSetup, BOOTSTRAP_TOKEN};
use serde_json::{json, Map, Value};

/// Account A's marker: every name A gives its objects contains it.
const MARKER: &str = "owner-a-private";
/// An id no object has.
const MISSING: i64 = 987_654_321;

/// One account's objects, by the path parameter that names them.
#[derive(Debug, Clone)]
struct Objects {
    bot: i64,
    api_integration: i64,
    whatsapp_integration: Option<i64>,
    token: i64,
    session: String,
    dead_letter: i64,
    test_run: i64,
    saved_scenario: i64,
}

impl Objects {
    /// The candidate values for a path parameter (several when objects of different kinds
    /// fit, e.g. an API and a WhatsApp integration).
    fn value(&self, parameter: &str, route: &str) -> Vec<String> {
        match parameter {
            "bot_id" => vec![self.bot.to_string()],
            "integration_id" => {
                let mut ids = vec![self.api_integration.to_string()];
                ids.extend(self.whatsapp_integration.map(|id| id.to_string()));
                ids
            }
            "token_id" => vec![self.token.to_string()],
            // Bot versions are numbered per bot: A's bot has version 1.
            "version" => vec!["1".into()],
            "session_id" => vec![self.session.clone()],
            // A conversation of A's API integration, by its session id (recording).
            "conversation" => vec![self.session.clone()],
            "dead_letter_id" => vec![self.dead_letter.to_string()],
            "run_id" => vec![self.test_run.to_string()],
            "scenario_id" => vec![self.saved_scenario.to_string()],
            other => panic!(
                "{route}: unknown path parameter `{other}`; teach tests/tests/\
                 security_cross_account.rs (Objects::value) how to make account A's object of \
                 this kind, so that the route is checked for cross-account access"
            ),
        }
    }

    /// The same parameter for an object that does not exist.
    fn missing(parameter: &str) -> String {
        match parameter {
            "session_id" => "session-that-does-not-exist".into(),
            "conversation" => "conversation-that-does-not-exist".into(),
            "version" => "4242".into(),
            _ => MISSING.to_string(),
        }
    }

    /// The value a body property naming an object gets (None: not an object reference).
    fn body_reference(&self, property: &str) -> Option<i64> {
        match property {
            "bot_id" => Some(self.bot),
            "integration_id" => Some(self.api_integration),
            "token_id" => Some(self.token),
            "scenario_ids" => Some(self.saved_scenario),
            _ => None,
        }
    }
}

/// How B authenticates to one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Admin,
    Gateway,
    Ingress,
}

impl Service {
    fn of_document(stem: &str) -> Service {
        match stem {
            "admin" => Service::Admin,
            "api-gateway" => Service::Gateway,
            "whatsapp-ingress" => Service::Ingress,
            other => panic!(
                "docs/openapi/{other}.json: no service known for this document; teach \
                 tests/tests/security_cross_account.rs (Service) its base URL and how another \
                 account authenticates to it"
            ),
        }
    }
}

/// A route of a document: method, path template, request body schema, the document (for
/// `$ref`s).
struct Route {
    service: Service,
    method: String,
    path: String,
    body_schema: Option<Value>,
}

fn routes_of(service: Service, document: &Value, routes: &mut BTreeMap<String, Route>) {
    let paths = document["paths"].as_object().expect("paths");
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let body_schema = operation
                .pointer("/requestBody/content/application~1json/schema")
                .map(|schema| resolve(document, schema));
            let key = format!("{service:?} {} {path}", method.to_uppercase());
            routes.entry(key).or_insert(Route {
                service,
                method: method.clone(),
                path: path.clone(),
                body_schema,
            });
        }
    }
}

/// The schema with every `$ref` replaced by its target (documents here are not recursive
/// where bodies are concerned; depth is bounded anyway).
fn resolve(document: &Value, schema: &Value) -> Value {
    fn walk(document: &Value, value: &Value, depth: usize) -> Value {
        if depth > 12 {
            return Value::Null;
        }
        match value {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                    let pointer = reference.trim_start_matches('#');
                    let target = document.pointer(pointer).cloned().unwrap_or(Value::Null);
                    return walk(document, &target, depth + 1);
                }
                Value::Object(
                    map.iter()
                        .map(|(key, value)| (key.clone(), walk(document, value, depth + 1)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| walk(document, item, depth + 1))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    walk(document, schema, 0)
}

/// A body that fits `schema` well enough to reach the handler, with every object reference
/// set by `reference` (A's object, or a missing one).
fn body_for(schema: &Value, reference: &dyn Fn(&str) -> Option<i64>) -> Value {
    if let Some(example) = schema.get("example") {
        return with_references(example.clone(), reference);
    }
    if let Some(first) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
        .and_then(|alternatives| alternatives.first())
    {
        return body_for(first, reference);
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(fields) = body_for(part, reference) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|values| values.first())
    {
        return first.clone();
    }
    let kind = match schema.get("type") {
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .unwrap_or("null")
            .to_owned(),
        Some(Value::String(kind)) => kind.clone(),
        _ if schema.get("properties").is_some() => "object".into(),
        _ => "null".into(),
    };
    match kind.as_str() {
        "object" => {
            let required: BTreeSet<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut fields = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    if let Some(id) = reference(name) {
                        // A list of references (`scenario_ids`) names the one object.
                        let listed = property.get("type") == Some(&json!("array"));
                        fields.insert(name.clone(), if listed { json!([id]) } else { json!(id) });
                    } else if required.contains(name.as_str()) {
                        fields.insert(name.clone(), body_for(property, reference));
                    }
                }
            }
            Value::Object(fields)
        }
        "string" => json!("intruder-value"),
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        "array" => json!([]),
        _ => Value::Null,
    }
}

fn with_references(mut value: Value, reference: &dyn Fn(&str) -> Option<i64>) -> Value {
    if let Value::Object(fields) = &mut value {
        for (name, field) in fields.iter_mut() {
            if let Some(id) = reference(name) {
                *field = json!(id);
            }
        }
    }
    value
}

/// Whether the body references objects at all (then the reference check applies).
fn references_objects(schema: &Value) -> bool {
    let text = schema.to_string();
    [
        "\"bot_id\"",
        "\"integration_id\"",
        "\"token_id\"",
        "\"scenario_ids\"",
    ]
    .iter()
    .any(|name| text.contains(name))
}

/// The names of a path template's parameters, in order.
fn parameters(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
        .collect()
}

/// Every way to fill a template's parameters with `choose`'s candidates.
fn fill(path: &str, choose: &dyn Fn(&str) -> Vec<String>) -> Vec<String> {
    let mut filled = vec![path.to_owned()];
    for name in parameters(path) {
        let candidates = choose(&name);
        let placeholder = format!("{{{name}}}");
        filled = filled
            .iter()
            .flat_map(|partial| {
                candidates
                    .iter()
                    .map(|value| partial.replacen(&placeholder, value, 1))
            })
            .collect();
    }
    filled
}

/// Status, error code and body of one request as B.
struct Answer {
    status: u16,
    code: Option<String>,
    body: String,
}

#[derive(Clone)]
struct Intruder<'a> {
    wp: &'a WhatsappPlatform,
    client: reqwest::Client,
    token: String,
    api_key: String,
    app_secret: String,
    verify_token: String,
}

impl Intruder<'_> {
    fn base(&self, service: Service) -> String {
        match service {
            Service::Admin => self.wp.platform.admin.base_url.clone(),
            // The document's paths start with /api/integrations/api.
            Service::Gateway => self
                .wp
                .platform
                .api_base_url
                .trim_end_matches("/api/integrations/api")
                .to_owned(),
            Service::Ingress => self.wp.ingress_base_url.clone(),
        }
    }

    async fn send(&self, route: &Route, path: &str, body: Option<&Value>) -> Answer {
        let method = reqwest::Method::from_bytes(route.method.to_uppercase().as_bytes()).unwrap();
        let mut url = format!("{}{path}", self.base(route.service));
        if route.service == Service::Ingress && route.method == "get" {
            url.push_str(&format!(
                "?hub.mode=subscribe&hub.verify_token={}&hub.challenge=42",
                self.verify_token
            ));
        }
        let mut request = self.client.request(method, url);
        request = match route.service {
            Service::Admin => request.bearer_auth(&self.token),
            Service::Gateway => request.header("X-API-Key", &self.api_key),
            Service::Ingress => request,
        };
        let payload = body.map(|body| body.to_string());
        if route.service == Service::Ingress && route.method == "post" {
            let payload = payload.clone().unwrap_or_else(|| {
                json!({"object": "whatsapp_business_account", "entry": []}).to_string()
            });
            request = request
                .header(
                    "X-Hub-Signature-256",
                    crypto::sign_meta_payload(self.app_secret.as_bytes(), payload.as_bytes()),
                )
                .header("Content-Type", "application/json")
                .body(payload);
        } else if let Some(payload) = payload {
            request = request
                .header("Content-Type", "application/json")
                .body(payload);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let code = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|value| value["error"]["code"].as_str().map(str::to_owned));
        Answer { status, code, body }
    }
}

async fn snapshot(wp: &WhatsappPlatform, a: &Objects) -> Vec<Value> {
    let admin = &wp.platform.admin;
    let mut seen = Vec::new();
    for path in [
        format!("/v1/bots/{}", a.bot),
        format!("/v1/bots/{}/versions", a.bot),
        format!("/v1/bots/{}/scenarios", a.bot),
        format!("/v1/bots/{}/scenarios/{}", a.bot, a.saved_scenario),
        format!("/v1/integrations/{}", a.api_integration),
        format!("/v1/integrations/{}", a.whatsapp_integration.unwrap()),
        "/v1/tokens".to_owned(),
        "/v1/account".to_owned(),
    ] {
        let (status, mut body) = admin.get(&path, BOOTSTRAP_TOKEN).await;
        assert_eq!(status, 200, "{path}: {body}");
        // Activity moves with A's own traffic, not with B's attempts.
        if let Some(fields) = body.as_object_mut() {
            fields.remove("last_activity_at");
        }
        seen.push(body);
    }
    seen
}

#[tokio::test]
async fn another_account_is_refused_on_every_documented_route() {
    let wp = WhatsappPlatform::start().await;
    let admin = &wp.platform.admin;

    // Account A (the bootstrap account) and its objects.
    let a_api = wp
        .platform
        .demo_integration(&format!("{MARKER}-api"), false)
        .await;
    let a_whatsapp = wp
        .demo_integration(&format!("{MARKER}-whatsapp"), WhatsappSetup::default())
        .await;
    let (status, token) = admin
        .post(
            "/v1/tokens",
            BOOTSTRAP_TOKEN,
            &json!({"name": format!("{MARKER}-token")}),
        )
        .await;
    assert_eq!(status, 201, "{token}");
    let (status, session) = wp
        .platform
        .api(
            &format!("/{}/session/", a_api.id),
            &a_api.key,
            &json!({"session_id": format!("{MARKER}-session")}),
        )
        .await;
    assert_eq!(status, 200, "{session}");
    let a_dead_letter = dead_letter_of(admin.db.url(), a_api.id).await;
    let a = Objects {
        bot: a_api.bot_id,
        api_integration: a_api.id,
        whatsapp_integration: Some(a_whatsapp.id),
        token: token["id"].as_i64().expect("token id"),
        session: session["session_id"].as_str().unwrap().to_owned(),
        dead_letter: a_dead_letter,
        test_run: test_run_of(admin, BOOTSTRAP_TOKEN, a_api.bot_id).await,
        saved_scenario: saved_scenario_of(
            admin,
            BOOTSTRAP_TOKEN,
            a_api.bot_id,
            &format!("{MARKER}-scenario"),
        )
        .await,
    };

    // Account B, with valid credentials and objects of its own.
    let b_token = admin.new_account("intruder-b").await;
    let b_bot = admin.published_demo_bot(&b_token, "intruder-bot").await;
    let (status, b_integration) = admin
        .post(
            "/v1/integrations",
            &b_token,
            &json!({"kind": "api", "name": "intruder-api", "bot_id": b_bot}),
        )
        .await;
    assert_eq!(status, 201, "{b_integration}");
    let (status, b_tokens) = admin.get("/v1/tokens", &b_token).await;
    assert_eq!(status, 200);
    let b = Objects {
        bot: b_bot,
        api_integration: b_integration["id"].as_i64().unwrap(),
        whatsapp_integration: None,
        token: b_tokens["tokens"]
            .as_array()
            .or_else(|| b_tokens.as_array())
            .and_then(|tokens| tokens.first())
            .and_then(|token| token["id"].as_i64())
            .expect("B's token id"),
        session: "intruder-session".into(),
        dead_letter: dead_letter_of(admin.db.url(), b_integration["id"].as_i64().unwrap()).await,
        test_run: test_run_of(admin, &b_token, b_bot).await,
        saved_scenario: saved_scenario_of(admin, &b_token, b_bot, "intruder-scenario").await,
    };
    let intruder = Intruder {
        wp: &wp,
        client: reqwest::Client::new(),
        token: b_token.clone(),
        api_key: b_integration["api_key"].as_str().unwrap().to_owned(),
        app_secret: "intruder-app-secret-0123456789abcdef".into(),
        verify_token: "intruder-verify-token".into(),
    };
    let before = snapshot(&wp, &a).await;

    // Every route of every document, and of every served document.
    let mut routes = BTreeMap::new();
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi");
    let mut files: Vec<_> = std::fs::read_dir(&docs)
        .expect("docs/openapi")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in &files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let document: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|err| panic!("{}: {err}", file.display()));
        routes_of(Service::of_document(&stem), &document, &mut routes);
    }
    for service in [Service::Admin, Service::Gateway] {
        let served: Value = intruder
            .client
            .get(format!("{}/openapi.json", intruder.base(service)))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        routes_of(service, &served, &mut routes);
    }

    let mut checked = 0;
    let mut problems = Vec::new();
    // Deleting routes last, so that a wrongly accepted deletion shows as a difference and
    // does not hide the other checks.
    let mut ordered: Vec<&Route> = routes.values().collect();
    ordered.sort_by_key(|route| route.method == "delete");
    for route in ordered {
        let label = format!(
            "{:?} {} {}",
            route.service,
            route.method.to_uppercase(),
            route.path
        );
        let body_with = |owner: &Objects| {
            route
                .body_schema
                .as_ref()
                .map(|schema| body_for(schema, &|name| owner.body_reference(name)))
        };
        let missing_body = route
            .body_schema
            .as_ref()
            .map(|schema| body_for(schema, &|name| a.body_reference(name).map(|_| MISSING)));
        if parameters(&route.path).is_empty() {
            // A collection or a service route: it must not show A's objects.
            let answer = intruder
                .send(route, &route.path, body_with(&a).as_ref())
                .await;
            if answer.body.contains(MARKER) {
                problems.push(format!(
                    "{label}: shows account A's objects: {}",
                    answer.body
                ));
            }
            if route.body_schema.as_ref().is_some_and(references_objects) {
                let missing = intruder
                    .send(route, &route.path, missing_body.as_ref())
                    .await;
                compare(
                    &label,
                    "A's objects in the body",
                    &answer,
                    &missing,
                    &mut problems,
                );
            }
            checked += 1;
            continue;
        }
        // A's objects in the path.
        let missing_path = fill(&route.path, &|name| vec![Objects::missing(name)])
            .pop()
            .unwrap();
        for path in fill(&route.path, &|name| a.value(name, &label)) {
            let answer = intruder.send(route, &path, body_with(&b).as_ref()).await;
            let reference = if route.service == Service::Gateway {
                // The manual: a key of another integration is 401 for an existing API
                // integration (404 for an unknown one), so existence shows there by design; B's
                // key must be worth exactly as much as a made-up key.
                let made_up = Intruder {
                    api_key: "made-up-key-of-nobody-0123456789".into(),
                    ..intruder.clone()
                };
                made_up.send(route, &path, body_with(&b).as_ref()).await
            } else {
                intruder
                    .send(route, &missing_path, body_with(&b).as_ref())
                    .await
            };
            compare(&label, &path, &answer, &reference, &mut problems);
            checked += 1;
        }
        // B's own objects in the path, A's objects in the body.
        if route.service == Service::Admin
            && route.body_schema.as_ref().is_some_and(references_objects)
        {
            for path in fill(&route.path, &|name| b.value(name, &label)) {
                let answer = intruder.send(route, &path, body_with(&a).as_ref()).await;
                let missing = intruder.send(route, &path, missing_body.as_ref()).await;
                compare(
                    &label,
                    &format!("{path} with A's objects in the body"),
                    &answer,
                    &missing,
                    &mut problems,
                );
                checked += 1;
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The admin and gateway documents alone have more than twenty routes.
    assert!(checked >= 20, "only {checked} checks");

    // A's objects are exactly as they were, and A's integration still works with its key.
    assert_eq!(snapshot(&wp, &a).await, before);
    let (status, body) = wp
        .platform
        .api(
            &format!("/{}/session/{}/message/", a.api_integration, a.session),
            &a_api.key,
            &json!({"message": "Ada"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eprintln!(
        "{checked} cross-account checks over {} routes",
        routes.len()
    );
    wp.stop().await;
}

/// B's answer for A's object must be a refusal, and the answer for a missing object (for the
/// gateway: for a made-up key).
fn compare(label: &str, what: &str, answer: &Answer, missing: &Answer, problems: &mut Vec<String>) {
    if (200..300).contains(&answer.status) {
        problems.push(format!(
            "{label} {what}: accepted ({}): {}",
            answer.status, answer.body
        ));
    } else if (answer.status, &answer.code) != (missing.status, &missing.code) {
        problems.push(format!(
            "{label} {what}: {} {:?} but {} {:?} for a missing object or a made-up key",
            answer.status, answer.code, missing.status, missing.code
        ));
    }
}

/// A dead letter of `integration`'s account, as the executor's drain records one (making an
/// event fail for real is `conversation_isolation.rs`'s business).
async fn dead_letter_of(database_url: &str, integration: i64) -> i64 {
    use diesel::sql_types::BigInt;
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    let mut conn = AsyncPgConnection::establish(database_url).await.unwrap();
    diesel::sql_query(
        "INSERT INTO dead_letters (event_id, account_id, integration_id, conversation_key, \
             source_queue, exchange, routing_key, body, reason, attempts, first_attempt_at, \
             last_attempt_at) \
         SELECT 'cross-account-' || i.id, i.account_id, i.id, i.id || ':s', 'bot.inbound.0', \
             'bot.inbound', i.id || ':s', '{}'::bytea, 'test', 1, now(), now() \
         FROM integrations i WHERE i.id = $1 RETURNING id",
    )
    .bind::<BigInt, _>(integration)
    .get_result::<Id>(&mut conn)
    .await
    .unwrap()
    .id
}

/// A Test Runner run of `bot` (one scenario: the bot's start), started by `token`'s account.
async fn test_run_of(admin: &e2e::AdminHarness, token: &str, bot: i64) -> i64 {
    let (status, run) = admin
        .post(
            &format!("/v1/bots/{bot}/test-runs"),
            token,
            &json!({"scenarios": [{"name": "start.yaml", "yaml": "name: start\nturns: []\n"}],
                    "channel": "api"}),
        )
        .await;
    assert_eq!(status, 202, "{run}");
    run["id"].as_i64().expect("run id")
}

/// A scenario saved with `bot` by `token`'s account.
async fn saved_scenario_of(admin: &e2e::AdminHarness, token: &str, bot: i64, name: &str) -> i64 {
    let (status, saved) = admin
        .post(
            &format!("/v1/bots/{bot}/scenarios"),
            token,
            &json!({"name": name, "yaml": "name: start\nturns: []\n"}),
        )
        .await;
    assert_eq!(status, 201, "{saved}");
    saved["id"].as_i64().expect("saved scenario id")
}
