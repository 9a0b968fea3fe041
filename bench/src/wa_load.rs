//! Signed Meta webhooks and the two ways of sending them: closed loop (each client POSTs the
//! next as soon as the previous is answered: throughput) and open loop (POSTs start on a
//! clock whatever the answers do, and latency counts from the scheduled start, so a slow
//! answer cannot hide the ones queued behind it: no coordinated omission).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::stats::Samples;
use crate::wa_pipeline::{APP_SECRET, PHONE_NUMBER_ID};

const WABA_ID: &str = "102290129340398";
const DISPLAY_PHONE_NUMBER: &str = "15550783881";

/// A webhook body with its `X-Hub-Signature-256`.
#[derive(Clone)]
pub struct Signed {
    pub body: Vec<u8>,
    pub signature: String,
}

/// Builds and POSTs webhooks for one integration.
pub struct Webhooks {
    client: reqwest::Client,
    url: String,
    /// Distinguishes this run's wamids.
    run: String,
}

impl Webhooks {
    pub fn new(url: String, connections: usize) -> anyhow::Result<Webhooks> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Webhooks {
            client,
            url,
            run: uuid::Uuid::new_v4().simple().to_string()[..8].to_uppercase(),
        })
    }

    /// The user number `n` (digits only, as Meta's `wa_id`).
    pub fn user(n: u64) -> String {
        format!("1650{:08}", n % 100_000_000)
    }

    /// A text message from `user`, shaped and escaped like Meta's (one entry, one change,
    /// one contact, one message), with a wamid of Meta's length unique to `(label, n)`.
    pub fn text(&self, user: &str, label: &str, n: u64, text: &str) -> anyhow::Result<Signed> {
        let wamid = format!("wamid.HBgL{user}FQIAEhgg{}{label}{n:016X}AA==", self.run);
        let body = serde_json::to_vec(&json!({
            "object": "whatsapp_business_account",
            "entry": [{
                "id": WABA_ID,
                "changes": [{
                    "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {
                            "display_phone_number": DISPLAY_PHONE_NUMBER,
                            "phone_number_id": PHONE_NUMBER_ID,
                        },
                        "contacts": [{"profile": {"name": "Bench User"}, "wa_id": user}],
                        "messages": [{
                            "from": user,
                            "id": wamid,
                            "timestamp": Utc::now().timestamp().to_string(),
                            "text": {"body": text},
                            "type": "text",
                        }],
                    },
                    "field": "messages",
                }],
            }],
        }))?;
        let signature = crypto::sign_meta_payload(APP_SECRET.as_bytes(), &body);
        Ok(Signed { body, signature })
    }

    /// POSTs one webhook; Ok only for Meta's success, a 200.
    pub async fn post(&self, signed: Signed) -> anyhow::Result<()> {
        let response = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("User-Agent", "facebookexternalua")
            .header("X-Hub-Signature-256", signed.signature)
            .body(signed.body)
            .send()
            .await?;
        let status = response.status();
        // Read the answer whole, as Meta does, so the connection is reused.
        let answer = response.bytes().await?;
        anyhow::ensure!(
            status.as_u16() == 200,
            "{status}: {}",
            String::from_utf8_lossy(&answer)
        );
        Ok(())
    }

    /// POSTs one webhook the way Meta delivers: a failed delivery (no answer, or anything but
    /// 200) is sent again, the same body, after a pause, up to `REDELIVERIES` times. Returns
    /// how many redeliveries it took; the ingress and the executor take a repeated wamid once.
    pub async fn deliver(&self, signed: Signed) -> anyhow::Result<usize> {
        const REDELIVERIES: usize = 5;
        let mut redelivered = 0;
        loop {
            match self.post(signed.clone()).await {
                Ok(()) => return Ok(redelivered),
                Err(error) if redelivered >= REDELIVERIES => {
                    anyhow::bail!("not accepted after {redelivered} redeliveries: {error}")
                }
                Err(error) => {
                    tracing::warn!(%error, "webhook not accepted; delivering it again");
                    redelivered += 1;
                    tokio::time::sleep(Duration::from_millis(100 << redelivered)).await;
                }
            }
        }
    }
}

