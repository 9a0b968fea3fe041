//! The sender binary: configuration from the environment, telemetry, then `run`.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crypto::install_tls_crypto_provider();
    let _telemetry = telemetry::init("sender").context("telemetry")?;
    let config = sender::SenderConfig::from_env().context("configuration")?;
    sender::run(config, service_kit::shutdown_signal()).await?;
    Ok(())
}
