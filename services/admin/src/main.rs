//! The admin binary: configuration from the environment, telemetry, then `admin::run`.
//! `admin rotate-key` instead runs the deployment-key rotation once and exits: 0 when every
//! value is under the new key, 2 when some could not be moved (see its report).
//! `admin migrate` only applies the database migrations and exits (the Kubernetes migration
//! Job; every service also migrates at start, under an advisory lock).

use anyhow::Context;

const USAGE: &str = "usage: admin             serve the admin API\n       \
                     admin rotate-key  re-seal secrets and re-wrap digests under DEPLOYMENT_KEY \
                     (DEPLOYMENT_KEY_PREVIOUS: the key being retired)\n       \
                     admin migrate     apply the database migrations and exit";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    crypto::install_tls_crypto_provider();
    let _telemetry = telemetry::init("admin").context("telemetry")?;
    let command = std::env::args().nth(1);
    match command.as_deref() {
        None => {
            let config = admin::AdminConfig::from_env().context("configuration")?;
            admin::run(config, shutdown_signal()).await?;
            Ok(())
        }
        Some("rotate-key") => rotate_key().await,
        Some("migrate") => migrate().await,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => anyhow::bail!("unknown command {other:?}\n{USAGE}"),
    }
}

async fn migrate() -> anyhow::Result<()> {
    let database = config::DatabaseConfig::from_env().context("configuration")?;
    store::run_migrations(database.url.expose())
        .await
        .context("migrations")?;
    tracing::info!("migrations applied");
    Ok(())
}

async fn rotate_key() -> anyhow::Result<()> {
    let database = config::DatabaseConfig::from_env().context("configuration")?;
    let key = config::deployment_key().context("configuration")?;
    let report = admin::rotate_key(&database, &key)
        .await
        .context("key rotation")?;
    println!(
        "digest generation {}: {} secrets re-sealed, {} digests re-wrapped, {} already current, {} stuck",
        report.generation, report.resealed, report.rewrapped, report.already_current, report.stuck
    );
    if report.complete() {
        println!("rotation complete: restart the services without DEPLOYMENT_KEY_PREVIOUS");
        Ok(())
    } else {
        eprintln!("rotation incomplete: keep DEPLOYMENT_KEY_PREVIOUS; see the log for the values");
        std::process::exit(2);
    }
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
