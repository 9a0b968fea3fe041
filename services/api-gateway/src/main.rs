//! The api-gateway binary: configuration from the environment, telemetry, then `run`.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crypto::install_tls_crypto_provider();
    let _telemetry = telemetry::init("api-gateway").context("telemetry")?;
    let config = api_gateway::GatewayConfig::from_env().context("configuration")?;
    api_gateway::run(config, service_kit::shutdown_signal()).await?;
    Ok(())
}
