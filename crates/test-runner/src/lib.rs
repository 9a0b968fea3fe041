//! The integration test runner (PRODUCT.md 7, docs/test-runner.md).
//!
//! A run plays a [`Scenario`] against a bot's published version on one channel, through the
//! flow executor's own turn code ([`TurnContext::handle_traced`]), inside a sandbox: a hidden
//! integration of the run's account that no API key, webhook or list reaches. The turn's
//! outputs are captured instead of published (nothing goes to the broker or to Meta), the
//! flow's HTTP calls are answered by the scenario's stubs, and WhatsApp batches are rendered by
//! the sender's own renderer. Whatever happens, the sandbox is deleted at the end and what it
//! held is counted in the result.

pub mod coverage;
pub mod expect;
pub mod record;
pub mod result;
pub mod scenario;
pub mod stubs;
pub mod whatsapp;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use contracts::v1::ConversationKey;
use contracts::v1::{
    Channel, InboundEvent, InboundMediaType, Input, Recipient, ReplyTo, SchemaVersion,
    WhatsappContext,
};
use contracts::{AccountId, BotId, IntegrationId};
use flow::engine::{BotVersion, Engine, EngineLimits, SessionState};
use flow_executor::turn::{TurnContext, TurnTrace};
use flow_executor::versions::VersionCache;
use serde_json::{json, Value};
use store::integrations::IntegrationKind;
use store::sandbox::{NewSandbox, SandboxRemoval};
use store::turns::{Commit, NewSession};
use store::{Store, StoreError};
use tokio::sync::watch;

pub use crate::coverage::Coverage;
pub use crate::result::{ChannelRun, RunStatus};
use crate::result::{ComponentError, ComponentRecord, Edge, TurnRecord};
pub use crate::scenario::{Scenario, ScenarioChannel};
use crate::stubs::StubHttp;
/// A bot's variables and flow as the engine runs them (a draft's coverage).
pub use flow_executor::versions::parse_version;

/// Which bot a run plays.
#[derive(Debug, Clone, Copy)]
pub struct RunTarget {
    pub account: AccountId,
    pub bot: BotId,
    /// A published version; the newest when `None`.
    pub version: Option<i32>,
    /// Run the bot's draft (copied into a hidden version for the run; `version` is ignored).
    pub draft: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The account has no such bot, or it has no such published version.
    #[error("bot or version not found (a bot runs once it has a published version)")]
    BotNotFound,
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// Runs scenarios. Cheap to clone; runs may go in parallel (each has its own sandbox).
#[derive(Clone)]
pub struct Runner {
    store: Store,
    limits: EngineLimits,
    /// A run longer than this is stopped (status `timed_out`) and cleaned up.
    pub run_timeout: Duration,
    /// Runs in progress at once; more wait for their turn (each turn holds a database
    /// connection for its transaction, so unbounded runs would starve the pool).
    slots: Arc<tokio::sync::Semaphore>,
}

/// Runs in progress at once per [`Runner`] unless set otherwise.
pub const DEFAULT_PARALLEL_RUNS: usize = 8;

impl Runner {
    pub fn new(store: Store, limits: EngineLimits) -> Self {
        Self::with_parallel_runs(store, limits, DEFAULT_PARALLEL_RUNS)
    }

    /// A runner that plays at most `parallel` runs at once.
    pub fn with_parallel_runs(store: Store, limits: EngineLimits, parallel: usize) -> Self {
        Self {
            store,
            limits,
            run_timeout: Duration::from_secs(60),
            slots: Arc::new(tokio::sync::Semaphore::new(parallel.max(1))),
        }
    }

