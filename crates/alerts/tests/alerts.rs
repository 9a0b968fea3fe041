#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The alerter against a real PostgreSQL (one database per test) and the recording SMTP
//! server of `testkit`.

use std::time::Duration;

use alerts::{Alert, AlertConfig, AlertKind, Alerter, BurstDetector};
use contracts::{AccountId, IntegrationId};
use store::accounts::NewToken;
use store::alerts::ThrottleDecision;
use store::integrations::{NewApiDetails, NewIntegration};
use store::{Store, StoreOptions};
use testkit::database::TestDatabase;
use testkit::smtp::SmtpServer;

const WAIT: Duration = Duration::from_secs(10);

struct Fixture {
    db: TestDatabase,
    store: Store,
    smtp: SmtpServer,
    account: AccountId,
}

async fn connect(url: &str) -> Store {
    Store::connect(&StoreOptions {
        url: url.to_owned(),
        max_connections: 8,
        connect_timeout: Duration::from_secs(5),
    })
    .await
    .unwrap()
}

async fn fixture() -> Fixture {
    let db = TestDatabase::create().await.unwrap();
    let store = connect(db.url()).await;
    let (account, _) = store
        .create_account(
            "acme",
            false,
            NewToken {
                name: "first",
                digest: b"digest-of-acme",
                hint: "abcd",
            },
        )
        .await
        .unwrap();
    Fixture {
        db,
        store,
        smtp: SmtpServer::start().await.unwrap(),
        account: account.id,
    }
}

impl Fixture {
    async fn integration(&self, name: &str, enabled: bool, email: Option<&str>) -> IntegrationId {
        let digest = format!("key-digest-of-{name}");
        self.store
            .create_api_integration(
                self.account,
                NewIntegration {
                    name,
                    bot_id: None,
                    alert_email_enabled: enabled,
                    alert_email: email,
                },
                NewApiDetails {
                    key_digest: digest.as_bytes(),
                    key_hint: "wxyz",
                    variable_injection: false,
                    rate_limit_per_minute: 60,
                },
            )
            .await
            .unwrap()
            .id
    }

    fn config(&self, window: Duration) -> AlertConfig {
        AlertConfig {
            from: "Bot platform <alerts@platform.test>".parse().unwrap(),
            throttle_window: window,
            sweep_interval: None,
            smtp_timeout: Duration::from_secs(5),
            ..AlertConfig::with_smtp_url(self.smtp.url())
        }
    }

    fn alerter(&self, window: Duration) -> Alerter {
        Alerter::start(self.store.clone(), self.config(window)).unwrap()
    }
}

fn alert(id: IntegrationId, kind: AlertKind, n: usize) -> Alert {
    Alert::new(
        id,
        kind,
        format!("failure number {n}"),
        format!("detail of failure {n}"),
    )
}

const LONG: Duration = Duration::from_secs(900);

#[tokio::test]
async fn an_alert_reaches_the_smtp_server_with_recipient_subject_and_body() {
    let f = fixture().await;
    let shop = f.integration("Shop", true, Some("ops@shop.test")).await;
    let alerter = f.alerter(LONG);
    assert!(alerter.is_mailing());
    alerter
        .raise(Alert::new(
            shop,
            AlertKind::SendFailed,
            "Sending to +4915112345678 failed after 5 attempts",
            "Graph API error 131026: message undeliverable",
        ))
        .await;
    let mails = f.smtp.wait_for(1, WAIT).await.unwrap();
    let mail = &mails[0];
    assert_eq!(mail.mail_from, "alerts@platform.test");
    assert_eq!(mail.rcpt_to, ["ops@shop.test"]);
    assert_eq!(
        mail.subject().as_deref(),
        Some(format!("[bot platform] send_failed on integration {shop} (Shop)").as_str())
    );
    let body = mail.body();
    assert!(
        body.starts_with("A message could not be sent after retries.\n"),
        "{body}"
    );
    assert!(body.contains(&format!("Integration: {shop} (Shop)\n")));
    assert!(body.contains("Sending to +4915112345678 failed after 5 attempts\n"));
    assert!(body.contains("Details:\nGraph API error 131026: message undeliverable\n"));
    assert!(body.contains("Time: 20"));
    assert!(body.contains("at most once per 15 min"));
    assert!(!body.contains("more send_failed"));
}

