#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `http_request`: the engine suspends, the caller performs the call, the engine resumes.

mod common;

use common::{bot, complete, ctx, path, texts, var};
use flow::{
    is_forbidden_host, BotVersion, Engine, EngineLimits, ExecutionError, HttpCall, HttpMethod,
    HttpOutcome, Suspended, TurnError, TurnStep,
};
use serde_json::{json, Value};

fn lookup_bot(on_error: bool) -> BotVersion {
    let mut http = json!({
        "id": "h", "type": "http_request", "method": "POST",
        "url": "https://api.example.com/orders/{{order}}?q={{order}}",
        "headers": {"Authorization": "Bearer {{token}}", "X-Note": "{{note}}"},
        "body": {"order": "{{order}}", "note": "{{note}}", "n": 1, "list": ["{{order}}", null]},
        "timeout_ms": 2500,
        "map": [
            {"path": "data.status", "variable": "status"},
            {"path": "data.items.0.id", "variable": "item"},
            {"path": "data.missing", "variable": "gone"}
        ],
        "status_variable": "code",
        "next": "ok"
    });
    if on_error {
        http["on_error"] = json!("failed");
    }
    bot(
        json!({"start": "h", "components": [
            http,
            {"id": "ok", "type": "end", "text": "{{status}}/{{item}}/{{code}}/{{gone}}"},
            {"id": "failed", "type": "end", "text": "sorry ({{code}})"}
        ]}),
        &[
            ("order", Some("A 1/2")),
            ("token", Some("t0k")),
            ("note", Some("say \"hi\"\r\nX-Injected: 1")),
            ("status", None),
            ("item", None),
            ("code", None),
            ("gone", Some("old")),
        ],
    )
}

fn suspend(bot: &BotVersion, engine: Engine) -> (HttpCall, Suspended) {
    match engine.start(bot, ctx()).unwrap() {
        TurnStep::NeedsHttp { request, resume } => (request, resume),
        TurnStep::Complete(result) => panic!("expected an http call, got {result:?}"),
    }
}

#[test]
fn the_call_is_built_from_templates_safely() {
    let (call, suspended) = suspend(&lookup_bot(true), Engine::default());
    assert_eq!(call.method, HttpMethod::Post);
    assert_eq!(
        call.url,
        "https://api.example.com/orders/A%201%2F2?q=A%201%2F2"
    );
    assert_eq!(call.timeout_ms, 2500);
    assert_eq!(call.headers["Authorization"], "Bearer t0k");
    assert_eq!(
        call.headers["X-Note"], "say \"hi\"  X-Injected: 1",
        "control characters cannot split a header"
    );
    assert_eq!(call.headers["Content-Type"], "application/json");
    assert_eq!(
        call.body,
        Some(
            json!({"order": "A 1/2", "note": "say \"hi\"\r\nX-Injected: 1", "n": 1, "list": ["A 1/2", null]})
        )
    );
    assert_eq!(suspended.component(), "h");
    assert_eq!(suspended.path().len(), 1);
    assert_eq!(
        suspended.path()[0].detail.as_deref(),
        Some("POST api.example.com: waiting for the answer")
    );
}

#[test]
fn a_successful_answer_is_mapped_into_variables() {
    let bot = lookup_bot(false);
    let (_, suspended) = suspend(&bot, Engine::default());
    let outcome = HttpOutcome::Response {
        status: 201,
        body_json: Some(json!({"data": {"status": "shipped", "items": [{"id": 42}]}})),
    };
    let result = complete(Engine::default().resume(&bot, suspended, outcome));
    assert_eq!(texts(&result), vec!["shipped/42/201/"]);
    assert_eq!(path(&result), vec!["h", "ok"]);
    assert_eq!(
        var(&result, "gone"),
        None,
        "a missing path unsets the variable"
    );
    let http_visit = &result.path[0];
    assert_eq!(http_visit.detail.as_deref(), Some("HTTP 201 → \"ok\""));
    let changed: Vec<&str> = http_visit
        .variable_changes
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(changed, vec!["code", "status", "item", "gone"]);
}

