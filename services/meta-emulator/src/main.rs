//! `meta-emulator [serve]` runs the emulator (configuration from `META_EMULATOR_*`);
//! `meta-emulator chat ...` chats with a bot from the terminal through a running emulator.

use std::io::BufRead;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "meta-emulator",
    about = "A local stand-in for Meta's WhatsApp Graph API"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the emulator (the default). Configured by META_EMULATOR_* variables.
    Serve,
    /// Chat with a bot as a WhatsApp user, through a running emulator.
    Chat(ChatArgs),
}

#[derive(clap::Args)]
struct ChatArgs {
    /// The integration's webhook URL, e.g. http://127.0.0.1:8082/webhooks/whatsapp/<id>.
    #[arg(long)]
    ingress_url: String,
    /// The integration's app secret (webhooks are signed with it).
    #[arg(long, env = "META_APP_SECRET")]
    app_secret: String,
    /// The integration's phone number id.
    #[arg(long)]
    phone_number_id: String,
    /// Your (the user's) phone number, digits only.
    #[arg(long, default_value = "15550001234")]
    from: String,
    /// Your profile name.
    #[arg(long)]
    name: Option<String>,
    /// The running emulator.
    #[arg(
        long,
        env = "META_EMULATOR_URL",
        default_value = "http://127.0.0.1:8090"
    )]
    emulator_url: String,
    /// Do not route status webhooks (sent, delivered, read) of this number to the ingress.
    #[arg(long)]
    no_statuses: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crypto::install_tls_crypto_provider();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let _telemetry = telemetry::init("meta-emulator").context("telemetry")?;
            let config = meta_emulator::EmulatorConfig::from_env().context("configuration")?;
            meta_emulator::run(config, service_kit::shutdown_signal()).await?;
        }
        Command::Chat(args) => chat(args).await?,
    }
    Ok(())
}

async fn chat(args: ChatArgs) -> anyhow::Result<()> {
    let options = meta_emulator::chat::ChatOptions {
        emulator_url: args.emulator_url,
        ingress_url: args.ingress_url,
        app_secret: args.app_secret,
        phone_number_id: args.phone_number_id,
        from: args.from,
        name: args.name,
        statuses: !args.no_statuses,
        poll_interval: Duration::from_millis(250),
        quiet: Duration::from_millis(1500),
    };
    // Standard input is read on its own thread: tokio here has no async stdin.
    let (lines_tx, lines_rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let mut out = std::io::stdout();
    meta_emulator::chat::run(options, lines_rx, &mut out)
        .await
        .context("chat")?;
    Ok(())
}
