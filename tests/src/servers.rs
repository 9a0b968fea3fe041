//! A PostgreSQL 15 cluster and a RabbitMQ node of the fault suite's own, in a temporary
//! directory on free ports: the scenarios that stop, kill and restart the broker and the
//! database do it to these, never to the machine's shared servers, so they run while others
//! work (and in CI).
//!
//! PostgreSQL: `initdb` (trust auth, fsync as default) and `pg_ctl`, as the `postgres` user when
//! the suite runs as root (PostgreSQL refuses to run as root). RabbitMQ: `rabbitmq-server` with
//! its own node name, ports, config, plugins (management, for testkit's vhosts), mnesia and log
//! directories, and an Erlang cookie of its own in its own `HOME`; `rabbitmqctl -n <node>` with the same `HOME` talks to it.
//!
//! Teardown: `Drop` kills both (also while a panic unwinds) and removes their data; a watchdog
//! process of its own process group does the same if the test process dies without unwinding
//! (SIGKILL, a runner's timeout). The logs stay in the run's log directory.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use testkit::vhost::RabbitEnv;

/// The distribution ports RabbitMQ's CLI tools (`rabbitmqctl`) listen on while they run, on
/// this machine's default settings: a node listening there fails to boot (`eaddrinuse`) as
/// soon as some `rabbitmqctl` runs at the same time.
const CLI_DIST_PORTS: std::ops::RangeInclusive<u16> = 35672..=35682;

/// How long a node may take to boot on a loaded machine.
const BOOT_PATIENCE: Duration = Duration::from_secs(180);

/// A free TCP port on 127.0.0.1, outside the CLI tools' distribution ports.
pub fn free_port() -> u16 {
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        if !CLI_DIST_PORTS.contains(&port) {
            return port;
        }
    }
}

/// Runs `command`, panicking with its output unless it succeeds.
fn run(command: &mut Command) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("{command:?} runs: {err}"));
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// Both servers, and the watchdog that removes them if this process dies without unwinding.
pub struct PrivateServers {
    pub postgres: PrivatePostgres,
    pub rabbit: PrivateRabbit,
    data: PathBuf,
    watchdog: Child,
}

impl PrivateServers {
    /// Starts both (the broker boots while the database is initialised); data under a fresh
    /// directory, logs in `log_dir`.
    pub fn start(log_dir: &Path) -> PrivateServers {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "faults{}n{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        );
        let data = std::env::temp_dir().join(format!("botplatform-servers-{name}"));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).expect("servers' data dir");
        let booting = PrivateRabbit::launch(&name, &data, log_dir);
        let postgres = PrivatePostgres::start(&data, log_dir);
        let watchdog = watchdog(&data, &booting, &postgres);
        let mut servers = PrivateServers {
            rabbit: booting,
            postgres,
            data,
            watchdog,
        };
        servers.rabbit.await_boot();
        servers
    }
}

