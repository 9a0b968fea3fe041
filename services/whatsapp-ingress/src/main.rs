//! The whatsapp-ingress binary: configuration from the environment, telemetry, then `run`.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crypto::install_tls_crypto_provider();
    let _telemetry = telemetry::init("whatsapp-ingress").context("telemetry")?;
    let config = whatsapp_ingress::IngressConfig::from_env().context("configuration")?;
    whatsapp_ingress::run(config, service_kit::shutdown_signal()).await?;
    Ok(())
}
