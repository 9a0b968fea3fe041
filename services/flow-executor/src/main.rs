//! The flow-executor binary: configuration from the environment, telemetry, then `run`.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crypto::install_tls_crypto_provider();
    let _telemetry = telemetry::init("flow-executor").context("telemetry")?;
    let config = flow_executor::ExecutorConfig::from_env().context("configuration")?;
    flow_executor::run(config, service_kit::shutdown_signal()).await?;
    Ok(())
}
