#![allow(clippy::unwrap_used, clippy::expect_used)]
//! One conversation's trouble is never another's: a conversation waiting on its flow's slow
//! HTTP call, retrying a transient failure, or carrying data the database refuses holds only
//! itself; the other conversations of its shard, its integration and other integrations go on.

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use e2e::{ApiIntegration, HttpStub, Platform, PlatformOptions};
use futures_util::future::join_all;
use serde_json::{json, Value};

/// ask (question) → call (http_request, maps `v`) → say (text) → ask2 (question) → end.
fn calling_bot(name: &str, url: &str) -> Value {
    json!({"name": name, "variables": [{"name": "a"}, {"name": "b"}, {"name": "v"}],
    "flow": {"start": "ask", "components": [
        {"id": "ask", "type": "question_text", "text": "Say something", "variable": "a", "next": "call"},
        {"id": "call", "type": "http_request", "method": "GET", "url": url,
         "timeout_ms": 15000, "map": [{"path": "v", "variable": "v"}], "next": "say"},
        {"id": "say", "type": "text", "text": "called with {{a}}: {{v}}", "next": "ask2"},
        {"id": "ask2", "type": "question_text", "text": "And now?", "variable": "b", "next": "end"},
        {"id": "end", "type": "end", "text": "bye {{b}}"}
    ]}})
}