#[tokio::test]
async fn fifty_alerts_within_the_window_make_one_mail() {
    let f = fixture().await;
    let shop = f.integration("Shop", true, Some("ops@shop.test")).await;
    let alerter = f.alerter(LONG);
    for n in 0..50 {
        alerter.raise(alert(shop, AlertKind::SendFailed, n)).await;
    }
    assert!(alerter.flush(WAIT).await);
    let mails = f.smtp.received();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].body().contains("failure number 0\n"));
}

#[tokio::test]
async fn after_the_window_the_next_mail_carries_the_suppressed_count() {
    let f = fixture().await;
    let shop = f.integration("Shop", true, Some("ops@shop.test")).await;
    let alerter = f.alerter(Duration::from_secs(1));
    for n in 0..10 {
        alerter.raise(alert(shop, AlertKind::TokenFailure, n)).await;
    }
    assert!(alerter.flush(WAIT).await);
    assert_eq!(f.smtp.received().len(), 1);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    alerter
        .raise(alert(shop, AlertKind::TokenFailure, 10))
        .await;
    // Within the new window again: counted only.
    alerter
        .raise(alert(shop, AlertKind::TokenFailure, 11))
        .await;
    assert!(alerter.flush(WAIT).await);
    let mails = f.smtp.received();
    assert_eq!(mails.len(), 2);
    let body = mails[1].body();
    assert!(body.contains("failure number 10\n"), "{body}");
    assert!(
        body.contains("9 more token_failure alerts since 20"),
        "{body}"
    );
    assert!(body.contains("were counted but not mailed."));
}

#[tokio::test]
async fn kinds_and_integrations_are_throttled_separately() {
    let f = fixture().await;
    let shop = f.integration("Shop", true, Some("ops@shop.test")).await;
    let desk = f.integration("Desk", true, Some("desk@desk.test")).await;
    let alerter = f.alerter(LONG);
    for n in 0..3 {
        alerter.raise(alert(shop, AlertKind::SendFailed, n)).await;
        alerter
            .raise(alert(shop, AlertKind::BotExecutionError, n))
            .await;
        alerter.raise(alert(desk, AlertKind::SendFailed, n)).await;
    }
    assert!(alerter.flush(WAIT).await);
    let mut seen: Vec<(String, String)> = f
        .smtp
        .received()
        .iter()
        .map(|mail| (mail.rcpt_to.join(","), mail.subject().unwrap()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "desk@desk.test".to_owned(),
                format!("[bot platform] send_failed on integration {desk} (Desk)")
            ),
            (
                "ops@shop.test".to_owned(),
                format!("[bot platform] bot_execution_error on integration {shop} (Shop)")
            ),
            (
                "ops@shop.test".to_owned(),
                format!("[bot platform] send_failed on integration {shop} (Shop)")
            ),
        ]
    );
}

#[tokio::test]
async fn nothing_is_mailed_when_alerts_are_off_or_have_no_address() {
    let f = fixture().await;
    let off = f.integration("Off", false, Some("off@x.test")).await;
    let no_address = f.integration("NoAddress", true, None).await;
    let blank = f.integration("Blank", true, Some("   ")).await;
    let bad = f.integration("Bad", true, Some("not an address")).await;
    let deleted = IntegrationId::new(987_654).unwrap();
    let on = f.integration("On", true, Some("on@x.test")).await;
    let alerter = f.alerter(LONG);
    for id in [off, no_address, blank, bad, deleted] {
        for kind in AlertKind::ALL {
            alerter.raise(alert(id, kind, 1)).await;
        }
    }
    assert!(alerter.flush(WAIT).await);
    assert_eq!(f.smtp.received(), []);
    // The same alerter still mails an integration that has alerts on.
    alerter.raise(alert(on, AlertKind::SendFailed, 1)).await;
    let mails = f.smtp.wait_for(1, WAIT).await.unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].rcpt_to, ["on@x.test"]);
}