/// What a load phase measured: the latency of each answered 200, the phase's wall time, and
/// the POSTs that failed (anything but 200, or no answer).
pub struct Outcome {
    pub answers: Samples,
    /// POSTs answered 200 (as many as `answers` holds).
    pub accepted: usize,
    pub wall: Duration,
    pub failed: usize,
    pub first_error: Option<String>,
}

/// `clients` clients, each POSTing text webhooks one after another for `duration`, every
/// one from another user. A webhook is built and signed before its clock starts.
pub async fn closed_loop(
    hooks: &Arc<Webhooks>,
    clients: usize,
    duration: Duration,
    label: &str,
) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for c in 0..clients as u64 {
        let hooks = hooks.clone();
        let label = label.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let (mut accepted, mut failed, mut first_error) = (0usize, 0usize, None);
            let mut n = 0u64;
            while Instant::now() < deadline {
                let id = c * 10_000_000 + n;
                n += 1;
                let signed = hooks.text(&Webhooks::user(id), &label, id, "hello, are you open?")?;
                let sent = Instant::now();
                match hooks.post(signed).await {
                    Ok(()) => {
                        samples.push(sent.elapsed());
                        accepted += 1;
                    }
                    Err(error) => {
                        failed += 1;
                        first_error.get_or_insert_with(|| error.to_string());
                    }
                }
            }
            anyhow::Ok((samples, accepted, failed, first_error))
        }));
    }
    let mut outcome = Outcome {
        answers: Samples::default(),
        accepted: 0,
        wall: Duration::ZERO,
        failed: 0,
        first_error: None,
    };
    for task in tasks {
        let (samples, accepted, failed, first_error) = task.await??;
        outcome.answers.extend(samples);
        outcome.accepted += accepted;
        outcome.failed += failed;
        outcome.first_error = outcome.first_error.or(first_error);
    }
    outcome.wall = started.elapsed();
    Ok(outcome)
}

/// The start of an open-loop schedule, on both clocks: webhook `i` is due at
/// `start + i / rate`.
#[derive(Clone, Copy)]
pub struct Schedule {
    pub start: Instant,
    pub start_wall: DateTime<Utc>,
    pub rate: f64,
}

impl Schedule {
    pub fn due(&self, i: usize) -> Instant {
        self.start + Duration::from_secs_f64(i as f64 / self.rate)
    }

    pub fn due_wall(&self, i: usize) -> DateTime<Utc> {
        self.start_wall + chrono::Duration::microseconds((i as f64 / self.rate * 1e6) as i64)
    }
}

/// POSTs `planned` at `rate` per second on a clock, each in its own task; latency runs from
/// the webhook's due time to its answer.
pub async fn open_loop(
    hooks: &Arc<Webhooks>,
    planned: Vec<Signed>,
    rate: f64,
) -> anyhow::Result<(Outcome, Schedule)> {
    let lead = Duration::from_millis(20);
    let schedule = Schedule {
        start: Instant::now() + lead,
        start_wall: Utc::now() + chrono::Duration::from_std(lead)?,
        rate,
    };
    let mut tasks = Vec::with_capacity(planned.len());
    for (i, signed) in planned.into_iter().enumerate() {
        let due = schedule.due(i);
        tokio::time::sleep_until(due.into()).await;
        let hooks = hooks.clone();
        tasks.push(tokio::spawn(async move {
            let result = hooks.post(signed).await;
            (result, due.elapsed())
        }));
    }
    let mut outcome = Outcome {
        answers: Samples::default(),
        accepted: 0,
        wall: Duration::ZERO,
        failed: 0,
        first_error: None,
    };
    for task in tasks {
        match task.await? {
            (Ok(()), latency) => {
                outcome.answers.push(latency);
                outcome.accepted += 1;
            }
            (Err(error), _) => {
                outcome.failed += 1;
                outcome.first_error.get_or_insert_with(|| error.to_string());
            }
        }
    }
    outcome.wall = schedule.start.elapsed();
    Ok((outcome, schedule))
}
