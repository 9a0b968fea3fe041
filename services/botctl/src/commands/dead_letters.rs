//! `dead-letters list|show|replay|discard`.

use serde_json::Value;

use crate::cli::DeadLettersCommand;
use crate::error::CliError;
use crate::render::{cell, clean, pretty, time, Table};
use crate::{Ctx, Outcome};

pub async fn run(ctx: &mut Ctx<'_>, command: DeadLettersCommand) -> Result<Outcome, CliError> {
    match command {
        DeadLettersCommand::List {
            status,
            integration,
            limit,
            before,
        } => {
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(format!("status={}", encode(&status)));
            }
            for (name, value) in [
                ("integration_id", integration),
                ("limit", limit),
                ("before", before),
            ] {
                if let Some(value) = value {
                    query.push(format!("{name}={value}"));
                }
            }
            let path = if query.is_empty() {
                "/v1/dead-letters".to_owned()
            } else {
                format!("/v1/dead-letters?{}", query.join("&"))
            };
            let list = ctx.client.get(&path).await?;
            if !ctx.printed_json(&list)? {
                let mut table = Table::new(&[
                    "ID",
                    "STATUS",
                    "INTEGRATION",
                    "CONVERSATION",
                    "ATTEMPTS",
                    "FIRST",
                    "LAST",
                    "REASON",
                ]);
                for letter in list["dead_letters"].as_array().into_iter().flatten() {
                    table.row(vec![
                        cell(&letter["id"]),
                        cell(&letter["status"]),
                        cell(&letter["integration_id"]),
                        cell(&letter["conversation_key"]),
                        cell(&letter["attempts"]),
                        time(&letter["first_attempt_at"]),
                        time(&letter["last_attempt_at"]),
                        cell(&letter["reason"]),
                    ]);
                }
                write!(ctx.out, "{}", table.render_or("No dead letters."))?;
                if let Some(next) = list["next_before"].as_i64() {
                    writeln!(ctx.out, "More: botctl dead-letters list --before {next}")?;
                }
            }
        }
        DeadLettersCommand::Show { id } => {
            let letter = ctx.client.get(&format!("/v1/dead-letters/{id}")).await?;
            if !ctx.printed_json(&letter)? {
                write!(ctx.out, "{}", summary(&letter).render())?;
                writeln!(ctx.out, "message ({} bytes):", cell(&letter["body_bytes"]))?;
                let body = if letter["body"].is_null() {
                    cell(&letter["body_text"])
                } else {
                    pretty(&letter["body"])
                };
                // Not JSON: whatever bytes a broken producer sent, kept from driving the terminal.
                for line in body.lines() {
                    writeln!(ctx.out, "  {}", clean(line))?;
                }
            }
        }
        DeadLettersCommand::Replay { id } => {
            let letter = ctx
                .client
                .post(&format!("/v1/dead-letters/{id}/replay"), &Value::Null)
                .await?;
            if !ctx.printed_json(&letter)? {
                writeln!(
                    ctx.out,
                    "Replayed dead letter {id} (event {}) to {} with key {}.",
                    cell(&letter["event_id"]),
                    cell(&letter["exchange"]),
                    cell(&letter["routing_key"])
                )?;
            }
        }
        DeadLettersCommand::Discard { id } => {
            let letter = ctx
                .client
                .post(&format!("/v1/dead-letters/{id}/discard"), &Value::Null)
                .await?;
            if !ctx.printed_json(&letter)? {
                writeln!(
                    ctx.out,
                    "Discarded dead letter {id} (event {}).",
                    cell(&letter["event_id"])
                )?;
            }
        }
    }
    Ok(Outcome::Done)
}

fn summary(letter: &Value) -> Table {
    let mut table = Table::headerless();
    for (label, key) in [
        ("id", "id"),
        ("event", "event_id"),
        ("status", "status"),
        ("reason", "reason"),
        ("integration", "integration_id"),
        ("conversation", "conversation_key"),
        ("from queue", "source_queue"),
        ("replays to", "exchange"),
        ("routing key", "routing_key"),
        ("attempts", "attempts"),
    ] {
        table.row(vec![label.into(), cell(&letter[key])]);
    }
    for (label, key) in [
        ("first attempt", "first_attempt_at"),
        ("last attempt", "last_attempt_at"),
        ("replayed", "replayed_at"),
    ] {
        let value = if letter[key].is_null() {
            "-".to_owned()
        } else {
            time(&letter[key])
        };
        table.row(vec![label.into(), value]);
    }
    table
}

/// The status goes into a query string; anything but the three words is refused by the API,
/// so percent-encoding only has to keep the query well-formed.
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