#[tokio::test]
async fn two_replicas_sharing_the_database_send_only_one_mail() {
    let f = fixture().await;
    let shop = f.integration("Shop", true, Some("ops@shop.test")).await;
    let window = Duration::from_secs(1);
    let first = f.alerter(window);
    // A second replica: its own pool and its own background task.
    let second = Alerter::start(connect(f.db.url()).await, f.config(window)).unwrap();
    let raise_from_both = |count: usize| {
        let tasks: Vec<_> = (0..count)
            .flat_map(|n| [(first.clone(), n), (second.clone(), n)])
            .map(|(alerter, n)| {
                tokio::spawn(async move {
                    alerter.raise(alert(shop, AlertKind::SendFailed, n)).await;
                })
            })
            .collect();
        async move {
            for task in tasks {
                task.await.unwrap();
            }
        }
    };
    raise_from_both(25).await;
    assert!(first.flush(WAIT).await && second.flush(WAIT).await);
    assert_eq!(f.smtp.received().len(), 1);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    raise_from_both(10).await;
    assert!(first.flush(WAIT).await && second.flush(WAIT).await);
    let mails = f.smtp.received();
    assert_eq!(mails.len(), 2);
    // 50 raised in the first window, one of them mailed.
    assert!(mails[1].body().contains("49 more send_failed alerts since"));
}

#[tokio::test]
async fn throttle_decisions_are_race_free() {
    let f = fixture().await;
    let shop = f.integration("Shop", true, Some("ops@shop.test")).await;
    let window = Duration::from_millis(500);
    let decide_concurrently = |count: usize| {
        let tasks: Vec<_> = (0..count)
            .map(|_| {
                let store = f.store.clone();
                tokio::spawn(async move {
                    store
                        .throttle_alert(shop, "send_failed", window, "boom")
                        .await
                        .unwrap()
                        .unwrap()
                })
            })
            .collect();
        async move {
            let mut decisions = Vec::new();
            for task in tasks {
                decisions.push(task.await.unwrap());
            }
            decisions
        }
    };
    let sends = |decisions: &[ThrottleDecision]| -> Vec<ThrottleDecision> {
        decisions
            .iter()
            .copied()
            .filter(|d| *d != ThrottleDecision::Counted)
            .collect()
    };

    // Many first alerts at once: the row is created once, one of them is mailed.
    let decisions = decide_concurrently(40).await;
    assert_eq!(
        sends(&decisions),
        [ThrottleDecision::Send {
            suppressed: 0,
            since: None
        }]
    );
    tokio::time::sleep(window + Duration::from_millis(200)).await;
    // After the window, exactly one carries the 39 counted before.
    let decisions = decide_concurrently(40).await;
    let sent = sends(&decisions);
    assert_eq!(sent.len(), 1);
    assert!(matches!(
        sent[0],
        ThrottleDecision::Send {
            suppressed: 39,
            since: Some(_)
        }
    ));
    // That send opened a new window: nothing is due yet.
    assert_eq!(f.store.take_due_alert_summaries(window).await.unwrap(), []);
    tokio::time::sleep(window + Duration::from_millis(200)).await;
    // Two sweeps at once: the 39 counted since that send are claimed once.
    let (a, b) = tokio::join!(
        f.store.take_due_alert_summaries(window),
        f.store.take_due_alert_summaries(window)
    );
    let claimed: Vec<_> = a.unwrap().into_iter().chain(b.unwrap()).collect();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].integration_id().unwrap(), shop);
    assert_eq!(claimed[0].kind, "send_failed");
    assert_eq!(claimed[0].suppressed, 39);
    assert_eq!(claimed[0].last_summary, "boom");
    assert_eq!(f.store.take_due_alert_summaries(window).await.unwrap(), []);
}

