//! The platform as separate OS processes (the built service binaries), on a fresh database and
//! RabbitMQ vhost (of the machine's servers, or of a PostgreSQL and a RabbitMQ of the cluster's
//! own: `servers.rs`), with the Meta emulator as a process too: what the fault suite kills,
//! stops, scales and restarts. Logs go to `<temp>/botplatform-faults-<pid>/<service>-<port>.log`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::database::TestDatabase;
use testkit::vhost::TestVhost;

use crate::servers::{free_port, PrivateServers};
use crate::BOOTSTRAP_TOKEN;

/// The service binaries the cluster runs.
const BINARIES: [&str; 6] = [
    "admin",
    "api-gateway",
    "whatsapp-ingress",
    "flow-executor",
    "sender",
    "meta-emulator",
];

/// Inbound shards of the cluster: more than executors, so the spread shows.
pub const CLUSTER_SHARDS: u16 = 8;

/// Where the binaries are, built once per process with the cargo that runs this: by default
/// the profile of this test (`target/<profile>/deps/`) or benchmark (`target/<profile>/`);
/// `FAULTS_PROFILE=<profile>` (e.g. `release`) builds and runs that profile's instead, so that a
/// debug test drives release services.
fn binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        let mut own_dir = exe.parent().expect("executable dir").to_path_buf();
        if own_dir.file_name().is_some_and(|name| name == "deps") {
            own_dir = own_dir.parent().expect("target/<profile>").to_path_buf();
        }
        let target_dir = own_dir.parent().expect("target dir").to_path_buf();
        let own_profile = own_dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let profile = std::env::var("FAULTS_PROFILE").unwrap_or(own_profile);
        // cargo names the debug profile `dev` and puts it in `debug/`.
        let (flag, dir) = match profile.as_str() {
            "debug" | "dev" => ("dev", "debug"),
            other => (other, other),
        };
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--bins", "--profile", flag, "--target-dir"])
            .arg(&target_dir);
        for binary in BINARIES {
            build.args(["-p", binary]);
        }
        // The test runner's variables (CARGO_MANIFEST_DIR, CARGO_PKG_*, NEXTEST_*) would look
        // like a changed environment to build scripts (ring's) and rebuild half the workspace,
        // twice: once here and once more in the next build from a shell.
        for (name, _) in std::env::vars() {
            let keep = matches!(
                name.as_str(),
                "CARGO_HOME" | "CARGO_TERM_COLOR" | "CARGO_INCREMENTAL"
            );
            if !keep
                && (name.starts_with("CARGO_") || name.starts_with("NEXTEST") || name == "OUT_DIR")
            {
                build.env_remove(name);
            }
        }
        let status = build.status().expect("cargo build runs");
        assert!(status.success(), "building the service binaries failed");
        target_dir.join(dir)
    })
}

/// One service process.
pub struct Service {
    pub name: String,
    pub port: u16,
    child: Child,
}

impl Service {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no drain, no goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// SIGTERM, then waits for the process to drain and exit (SIGKILL after `patience`).
    pub async fn terminate(mut self, patience: Duration) {
        self.signal("TERM");
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} did not stop within {patience:?} of SIGTERM", self.name);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a cluster is started with beyond its executor count.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub executors: usize,
    /// The gateway's `API_REPLY_DEADLINE_MS`.
    pub reply_deadline: Duration,
    /// Services run under `valgrind --tool=callgrind` (benchmarks' instruction counts); their
    /// profiles go to `<log dir>/callgrind.<service>.<pid>`.
    pub callgrind: Vec<String>,
}

impl ClusterOptions {
    pub fn new(executors: usize) -> Self {
        ClusterOptions {
            executors,
            reply_deadline: Duration::from_secs(10),
            callgrind: Vec::new(),
        }
    }
}

/// Everything the fault suite runs.
pub struct Cluster {
    pub db: TestDatabase,
    pub vhost: TestVhost,
    pub emulator: Service,
    pub admin: Service,
    pub gateway: Service,
    pub ingress: Service,
    pub sender: Option<Service>,
    pub executors: Vec<Service>,
    pub client: reqwest::Client,
    deployment_key: String,
    log_dir: PathBuf,
    started: usize,
    /// The cluster's own PostgreSQL and RabbitMQ (`start_private`); last, so that they stop
    /// after the services.
    servers: Option<PrivateServers>,
    callgrind: Vec<String>,
}

impl Cluster {
    /// Starts every service (and `executors` flow-executors) on the machine's PostgreSQL and
    /// RabbitMQ (a fresh database and vhost) and waits until all are ready.
    pub async fn start(executors: usize) -> Cluster {
        Self::start_with(ClusterOptions::new(executors)).await
    }

