//! The fault suite's client and checker: conversations over both channels while a fault is
//! injected, then a Jepsen-style count of what was lost, duplicated or reordered.
//!
//! Every conversation talks to an "echo log" bot: each answer appends the user's text to the
//! variable `log` and prompts `got<log>`. So the session's final `log` is the order in which
//! the flow saw the user's messages (a message lost, handled twice or out of order shows in
//! it), and every bot message's text says which turn sent it (a Graph message sent twice shows
//! as the same text twice in the emulator's conversation log).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Jsonb, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use meta_emulator::api::{DeliverRequest, RetryPolicy, UserMessage};
use meta_emulator::client::EmulatorClient;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::cluster::Cluster;

/// How much traffic one scenario drives.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    /// Conversations per channel.
    pub conversations: usize,
    /// User messages per conversation (the first one starts it).
    pub messages: usize,
    /// Spread of one conversation's messages, so that the fault hits them mid-way.
    pub duration: Duration,
}

/// The echo-log bot.
pub fn echo_log_bot(name: &str) -> Value {
    json!({"name": name, "variables": [{"name": "seen"}, {"name": "log", "default": ""}],
        "flow": {"start": "ask", "components": [
            {"id": "ask", "type": "question_text", "text": "got{{log}}", "variable": "seen", "next": "add"},
            {"id": "add", "type": "set_variable", "variable": "log", "value": "{{log}} {{seen}}", "next": "ask"}]}})
}

/// The bot's answer after the user's messages `m1..=mk` (k = 0: the start).
pub fn expected_text(k: usize) -> String {
    let mut text = "got".to_owned();
    for n in 1..=k {
        text.push_str(&format!(" m{n}"));
    }
    text
}

/// A scenario's outcome, Jepsen-style.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub scenario: String,
    /// User messages sent (first deliveries; retries and duplicates not counted).
    pub sent: usize,
    /// Turns the flow should have run.
    pub expected_turns: usize,
    /// User messages the flow never saw, or answers never received.
    pub lost: usize,
    /// User messages the flow handled twice, or bot messages Meta accepted twice.
    pub duplicated: usize,
    /// User messages handled out of their order, or answers out of theirs.
    pub reordered: usize,
    /// Of `duplicated`: bot messages Meta accepted twice (same text, same user).
    pub graph_duplicates: usize,
    /// Graph messages sent twice because the sender was killed between Meta's answer and its
    /// record of it (counted apart: the documented window).
    pub sender_window_duplicates: usize,
    /// API answers that did not match their turn.
    pub wrong_answers: usize,
    /// Idempotency-Key replays checked (each answered as the original, no new turn).
    pub replays: usize,
    /// Messages a client never sent because it gave up waiting for an earlier answer (the
    /// machine overloaded past `CLIENT_PATIENCE`): neither expected nor lost.
    pub abandoned: usize,
    /// Requests the client retried (504, 409 in use, 503, connection errors).
    pub client_retries: usize,
    /// Longest a client waited for one answer, first attempt to 200.
    pub recovery: Duration,
    /// Notes (e.g. how long the shards took to move).
    pub notes: Vec<String>,
    /// The conversations whose session log or Graph messages were not exactly as sent (the
    /// first few, with what was seen), to find their turns in the services' logs.
    pub suspects: Vec<String>,
}

/// How many suspect conversations a report names.
const SUSPECTS: usize = 10;

impl Report {
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.reordered == 0 && self.wrong_answers == 0
    }

    pub fn line(&self) -> String {
        format!(
            "{:<22} sent {:>5}  turns {:>5}  lost {}  duplicated {}  reordered {}  wrong {}  \
             sender-window {}  abandoned {}  replays {}  retries {}  recovery {:.1}s  {}",
            self.scenario,
            self.sent,
            self.expected_turns,
            self.lost,
            self.duplicated,
            self.reordered,
            self.wrong_answers,
            self.sender_window_duplicates,
            self.abandoned,
            self.replays,
            self.client_retries,
            self.recovery.as_secs_f64(),
            self.notes.join("; ")
        )
    }
}

/// The two integrations every scenario talks to.
pub struct Targets {
    pub api_id: i64,
    pub api_key: String,
    pub wa_id: i64,
    pub phone_number_id: String,
    pub webhook_url: String,
    pub app_secret: String,
}

