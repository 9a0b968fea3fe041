//! The `platform` binary: configuration from the environment, telemetry, then every service
//! in this process until Ctrl-C or SIGTERM.

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crypto::install_tls_crypto_provider();
    let _telemetry = telemetry::init("platform").context("telemetry")?;
    let config = platform::PlatformConfig::from_env().context("configuration")?;
    platform::run(config, shutdown_signal()).await?;
    Ok(())
}

/// Resolves at the first Ctrl-C or SIGTERM. A second one while the services drain exits at
/// once: a developer who presses Ctrl-C twice means it.
async fn shutdown_signal() {
    service_kit::shutdown_signal().await;
    tokio::spawn(async {
        service_kit::shutdown_signal().await;
        tracing::warn!("second interrupt: exiting without waiting for in-flight work");
        std::process::exit(130);
    });
}
