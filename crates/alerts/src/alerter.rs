//! The alerter: callers hand alerts over without waiting; a background task looks up the
//! integration's settings, asks the shared throttle whether to mail, and mails.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use store::alerts::{AlertSettings, DueAlertSummary, ThrottleDecision};
use store::Store;
use tokio::sync::mpsc;

use crate::config::AlertConfig;
use crate::kind::{Alert, AlertKind};
use crate::mail::{self, MailText, Target};

/// Why an alerter could not start.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The message never contains the URL: it may hold a password.
    #[error("SMTP_URL is not usable: {0}")]
    SmtpUrl(String),
}

/// Hands error alerts to the operators of an integration by e-mail, throttled per integration
/// and kind across every replica (state in PostgreSQL). Cheap to clone; clones share one
/// background task, which ends when the last clone is dropped.
#[derive(Clone)]
pub struct Alerter {
    mode: Mode,
}

#[derive(Clone)]
enum Mode {
    Disabled,
    LogOnly,
    Mailing(Arc<Queue>),
}

struct Queue {
    sender: mpsc::Sender<Alert>,
    /// Alerts raised and not yet fully handled (decided, and mailed if so decided).
    pending: Arc<AtomicUsize>,
    dropped: AtomicU64,
}

impl Alerter {
    /// An alerter that does nothing: for tests and services without alerts.
    pub fn disabled() -> Alerter {
        Alerter {
            mode: Mode::Disabled,
        }
    }

