//! The Integration Test Runner's API (docs/test-runner.md): start a run of scenarios against a
//! bot, read it, list a bot's runs, cancel one. A run goes on in the background on the admin's
//! runtime; its result is stored when it ends.

use service_kit::edge::EdgeJson;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use contracts::BotId;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::test_runs::TestRun;
use store::Store;
use test_runner::{
    parse_version, ChannelRun, Coverage, RunStatus, RunTarget, Runner, Scenario, ScenarioChannel,
};
use tokio::sync::watch;
use utoipa::{IntoParams, ToSchema};

use super::bots::{refuse_errors, validate_draft};
use crate::auth::Operator;
use crate::error::{ApiError, ErrorBody, FromStore};
use crate::state::AppState;

/// At most this many scenarios in one run.
const MAX_SCENARIOS: usize = 200;

/// How often this process marks its running runs alive.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// A running run not marked alive for this long belongs to a process that stopped.
const ORPHANED_AFTER: Duration = Duration::from_secs(60);
/// How often orphaned runs and stale sandboxes are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// The runs in progress in this process, to cancel them and to keep them marked alive.
pub struct TestRuns {
    runner: Runner,
    store: Store,
    runtime: tokio::runtime::Handle,
    cancels: Mutex<HashMap<i64, watch::Sender<bool>>>,
    /// This process, as the owner of the runs it plays (several admin replicas may run).
    owner: String,
}

impl TestRuns {
    /// `runtime` outlives requests (runs go on after the answer).
    pub fn new(store: Store, runtime: tokio::runtime::Handle) -> Arc<Self> {
        Arc::new(Self {
            runner: Runner::new(store.clone(), flow::engine::EngineLimits::default()),
            store,
            runtime,
            cancels: Mutex::new(HashMap::new()),
            owner: uuid::Uuid::new_v4().to_string(),
        })
    }

    fn playing(&self) -> bool {
        self.cancels.lock().is_ok_and(|cancels| !cancels.is_empty())
    }

    /// Ends the runs of processes that stopped (`interrupted`) and removes the sandboxes they
    /// left behind; logs failures (the next sweep tries again).
    pub async fn sweep(&self) {
        match self
            .store
            .interrupt_orphaned_test_runs(ORPHANED_AFTER)
            .await
        {
            Ok(ids) if ids.is_empty() => {}
            Ok(ids) => tracing::warn!(?ids, "test runs of a stopped admin process interrupted"),
            Err(error) => tracing::warn!(%error, "interrupting orphaned test runs failed"),
        }
        match self.runner.remove_stale_sandboxes().await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "stale test runner sandboxes removed"),
            Err(error) => tracing::warn!(%error, "removing stale test runner sandboxes failed"),
        }
    }

    /// Marks this process's runs alive every [`HEARTBEAT_EVERY`] and sweeps every
    /// [`SWEEP_EVERY`], until the task is aborted (when the service stops).
    pub fn spawn_upkeep(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let runs = self.clone();
        self.runtime.spawn(async move {
            let mut heartbeat = tokio::time::interval(HEARTBEAT_EVERY);
            let mut sweep = tokio::time::interval(SWEEP_EVERY);
            heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = heartbeat.tick() => {
                        if runs.playing() {
                            if let Err(error) = runs.store.heartbeat_test_runs(&runs.owner).await {
                                tracing::warn!(%error, "marking test runs alive failed");
                            }
                        }
                    }
                    _ = sweep.tick() => runs.sweep().await,
                }
            }
        })
    }
}

/// One scenario file as text.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// The file's name, shown in results and errors.
    pub name: String,
    /// The scenario in YAML (or JSON); schema: `proto/test-runner/scenario.schema.json`.
    pub yaml: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartTestRun {
    /// Scenario files given with the run; with `scenario_ids`, 1 to 200 in all.
    #[serde(default)]
    #[schema(max_items = 200)]
    pub scenarios: Vec<ScenarioFile>,
    /// Scenarios saved with the bot (`/v1/bots/{bot_id}/scenarios`), by id; they run first,
    /// in this order. An id the bot has not saved is refused (422 `unknown_scenario`).
    #[serde(default)]
    #[schema(max_items = 200)]
    pub scenario_ids: Vec<i64>,
    /// A published version; the newest when absent.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub version: Option<i32>,
    /// Run the bot's draft (validated first; not with `version`): the run's sandbox holds a
    /// hidden copy of it, removed with the sandbox.
    #[serde(default)]
    pub draft: bool,
    /// `api`, `whatsapp`, or `both` (default): each scenario runs on these of its channels.
    #[serde(default)]
    #[schema(pattern = "^(api|whatsapp|both)$")]
    pub channel: Option<String>,
}