impl Targets {
    pub async fn create(cluster: &Cluster) -> Targets {
        let api = cluster
            .integration(
                &echo_log_bot("Echo API"),
                json!({"kind": "api", "name": "faults api"}),
            )
            .await;
        let phone_number_id = "106540352249001".to_owned();
        let app_secret = "app-secret-faults-0123456789abcdef".to_owned();
        let wa = cluster
            .integration(
                &echo_log_bot("Echo WhatsApp"),
                json!({"kind": "whatsapp", "name": "faults wa",
                    "business_account_id": "102290129340398",
                    "phone_number_id": phone_number_id, "app_id": "1234567890",
                    "app_secret": app_secret, "access_token": "EAAfaultsshortlived",
                    "verify_token": "verify-token-faults"}),
            )
            .await;
        let wa_id = wa["id"].as_i64().expect("integration id");
        Targets {
            api_id: api["id"].as_i64().expect("integration id"),
            api_key: api["api_key"].as_str().expect("api key").to_owned(),
            wa_id,
            webhook_url: format!("{}/webhooks/whatsapp/{wa_id}", cluster.ingress.url("")),
            phone_number_id,
            app_secret,
        }
    }
}

/// What the clients saw.
#[derive(Default)]
struct ClientLog {
    wrong_answers: usize,
    replays: usize,
    retries: usize,
    longest_wait: Duration,
    /// Per conversation: how many of its messages the client sent at least once.
    attempted: HashMap<String, usize>,
}

/// A running load: API and WhatsApp conversations named after the scenario.
pub struct Load {
    scenario: String,
    spec: LoadSpec,
    tasks: JoinSet<ClientLog>,
    started: Instant,
}

