//! The admin binary: configuration from the environment, telemetry, then `admin::run`.
//! `admin migrate` only applies the database migrations and exits (the Kubernetes migration
//! Job; every service also migrates at start, under an advisory lock).

use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crypto::install_tls_crypto_provider();
    let _telemetry = telemetry::init("admin").context("telemetry")?;
    if std::env::args().nth(1).as_deref() == Some("migrate") {
        let database = config::DatabaseConfig::from_env().context("configuration")?;
        store::run_migrations(database.url.expose())
            .await
            .context("migrations")?;
        tracing::info!("migrations applied");
        return Ok(());
    }
    let config = admin::AdminConfig::from_env().context("configuration")?;
    admin::run(config, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