fn texts(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .filter_map(|m| m["text"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn start_path(integration: &ApiIntegration) -> String {
    format!("/{}/session/", integration.id)
}

fn message_path(integration: &ApiIntegration, session: &str) -> String {
    format!("/{}/session/{session}/message/", integration.id)
}

/// Starts `count` sessions at once, half on each integration, and returns each start's time.
async fn start_sessions(
    platform: &Platform,
    integrations: [&ApiIntegration; 2],
    prefix: &str,
    count: usize,
) -> Vec<Duration> {
    let starts = (0..count).map(|n| {
        let integration = integrations[n % 2];
        let path = start_path(integration);
        let body = json!({"session_id": format!("{prefix}-{n}")});
        async move {
            let began = Instant::now();
            let (status, answer) = platform.api(&path, &integration.key, &body).await;
            assert_eq!(status, 200, "{answer}");
            began.elapsed()
        }
    });
    join_all(starts).await
}

fn p99(mut times: Vec<Duration>) -> Duration {
    times.sort();
    let index = ((times.len() as f64) * 0.99).ceil() as usize;
    times[index.saturating_sub(1).min(times.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conversation_waiting_on_a_slow_http_call_holds_only_itself() {
    const HOLD: Duration = Duration::from_secs(5);
    let slow = HttpStub::start(r#"{"v": "slow answer"}"#, HOLD).await;
    // One shard: every conversation shares it, the hardest case for head-of-line blocking.
    let p = Platform::start_with(PlatformOptions {
        inbound_shards: 1,
        ..PlatformOptions::default()
    })
    .await;
    let calling = p
        .api_integration_for(
            &calling_bot("Slow caller", &slow.url),
            json!({"name": "slow"}),
        )
        .await;
    let other = p.demo_integration("Other", false).await;

    // Baseline: 48 new conversations (same and other integration) with nothing held, after a
    // warm-up (connections, bot versions cached).
    start_sessions(&p, [&calling, &other], "warm", 8).await;
    let baseline = start_sessions(&p, [&calling, &other], "calm", 48).await;

    // Hold 8 conversations on the 5 s call, each with a second message queued behind it.
    for n in 0..8 {
        let (status, _) = p
            .api(
                &start_path(&calling),
                &calling.key,
                &json!({"session_id": format!("held-{n}")}),
            )
            .await;
        assert_eq!(status, 200);
    }
    let held = (0..8).map(|n| {
        let p = &p;
        let calling = &calling;
        async move {
            let session = format!("held-{n}");
            let path = message_path(calling, &session);
            let m1 = json!({"message": format!("m1-{n}")});
            let first = p.api(&path, &calling.key, &m1);
            let second = async {
                // Sent while the first waits on the call: it must wait its turn.
                tokio::time::sleep(Duration::from_millis(300)).await;
                p.api(&path, &calling.key, &json!({"message": format!("m2-{n}")}))
                    .await
            };
            tokio::join!(first, second)
        }
    });
    let measure = async {
        common_wait_for_calls(&slow, 8).await;
        let held_since = Instant::now();
        let busy = start_sessions(&p, [&calling, &other], "busy", 48).await;
        assert!(
            held_since.elapsed() < HOLD,
            "the busy conversations were measured while the calls were still held"
        );
        busy
    };
    let (held, busy) = tokio::join!(join_all(held), measure);
    let (baseline_p99, busy_p99) = (p99(baseline), p99(busy.clone()));
    eprintln!("p99 without held conversations {baseline_p99:?}, with 8 held {busy_p99:?}");
    assert!(
        busy.iter().all(|t| *t < HOLD / 2),
        "no new conversation waited for the held ones: {busy:?}"
    );
    // Within 2x of the same run's baseline (plus a little for a shared, noisy machine).
    assert!(
        busy_p99 <= baseline_p99 * 2 + Duration::from_millis(100),
        "p99 with held conversations {busy_p99:?} vs {baseline_p99:?} without"
    );

    // Each held conversation gets both turns, in order, once its call returns: the second
    // message was taken by the question the first turn reached (`ask2`), so it ran after it.
    for (n, ((s1, first), (s2, second))) in held.into_iter().enumerate() {
        assert_eq!((s1, s2), (200, 200), "{first} {second}");
        assert_eq!(
            texts(&first),
            vec![
                format!("called with m1-{n}: slow answer"),
                "And now?".to_owned()
            ]
        );
        assert_eq!(texts(&second), vec![format!("bye m2-{n}")]);
        assert_eq!(second["is_final"], true);
    }
    assert_eq!(slow.requests(), 8, "each held conversation called once");
    p.stop().await;
}

async fn common_wait_for_calls(stub: &HttpStub, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while stub.requests() < count {
        assert!(Instant::now() < deadline, "the held calls were made");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// ask (question) → say (text) → ask: a conversation that goes on for ever.
fn echo_bot() -> Value {
    json!({"name": "Echo", "variables": [{"name": "a"}],
    "flow": {"start": "ask", "components": [
        {"id": "ask", "type": "question_text", "text": "Say something", "variable": "a", "next": "say"},
        {"id": "say", "type": "text", "text": "you said {{a}}", "next": "ask"}
    ]}})
}

/// A session lock held outside the platform past the executor's lock timeout is a transient
/// failure: retried, bounded, and the turn succeeds once the lock goes. Data the database
/// refuses (a NUL character from an HTTP answer) is permanent: the event is given up at once,
/// the client gets a 500 `turn_failed`, the session is unchanged, the event is listed as a dead
/// letter with its reason, and every other conversation of the shard is answered meanwhile.
/// Replayed once the upstream is fixed, the event runs once (a second replay does not run it
/// again), and the conversation goes on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_events_are_retried_or_given_up_and_the_shard_goes_on() {
    // The upstream answers with a NUL once, then with storable text.
    let poison = HttpStub::start_sequence(
        &[r#"{"v": "A\u0000da"}"#, r#"{"v": "Ada"}"#],
        Duration::ZERO,
    )
    .await;
    let p = Platform::start_with(PlatformOptions {
        inbound_shards: 1,
        lock_timeout: Duration::from_millis(300),
        retry: flow_executor::RetryPolicy {
            max_attempts: 8,
            base_pause: Duration::from_millis(100),
            ..flow_executor::RetryPolicy::default()
        },
        ..PlatformOptions::default()
    })
    .await;
    let calling = p
        .api_integration_for(
            &calling_bot("Poisoned", &poison.url),
            json!({"name": "poisoned"}),
        )
        .await;
    let echo = p
        .api_integration_for(&echo_bot(), json!({"name": "echo"}))
        .await;
    let (status, _) = p
        .api(
            &start_path(&calling),
            &calling.key,
            &json!({"session_id": "poisoned"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = p
        .api(
            &start_path(&echo),
            &echo.key,
            &json!({"session_id": "locked"}),
        )
        .await;
    assert_eq!(status, 200);

    // Permanent: the answer's NUL cannot be stored.
    let poisoned = message_path(&calling, "poisoned");
    let (status, body) = p
        .api(&poisoned, &calling.key, &json!({"message": "hi"}))
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "turn_failed", "{body}");
    assert_eq!(
        p.executor_counter("turns_dead_lettered_total{channel=\"api\"}")
            .await,
        1.0
    );
    // Given up at once: a permanent failure is not retried.
    assert_eq!(
        p.executor_counter("turn_retries_total{channel=\"api\"}")
            .await,
        0.0
    );

    // Transient: the session row is locked by someone else for a while.
    let mut holder = AsyncPgConnection::establish(p.admin.db.url())
        .await
        .unwrap();
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT 1 FROM sessions WHERE integration_id = {} AND session_id = 'locked' FOR UPDATE",
            echo.id
        ))
        .await
        .unwrap();
    let locked = message_path(&echo, "locked");
    let late = json!({"message": "late"});
    let locked_turn = p.api(&locked, &echo.key, &late);
    let release = async {
        // Three failed attempts, then the lock goes.
        let deadline = Instant::now() + Duration::from_secs(20);
        while p
            .executor_counter("turn_retries_total{channel=\"api\"}")
            .await
            < 3.0
        {
            assert!(Instant::now() < deadline, "the locked turn was retried");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Meanwhile the shard goes on: other conversations start while this one retries.
        let others = start_sessions(&p, [&calling, &echo], "meanwhile", 8).await;
        holder.batch_execute("ROLLBACK").await.unwrap();
        others
    };
    let ((status, body), others) = tokio::join!(locked_turn, release);
    assert_eq!(others.len(), 8);
    assert_eq!(status, 200, "{body}");
    assert_eq!(texts(&body), vec!["you said late", "Say something"]);
    assert!(
        p.executor_counter("turn_retries_total{channel=\"api\"}")
            .await
            >= 3.0
    );
    assert_eq!(
        p.executor_counter("turns_dead_lettered_total{channel=\"api\"}")
            .await,
        1.0,
        "the transient failure was not given up"
    );

    // The dead letter names the conversation and why.
    let letter = {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (status, list) = p
                .admin
                .get("/v1/dead-letters?status=dead", e2e::BOOTSTRAP_TOKEN)
                .await;
            assert_eq!(status, 200, "{list}");
            if let Some(letter) = list["dead_letters"].as_array().and_then(|l| l.first()) {
                break letter.clone();
            }
            assert!(Instant::now() < deadline, "the dead letter was recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    assert_eq!(
        letter["conversation_key"],
        format!("{}:poisoned", calling.id)
    );
    assert_eq!(letter["integration_id"], calling.id);
    assert_eq!(letter["source_queue"], "bot.inbound.0");
    assert_eq!(letter["attempts"], 1);
    let reason = letter["reason"].as_str().unwrap();
    assert!(reason.contains("refused the data"), "{reason}");

    // Replayed (the upstream now answers well): it runs once, and the session moves on.
    let replay = format!("/v1/dead-letters/{}/replay", letter["id"]);
    let (status, replayed) = p
        .admin
        .post(&replay, e2e::BOOTSTRAP_TOKEN, &Value::Null)
        .await;
    assert_eq!(status, 200, "{replayed}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while poison.requests() < 2 {
        assert!(Instant::now() < deadline, "the replayed turn ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, again) = p
        .admin
        .post(&replay, e2e::BOOTSTRAP_TOKEN, &Value::Null)
        .await;
    assert_eq!(status, 200, "{again}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        poison.requests(),
        2,
        "a second replay does not run the turn again"
    );
    let (status, body) = p
        .api(&poisoned, &calling.key, &json!({"message": "again"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        texts(&body),
        vec!["bye again"],
        "the replayed turn left the session at ask2"
    );
    p.stop().await;
}