    /// Plays `scenario` on `channel`. `cancel` turning true stops the run (status
    /// `cancelled`). The sandbox is removed in every case before this returns.
    pub async fn run(
        &self,
        target: RunTarget,
        scenario: &Scenario,
        channel: ScenarioChannel,
        cancel: Option<watch::Receiver<bool>>,
    ) -> Result<ChannelRun, RunError> {
        // Never closed, so acquiring only waits.
        let _slot = self.slots.acquire().await.ok();
        let started = Instant::now();
        let sandbox_number = format!("sandbox-{}", uuid::Uuid::new_v4().simple());
        let template = scenario
            .fallback_template
            .as_ref()
            .map(|t| (t.name.as_str(), t.language.as_str()));
        let (integration, version) = self
            .store
            .create_sandbox_integration(&NewSandbox {
                account: target.account,
                bot: target.bot,
                version: target.version,
                draft: target.draft,
                kind: match channel {
                    ScenarioChannel::Api => IntegrationKind::Api,
                    ScenarioChannel::Whatsapp => IntegrationKind::Whatsapp,
                },
                phone_number_id: &sandbox_number,
                template,
            })
            .await
            .map_err(|err| match err {
                StoreError::NotFound => RunError::BotNotFound,
                other => RunError::Store(other),
            })?;
        let stubs = Arc::new(StubHttp::new(scenario.http_stubs.clone()));
        let context = TurnContext {
            store: self.store.clone(),
            engine: Engine::with_clock(self.limits, monotonic_ns),
            versions: VersionCache::default(),
            http: stubs.clone(),
            api_session_ttl: Duration::from_secs(3600),
            alerter: alerts::Alerter::disabled(),
            lock_timeout: Duration::from_secs(5),
            // A sandbox is removed when the run ends: its turns need not wait for a WAL flush
            // each (that flush was most of a 50-turn run's time; docs/test-runner.md).
            commit: Commit::Disposable,
        };
        let mut play = Play {
            context: &context,
            stubs: &stubs,
            integration,
            bot: target.bot,
            version,
            channel,
            number: sandbox_number,
            session: format!("{}", 10_000_000_000_u64 + u64::from(rand_digits())),
            run: ChannelRun {
                scenario: scenario.name.clone(),
                channel,
                bot_id: target.bot.get(),
                bot_version: version,
                sandbox_integration: integration.get(),
                status: RunStatus::Passed,
                stopped: None,
                turns: Vec::new(),
                path: Vec::new(),
                edges: Vec::new(),
                final_state: None,
                variables: BTreeMap::new(),
                is_final: false,
                errors: Vec::new(),
                http_calls: Vec::new(),
                checks: Vec::new(),
                cleanup: SandboxRemoval::default(),
                duration_ms: 0.0,
            },
        };
        let cancelled = async {
            match cancel {
                Some(mut cancel) => {
                    let _ = cancel.wait_for(|stop| *stop).await;
                }
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            played = tokio::time::timeout(self.run_timeout, play.all(scenario)) => match played {
                Ok(Ok(())) => None,
                Ok(Err(reason)) => Some((RunStatus::Error, reason)),
                Err(_) => Some((RunStatus::TimedOut, format!("the run took longer than {:?}", self.run_timeout))),
            },
            () = cancelled => Some((RunStatus::Cancelled, "cancelled".to_owned())),
        };
        let mut run = play.finish(scenario);
        if let Some((status, reason)) = outcome {
            run.status = status;
            run.stopped = Some(reason);
        }
        run.cleanup = self.store.remove_sandbox_integration(integration).await?;
        run.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(run)
    }

    /// Plays a scenario on each of its channels, one after the other.
    pub async fn run_all_channels(
        &self,
        target: RunTarget,
        scenario: &Scenario,
        cancel: Option<watch::Receiver<bool>>,
    ) -> Result<Vec<ChannelRun>, RunError> {
        let mut runs = Vec::new();
        for channel in scenario.channels() {
            runs.push(self.run(target, scenario, channel, cancel.clone()).await?);
        }
        Ok(runs)
    }

    /// The bot version's flow, for coverage.
    pub async fn bot_version(&self, bot: BotId, version: i32) -> Result<Arc<BotVersion>, RunError> {
        VersionCache::default()
            .get(&self.store, bot, version)
            .await
            .map_err(|err| match err {
                flow_executor::versions::VersionError::Store(StoreError::NotFound) => {
                    RunError::BotNotFound
                }
                flow_executor::versions::VersionError::Store(store) => RunError::Store(store),
                corrupt => RunError::Store(StoreError::Corrupt(corrupt.to_string())),
            })
    }

    /// Removes sandboxes a stopped process left behind: older than twice the run timeout and
    /// a minute (a run removes its own sandbox within its timeout, whatever happens, as long
    /// as its process lives). Returns the rows removed.
    pub async fn remove_stale_sandboxes(&self) -> Result<u64, StoreError> {
        let mut removed = 0;
        let age = self.run_timeout * 2 + Duration::from_secs(60);
        for id in self.store.stale_sandboxes(age).await? {
            removed += self.store.remove_sandbox_integration(id).await?.total();
        }
        Ok(removed)
    }
}

/// Nanoseconds since the first call: the engine's clock for time per component.
fn monotonic_ns() -> u64 {
    static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    u64::try_from(ORIGIN.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn rand_digits() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

/// One run in progress.
struct Play<'a> {
    context: &'a TurnContext,
    stubs: &'a StubHttp,
    integration: IntegrationId,
    bot: BotId,
    version: i32,
    channel: ScenarioChannel,
    number: String,
    session: String,
    run: ChannelRun,
}

impl Play<'_> {
    async fn all(&mut self, scenario: &Scenario) -> Result<(), String> {
        let start = &scenario.start;
        match &start.at {
            Some(at) => self.seed(at, &start.variables).await?,
            None => {
                let input = match self.channel {
                    ScenarioChannel::Api => Input::Start {
                        force_restart: false,
                        variables: start.variables.clone(),
                        message_payload: start.message_payload.clone(),
                    },
                    // A user's message starts a WhatsApp conversation.
                    ScenarioChannel::Whatsapp => Input::Text {
                        text: start.message_payload.clone().unwrap_or_else(|| "hi".into()),
                    },
                };
                self.turn(0, Some(input), &start.expect, None).await?;
            }
        }
        for (index, turn) in scenario.turns.iter().enumerate() {
            let number = index + 1;
            let input = if turn.silence {
                None
            } else if let Some(media) = &turn.media {
                if self.channel == ScenarioChannel::Api {
                    self.skip(number, "the API has no media input");
                    continue;
                }
                let media_type: InboundMediaType = serde_json::from_value(json!(media.media_type))
                    .map_err(|e| format!("turn {number}: media_type: {e}"))?;
                Some(Input::Media {
                    media_type,
                    media_id: format!("sandbox-media-{number}"),
                    caption: media.caption.clone(),
                })
            } else if let Some(text) = turn.text.as_ref().or(turn.option_title.as_ref()) {
                Some(Input::Text { text: text.clone() })
            } else {
                turn.option
                    .as_ref()
                    .or(turn.tap.as_ref())
                    .map(|id| Input::SelectedOption {
                        option_id: id.clone(),
                    })
            };
            self.turn(number, input, &turn.expect, turn.whatsapp_send_fails)
                .await?;
        }
        Ok(())
    }

    /// Starts mid-flow: a session waiting at `at` with the seeded variables.
    async fn seed(&mut self, at: &str, variables: &BTreeMap<String, String>) -> Result<(), String> {
        let state = SessionState {
            current: Some(at.to_owned()),
            variables: variables.clone(),
            retries: 0,
        };
        let store = &self.context.store;
        let failed = |e: StoreError| format!("seeding the session: {e}");
        let mut tx = store
            .begin_turn_with(self.context.lock_timeout, self.context.commit)
            .await
            .map_err(failed)?;
        tx.insert_session(&NewSession {
            integration_id: self.integration.get(),
            session_id: self.session.clone(),
            user_identifier: self.session.clone(),
            bot_id: self.bot.get(),
            bot_version: self.version,
            state: serde_json::to_value(&state).map_err(|e| e.to_string())?,
            expires_at: None,
        })
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        self.run.final_state = state.current;
        self.run.variables = state.variables;
        Ok(())
    }

    fn skip(&mut self, number: usize, why: &str) {
        self.run.turns.push(TurnRecord {
            turn: number,
            input: None,
            duration_ms: 0.0,
            components: Vec::new(),
            api_reply: None,
            whatsapp: Vec::new(),
            state: self.run.final_state.clone(),
            is_final: self.run.is_final,
            checks: Vec::new(),
            skipped: Some(why.to_owned()),
        });
    }

    fn event(&self, number: usize, input: Input) -> InboundEvent {
        let (channel, key, reply, whatsapp) = match self.channel {
            ScenarioChannel::Api => (
                Channel::Api,
                ConversationKey::api(self.integration, &self.session),
                // Captured, never published: no gateway replica waits on this queue.
                Some(ReplyTo {
                    queue: "sandbox".into(),
                    correlation_id: format!("turn-{number}"),
                    deadline_unix_ms: i64::MAX,
                }),
                None,
            ),
            ScenarioChannel::Whatsapp => (
                Channel::Whatsapp,
                ConversationKey::whatsapp(self.integration, &self.number, &self.session),
                None,
                Some(WhatsappContext {
                    phone_number_id: self.number.clone(),
                    wa_id: Some(self.session.clone()),
                    user_id: None,
                    profile_name: Some("Sandbox".into()),
                    inbound_message_id: format!("wamid.sandbox.{number}"),
                }),
            ),
        };
        InboundEvent {
            schema: SchemaVersion::V1,
            event_id: format!("sandbox:{}:{number}", uuid::Uuid::new_v4()),
            integration_id: self.integration,
            channel,
            conversation_key: key,
            session_id: self.session.clone(),
            user_identifier: self.session.clone(),
            received_at_unix_ms: Utc::now().timestamp_millis(),
            input,
            reply,
            idempotency: None,
            whatsapp,
        }
    }

    async fn turn(
        &mut self,
        number: usize,
        input: Option<Input>,
        expect: &scenario::Expect,
        fails_with: Option<i64>,
    ) -> Result<(), String> {
        let started = Instant::now();
        let (record_input, outputs, trace) = match input {
            None => (None, None, TurnTrace::default()),
            Some(input) => {
                let event = self.event(number, input);
                let (outputs, trace) = self
                    .context
                    .handle_traced(&event)
                    .await
                    .map_err(|e| format!("turn {number}: {e}"))?;
                (
                    serde_json::to_value(&event.input).ok(),
                    Some(outputs),
                    trace,
                )
            }
        };
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        let to = Recipient::WaId(self.session.clone());
        let whatsapp_to = (self.channel == ScenarioChannel::Whatsapp).then_some(&to);
        // Each HTTP call's time goes to the `http_request` visit that made it, in order.
        let mut http_times = trace.http_timings.iter().peekable();
        let components: Vec<ComponentRecord> = trace
            .path
            .iter()
            .map(|visit| {
                let http = http_times
                    .next_if(|(component, _)| *component == visit.id)
                    .map(|(_, took)| *took);
                ComponentRecord::of(visit, whatsapp_to, http)
            })
            .collect();
        for visit in &trace.path {
            if let Some(previous) = self.run.path.last() {
                if previous != &visit.id {
                    self.run.edges.push(Edge {
                        from: previous.clone(),
                        to: visit.id.clone(),
                    });
                }
            }
            if self.run.path.last() != Some(&visit.id) {
                self.run.path.push(visit.id.clone());
            }
        }
        if let Some(state) = &trace.state {
            self.run.final_state = state.current.clone();
            self.run.variables = state.variables.clone();
            self.run.is_final = state.is_final();
        }
        if let Some((component, message)) = &trace.error {
            self.run.errors.push(ComponentError {
                turn: number,
                component: component.clone(),
                message: message.clone(),
            });
        }
        self.run.http_calls.extend(self.stubs.take_calls());
        let api_reply = outputs.as_ref().and_then(|o| o.reply.as_ref()).map(
            |addressed| json!({"status": addressed.reply.status, "body": addressed.reply.body}),
        );
        let deliveries: Vec<_> = outputs
            .iter()
            .flat_map(|o| o.whatsapp.iter())
            .map(|batch| whatsapp::deliver(batch, fails_with))
            .collect();
        let texts: Vec<String> = trace
            .path
            .iter()
            .flat_map(|visit| whatsapp::bot_messages(&visit.messages))
            .map(|message| {
                serde_json::to_value(&message).unwrap_or_default()["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        let path: Vec<&str> = trace.path.iter().map(|v| v.id.as_str()).collect();
        let error = trace.error.as_ref().map(|(c, m)| (c.as_str(), m.as_str()));
        let mut checks = expect::check(
            expect,
            &expect::Observed {
                state: self.run.final_state.as_deref(),
                path,
                texts,
                variables: &self.run.variables,
                is_final: self.run.is_final,
                error,
            },
        );
        if let (Some(want), ScenarioChannel::Whatsapp) = (&expect.whatsapp_delivery, self.channel) {
            let actual = deliveries
                .first()
                .and_then(|d| serde_json::to_value(d.outcome).ok())
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "nothing sent".into());
            checks.push(expect::Check {
                what: "whatsapp_delivery".into(),
                passed: &actual == want,
                expected: want.clone(),
                actual,
            });
        }
        self.run.turns.push(TurnRecord {
            turn: number,
            input: record_input,
            duration_ms,
            components,
            api_reply,
            whatsapp: deliveries,
            state: self.run.final_state.clone(),
            is_final: self.run.is_final,
            checks,
            skipped: None,
        });
        Ok(())
    }

    fn finish(self, scenario: &Scenario) -> ChannelRun {
        let mut run = self.run;
        if let Some(expected) = &scenario.expect_http_calls {
            let made: Vec<Option<String>> = run.http_calls.iter().map(|c| c.stub.clone()).collect();
            run.checks.push(expect::check_calls(expected, &made));
        }
        if run.failed_checks().next().is_some() {
            run.status = RunStatus::Failed;
        }
        run
    }
}

/// A run's input as JSON, for records that keep it.
pub fn describe_input(input: &Input) -> Value {
    serde_json::to_value(input).unwrap_or_default()
}
