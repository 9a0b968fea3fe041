//! Everything that can make a command fail, and how each failure is told to the operator.

use std::io::Write;

use serde_json::Value;

use crate::render;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The admin API answered with its error shape `{"error": {"code", "message"}}`.
    #[error("{message} ({code})")]
    Api {
        status: u16,
        code: String,
        message: String,
        /// For `invalid_flow`: every issue found.
        details: Option<Value>,
    },
    #[error("could not reach the admin API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// An answer that is not the API's JSON (a proxy's error page, a wrong `--url`).
    #[error("unexpected answer from {url} (HTTP {status}): {reason}")]
    UnexpectedAnswer {
        url: String,
        status: u16,
        reason: String,
    },
    /// Bad input found before anything was sent.
    #[error("{0}")]
    Usage(String),
    #[error("could not write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    /// Writes `error: ...` and, for a flow refused at publish, one line per issue.
    pub fn report(&self, err: &mut dyn Write) -> std::io::Result<()> {
        writeln!(err, "error: {self}")?;
        if let CliError::Api {
            details: Some(details),
            ..
        } = self
        {
            if let Some(issues) = details.as_array() {
                write!(
                    err,
                    "{}",
                    render::issues_table(issues).render_indented("  ")
                )?;
            }
        }
        Ok(())
    }
}
