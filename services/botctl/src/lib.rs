//! botctl: the operator command-line client over the admin API.
//!
//! [`run`] is the whole program (arguments, output and error streams in, exit code out), so
//! that tests drive it in-process against a real admin service; `main.rs` only wires it to
//! the process. The operator token is sent as a bearer token and never printed.

mod cli;
mod client;
mod commands;
mod error;
mod render;

use std::io::Write;

use clap::Parser;

pub use crate::cli::DEFAULT_URL;
use crate::cli::{Cli, Command};
use crate::client::AdminClient;
pub use crate::error::CliError;

/// Exit code of a command that failed (API error, unreachable service, invalid flow).
pub const EXIT_FAILURE: i32 = 1;

/// What a command that ran to its end found: `Failed` exits with 1 without an error line,
/// e.g. `bots validate` on an invalid draft (the report itself is the explanation).
pub(crate) enum Outcome {
    Done,
    Failed,
}

/// What every command needs: the API, where to print, and in which form.
pub(crate) struct Ctx<'a> {
    pub client: AdminClient,
    pub out: &'a mut dyn Write,
    pub json: bool,
}

impl Ctx<'_> {
    /// Prints the API's answer as JSON (under `--json`) and returns whether it did, so a
    /// command prints its human form only when this returns false.
    pub fn printed_json(&mut self, value: &serde_json::Value) -> Result<bool, CliError> {
        if self.json {
            if !value.is_null() {
                writeln!(self.out, "{}", render::pretty(value))?;
            }
            return Ok(true);
        }
        Ok(false)
    }
}

/// Runs botctl with `args` (the program name first, as in `std::env::args`), writing results
/// to `out` and errors to `err`. Returns the exit code: 0 on success, 1 when a command
/// failed, 2 for a command line clap refused.
pub async fn run(args: Vec<String>, out: &mut impl Write, err: &mut impl Write) -> i32 {
    crypto::install_tls_crypto_provider();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(parse_error) => {
            // `--help` and `--version` arrive here too, meant for stdout with exit code 0.
            let text = parse_error.render().to_string();
            let _ = if parse_error.use_stderr() {
                write!(err, "{text}")
            } else {
                write!(out, "{text}")
            };
            return parse_error.exit_code();
        }
    };
    let code = match execute(cli, out).await {
        Ok(Outcome::Done) => 0,
        Ok(Outcome::Failed) => EXIT_FAILURE,
        Err(failure) => {
            let _ = failure.report(err);
            EXIT_FAILURE
        }
    };
    let _ = out.flush();
    let _ = err.flush();
    code
}

async fn execute(cli: Cli, out: &mut impl Write) -> Result<Outcome, CliError> {
    let mut ctx = Ctx {
        client: AdminClient::new(&cli.url, cli.token)?,
        out,
        json: cli.json,
    };
    match cli.command {
        Command::Account => commands::account::show(&mut ctx).await,
        Command::Accounts(command) => commands::account::accounts(&mut ctx, command).await,
        Command::Tokens(command) => commands::account::tokens(&mut ctx, command).await,
        Command::Bots(command) => commands::bots::run(&mut ctx, command).await,
        Command::Integrations(command) => commands::integrations::run(&mut ctx, command).await,
        Command::DeadLetters(command) => commands::dead_letters::run(&mut ctx, command).await,
        Command::Test(command) => commands::test::run(&mut ctx, command).await,
    }
}