impl Drop for PrivateServers {
    fn drop(&mut self) {
        // Before the data goes (the fields' own drops would come after this).
        self.rabbit.kill();
        self.postgres.stop_quietly();
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

/// A shell, in a process group of its own (a test runner's kill of the test's group spares
/// it), that waits for this process to end and then kills both servers and removes their data.
fn watchdog(data: &Path, rabbit: &PrivateRabbit, postgres: &PrivatePostgres) -> Child {
    let cleanup = format!(
        "[ -f '{pid_file}' ] && kill -9 \"$(cat '{pid_file}')\"\n\
         {stop_postgres} >/dev/null 2>&1\n\
         rm -rf '{data}'\n",
        pid_file = rabbit.pid_file.display(),
        stop_postgres = postgres.stop_command_line(),
        data = data.display(),
    );
    after_this_process(&cleanup).expect("the servers' watchdog starts")
}

/// Runs the shell `cleanup` once this process has ended, however it ends: a shell in a
/// process group of its own (a test runner's kill of the test's group spares it) that polls
/// this process every second.
pub(crate) fn after_this_process(cleanup: &str) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done\n{cleanup}",
        pid = std::process::id(),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
}

/// A PostgreSQL 15 cluster of our own.
pub struct PrivatePostgres {
    bin: PathBuf,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    fn start(root: &Path, log_dir: &Path) -> PrivatePostgres {
        let bin = std::env::var_os("FAULTS_POSTGRES_BIN").map_or_else(
            || PathBuf::from("/usr/lib/postgresql/15/bin"),
            PathBuf::from,
        );
        let as_postgres = running_as_root();
        let port = free_port();
        // The server writes its log itself: a directory it may write to.
        let log_parent = log_dir.join(format!("postgres-{port}"));
        std::fs::create_dir_all(&log_parent).expect("postgres log dir");
        let cluster = root.join("postgres");
        std::fs::create_dir_all(&cluster).expect("postgres dir");
        if as_postgres {
            for dir in [&cluster, &log_parent] {
                run(Command::new("chown").arg("postgres:postgres").arg(dir));
            }
        }
        let postgres = PrivatePostgres {
            data: cluster.join("data"),
            log: log_parent.join("postgres.log"),
            bin,
            port,
            as_postgres,
        };
        let mut initdb = postgres.command("initdb");
        initdb.arg("-D").arg(&postgres.data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-instructions",
        ]);
        run(&mut initdb);
        let settings = format!(
            "\n# the fault suite's own server\nport = {port}\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\n"
        );
        let conf = postgres.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("postgresql.conf written");
        postgres.start_again();
        postgres
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// A URL of the `postgres` database (testkit creates the test's own beside it).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start_again(&self) {
        let mut start = self.command("pg_ctl");
        start
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "120", "start"]);
        run(&mut start);
    }

    /// `pg_ctl stop -m immediate`: every backend killed, no checkpoint; the next start
    /// recovers from the WAL.
    pub fn stop_immediate(&self) {
        run(&mut self.stop_command());
    }

    /// As `stop_immediate`, quiet when the server is not running (teardown).
    fn stop_quietly(&self) {
        let _ = self
            .stop_command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    fn stop_command(&self) -> Command {
        let mut stop = self.command("pg_ctl");
        stop.arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        stop
    }

    fn stop_command_line(&self) -> String {
        let stop = self.stop_command();
        std::iter::once(stop.get_program())
            .chain(stop.get_args())
            .map(|part| format!("'{}'", part.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop_quietly();
    }
}

/// A RabbitMQ node of our own.
pub struct PrivateRabbit {
    node: String,
    bin: PathBuf,
    env: Vec<(&'static str, String)>,
    pid_file: PathBuf,
    out_log: PathBuf,
    amqp_port: u16,
    management_port: u16,
    /// The `rabbitmq-server` script (it stays the parent of the node's BEAM).
    server: Option<Child>,
}

impl PrivateRabbit {
    /// Writes the node's files and starts it, without waiting for the boot.
    fn launch(name: &str, root: &Path, log_dir: &Path) -> PrivateRabbit {
        let bin = std::env::var_os("FAULTS_RABBITMQ_BIN")
            .map_or_else(|| PathBuf::from("/usr/lib/rabbitmq/bin"), PathBuf::from);
        let dir = root.join("rabbitmq");
        let home = dir.join("home");
        std::fs::create_dir_all(&home).expect("rabbitmq home");
        let cookie = home.join(".erlang.cookie");
        std::fs::write(&cookie, format!("{name}COOKIEOFTHEFAULTSUITE")).expect("cookie");
        // Erlang refuses a cookie file others can read.
        std::fs::set_permissions(&cookie, std::fs::Permissions::from_mode(0o400))
            .expect("cookie mode");
        let (amqp_port, management_port, dist_port) = (free_port(), free_port(), free_port());
        let config = dir.join("rabbitmq.conf");
        std::fs::write(
            &config,
            format!("management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {management_port}\n"),
        )
        .expect("rabbitmq.conf");
        let plugins = dir.join("enabled_plugins");
        std::fs::write(&plugins, "[rabbitmq_management].\n").expect("enabled_plugins");
        // An empty environment file, so that the machine's (its NODENAME) is not read.
        let env_file = dir.join("rabbitmq-env.conf");
        std::fs::write(&env_file, "").expect("rabbitmq-env.conf");
        let node = format!("{name}@localhost");
        let log_base = log_dir.join(format!("rabbitmq-{name}"));
        std::fs::create_dir_all(&log_base).expect("rabbitmq log dir");
        let pid_file = dir.join("node.pid");
        let path = |p: &Path| p.display().to_string();
        let env = vec![
            ("HOME", path(&home)),
            ("RABBITMQ_CONF_ENV_FILE", path(&env_file)),
            ("RABBITMQ_NODENAME", node.clone()),
            ("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1".into()),
            ("RABBITMQ_NODE_PORT", amqp_port.to_string()),
            ("RABBITMQ_DIST_PORT", dist_port.to_string()),
            ("RABBITMQ_CONFIG_FILE", path(&config)),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", path(&plugins)),
            ("RABBITMQ_MNESIA_BASE", path(&dir.join("mnesia"))),
            ("RABBITMQ_LOG_BASE", path(&log_base)),
            ("RABBITMQ_PID_FILE", path(&pid_file)),
            (
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}".into(),
            ),
            ("ERL_EPMD_ADDRESS", "127.0.0.1".into()),
        ];
        let mut rabbit = PrivateRabbit {
            out_log: log_base.join("server.out"),
            node,
            bin,
            env,
            pid_file,
            amqp_port,
            management_port,
            server: None,
        };
        rabbit.spawn();
        rabbit
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.out_log)
            .expect("rabbitmq output log");
        let _ = std::fs::remove_file(&self.pid_file);
        let mut server = Command::new(self.bin.join("rabbitmq-server"));
        server
            .envs(self.env.iter().map(|(name, value)| (*name, value)))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("rabbitmq output log"))
            .stderr(out);
        self.server = Some(server.spawn().expect("rabbitmq-server starts"));
    }

    /// `rabbitmqctl -n <node>` with the node's cookie.
    fn ctl(&self, args: &[&str]) -> Command {
        let mut ctl = Command::new(self.bin.join("rabbitmqctl"));
        ctl.envs(self.env.iter().map(|(name, value)| (*name, value)))
            .args(["-q", "-n", &self.node])
            .args(args);
        ctl
    }

    /// Waits until the node runs with its applications (it registers with epmd a few seconds
    /// after it starts: until then `await_startup` fails at once).
    fn await_boot(&mut self) {
        let booting = Instant::now();
        loop {
            let started = self
                .ctl(&["await_startup", "--timeout", "60"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if started {
                return;
            }
            let exited = self
                .server
                .as_mut()
                .and_then(|server| server.try_wait().ok().flatten());
            // The script waits for the BEAM: its end is the node's.
            assert!(
                exited.is_none(),
                "RabbitMQ node {} did not boot ({exited:?}): see {}",
                self.node,
                self.out_log.display()
            );
            assert!(
                booting.elapsed() < BOOT_PATIENCE,
                "RabbitMQ node {} not up after {BOOT_PATIENCE:?}: see {}",
                self.node,
                self.out_log.display()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Where the node's AMQP listener and management API are.
    pub fn env(&self) -> RabbitEnv {
        RabbitEnv {
            management_url: format!("http://127.0.0.1:{}", self.management_port),
            user: "guest".into(),
            password: "guest".into(),
            amqp_host: "127.0.0.1".into(),
            amqp_port: self.amqp_port,
        }
    }

    /// `rabbitmqctl stop_app`: the broker's applications stop (every connection closes), the
    /// Erlang node stays.
    pub fn stop_app(&self) {
        run(&mut self.ctl(&["stop_app"]));
    }

    pub fn start_app(&self) {
        run(&mut self.ctl(&["start_app"]));
    }

    /// `kill -9` of the node's BEAM: no goodbye to anyone, unflushed state lost.
    pub fn kill(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Command::new("kill")
                .args(["-9", pid.trim()])
                .stderr(Stdio::null())
                .status();
        }
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Starts the node again on its data (after `kill`) and waits for the boot.
    pub fn restart(&mut self) {
        self.spawn();
        self.await_boot();
    }
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        self.kill();
    }
}
