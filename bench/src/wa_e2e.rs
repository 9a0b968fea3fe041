//! Webhook to Graph API call: each timed message carries a unique text, the echo bot answers
//! `got <text>`, and the local Graph API (graph_sink.rs) notes when the sender's request for
//! it arrived, on this process's clock. The latency of a message is that time minus the
//! moment its POST started (or was due, in the open-loop phase).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::graph_sink::Record;
use crate::stats::Samples;
use crate::wa_load::{open_loop, Outcome, Schedule, Webhooks};

pub fn since(start: DateTime<Utc>, end: DateTime<Utc>) -> Duration {
    Duration::from_micros((end - start).num_microseconds().unwrap_or_default().max(0) as u64)
}

/// Starts a conversation for each user (the bot's first question) so the timed messages are
/// answers, the common turn; waits until every user got the question.
pub async fn warm(hooks: &Arc<Webhooks>, record: &Record, users: &[String]) -> anyhow::Result<()> {
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
    record.wait_users(users, Duration::from_secs(120)).await
}

/// One message at a time from `user`: POST, wait for the bot's answer at the Graph API, next.
pub async fn one_at_a_time(
    hooks: &Arc<Webhooks>,
    record: &Record,
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

/// What the saturation phase measured: each message's latency (from its first POST), the
/// wall time, and the webhooks that had to be delivered again (as Meta would) because a POST
/// failed.
pub struct Saturation {
    pub samples: Samples,
    pub wall: Duration,
    pub redelivered: usize,
}

/// Saturation, closed loop: every one of `users` sends a message, waits for the bot's answer
/// at the Graph API, and sends the next, for `duration`. The answers per second are the
/// pipeline's capacity with that many conversations in flight. A failed POST is delivered
/// again (`Webhooks::deliver`), counted, and does not end the phase.
pub async fn saturate(
    hooks: &Arc<Webhooks>,
    record: &Arc<Record>,
    users: &[String],
    duration: Duration,
) -> anyhow::Result<Saturation> {
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for (u, user) in users.iter().enumerate() {
        let (hooks, record, user, run) = (hooks.clone(), record.clone(), user.clone(), run.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut redelivered = 0;
            let mut n = 0u64;
            while Instant::now() < deadline {
                let text = format!("x{run}-{u}-{n}");
                // The label carries this call's run: a wamid seen before is a duplicate.
                let signed =
                    hooks.text(&user, &format!("X{run}"), ((u as u64) << 32) | n, &text)?;
                n += 1;
                let posted = Utc::now();
                redelivered += hooks.deliver(signed).await?;
                let answered = record
                    .wait_reply(&format!("got {text}"), Duration::from_secs(60))
                    .await
                    .ok_or_else(|| anyhow::anyhow!("no answer to {text} within 60 s"))?;
                samples.push(since(posted, answered));
            }
            anyhow::Ok((samples, redelivered))
        }));
    }
    let mut outcome = Saturation {
        samples: Samples::default(),
        wall: Duration::ZERO,
        redelivered: 0,
    };
    for task in tasks {
        let (samples, redelivered) = task.await??;
        outcome.samples.extend(samples);
        outcome.redelivered += redelivered;
    }
    outcome.wall = started.elapsed();
    Ok(outcome)
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
    record: &Record,
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
pub async fn first_answers(record: &Record, schedule: &Schedule, users: &[String]) -> EndToEnd {
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