#[test]
fn a_non_json_answer_maps_nothing() {
    let bot = lookup_bot(false);
    let (_, suspended) = suspend(&bot, Engine::default());
    let result = complete(Engine::default().resume(
        &bot,
        suspended,
        HttpOutcome::Response {
            status: 200,
            body_json: None,
        },
    ));
    assert_eq!(texts(&result), vec!["//200/"]);
}

#[test]
fn failures_go_to_on_error() {
    let bot = lookup_bot(true);
    let (_, suspended) = suspend(&bot, Engine::default());
    let result = complete(Engine::default().resume(
        &bot,
        suspended.clone(),
        HttpOutcome::Response {
            status: 503,
            body_json: Some(json!({"data": {"status": "x"}})),
        },
    ));
    assert_eq!(texts(&result), vec!["sorry (503)"]);
    assert_eq!(
        var(&result, "status"),
        None,
        "nothing is mapped from an error answer"
    );
    assert_eq!(
        result.path[0].detail.as_deref(),
        Some("the answer has HTTP status 503 → on_error \"failed\"")
    );

    let result = complete(Engine::default().resume(
        &bot,
        suspended,
        HttpOutcome::Failed {
            reason: "timeout".into(),
        },
    ));
    assert_eq!(texts(&result), vec!["sorry ()"]);
    assert_eq!(path(&result), vec!["h", "failed"]);
}

#[test]
fn a_failure_without_on_error_is_an_execution_error_naming_the_component() {
    let bot = lookup_bot(false);
    let (_, suspended) = suspend(&bot, Engine::default());
    let err = Engine::default().resume(
        &bot,
        suspended,
        HttpOutcome::Failed {
            reason: "connection refused".into(),
        },
    );
    let Err(TurnError::Execution(failure)) = err else {
        panic!("expected an execution error")
    };
    assert_eq!(
        failure.error,
        ExecutionError::HttpFailed {
            component: "h".into(),
            reason: "connection refused".into()
        }
    );
    assert_eq!(
        failure.to_string(),
        "http_request \"h\" failed and has no on_error: connection refused"
    );
    assert_eq!(failure.path.len(), 1);
}

fn private_bot(url: &str) -> BotVersion {
    bot(
        json!({"start": "h", "components": [
            {"id": "h", "type": "http_request", "method": "GET", "url": url, "status_variable": "code",
             "next": "ok", "on_error": "refused"},
            {"id": "ok", "type": "end", "text": "ok"},
            {"id": "refused", "type": "end", "text": "refused"}
        ]}),
        &[("code", Some("stale")), ("host", Some("127.0.0.1"))],
    )
}

#[test]
fn private_addresses_are_refused_unless_allowed() {
    for url in [
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://{{host}}/x",
        "http://0x7f000001/",
    ] {
        let bot = private_bot(url);
        let result = complete(Engine::default().start(&bot, ctx()));
        assert_eq!(texts(&result), vec!["refused"], "{url}");
        assert_eq!(var(&result, "code"), None);
        assert!(
            result.path[0]
                .detail
                .as_deref()
                .unwrap()
                .starts_with("refused: "),
            "{url}"
        );
        let allowing = Engine::new(EngineLimits {
            allow_private_network: true,
            ..EngineLimits::default()
        });
        assert!(
            matches!(
                allowing.start(&bot, ctx()).unwrap(),
                TurnStep::NeedsHttp { .. }
            ),
            "{url}"
        );
    }
    assert!(is_forbidden_host("[::1]") && !is_forbidden_host("api.example.com"));
}

#[test]
fn a_url_that_breaks_once_interpolated_fails_the_request() {
    let bot = private_bot("http://{{code}}@x/");
    let result = complete(Engine::default().start(&bot, ctx()));
    assert_eq!(texts(&result), vec!["refused"]);
    assert_eq!(
        result.path[0].detail.as_deref(),
        Some("the URL is not an absolute http(s) URL once interpolated → on_error \"refused\"")
    );
}