    /// As `start`, with the options of `ClusterOptions` (benchmarks: reply deadline, callgrind).
    pub async fn start_with(options: ClusterOptions) -> Cluster {
        let db = TestDatabase::create().await.expect("test database");
        let vhost = TestVhost::create().await;
        Self::start_on(options, db, vhost, None).await
    }

    /// As `start`, on a PostgreSQL and a RabbitMQ node of the cluster's own (`servers()`),
    /// which a test may stop, kill and restart without disturbing anyone else.
    pub async fn start_private(executors: usize) -> Cluster {
        let dir = log_dir();
        let servers = tokio::task::spawn_blocking(move || PrivateServers::start(&dir))
            .await
            .expect("the cluster's own PostgreSQL and RabbitMQ start");
        let db = TestDatabase::create_on(&servers.postgres.url())
            .await
            .expect("test database");
        let vhost = TestVhost::create_on(servers.rabbit.env()).await;
        Self::start_on(ClusterOptions::new(executors), db, vhost, Some(servers)).await
    }

    async fn start_on(
        options: ClusterOptions,
        db: TestDatabase,
        vhost: TestVhost,
        servers: Option<PrivateServers>,
    ) -> Cluster {
        crypto::install_tls_crypto_provider();
        let bin = binaries().to_path_buf();
        let (_, deployment_key) = crypto::DeploymentKey::generate().expect("deployment key");
        let log_dir = log_dir();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        let emulator_port = free_port();
        let emulator = spawn(
            &bin,
            &log_dir,
            "meta-emulator",
            &[
                ("META_EMULATOR_HOST", "127.0.0.1".into()),
                ("META_EMULATOR_PORT", emulator_port.to_string()),
                ("META_EMULATOR_ACCEPT_ANY_TOKEN", "true".into()),
                ("META_EMULATOR_STATUS_DELAY_MS", "20".into()),
                ("META_EMULATOR_MAX_RECORDED_REQUESTS", "1000000".into()),
            ],
            emulator_port,
            false,
        );
        let mut cluster = Cluster {
            emulator,
            admin: placeholder(),
            gateway: placeholder(),
            ingress: placeholder(),
            sender: None,
            executors: Vec::new(),
            client,
            deployment_key,
            log_dir,
            db,
            vhost,
            started: 0,
            servers,
            callgrind: options.callgrind.clone(),
        };
        wait_ready(&cluster.client, &cluster.emulator, "/health").await;
        let admin_port = free_port();
        let mut admin_env = cluster.common_env();
        admin_env.extend([
            ("ADMIN_HOST", "127.0.0.1".into()),
            ("ADMIN_PORT", admin_port.to_string()),
            ("ADMIN_BOOTSTRAP_TOKEN", BOOTSTRAP_TOKEN.into()),
            ("GRAPH_API_BASE_URL", cluster.emulator.url("")),
            ("PUBLIC_API_BASE_URL", "http://api.test".into()),
            ("PUBLIC_WEBHOOK_BASE_URL", "http://hooks.test".into()),
            ("API_DEFAULT_RATE_LIMIT_PER_MINUTE", "1000000".into()),
        ]);
        // The admin migrates the database first; the others find it migrated.
        cluster.admin = spawn(
            &bin,
            &cluster.log_dir,
            "admin",
            &admin_env,
            admin_port,
            false,
        );
        wait_ready(&cluster.client, &cluster.admin, "/ready").await;
        cluster.gateway = cluster.spawn_service(
            "api-gateway",
            "API_GATEWAY",
            &[
                ("GATEWAY_INSTANCE_ID", "faults-gateway".into()),
                (
                    "API_REPLY_DEADLINE_MS",
                    options.reply_deadline.as_millis().to_string(),
                ),
            ],
        );
        cluster.ingress = cluster.spawn_service("whatsapp-ingress", "INGRESS", &[]);
        cluster.sender = Some(cluster.spawn_sender());
        for _ in 0..options.executors {
            let executor = cluster.spawn_executor();
            cluster.executors.push(executor);
        }
        for service in [&cluster.gateway, &cluster.ingress] {
            wait_ready(&cluster.client, service, "/ready").await;
        }
        cluster.wait_all_ready().await;
        cluster
    }

