//! Instructions per WhatsApp reply turn of one service, run as its own process under
//! `valgrind --tool=callgrind` (instruction counts are stable on a noisy machine, unlike
//! times). The service is run twice, for two counts of turns, on a fresh database and vhost
//! each time, and the figure is `(Ir(b) - Ir(a)) / (b - a)`: start-up, connecting and
//! shutting down cancel out.
//!
//! - `sender`: echo-bot reply batches (mark as read, `got …`, the next question) published to
//!   `bot.outbound` over `--conversations` conversations; done when the local Graph API
//!   (graph_sink.rs) received every `got …`.
//! - `ingress`: signed text webhooks POSTed by 32 clients; done when all were answered 200.
//! - `executor`: every conversation started first (in both runs), then the answers published to
//!   `bot.inbound` as the ingress publishes them; done when `sender.whatsapp` holds a batch for
//!   every turn (nobody consumes it).
//!
//! Run by hand (release builds of this binary and the service):
//!   cargo build --release -p bench --bin wa-profile -p sender
//!   target/release/wa-profile --service sender --turns 200,1200

// Shared with wa-bench; this binary uses part of them.
#[allow(dead_code)]
mod graph_sink;
mod harness;
#[allow(dead_code)]
mod pipeline_floor;
#[allow(dead_code)]
mod stats;
#[allow(dead_code)]
mod wa_e2e;
#[allow(dead_code)]
mod wa_load;
#[allow(dead_code)]
mod wa_pipeline;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker::topology::{
    INBOUND_EXCHANGE, OUTBOUND_EXCHANGE, SENDER_WHATSAPP_QUEUE, WHATSAPP_ROUTING_KEY,
};
use broker::{Broker, BrokerConfig, PublishOptions, Topology};
use clap::{Parser, ValueEnum};
use contracts::v1::{BotMessage, ConversationKey, OutboundWhatsapp, Recipient, SchemaVersion};
use contracts::IntegrationId;
use e2e::AdminHarness;
use testkit::vhost::TestVhost;

use crate::graph_sink::GraphSink;
use crate::wa_load::Webhooks;
use crate::wa_pipeline::{echo_integration, PHONE_NUMBER_ID};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Service {
    Sender,
    Ingress,
    Executor,
}

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, value_enum)]
    service: Service,
    /// The two counts of turns, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [200u64, 1200])]
    turns: Vec<u64>,
    /// Conversations the turns are spread over.
    #[arg(long, default_value_t = 64)]
    conversations: u64,
    /// Where the service binaries are; by default beside this one.
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Keep the callgrind output files (their paths are printed) for `callgrind_annotate`.
    #[arg(long)]
    keep_profiles: bool,
}

const PUBLISH_WITHIN: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Args = harness::start("wa-profile");
    anyhow::ensure!(
        args.turns.len() == 2 && args.turns[0] < args.turns[1],
        "--turns takes two increasing counts"
    );
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or_else(|| anyhow::anyhow!("no directory"))?
            .to_path_buf(),
    };
    let sink = GraphSink::start(0)?;
    let mut totals = Vec::new();
    for &turns in &args.turns {
        let started = Instant::now();
        let instructions = run_once(&args, &bin_dir, &sink, turns).await?;
        println!(
            "{:?}: {turns} turns, {instructions} instructions ({:.0} s under valgrind)",
            args.service,
            started.elapsed().as_secs_f64()
        );
        totals.push(instructions);
    }
    let per_turn = (totals[1] as f64 - totals[0] as f64) / (args.turns[1] - args.turns[0]) as f64;
    println!(
        "{:?}: {per_turn:.0} instructions per reply turn",
        args.service
    );
    sink.stop().await;
    Ok(())
}