    /// Starts the alerter. Without `smtp_url`, alerts are only logged. With it, spawns the
    /// background task on the current tokio runtime: call it from `main`'s runtime (like the
    /// store's pool), not from an actix worker's, which ends with the worker.
    pub fn start(store: Store, config: AlertConfig) -> Result<Alerter, AlertError> {
        let Some(url) = &config.smtp_url else {
            tracing::info!("SMTP_URL is not set: error alerts are logged, not mailed");
            return Ok(Alerter {
                mode: Mode::LogOnly,
            });
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            // lettre's error is not shown: it might quote the URL.
            .map_err(|_| AlertError::SmtpUrl("invalid URL or TLS settings".to_owned()))?
            .timeout(Some(config.smtp_timeout))
            .build();
        let (sender, receiver) = mpsc::channel(config.queue_capacity.max(1));
        let pending = Arc::new(AtomicUsize::new(0));
        let worker = Worker {
            store,
            transport,
            from: config.from.clone(),
            window: config.throttle_window,
            send_timeout: config.smtp_timeout,
            pending: Arc::clone(&pending),
        };
        tokio::spawn(worker.run(receiver, config.sweep_interval));
        Ok(Alerter {
            mode: Mode::Mailing(Arc::new(Queue {
                sender,
                pending,
                dropped: AtomicU64::new(0),
            })),
        })
    }

    /// Whether alerts may become mails (an SMTP server is configured).
    pub fn is_mailing(&self) -> bool {
        matches!(self.mode, Mode::Mailing(_))
    }

    /// Raises an alert. Never waits for the database or SMTP and never fails: the alert is
    /// queued for the background task (or logged, without SMTP). When the queue is full the
    /// alert is dropped and logged.
    pub async fn raise(&self, alert: Alert) {
        self.raise_now(alert);
    }

    /// [`Alerter::raise`] for synchronous callers (such as the sender's `AlertSink`): it
    /// never waits either way.
    pub fn raise_now(&self, alert: Alert) {
        match &self.mode {
            Mode::Disabled => {}
            Mode::LogOnly => tracing::warn!(
                integration_id = %alert.integration_id,
                kind = %alert.kind,
                summary = %alert.summary,
                "error alert (not mailed: no SMTP_URL)"
            ),
            Mode::Mailing(queue) => {
                queue.pending.fetch_add(1, Ordering::SeqCst);
                if let Err(err) = queue.sender.try_send(alert) {
                    queue.pending.fetch_sub(1, Ordering::SeqCst);
                    let dropped = queue.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                    let alert = match err {
                        mpsc::error::TrySendError::Full(alert)
                        | mpsc::error::TrySendError::Closed(alert) => alert,
                    };
                    // Once, then every 1000th: a flood must not become a log flood.
                    if dropped == 1 || dropped.is_multiple_of(1000) {
                        tracing::warn!(
                            integration_id = %alert.integration_id,
                            kind = %alert.kind,
                            summary = %alert.summary,
                            dropped,
                            "alert queue full: alert dropped"
                        );
                    }
                }
            }
        }
    }

    /// Waits until every alert raised so far has been decided and, if due, its mail attempted
    /// (sent or failed); `false` when `timeout` passed first. For tests and graceful shutdown.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let Mode::Mailing(queue) = &self.mode else {
            return true;
        };
        let deadline = tokio::time::Instant::now() + timeout;
        while queue.pending.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

/// The next tick of the sweep, or never when there is no sweep.
async fn tick(interval: Option<&mut tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

struct Worker {
    store: Store,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    window: Duration,
    send_timeout: Duration,
    pending: Arc<AtomicUsize>,
}

/// Decrements the pending count when dropped: after the mail attempt, wherever that ends.
struct PendingGuard(Arc<AtomicUsize>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Worker {
    async fn run(self, mut receiver: mpsc::Receiver<Alert>, sweep_interval: Option<Duration>) {
        let worker = Arc::new(self);
        let mut sweep = sweep_interval.map(|period| {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        loop {
            tokio::select! {
                alert = receiver.recv() => match alert {
                    Some(alert) => {
                        let guard = PendingGuard(Arc::clone(&worker.pending));
                        Arc::clone(&worker).handle(alert, guard).await;
                    }
                    None => break,
                },
                () = tick(sweep.as_mut()) => Arc::clone(&worker).sweep().await,
            }
        }
        tracing::debug!("alerter stopped: every handle was dropped");
    }

    /// Where mails for `integration` go, or `None` (logged) when they do not.
    async fn recipient(
        &self,
        alert_kind: AlertKind,
        integration: contracts::IntegrationId,
    ) -> Option<(AlertSettings, Mailbox)> {
        let settings = match self.store.alert_settings(integration).await {
            Ok(Some(settings)) => settings,
            Ok(None) => {
                tracing::debug!(%integration, kind = %alert_kind, "alert for a deleted integration");
                return None;
            }
            Err(err) => {
                tracing::error!(%integration, kind = %alert_kind, error = %err,
                    "alert settings unavailable: alert not mailed");
                return None;
            }
        };
        let address = settings.recipient()?.to_owned();
        match address.parse::<Mailbox>() {
            Ok(mailbox) => Some((settings, mailbox)),
            Err(_) => {
                tracing::warn!(%integration, kind = %alert_kind,
                    "the integration's alert address is not a valid e-mail address");
                None
            }
        }
    }

    async fn handle(self: Arc<Self>, alert: Alert, guard: PendingGuard) {
        let Some((settings, to)) = self.recipient(alert.kind, alert.integration_id).await else {
            return;
        };
        let decision = self
            .store
            .throttle_alert(
                alert.integration_id,
                alert.kind.as_str(),
                self.window,
                &alert.summary,
            )
            .await;
        let (suppressed, since) = match decision {
            Ok(Some(ThrottleDecision::Send { suppressed, since })) => (suppressed, since),
            Ok(Some(ThrottleDecision::Counted)) => {
                tracing::debug!(integration_id = %alert.integration_id, kind = %alert.kind,
                    "alert counted (throttled)");
                return;
            }
            Ok(None) => return,
            Err(err) => {
                tracing::error!(integration_id = %alert.integration_id, kind = %alert.kind,
                    summary = %alert.summary, error = %err,
                    "alert throttle unavailable: alert not mailed");
                return;
            }
        };
        let target = Target {
            integration_id: alert.integration_id,
            integration_name: &settings.integration_name,
        };
        let text = mail::alert_mail(&target, &alert, suppressed, since, self.window, Utc::now());
        self.spawn_send(alert.integration_id, alert.kind, to, text, Some(guard));
    }

    async fn sweep(self: Arc<Self>) {
        let due = match self.store.take_due_alert_summaries(self.window).await {
            Ok(due) => due,
            Err(err) => {
                tracing::warn!(error = %err, "alert sweep failed; retried at the next tick");
                return;
            }
        };
        for summary in due {
            self.send_summary(summary).await;
        }
    }

    async fn send_summary(&self, due: DueAlertSummary) {
        let (Ok(integration), Some(kind)) = (due.integration_id(), AlertKind::from_code(&due.kind))
        else {
            tracing::warn!(kind = %due.kind, "unreadable alert throttle row skipped");
            return;
        };
        let Some((settings, to)) = self.recipient(kind, integration).await else {
            return;
        };
        let target = Target {
            integration_id: integration,
            integration_name: &settings.integration_name,
        };
        let text = mail::summary_mail(
            &target,
            kind,
            due.suppressed,
            due.since,
            &due.last_summary,
            self.window,
            Utc::now(),
        );
        self.spawn_send(integration, kind, to, text, None);
    }

    /// Sends in a task of its own, so that a slow SMTP server holds up no decisions.
    fn spawn_send(
        &self,
        integration: contracts::IntegrationId,
        kind: AlertKind,
        to: Mailbox,
        text: MailText,
        guard: Option<PendingGuard>,
    ) {
        let message = match mail::message(&self.from, to, text) {
            Ok(message) => message,
            Err(err) => {
                tracing::warn!(%integration, %kind, error = %err, "alert mail could not be built");
                return;
            }
        };
        let transport = self.transport.clone();
        let deadline = self.send_timeout;
        tokio::spawn(async move {
            // lettre's own timeout covers only the TCP connect; a server that accepts and then
            // stalls would hold this task (and `flush`) forever without this one.
            match tokio::time::timeout(deadline, transport.send(message)).await {
                Ok(Ok(_)) => tracing::info!(%integration, %kind, "alert mailed"),
                Ok(Err(err)) => {
                    tracing::warn!(%integration, %kind, error = %err, "alert mail not sent")
                }
                Err(_) => tracing::warn!(%integration, %kind, ?deadline,
                    "alert mail not sent: the SMTP server did not finish in time"),
            }
            drop(guard);
        });
    }
}