    fn common_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", self.db.url().to_owned()),
            ("DATABASE_MAX_CONNECTIONS", "8".into()),
            ("AMQP_URL", self.vhost.amqp_url()),
            ("AMQP_INBOUND_SHARDS", CLUSTER_SHARDS.to_string()),
            ("DEPLOYMENT_KEY", self.deployment_key.clone()),
            ("LOG_FORMAT", "json".into()),
            ("RUST_LOG", "info".into()),
        ]
    }

    fn spawn_service(
        &self,
        binary: &str,
        prefix: &str,
        extra: &[(&'static str, String)],
    ) -> Service {
        let port = free_port();
        let mut env = self.common_env();
        env.push((leak(format!("{prefix}_HOST")), "127.0.0.1".into()));
        env.push((leak(format!("{prefix}_PORT")), port.to_string()));
        env.extend(extra.iter().cloned());
        let profiled = self.callgrind.iter().any(|name| name == binary);
        spawn(binaries(), &self.log_dir, binary, &env, port, profiled)
    }

    pub fn spawn_sender(&self) -> Service {
        self.spawn_service(
            "sender",
            "SENDER",
            &[
                ("GRAPH_API_BASE_URL", self.emulator.url("")),
                ("SENDER_RETRY_BASE_MS", "100".into()),
                ("SENDER_RETRY_MAX_DELAY_MS", "1000".into()),
                ("SENDER_RETRY_MAX_ATTEMPTS", "60".into()),
            ],
        )
    }

    /// A new flow-executor process (not yet ready: see `wait_all_ready`).
    pub fn spawn_executor(&mut self) -> Service {
        self.started += 1;
        self.spawn_service(
            "flow-executor",
            "EXECUTOR",
            &[
                ("EXECUTOR_INSTANCE", format!("exec{}", self.started)),
                ("FLOW_HTTP_ALLOW_PRIVATE_NETWORK", "true".into()),
                ("SHARD_LEASE_TTL_MS", "4000".into()),
                ("SHARD_HEARTBEAT_MS", "500".into()),
            ],
        )
    }

    pub async fn add_executor(&mut self) {
        let executor = self.spawn_executor();
        wait_ready(&self.client, &executor, "/ready").await;
        self.executors.push(executor);
    }

    pub async fn wait_all_ready(&self) {
        if let Some(sender) = &self.sender {
            wait_ready(&self.client, sender, "/ready").await;
        }
        for executor in &self.executors {
            wait_ready(&self.client, executor, "/ready").await;
        }
    }

    /// Each executor's shards, from its readiness answer (`None`: it does not answer, e.g.
    /// stopped).
    pub async fn shards_held(&self) -> Vec<Option<Vec<u16>>> {
        let mut held = Vec::new();
        for executor in &self.executors {
            let answer = self
                .client
                .get(executor.url("/ready"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            let shards = match answer {
                Ok(response) => response.json::<Value>().await.ok().and_then(|body| {
                    serde_json::from_value::<Vec<u16>>(body["shards"].clone()).ok()
                }),
                Err(_) => None,
            };
            held.push(shards);
        }
        held
    }

    /// Each executor's value of the unlabelled gauge `name` on its `/metrics` (`None`: it does
    /// not answer or does not export it).
    pub async fn executor_gauge(&self, name: &str) -> Vec<Option<f64>> {
        let mut values = Vec::new();
        for executor in &self.executors {
            let text = match self
                .client
                .get(executor.url("/metrics"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            values.push(text.lines().find_map(|line| {
                let (metric, value) = line.split_once(' ')?;
                (metric == name)
                    .then(|| value.trim().parse().ok())
                    .flatten()
            }));
        }
        values
    }

    /// Waits until the running executors hold every shard exactly once, each at most its fair
    /// share plus one; returns how long that took.
    pub async fn wait_spread(&self, timeout: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        let mut last = Vec::new();
        while started.elapsed() < timeout {
            last = self.shards_held().await;
            if spread_ok(&last, self.executors.len()) {
                return Ok(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("shards not spread after {timeout:?}: {last:?}"))
    }

    pub async fn admin_post(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.admin.url(path))
            .bearer_auth(BOOTSTRAP_TOKEN)
            .json(body)
            .send()
            .await
            .expect("admin answers");
        crate::read(response).await
    }

    /// Publishes `bot` and connects an active integration (`integration`: kind and its fields);
    /// returns the created integration.
    pub async fn integration(&self, bot: &Value, integration: Value) -> Value {
        let (status, created) = self.admin_post("/v1/bots", bot).await;
        assert_eq!(status, 201, "{created}");
        let bot_id = created["id"].as_i64().expect("bot id");
        let (status, published) = self
            .admin_post(&format!("/v1/bots/{bot_id}/publish"), &Value::Null)
            .await;
        assert_eq!(status, 201, "{published}");
        let mut body = integration;
        body["bot_id"] = json!(bot_id);
        let (status, created) = self.admin_post("/v1/integrations", &body).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_i64().expect("integration id");
        let (status, activated) = self
            .admin_post(&format!("/v1/integrations/{id}/activate"), &Value::Null)
            .await;
        assert_eq!(status, 200, "{activated}");
        created
    }

    pub fn log_dir(&self) -> &Path {
        &self.log_dir
    }

    /// The cluster's own PostgreSQL and RabbitMQ; panics for a cluster on the shared ones.
    pub fn servers(&mut self) -> &mut PrivateServers {
        self.servers
            .as_mut()
            .expect("a cluster of its own servers (Cluster::start_private)")
    }
}

/// `<temp>/botplatform-faults-<pid>/`: the logs of this process's services and servers.
fn log_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("botplatform-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("log dir");
    dir
}

/// Every shard held by exactly one answering executor, none holding more than its share + 1.
pub fn spread_ok(held: &[Option<Vec<u16>>], executors: usize) -> bool {
    let answering: Vec<&Vec<u16>> = held.iter().flatten().collect();
    if answering.is_empty() || answering.len() != executors {
        return false;
    }
    let share = usize::from(CLUSTER_SHARDS).div_ceil(answering.len());
    let mut all: Vec<u16> = answering.iter().flat_map(|s| s.iter().copied()).collect();
    all.sort_unstable();
    let expected: Vec<u16> = (0..CLUSTER_SHARDS).collect();
    // Every executor holds some shard (while there are at least as many shards as executors):
    // one holding none is still joining, and a snapshot then would catch the rebalance midway.
    let everyone_holds =
        answering.len() > usize::from(CLUSTER_SHARDS) || answering.iter().all(|s| !s.is_empty());
    all == expected && everyone_holds && answering.iter().all(|s| s.len() <= share + 1)
}

fn leak(name: String) -> &'static str {
    Box::leak(name.into_boxed_str())
}

/// A service slot before its process starts (killed at once; replaced in `start`).
fn placeholder() -> Service {
    Service {
        name: "placeholder".into(),
        port: 0,
        child: Command::new("true").spawn().expect("true runs"),
    }
}

fn spawn(
    bin: &Path,
    log_dir: &Path,
    binary: &str,
    env: &[(&'static str, String)],
    port: u16,
    callgrind: bool,
) -> Service {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_dir.join(format!("{binary}-{port}.log")))
        .expect("log file");
    let mut command = if callgrind {
        let mut valgrind = Command::new("valgrind");
        valgrind
            .arg("--tool=callgrind")
            .arg(format!(
                "--callgrind-out-file={}",
                log_dir.join(format!("callgrind.{binary}.%p")).display()
            ))
            .arg(bin.join(binary));
        valgrind
    } else {
        Command::new(bin.join(binary))
    };
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log);
    for (name, value) in env {
        command.env(name, value);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|err| panic!("{binary} starts: {err}"));
    watch_over(log_dir, bin, child.id());
    Service {
        name: binary.to_owned(),
        port,
        child,
    }
}

/// Services outlive a test process that dies without unwinding (`kill -9`, an abort, a CI
/// timeout): `Service`'s `Drop` never runs, and they keep retrying servers that are gone. A
/// shell in a process group of its own (as the servers' watchdog) waits for this process to
/// end, then kills every service it started that is still running. A pid is killed only while
/// it is still one of our binaries (`/proc/<pid>/exe` under `bin`), so a pid reused since is
/// left alone; services run under valgrind are not covered.
fn watch_over(log_dir: &Path, bin: &Path, pid: u32) {
    use std::io::Write;
    static WATCHDOG: OnceLock<()> = OnceLock::new();
    let pids = log_dir.join("service-pids");
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&pids)
    {
        let _ = writeln!(file, "{pid}");
    }
    WATCHDOG.get_or_init(|| {
        let cleanup = format!(
            "for pid in $(cat '{pids}'); do\n\
               case \"$(readlink /proc/$pid/exe 2>/dev/null)\" in '{bin}'/*) kill -9 $pid;; esac\n\
             done\n",
            pids = pids.display(),
            bin = bin.display(),
        );
        // Not waited for: it outlives this process by design, and init reaps it.
        let _ = crate::servers::after_this_process(&cleanup);
    });
}

/// Waits until `path` answers 200 (60 s at most: the machine may be loaded).
pub async fn wait_ready(client: &reqwest::Client, service: &Service, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = client
            .get(service.url(path))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if matches!(&answer, Ok(response) if response.status().is_success()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} not ready on {path}: {answer:?}",
            service.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