#[test]
fn http_calls_per_turn_are_bounded() {
    // A polling loop: the http_request's on_error leads back to itself.
    let bot = bot(
        json!({"start": "h", "components": [
            {"id": "h", "type": "http_request", "method": "GET", "url": "https://api.example.com/poll",
             "next": "z", "on_error": "h"},
            {"id": "z", "type": "end"}
        ]}),
        &[],
    );
    let engine = Engine::new(EngineLimits {
        max_http_calls_per_turn: 3,
        ..EngineLimits::default()
    });
    let mut step = engine.start(&bot, ctx());
    let mut calls = 0;
    let failure = loop {
        match step {
            Ok(TurnStep::NeedsHttp { resume, .. }) => {
                calls += 1;
                step = engine.resume(
                    &bot,
                    resume,
                    HttpOutcome::Failed {
                        reason: "busy".into(),
                    },
                );
            }
            Ok(TurnStep::Complete(result)) => panic!("unexpected completion {result:?}"),
            Err(TurnError::Execution(failure)) => break failure,
            Err(other) => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(calls, 3);
    assert_eq!(
        failure.error,
        ExecutionError::HttpLimitExceeded {
            component: "h".into(),
            limit: 3
        }
    );
}

#[test]
fn a_suspended_turn_survives_serialisation_and_keeps_earlier_messages() {
    let bot = bot(
        json!({"start": "t", "components": [
            {"id": "t", "type": "text", "text": "Looking it up...", "next": "h"},
            {"id": "h", "type": "http_request", "method": "GET", "url": "https://api.example.com/x",
             "map": [{"path": "v", "variable": "v"}], "next": "z"},
            {"id": "z", "type": "end", "text": "v={{v}}"}
        ]}),
        &[("v", None)],
    );
    let TurnStep::NeedsHttp { resume, .. } = Engine::default().start(&bot, ctx()).unwrap() else {
        panic!()
    };
    let stored: Value = serde_json::to_value(&resume).unwrap();
    let loaded: Suspended = serde_json::from_value(stored).unwrap();
    assert_eq!(loaded, resume);
    let result = complete(Engine::default().resume(
        &bot,
        loaded,
        HttpOutcome::Response {
            status: 200,
            body_json: Some(json!({"v": 7})),
        },
    ));
    assert_eq!(texts(&result), vec!["Looking it up...", "v=7"]);
    assert_eq!(path(&result), vec!["t", "h", "z"]);
    assert!(result
        .variable_changes
        .iter()
        .any(|c| c.name == "v" && c.to.as_deref() == Some("7")));
}

#[test]
fn resuming_at_a_component_that_is_not_an_http_request_fails() {
    let bot = lookup_bot(true);
    let (_, suspended) = suspend(&bot, Engine::default());
    let other = BotVersion::new(bot.variables().to_vec(), {
        let mut flow = bot.flow().clone();
        flow.components.remove(0);
        flow
    });
    let err = Engine::default()
        .resume(
            &other,
            suspended,
            HttpOutcome::Failed { reason: "x".into() },
        )
        .unwrap_err();
    let TurnError::Execution(failure) = err else {
        panic!()
    };
    assert_eq!(
        failure.error,
        ExecutionError::InvalidResume {
            component: "h".into()
        }
    );
}

/// A clock that advances 1 µs per reading (only the test below reads it).
static TICKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn ticking() -> u64 {
    TICKS.fetch_add(1000, std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn a_clock_times_each_component_and_without_one_nothing_is_read() {
    let bot = lookup_bot(false);
    let engine = Engine::with_clock(EngineLimits::default(), ticking);
    let (_, suspended) = suspend(&bot, engine);
    assert_eq!(suspended.path()[0].engine_ns, Some(1000));
    let outcome = HttpOutcome::Response {
        status: 200,
        body_json: Some(json!({})),
    };
    let result = complete(engine.resume(&bot, suspended, outcome));
    // The http_request: its part before the call and its part after; then the end.
    let times: Vec<_> = result.path.iter().map(|visit| visit.engine_ns).collect();
    assert_eq!(times, vec![Some(2000), Some(1000)]);

    let (_, untimed) = suspend(&bot, Engine::default());
    let result = complete(Engine::default().resume(
        &bot,
        untimed,
        HttpOutcome::Response {
            status: 200,
            body_json: Some(json!({})),
        },
    ));
    assert!(result.path.iter().all(|visit| visit.engine_ns.is_none()));
}
