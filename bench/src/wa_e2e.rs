//! Webhook to Graph API call: each timed message carries a unique text, the echo bot answers
//! `got <text>`, and the Meta emulator records the sender's request with its arrival time
//! (RFC 3339 with nanoseconds, the same clock as this process). The latency of a message is
//! that time minus the moment its POST started (or was due, in the open-loop phase).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use meta_emulator::client::EmulatorClient;
use tokio::sync::watch;

use crate::stats::Samples;
use crate::wa_load::{open_loop, Outcome, Schedule, Webhooks};
use crate::wa_pipeline::PHONE_NUMBER_ID;

// The latencies come from the emulator's timestamps, so polling less often costs no accuracy,
// only the serial phase's pace; it keeps the reading's own load on the cores small.
const POLL_EVERY: Duration = Duration::from_millis(20);

#[derive(Default)]
struct Seen {
    /// Text of each message sent to a user → when the emulator received it (first time).
    replies: HashMap<String, DateTime<Utc>>,
    /// When the first message to each user (digits) was received.
    first_to_user: HashMap<String, DateTime<Utc>>,
}

/// Follows the emulator's record of Graph API requests.
pub struct GraphRecord {
    seen: Arc<Mutex<Seen>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl GraphRecord {
    pub fn start(client: EmulatorClient) -> GraphRecord {
        let seen: Arc<Mutex<Seen>> = Arc::default();
        let (stop, mut stopped) = watch::channel(false);
        let into = seen.clone();
        let task = tokio::spawn(async move {
            let mut since = None;
            loop {
                match client.requests(Some(PHONE_NUMBER_ID), since).await {
                    Ok(records) => {
                        if let Some(last) = records.last() {
                            since = Some(last.seq);
                        }
                        if let Ok(mut seen) = into.lock() {
                            for record in records.iter().filter(|r| r.status == 200) {
                                let (Some(to), Some(text)) = (
                                    record.body["to"].as_str(),
                                    record.body["text"]["body"].as_str(),
                                ) else {
                                    continue; // a mark-as-read, or not a text
                                };
                                let Ok(at) = DateTime::parse_from_rfc3339(&record.time) else {
                                    continue;
                                };
                                seen.replies
                                    .entry(text.to_owned())
                                    .or_insert(at.with_timezone(&Utc));
                                seen.first_to_user
                                    .entry(to.trim_start_matches('+').to_owned())
                                    .or_insert(at.with_timezone(&Utc));
                            }
                        }
                    }
                    Err(error) => tracing::warn!(%error, "reading the emulator's record"),
                }
                tokio::select! {
                    _ = stopped.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(POLL_EVERY) => {}
                }
            }
        });
        GraphRecord { seen, stop, task }
    }

    fn reply(&self, text: &str) -> Option<DateTime<Utc>> {
        self.seen.lock().ok()?.replies.get(text).copied()
    }

    /// When the emulator received a send of `text`, waiting up to `patience`.
    pub async fn wait_reply(&self, text: &str, patience: Duration) -> Option<DateTime<Utc>> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(at) = self.reply(text) {
                return Some(at);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    fn first_to(&self, user: &str) -> Option<DateTime<Utc>> {
        self.seen.lock().ok()?.first_to_user.get(user).copied()
    }

    fn users_reached(&self, users: &[String]) -> usize {
        self.seen.lock().map_or(0, |seen| {
            users
                .iter()
                .filter(|u| seen.first_to_user.contains_key(*u))
                .count()
        })
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn since(start: DateTime<Utc>, end: DateTime<Utc>) -> Duration {
    Duration::from_micros((end - start).num_microseconds().unwrap_or_default().max(0) as u64)
}

/// Starts a conversation for each user (the bot's first question) so the timed messages are
/// answers, the common turn; waits until every user got the question.
pub async fn warm(
    hooks: &Arc<Webhooks>,
    record: &GraphRecord,
    users: &[String],
) -> anyhow::Result<()> {
    for (n, chunk) in users.chunks(32).enumerate() {
        let posts = chunk.iter().enumerate().map(|(i, user)| {
            let id = (n * 32 + i) as u64;
            let signed = hooks.text(user, "W", id, "hi");
            async move { hooks.post(signed?).await }
        });
        for result in futures_util::future::join_all(posts).await {
            result?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while record.users_reached(users) < users.len() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {} users got the bot's question",
            record.users_reached(users),
            users.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// One message at a time from `user`: POST, wait for the bot's answer at the emulator, next.
pub async fn one_at_a_time(
    hooks: &Arc<Webhooks>,
    record: &GraphRecord,
    user: &str,
    count: usize,
) -> anyhow::Result<(Samples, Duration)> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut samples = Samples::default();
    let started = Instant::now();
    for n in 0..count {
        let text = format!("s{}-{n}", &run[..8]);
        let signed = hooks.text(user, "S", n as u64, &text)?;
        let posted = Utc::now();
        hooks.post(signed).await?;
        let answered = record
            .wait_reply(&format!("got {text}"), Duration::from_secs(30))
            .await
            .ok_or_else(|| anyhow::anyhow!("no answer to {text} within 30 s"))?;
        samples.push(since(posted, answered));
    }
    Ok((samples, started.elapsed()))
}

/// What the open-loop end-to-end phase measured.
pub struct EndToEnd {
    pub delivered: Samples,
    pub missing: usize,
    pub wall: Duration,
}

/// `rate` messages per second for `seconds`, spread over `users` in turn, on a clock; each
/// message's latency runs from its due time to the emulator's receipt of its answer.
pub async fn at_rate(
    hooks: &Arc<Webhooks>,
    record: &GraphRecord,
    users: &[String],
    rate: f64,
    seconds: f64,
) -> anyhow::Result<(Outcome, EndToEnd)> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let count = (rate * seconds).round() as usize;
    let mut texts = Vec::with_capacity(count);
    let mut planned = Vec::with_capacity(count);
    for n in 0..count {
        let text = format!("r{}-{n}", &run[..8]);
        let user = &users[n % users.len().max(1)];
        planned.push(hooks.text(user, "R", n as u64, &text)?);
        texts.push(text);
    }
    let (ingress, schedule) = open_loop(hooks, planned, rate).await?;
    let mut delivered = Samples::default();
    let mut missing = 0;
    let mut last = schedule.start_wall;
    // Answers still on their way get a generous grace after the last POST.
    let grace_ends = Instant::now() + Duration::from_secs(60);
    for (n, text) in texts.iter().enumerate() {
        let patience = grace_ends.saturating_duration_since(Instant::now());
        match record.wait_reply(&format!("got {text}"), patience).await {
            Some(at) => {
                delivered.push(since(schedule.due_wall(n), at));
                last = last.max(at);
            }
            None => missing += 1,
        }
    }
    let end_to_end = EndToEnd {
        delivered,
        missing,
        // From the first due POST to the last answer the emulator received.
        wall: since(schedule.start_wall, last),
    };
    Ok((ingress, end_to_end))
}

/// New conversations, one per webhook of an open-loop phase (`users[i]` wrote webhook `i`):
/// the latency of each runs from its due time to the bot's first message to that user.
pub async fn first_answers(
    record: &GraphRecord,
    schedule: &Schedule,
    users: &[String],
) -> EndToEnd {
    let mut delivered = Samples::default();
    let (mut missing, mut last) = (0, schedule.start_wall);
    let grace_ends = Instant::now() + Duration::from_secs(120);
    for (n, user) in users.iter().enumerate() {
        loop {
            if let Some(at) = record.first_to(user) {
                delivered.push(since(schedule.due_wall(n), at));
                last = last.max(at);
                break;
            }
            if Instant::now() >= grace_ends {
                missing += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    EndToEnd {
        delivered,
        missing,
        wall: since(schedule.start_wall, last),
    }
}