impl Load {
    pub fn start(cluster: &Cluster, targets: &Targets, scenario: &str, spec: LoadSpec) -> Load {
        let mut tasks = JoinSet::new();
        let api_base = format!(
            "{}/api/integrations/api/{}",
            cluster.gateway.url(""),
            targets.api_id
        );
        let emulator =
            Arc::new(EmulatorClient::new(&cluster.emulator.url("")).expect("emulator client"));
        let pace = spec.duration / u32::try_from(spec.messages.max(1)).unwrap_or(1);
        for n in 0..spec.conversations {
            let session = format!("{scenario}-{n}");
            tasks.spawn(api_conversation(
                cluster.client.clone(),
                api_base.clone(),
                targets.api_key.clone(),
                session,
                spec.messages,
                pace,
            ));
            tasks.spawn(wa_conversation(
                emulator.clone(),
                WaTarget {
                    url: targets.webhook_url.clone(),
                    app_secret: targets.app_secret.clone(),
                    phone_number_id: targets.phone_number_id.clone(),
                },
                wa_user(scenario, n),
                spec.messages,
                pace,
            ));
        }
        Load {
            scenario: scenario.to_owned(),
            spec,
            tasks,
            started: Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits for the clients, then for the WhatsApp answers, then counts.
    pub async fn finish(
        mut self,
        cluster: &Cluster,
        targets: &Targets,
        settle: Duration,
    ) -> Report {
        let mut log = ClientLog::default();
        while let Some(done) = self.tasks.join_next().await {
            let part = done.expect("client task");
            log.wrong_answers += part.wrong_answers;
            log.replays += part.replays;
            log.retries += part.retries;
            log.attempted.extend(part.attempted);
            log.longest_wait = log.longest_wait.max(part.longest_wait);
        }
        let spec = self.spec;
        let users: Vec<String> = (0..spec.conversations)
            .map(|n| wa_user(&self.scenario, n))
            .collect();
        let sessions: Vec<String> = (0..spec.conversations)
            .map(|n| format!("{}-{n}", self.scenario))
            .collect();
        // Turns finish asynchronously for WhatsApp: wait until every log is complete (or the
        // settle time is up, and whatever is missing counts as lost).
        let emulator = EmulatorClient::new(&cluster.emulator.url("")).expect("emulator client");
        let deadline = Instant::now() + settle;
        let attempted = |name: &String| log.attempted.get(name).copied().unwrap_or(0);
        // A log holds m1..: one token fewer than the messages sent (the first starts it).
        let logged = |logs: &HashMap<String, Vec<String>>, name: &String| {
            logs.get(name).map_or(0, Vec::len) + 1 >= attempted(name)
        };
        loop {
            let wa_logs = session_logs(cluster, targets.wa_id, &users).await;
            let api_logs = session_logs(cluster, targets.api_id, &sessions).await;
            let mut answered = true;
            for user in &users {
                let texts = bot_texts(&emulator, &targets.phone_number_id, user).await;
                answered &= texts.len() >= attempted(user);
            }
            let complete = users.iter().all(|u| logged(&wa_logs, u))
                && sessions.iter().all(|s| logged(&api_logs, s));
            if (complete && answered) || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // Late duplicates and retried sends would show a moment later: let them.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let sent: usize = users.iter().chain(&sessions).map(attempted).sum();
        let mut report = Report {
            scenario: self.scenario.clone(),
            sent,
            expected_turns: sent,
            abandoned: 2 * spec.conversations * spec.messages - sent,
            wrong_answers: log.wrong_answers,
            replays: log.replays,
            client_retries: log.retries,
            recovery: log.longest_wait,
            ..Report::default()
        };
        let api_logs = session_logs(cluster, targets.api_id, &sessions).await;
        let wa_logs = session_logs(cluster, targets.wa_id, &users).await;
        for name in &sessions {
            let before = report.anomalies();
            count_log(
                &mut report,
                api_logs.get(name),
                attempted(name).saturating_sub(1),
            );
            report.suspect(before, || {
                format!("api {name}: log {:?}", api_logs.get(name))
            });
        }
        for user in &users {
            let before = report.anomalies();
            count_log(
                &mut report,
                wa_logs.get(user),
                attempted(user).saturating_sub(1),
            );
            let texts = bot_texts(&emulator, &targets.phone_number_id, user).await;
            count_texts(&mut report, &texts, attempted(user));
            report.suspect(before, || {
                format!(
                    "whatsapp {user}: log {:?}, Graph texts {texts:?}",
                    wa_logs.get(user)
                )
            });
        }
        report
    }
}

impl Report {
    fn anomalies(&self) -> usize {
        self.lost + self.duplicated + self.reordered
    }

    /// Names the conversation `describe` tells of if it added anomalies since `before`.
    fn suspect(&mut self, before: usize, describe: impl FnOnce() -> String) {
        if self.anomalies() > before && self.suspects.len() < SUSPECTS {
            self.suspects.push(describe());
        }
    }
}

fn wa_user(scenario: &str, n: usize) -> String {
    // Digits only (a wa_id): a hash of the scenario name keeps users apart between scenarios.
    let tag: u32 = scenario
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("1{:09}{n:04}", tag % 1_000_000_000)
}

/// Lost, duplicated and reordered user messages in one session's `log` (`m1..m<full>`).
fn count_log(report: &mut Report, log: Option<&Vec<String>>, full: usize) {
    let tokens: Vec<usize> = log
        .map(|l| {
            l.iter()
                .filter_map(|t| t.strip_prefix('m')?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut seen = vec![0usize; full + 1];
    for &t in &tokens {
        if t < seen.len() {
            seen[t] += 1;
        } else {
            // A message the client never sent cannot have been handled.
            report.duplicated += 1;
        }
    }
    report.lost += (1..=full).filter(|&t| seen[t] == 0).count();
    report.duplicated += seen.iter().map(|&c| c.saturating_sub(1)).sum::<usize>();
    report.reordered += tokens.windows(2).filter(|w| w[1] < w[0]).count();
}

/// Graph messages (texts) Meta accepted for one user: each expected answer exactly once, in
/// order. Duplicates go to `duplicated` here; the kill-sender scenario moves them apart.
///
/// An answer is the whole log so far, so one message handled out of order makes every later
/// answer differ from the expected one although none is missing. Such an answer (one that
/// matches no expected text) stands in for one missing expected answer and counts as
/// reordered, not lost; only expected answers with no stand-in count as lost. (Before this,
/// a `rabbitmq-kill-9` run with 11 conversations reordered early reported "lost 198": 18
/// answers of each, every one present with the order's mark on it.)
fn count_texts(report: &mut Report, texts: &[String], messages: usize) {
    let expected: std::collections::HashSet<String> = (0..messages).map(expected_text).collect();
    let stand_ins = texts.iter().filter(|t| !expected.contains(*t)).count();
    let mut missing = 0_usize;
    let mut positions = Vec::new();
    for k in 0..messages {
        let expected = expected_text(k);
        let found: Vec<usize> = texts
            .iter()
            .enumerate()
            .filter(|(_, t)| **t == expected)
            .map(|(i, _)| i)
            .collect();
        match found.len() {
            0 => missing += 1,
            n => {
                report.duplicated += n - 1;
                report.graph_duplicates += n - 1;
                positions.push(found[0]);
            }
        }
    }
    report.lost += missing.saturating_sub(stand_ins);
    report.reordered += missing.min(stand_ins);
    report.reordered += positions.windows(2).filter(|w| w[1] < w[0]).count();
}

async fn bot_texts(emulator: &EmulatorClient, phone_number_id: &str, user: &str) -> Vec<String> {
    for _ in 0..20 {
        if let Ok(messages) = emulator.conversation(phone_number_id, user, None).await {
            return messages
                .iter()
                .filter_map(|m| m.message["text"]["body"].as_str().map(str::to_owned))
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("the emulator does not answer");
}

/// Each session's `log` split into its tokens.
async fn session_logs(
    cluster: &Cluster,
    integration: i64,
    sessions: &[String],
) -> HashMap<String, Vec<String>> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        session_id: String,
        #[diesel(sql_type = Jsonb)]
        state: Value,
    }
    for _ in 0..120 {
        let Ok(mut conn) = AsyncPgConnection::establish(cluster.db.url()).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let rows: Result<Vec<Row>, _> = diesel::sql_query(
            "SELECT session_id, state FROM sessions WHERE integration_id = $1 AND session_id = ANY($2)",
        )
        .bind::<BigInt, _>(integration)
        .bind::<diesel::sql_types::Array<Text>, _>(sessions)
        .load(&mut conn)
        .await;
        if let Ok(rows) = rows {
            return rows
                .into_iter()
                .map(|row| {
                    let log = row.state["variables"]["log"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                    (
                        row.session_id,
                        log.split_whitespace().map(str::to_owned).collect(),
                    )
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the database does not answer");
}

/// How long a client keeps retrying one message before it gives up on its conversation.
const CLIENT_PATIENCE: Duration = Duration::from_secs(300);

/// One API conversation: a start and `messages - 1` messages, each with an Idempotency-Key,
/// retried on anything transient; every 5th answer replayed with its key.
async fn api_conversation(
    client: reqwest::Client,
    base: String,
    key: String,
    session: String,
    messages: usize,
    pace: Duration,
) -> ClientLog {
    let mut log = ClientLog::default();
    for k in 0..messages {
        log.attempted.insert(session.clone(), k + 1);
        let (path, body) = if k == 0 {
            ("/session".to_owned(), json!({"session_id": session}))
        } else {
            (
                format!("/session/{session}/message"),
                json!({"message": format!("m{k}")}),
            )
        };
        let idempotency_key = format!("{session}-{k}");
        let started = Instant::now();
        let Some(answer) = api_call(
            &client,
            &base,
            &path,
            &key,
            &idempotency_key,
            &body,
            &mut log,
        )
        .await
        else {
            return log;
        };
        log.longest_wait = log.longest_wait.max(started.elapsed());
        if !answer_says(&answer, &expected_text(k)) {
            tracing::error!(%session, k, %answer, "wrong answer");
            log.wrong_answers += 1;
        }
        if k % 5 == 4 {
            if let Some(replay) = api_call(
                &client,
                &base,
                &path,
                &key,
                &idempotency_key,
                &body,
                &mut log,
            )
            .await
            {
                log.replays += 1;
                if replay["idempotency_replayed"] != true
                    || !answer_says(&replay, &expected_text(k))
                {
                    tracing::error!(%session, k, %replay, "wrong replay");
                    log.wrong_answers += 1;
                }
            }
        }
        tokio::time::sleep(pace).await;
    }
    log
}

fn answer_says(answer: &Value, text: &str) -> bool {
    answer["messages"]
        .as_array()
        .is_some_and(|messages| messages.iter().any(|m| m["text"] == text))
}

async fn api_call(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    key: &str,
    idempotency_key: &str,
    body: &Value,
    log: &mut ClientLog,
) -> Option<Value> {
    let deadline = Instant::now() + CLIENT_PATIENCE;
    while Instant::now() < deadline {
        let sent = client
            .post(format!("{base}{path}"))
            .header("X-API-Key", key)
            .header("Idempotency-Key", idempotency_key)
            .json(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().as_u16() == 200 => {
                if let Ok(answer) = response.json::<Value>().await {
                    return Some(answer);
                }
            }
            Ok(response)
                if response.status().is_client_error()
                    && response.status().as_u16() != 409
                    && response.status().as_u16() != 429 =>
            {
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                tracing::error!(%status, %text, path, "refused");
                return None;
            }
            _ => {}
        }
        log.retries += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

struct WaTarget {
    url: String,
    app_secret: String,
    phone_number_id: String,
}

/// One WhatsApp user: `messages` texts `m0..`, as Meta would deliver them: some duplicated,
/// some pairs in one webhook in reverse array order (the ingress orders them by timestamp),
/// and some redelivered late, after later messages.
async fn wa_conversation(
    emulator: Arc<EmulatorClient>,
    target: WaTarget,
    user: String,
    messages: usize,
    pace: Duration,
) -> ClientLog {
    let mut log = ClientLog::default();
    let base_time = chrono::Utc::now().timestamp() - 600;
    let message = |k: usize| UserMessage {
        id: Some(format!("wamid.faults.{user}.{k}")),
        timestamp: Some(base_time + i64::try_from(k).unwrap_or(0)),
        text: Some(format!("m{k}")),
        ..meta_emulator::client::user_text(&target.phone_number_id, &user, "")
    };
    let mut k = 0;
    while k < messages {
        let (batch, step) = if k % 6 == 3 && k + 1 < messages {
            (vec![message(k + 1), message(k)], 2)
        } else {
            (vec![message(k)], 1)
        };
        let request = DeliverRequest {
            target_url: Some(target.url.clone()),
            app_secret: Some(target.app_secret.clone()),
            messages: batch,
            batch: step == 2,
            duplicate: u32::from(k % 4 == 1),
            retry: Some(RetryPolicy {
                max_attempts: 6,
                backoff_ms: 200,
            }),
            ..DeliverRequest::default()
        };
        // Attempted: a delivery that never got a 200 may still have been published.
        log.attempted.insert(user.clone(), k + step);
        if !deliver(&emulator, &request, &mut log).await {
            return log;
        }
        // A late redelivery of an earlier message, after later ones were handled.
        if k % 7 == 6 {
            let late = DeliverRequest {
                messages: vec![message(k - 3)],
                batch: false,
                duplicate: 0,
                ..request.clone()
            };
            deliver(&emulator, &late, &mut log).await;
        }
        k += step;
        tokio::time::sleep(pace * u32::try_from(step).unwrap_or(1)).await;
    }
    log
}

/// Delivers until every POST was answered 200 (Meta retries for days; the client for a while).
async fn deliver(emulator: &EmulatorClient, request: &DeliverRequest, log: &mut ClientLog) -> bool {
    let started = Instant::now();
    while started.elapsed() < CLIENT_PATIENCE {
        if let Ok(report) = emulator.deliver(request).await {
            if report.all_acknowledged() {
                return true;
            }
        }
        log.retries += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(ks: &[&[usize]]) -> Vec<String> {
        ks.iter()
            .map(|log| {
                let mut text = "got".to_owned();
                for n in *log {
                    text.push_str(&format!(" m{n}"));
                }
                text
            })
            .collect()
    }

    #[test]
    fn answers_after_a_swap_count_as_reordered_and_a_missing_one_as_lost() {
        // m2 and m3 handled the other way round: every answer present, two in a wrong state.
        let mut report = Report::default();
        let swapped = texts(&[&[], &[1], &[1, 3], &[1, 3, 2], &[1, 3, 2, 4]]);
        count_texts(&mut report, &swapped, 5);
        assert_eq!((report.lost, report.reordered), (0, 3));
        // The last answer never came: lost.
        let mut report = Report::default();
        count_texts(&mut report, &texts(&[&[], &[1], &[1, 2], &[1, 2, 3]]), 5);
        assert_eq!(
            (report.lost, report.reordered, report.duplicated),
            (1, 0, 0)
        );
        // Every answer as expected.
        let mut report = Report::default();
        count_texts(&mut report, &texts(&[&[], &[1], &[1, 2]]), 3);
        assert_eq!(report.anomalies(), 0);
    }
}