/// One run of the service under callgrind for `turns` turns; returns its instruction total.
async fn run_once(
    args: &Args,
    bin_dir: &std::path::Path,
    sink: &GraphSink,
    turns: u64,
) -> anyhow::Result<u64> {
    let admin = AdminHarness::start().await;
    let vhost = TestVhost::create().await;
    let integration = echo_integration(&admin).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let (binary, prefix) = match args.service {
        Service::Sender => ("sender", "SENDER"),
        Service::Ingress => ("whatsapp-ingress", "INGRESS"),
        Service::Executor => ("flow-executor", "EXECUTOR"),
    };
    let out = std::env::temp_dir().join(format!(
        "wa-profile-{binary}-{turns}-{}.callgrind",
        std::process::id()
    ));
    let broker = Broker::connect(
        BrokerConfig::new(vhost.amqp_url(), "wa-profile"),
        Topology::with_shards(8),
    )
    .await?;
    let mut child = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(bin_dir.join(binary))
        .env("DATABASE_URL", admin.db.url())
        .env("AMQP_URL", vhost.amqp_url())
        .env("DEPLOYMENT_KEY", admin.deployment_key_base64.expose())
        .env("AMQP_INBOUND_SHARDS", "8")
        .env("RUST_LOG", "warn")
        .env(format!("{prefix}_HOST"), "127.0.0.1")
        .env(format!("{prefix}_PORT"), port.to_string())
        .env("GRAPH_API_BASE_URL", &sink.url)
        .env("SENDER_RATE_PER_SECOND", "100000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let result = async {
        ready(port).await?;
        let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        match args.service {
            Service::Sender => {
                send_batches(&broker, sink, integration, args.conversations, turns, &run).await
            }
            Service::Ingress => post_webhooks(port, integration, turns, &run).await,
            Service::Executor => {
                run_turns(
                    &broker,
                    &vhost,
                    integration,
                    args.conversations,
                    turns,
                    &run,
                )
                .await
            }
        }
    }
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    tokio::task::spawn_blocking(move || child.wait()).await??;
    broker.close().await;
    admin.stop().await;
    result?;
    let text = std::fs::read_to_string(&out)?;
    if args.keep_profiles {
        println!("profile of {turns} turns: {}", out.display());
    } else {
        let _ = std::fs::remove_file(&out);
    }
    text.lines()
        .find_map(|line| {
            line.strip_prefix("summary: ")
                .or_else(|| line.strip_prefix("totals: "))
        })
        .and_then(|n| n.split_whitespace().next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no instruction total in {}", out.display()))
}

/// Waits until the service answers `/ready` (valgrind starts slowly).
async fn ready(port: u16) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Ok(answer) = client
            .get(format!("http://127.0.0.1:{port}/ready"))
            .send()
            .await
        {
            if answer.status().is_success() {
                return Ok(());
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the service never became ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn user(n: u64) -> String {
    Webhooks::user(80_000_000 + n)
}

async fn send_batches(
    broker: &Broker,
    sink: &GraphSink,
    integration: i64,
    conversations: u64,
    turns: u64,
    run: &str,
) -> anyhow::Result<()> {
    let integration = IntegrationId::new(integration)?;
    let publisher = broker.publisher();
    let mut expected = Vec::new();
    for n in 0..turns {
        let user = user(n % conversations);
        let text = format!("got p{run}-{n}");
        let batch = OutboundWhatsapp {
            schema: SchemaVersion::V1,
            event_id: format!("wamid.p{run}{n:08}:out"),
            integration_id: integration,
            conversation_key: ConversationKey::whatsapp(integration, PHONE_NUMBER_ID, &user),
            phone_number_id: PHONE_NUMBER_ID.into(),
            to: Recipient::WaId(user),
            reply_to_message_id: Some(format!("wamid.p{run}{n:08}")),
            messages: vec![
                BotMessage::Text { text: text.clone() },
                BotMessage::Text {
                    text: "say something".into(),
                },
            ],
            fallback_template: None,
            template: None,
            sequence: n / conversations + 1,
        };
        publisher
            .publish_with_retry(
                OUTBOUND_EXCHANGE,
                WHATSAPP_ROUTING_KEY,
                &contracts::v1::encode(&batch)?,
                PublishOptions::default().with_message_id(format!("{}#0", batch.event_id)),
                PUBLISH_WITHIN,
            )
            .await?;
        expected.push(text);
    }
    let patience = Duration::from_secs(300 + turns / 2);
    for text in &expected {
        sink.record
            .wait_reply(text, patience)
            .await
            .ok_or_else(|| anyhow::anyhow!("the sender never sent {text}"))?;
    }
    Ok(())
}

async fn post_webhooks(port: u16, integration: i64, turns: u64, run: &str) -> anyhow::Result<()> {
    let hooks = Arc::new(Webhooks::new(
        format!("http://127.0.0.1:{port}/webhooks/whatsapp/{integration}"),
        32,
    )?);
    let mut tasks = Vec::new();
    for client in 0..32u64 {
        let (hooks, run) = (hooks.clone(), run.to_owned());
        tasks.push(tokio::spawn(async move {
            for n in (client..turns).step_by(32) {
                let signed = hooks.text(&user(n), &run, n, "hello, are you open?")?;
                hooks.post(signed).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(())
}

async fn run_turns(
    broker: &Broker,
    vhost: &TestVhost,
    integration: i64,
    conversations: u64,
    turns: u64,
    run: &str,
) -> anyhow::Result<()> {
    let publisher = broker.publisher();
    // Every conversation's start first, so that the timed turns are answers.
    let events = (0..conversations)
        .map(|n| (n, "hi".to_owned()))
        .chain((0..turns).map(|n| (n % conversations, format!("p{run}-{n}"))));
    for (index, (conversation, text)) in events.enumerate() {
        let wamid = format!("wamid.p{run}{index:08}");
        let event = pipeline_floor::inbound_event(integration, &user(conversation), &wamid, &text)?;
        publisher
            .publish_with_retry(
                INBOUND_EXCHANGE,
                event.conversation_key.as_str(),
                &contracts::v1::encode(&event)?,
                PublishOptions::default().with_message_id(wamid).mandatory(),
                PUBLISH_WITHIN,
            )
            .await?;
    }
    let expected = conversations + turns;
    let deadline = Instant::now() + Duration::from_secs(300 + turns / 2);
    loop {
        let queue = vhost.queue_info(SENDER_WHATSAPP_QUEUE).await?;
        if queue["messages"].as_u64() == Some(expected) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the executor published {} batches of {expected}",
            queue["messages"]
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