#[tokio::test]
async fn the_sweep_mails_counts_that_no_later_alert_carried() {
    let f = fixture().await;
    let shop = f.integration("Shop", true, Some("ops@shop.test")).await;
    let config = AlertConfig {
        sweep_interval: Some(Duration::from_millis(100)),
        ..f.config(Duration::from_secs(1))
    };
    let alerter = Alerter::start(f.store.clone(), config).unwrap();
    for n in 1..=5 {
        alerter
            .raise(alert(shop, AlertKind::BotExecutionError, n))
            .await;
    }
    let mails = f.smtp.wait_for(2, WAIT).await.unwrap();
    assert!(mails[0].body().contains("failure number 1\n"));
    assert_eq!(
        mails[1].subject().as_deref(),
        Some(
            format!("[bot platform] bot_execution_error on integration {shop} (Shop): 4 more")
                .as_str()
        )
    );
    let body = mails[1].body();
    assert!(
        body.contains("4 more bot_execution_error alerts since 20"),
        "{body}"
    );
    assert!(body.contains("The last one: failure number 5\n"), "{body}");
    // Nothing more was counted: no further mail.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(f.smtp.received().len(), 2);
}

#[tokio::test]
async fn raising_never_waits_for_a_stalled_smtp_server_and_failures_stay_inside() {
    let f = fixture().await;
    let shop = f.integration("Shop", true, Some("ops@shop.test")).await;
    // Accepts connections and never answers: lettre waits for the greeting until its timeout.
    let stalled = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stalled_addr = stalled.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = stalled.accept().await {
            held.push(stream);
        }
    });
    let config = AlertConfig {
        smtp_timeout: Duration::from_secs(1),
        ..AlertConfig::with_smtp_url(format!("smtp://{stalled_addr}"))
    };
    let alerter = Alerter::start(f.store.clone(), config).unwrap();
    let started = std::time::Instant::now();
    for n in 0..100 {
        alerter.raise(alert(shop, AlertKind::SendFailed, n)).await;
    }
    assert!(started.elapsed() < Duration::from_millis(500));
    // The one mail due is stuck on the server...
    assert!(!alerter.flush(Duration::from_millis(300)).await);
    // ...until the SMTP timeout fails it; the failure is logged, and the alerter goes on.
    assert!(alerter.flush(WAIT).await);
    holder.abort();
}

#[tokio::test]
async fn a_burst_of_bad_signatures_becomes_one_alert_with_the_count() {
    let f = fixture().await;
    let shop = f.integration("Shop", true, Some("ops@shop.test")).await;
    let alerter = f.alerter(LONG);
    let detector = BurstDetector::default();
    for _ in 0..12 {
        if let Some(count) = detector.record(shop) {
            alerter
                .raise(Alert::bad_signatures(shop, count, detector.window()))
                .await;
        }
    }
    assert!(alerter.flush(WAIT).await);
    let mails = f.smtp.received();
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].subject().as_deref(),
        Some(format!("[bot platform] bad_signatures on integration {shop} (Shop)").as_str())
    );
    assert!(mails[0]
        .body()
        .contains("5 webhook deliveries with a missing or wrong X-Hub-Signature-256 within 1 min"));
}

#[tokio::test]
async fn without_smtp_alerts_are_only_logged_and_bad_urls_stay_secret() {
    let f = fixture().await;
    let log_only = Alerter::start(f.store.clone(), AlertConfig::log_only()).unwrap();
    assert!(!log_only.is_mailing());
    let shop = f.integration("Shop", true, Some("ops@shop.test")).await;
    log_only.raise(alert(shop, AlertKind::SendFailed, 1)).await;
    assert!(log_only.flush(Duration::ZERO).await);
    assert!(!Alerter::disabled().is_mailing());
    Alerter::disabled()
        .raise(alert(shop, AlertKind::SendFailed, 1))
        .await;

    let error = Alerter::start(
        f.store.clone(),
        AlertConfig::with_smtp_url("smtp://user:hunter2@mail.test:25?tls=sometimes"),
    )
    .err()
    .unwrap();
    assert!(!error.to_string().contains("hunter2"), "{error}");
    assert_eq!(f.smtp.received(), []);
}