/// Counts of a finished run's scenario runs.
#[derive(Serialize, ToSchema)]
pub struct TestRunSummary {
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    /// Errors, timeouts and cancellations.
    pub not_finished: u64,
}

/// What a finished run found (the shape of `TestRunView.result`).
#[derive(Serialize, ToSchema)]
pub struct TestRunResult {
    pub summary: TestRunSummary,
    pub coverage: Coverage,
    /// One per scenario and channel, in order.
    pub runs: Vec<ChannelRun>,
}

/// A test run.
#[derive(Serialize, ToSchema)]
pub struct TestRunView {
    pub id: i64,
    pub bot_id: i64,
    /// `running`, `passed`, `failed`, `error`, `timed_out`, `cancelled`, or `interrupted` (the
    /// admin process playing it stopped).
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The names of the run's scenarios, in order.
    pub scenarios: Vec<String>,
    /// Once finished: the counts of the result's scenario runs (also in lists).
    #[schema(value_type = Option<TestRunSummary>)]
    pub summary: Option<Value>,
    /// Once finished: the summary, the coverage and the timeline of every scenario on every
    /// channel (docs/test-runner.md). Not in lists.
    #[schema(value_type = Option<TestRunResult>)]
    pub result: Option<Value>,
}

impl From<TestRun> for TestRunView {
    fn from(run: TestRun) -> Self {
        let scenarios = run.request["scenarios"]
            .as_array()
            .map(|names| {
                names
                    .iter()
                    .filter_map(|name| name.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: run.id,
            bot_id: run.bot_id,
            status: run.status,
            created_at: run.created_at,
            finished_at: run.finished_at,
            scenarios,
            summary: run.result.as_ref().map(|result| result["summary"].clone()),
            result: run.result,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TestRunList {
    /// Newest first, without their results (read a run for it).
    pub runs: Vec<TestRunView>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TestRunListQuery {
    /// At most this many runs (1 to 100, default 20).
    #[serde(default)]
    pub limit: Option<i64>,
}

fn parse_request(body: &StartTestRun) -> Result<(Vec<Scenario>, Vec<ScenarioChannel>), ApiError> {
    let count = body.scenarios.len() + body.scenario_ids.len();
    if count == 0 || count > MAX_SCENARIOS {
        return Err(ApiError::unprocessable(
            "invalid_field",
            format!("scenarios and scenario_ids must hold 1 to {MAX_SCENARIOS} scenarios in all"),
        ));
    }
    let channels = match body.channel.as_deref().unwrap_or("both") {
        "both" => vec![ScenarioChannel::Api, ScenarioChannel::Whatsapp],
        "api" => vec![ScenarioChannel::Api],
        "whatsapp" => vec![ScenarioChannel::Whatsapp],
        _ => {
            return Err(ApiError::unprocessable(
                "invalid_field",
                "channel must be api, whatsapp or both",
            ))
        }
    };
    let scenarios = body
        .scenarios
        .iter()
        .map(|file| {
            Scenario::parse(&file.yaml).map_err(|err| {
                ApiError::unprocessable("invalid_scenario", format!("{}: {err}", file.name))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((scenarios, channels))
}

/// The bot's saved scenarios named by `ids`, parsed, with their names. They were parsed when
/// saved; a parser that changed since is reported like a typed scenario.
async fn saved_scenarios(
    state: &AppState,
    account: contracts::AccountId,
    bot: BotId,
    ids: &[i64],
) -> Result<Vec<(String, Scenario)>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let saved = state
        .store
        .saved_scenarios_by_ids(account, bot, ids)
        .await
        .map_err(|err| match err {
            store::StoreError::NotFound => ApiError::unprocessable(
                "unknown_scenario",
                "scenario_ids names a scenario this bot has not saved",
            ),
            other => ApiError::from_store(other, "saved scenario"),
        })?;
    saved
        .into_iter()
        .map(|saved| match Scenario::parse(&saved.yaml) {
            Ok(scenario) => Ok((saved.name, scenario)),
            Err(err) => Err(ApiError::unprocessable(
                "invalid_scenario",
                format!("{}: {err}", saved.name),
            )),
        })
        .collect()
}

/// Starts a run of scenarios against a bot; it goes on in the background (poll the run).
#[utoipa::path(post, path = "/v1/bots/{bot_id}/test-runs", tag = "test runner",
    request_body = StartTestRun, params(("bot_id" = i64, Path)),
    responses((status = 202, body = TestRunView), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "a scenario or field is invalid")))]
pub async fn start_test_run(
    operator: Operator,
    state: web::Data<AppState>,
    runs: web::Data<Arc<TestRuns>>,
    path: web::Path<BotId>,
    body: EdgeJson<StartTestRun>,
) -> Result<HttpResponse, ApiError> {
    let bot = path.into_inner();
    let account = operator.account.id;
    let (typed, channels) = parse_request(&body)?;
    // A version that does not exist, or an invalid draft, is found out now, not in the
    // background.
    let stored = state.bot(account, bot).await?;
    let saved = saved_scenarios(&state, account, bot, &body.scenario_ids).await?;
    let names: Vec<&str> = saved
        .iter()
        .map(|(name, _)| name.as_str())
        .chain(body.scenarios.iter().map(|file| file.name.as_str()))
        .collect();
    let scenarios: Vec<Scenario> = saved
        .iter()
        .map(|(_, scenario)| scenario.clone())
        .chain(typed)
        .collect();
    let (version, bot_version) = if body.draft {
        if body.version.is_some() {
            return Err(ApiError::unprocessable(
                "invalid_field",
                "give either version or draft: true",
            ));
        }
        refuse_errors(&validate_draft(&stored)?)?;
        let parsed = parse_version(stored.variables.clone(), stored.draft_flow.clone())
            .map_err(|reason| ApiError::unprocessable("invalid_flow", reason))?;
        (None, Arc::new(parsed))
    } else {
        let version = match body.version.or(stored.latest_version) {
            Some(version) if version >= 1 => version,
            Some(_) => {
                return Err(ApiError::unprocessable(
                    "invalid_field",
                    "version must be 1 or more",
                ))
            }
            None => {
                return Err(ApiError::unprocessable(
                    "bot_not_published",
                    "the bot has no published version to run (or run its draft: draft: true)",
                ))
            }
        };
        let bot_version = runs
            .runner
            .bot_version(bot, version)
            .await
            .map_err(|_| ApiError::not_found("version"))?;
        (Some(version), bot_version)
    };
    let request = json!({
        "scenarios": names,
        "scenario_ids": body.scenario_ids,
        "version": version.map_or(json!("draft"), |v| json!(v)),
        "channel": body.channel.as_deref().unwrap_or("both"),
    });
    let run = state
        .store
        .create_test_run(account, bot, &request, &runs.owner)
        .await
        .map_err(|err| ApiError::from_store(err, "bot"))?;
    let (cancel, cancelled) = watch::channel(false);
    if let Ok(mut cancels) = runs.cancels.lock() {
        cancels.insert(run.id, cancel);
    }
    let id = run.id;
    let registry = runs.get_ref().clone();
    let store = state.store.clone();
    let target = RunTarget {
        account,
        bot,
        version,
        draft: body.draft,
    };
    runs.runtime.spawn(async move {
        let mut results: Vec<ChannelRun> = Vec::new();
        let mut stopped = None;
        'all: for scenario in &scenarios {
            for channel in scenario.channels() {
                if !channels.contains(&channel) {
                    continue;
                }
                if *cancelled.borrow() {
                    stopped = Some("cancelled");
                    break 'all;
                }
                match registry
                    .runner
                    .run(target, scenario, channel, Some(cancelled.clone()))
                    .await
                {
                    Ok(run) => results.push(run),
                    Err(error) => {
                        tracing::warn!(%error, run = id, "test run failed");
                        stopped = Some("error");
                        break 'all;
                    }
                }
            }
        }
        let status = overall_status(&results, stopped);
        let result = json!({
            "summary": {
                "total": results.len(),
                "passed": results.iter().filter(|r| r.status == RunStatus::Passed).count(),
                "failed": results.iter().filter(|r| r.status == RunStatus::Failed).count(),
                "not_finished": results.iter().filter(|r| !matches!(r.status, RunStatus::Passed | RunStatus::Failed)).count(),
            },
            "coverage": Coverage::of(&bot_version, &results),
            "runs": results,
        });
        if let Err(error) = store.finish_test_run(id, status, &result).await {
            tracing::error!(%error, run = id, "storing the test run's result failed");
        }
        if let Ok(mut cancels) = registry.cancels.lock() {
            cancels.remove(&id);
        }
    });
    Ok(HttpResponse::Accepted().json(TestRunView::from(run)))
}

fn overall_status(results: &[ChannelRun], stopped: Option<&'static str>) -> &'static str {
    if let Some(stopped) = stopped {
        return stopped;
    }
    let any = |status: RunStatus| results.iter().any(|r| r.status == status);
    if any(RunStatus::Cancelled) {
        "cancelled"
    } else if any(RunStatus::Error) {
        "error"
    } else if any(RunStatus::TimedOut) {
        "timed_out"
    } else if any(RunStatus::Failed) {
        "failed"
    } else {
        "passed"
    }
}

/// A run, with its result once finished.
#[utoipa::path(get, path = "/v1/test-runs/{run_id}", tag = "test runner",
    params(("run_id" = i64, Path)),
    responses((status = 200, body = TestRunView), (status = 404, body = ErrorBody)))]
pub async fn get_test_run(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<web::Json<TestRunView>, ApiError> {
    let run = state
        .store
        .get_test_run(operator.account.id, path.into_inner())
        .await
        .map_err(|err| ApiError::from_store(err, "test run"))?;
    Ok(web::Json(run.into()))
}

/// A bot's runs, newest first.
#[utoipa::path(get, path = "/v1/bots/{bot_id}/test-runs", tag = "test runner",
    params(("bot_id" = i64, Path), TestRunListQuery),
    responses((status = 200, body = TestRunList), (status = 404, body = ErrorBody)))]
pub async fn list_test_runs(
    operator: Operator,
    state: web::Data<AppState>,
    path: web::Path<BotId>,
    query: web::Query<TestRunListQuery>,
) -> Result<web::Json<TestRunList>, ApiError> {
    let bot = path.into_inner();
    let account = operator.account.id;
    state.bot(account, bot).await?;
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let runs = state
        .store
        .list_test_runs(account, bot, limit)
        .await
        .map_err(|err| ApiError::from_store(err, "bot"))?;
    Ok(web::Json(TestRunList {
        runs: runs
            .into_iter()
            .map(|run| TestRunView {
                result: None,
                ..run.into()
            })
            .collect(),
    }))
}

/// Cancels a running run: the scenario in progress stops, its sandbox is removed, and the run
/// ends `cancelled`. A finished run is left as it is.
#[utoipa::path(post, path = "/v1/test-runs/{run_id}/cancel", tag = "test runner",
    params(("run_id" = i64, Path)),
    responses((status = 202, body = TestRunView), (status = 404, body = ErrorBody)))]
pub async fn cancel_test_run(
    operator: Operator,
    state: web::Data<AppState>,
    runs: web::Data<Arc<TestRuns>>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let run = state
        .store
        .get_test_run(operator.account.id, id)
        .await
        .map_err(|err| ApiError::from_store(err, "test run"))?;
    if let Ok(cancels) = runs.cancels.lock() {
        if let Some(cancel) = cancels.get(&id) {
            let _ = cancel.send(true);
        }
    }
    Ok(HttpResponse::Accepted().json(TestRunView::from(run)))
}
