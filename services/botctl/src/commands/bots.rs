//! `bots create|list|show|update|validate|publish|versions|delete`.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::cli::BotsCommand;
use crate::error::CliError;
use crate::render::{cell, issues_table, plural, time, yes_no, Table};
use crate::{Ctx, Outcome};

pub async fn run(ctx: &mut Ctx<'_>, command: BotsCommand) -> Result<Outcome, CliError> {
    match command {
        BotsCommand::Create { file, name } => {
            let body = bot_body(&read_bot_file(&file)?, &file, name.as_deref(), true)?;
            let bot = ctx.client.post("/v1/bots", &body).await?;
            if !ctx.printed_json(&bot)? {
                let id = cell(&bot["id"]);
                writeln!(
                    ctx.out,
                    "Created bot {id} \"{}\" (draft).",
                    cell(&bot["name"])
                )?;
                writeln!(ctx.out, "Publish it with: botctl bots publish {id}")?;
            }
            Ok(Outcome::Done)
        }
        BotsCommand::List { published } => {
            let path = if published {
                "/v1/bots?published=true"
            } else {
                "/v1/bots"
            };
            let list = ctx.client.get(path).await?;
            if !ctx.printed_json(&list)? {
                let mut table = Table::new(&["ID", "NAME", "PUBLISHED", "VERSION", "UPDATED"]);
                for bot in list["bots"].as_array().into_iter().flatten() {
                    table.row(vec![
                        cell(&bot["id"]),
                        cell(&bot["name"]),
                        yes_no(&bot["published"]),
                        cell(&bot["latest_version"]),
                        time(&bot["updated_at"]),
                    ]);
                }
                write!(ctx.out, "{}", table.render_or("No bots."))?;
            }
            Ok(Outcome::Done)
        }
        BotsCommand::Show { id } => {
            let bot = ctx.client.get(&format!("/v1/bots/{id}")).await?;
            if !ctx.printed_json(&bot)? {
                show_bot(ctx.out, &bot)?;
            }
            Ok(Outcome::Done)
        }
        BotsCommand::Update { id, file, name } => {
            let body = bot_body(&read_bot_file(&file)?, &file, name.as_deref(), false)?;
            let bot = ctx.client.patch(&format!("/v1/bots/{id}"), &body).await?;
            if !ctx.printed_json(&bot)? {
                writeln!(
                    ctx.out,
                    "Updated the draft of bot {id} \"{}\" (revision {}). Published versions are unchanged.",
                    cell(&bot["name"]),
                    cell(&bot["draft_revision"])
                )?;
            }
            Ok(Outcome::Done)
        }
        BotsCommand::Validate { id } => validate(ctx, id).await,
        BotsCommand::Publish { id } => {
            let published = ctx
                .client
                .post(&format!("/v1/bots/{id}/publish"), &Value::Null)
                .await?;
            if !ctx.printed_json(&published)? {
                writeln!(
                    ctx.out,
                    "Published bot {id} as version {}.",
                    cell(&published["version"])
                )?;
                write_issues(ctx.out, "warnings", &published["warnings"])?;
            }
            Ok(Outcome::Done)
        }
        BotsCommand::Versions { id } => {
            let list = ctx.client.get(&format!("/v1/bots/{id}/versions")).await?;
            if !ctx.printed_json(&list)? {
                let mut table = Table::new(&["VERSION", "PUBLISHED"]);
                for version in list["versions"].as_array().into_iter().flatten() {
                    table.row(vec![
                        cell(&version["version"]),
                        time(&version["published_at"]),
                    ]);
                }
                write!(ctx.out, "{}", table.render_or("No published versions."))?;
            }
            Ok(Outcome::Done)
        }
        BotsCommand::Delete { id } => {
            let answer = ctx.client.delete(&format!("/v1/bots/{id}")).await?;
            if !ctx.printed_json(&answer)? {
                writeln!(ctx.out, "Deleted bot {id}.")?;
            }
            Ok(Outcome::Done)
        }
    }
}

async fn validate(ctx: &mut Ctx<'_>, id: i64) -> Result<Outcome, CliError> {
    let report = ctx
        .client
        .post(&format!("/v1/bots/{id}/validate"), &Value::Null)
        .await?;
    let valid = report["valid"].as_bool().unwrap_or(false);
    if !ctx.printed_json(&report)? {
        let count = |key: &str| report[key].as_array().map_or(0, Vec::len);
        writeln!(
            ctx.out,
            "{}: {}, {}",
            if valid { "valid" } else { "invalid" },
            plural(count("errors"), "error"),
            plural(count("warnings"), "warning")
        )?;
        write_issues(ctx.out, "errors", &report["errors"])?;
        write_issues(ctx.out, "warnings", &report["warnings"])?;
    }
    Ok(if valid {
        Outcome::Done
    } else {
        Outcome::Failed
    })
}

/// A heading and one indented `component  rule  message` line per issue; nothing when none.
fn write_issues(out: &mut dyn Write, heading: &str, issues: &Value) -> Result<(), CliError> {
    let Some(issues) = issues.as_array().filter(|i| !i.is_empty()) else {
        return Ok(());
    };
    writeln!(out, "{heading}:")?;
    write!(out, "{}", issues_table(issues).render_indented("  "))?;
    Ok(())
}

fn show_bot(out: &mut dyn Write, bot: &Value) -> Result<(), CliError> {
    let mut table = Table::headerless();
    table.row(vec!["id".into(), cell(&bot["id"])]);
    table.row(vec!["name".into(), cell(&bot["name"])]);
    table.row(vec!["published".into(), yes_no(&bot["published"])]);
    table.row(vec!["latest version".into(), cell(&bot["latest_version"])]);
    table.row(vec!["draft revision".into(), cell(&bot["draft_revision"])]);
    let components = bot["flow"]["components"].as_array().map_or(0, Vec::len);
    table.row(vec![
        "flow".into(),
        format!(
            "{}, start: {}",
            plural(components, "component"),
            cell(&bot["flow"]["start"])
        ),
    ]);
    let variables: Vec<String> = bot["variables"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|v| match v["default"].as_str() {
            Some(default) => format!("{} (default {default:?})", cell(&v["name"])),
            None => cell(&v["name"]),
        })
        .collect();
    let variables = if variables.is_empty() {
        "-".to_owned()
    } else {
        variables.join(", ")
    };
    table.row(vec!["variables".into(), variables]);
    table.row(vec!["created".into(), time(&bot["created_at"])]);
    table.row(vec!["updated".into(), time(&bot["updated_at"])]);
    write!(out, "{}", table.render())?;
    writeln!(out, "(--json prints the whole flow)")?;
    Ok(())
}

fn read_bot_file(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|err| CliError::usage(format!("cannot read {}: {err}", path.display())))
}

/// The create/update body from a bot file `{name, variables, flow}`. Other top-level keys are
/// ignored, so the output of `bots show --json` is a valid bot file too. For an update the
/// variables are replaced as a whole: a file without them clears them.
pub(crate) fn bot_body(
    text: &str,
    path: &Path,
    name_override: Option<&str>,
    name_required: bool,
) -> Result<Value, CliError> {
    let file: Value = serde_json::from_str(text)
        .map_err(|err| CliError::usage(format!("{} is not valid JSON: {err}", path.display())))?;
    let Some(file) = file.as_object() else {
        return Err(CliError::usage(format!(
            "{} must hold a JSON object {{name, variables, flow}}",
            path.display()
        )));
    };
    let mut body = Map::new();
    match name_override.map(str::to_owned).or_else(|| file_name(file)) {
        Some(name) => {
            body.insert("name".into(), json!(name));
        }
        None if name_required => {
            return Err(CliError::usage(format!(
                "{} has no \"name\"; add one or pass --name",
                path.display()
            )))
        }
        None => {}
    }
    body.insert(
        "variables".into(),
        file.get("variables").cloned().unwrap_or_else(|| json!([])),
    );
    let flow = file.get("flow").ok_or_else(|| {
        CliError::usage(format!(
            "{} has no \"flow\" (see docs/flow-format.md)",
            path.display()
        ))
    })?;
    body.insert("flow".into(), flow.clone());
    Ok(Value::Object(body))
}

fn file_name(file: &Map<String, Value>) -> Option<String> {
    file.get("name").and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"{"id": 4, "name": "Pizza", "flow": {"start": "a", "components": []}}"#;

    #[test]
    fn a_bot_file_becomes_a_body_with_only_the_known_keys() {
        let body = bot_body(FILE, Path::new("f.json"), None, true).unwrap();
        assert_eq!(
            body,
            json!({"name": "Pizza", "variables": [], "flow": {"start": "a", "components": []}})
        );
    }

    #[test]
    fn name_override_wins_and_a_missing_name_is_refused_only_when_required() {
        let body = bot_body(FILE, Path::new("f.json"), Some("Other"), true).unwrap();
        assert_eq!(body["name"], "Other");
        let nameless = r#"{"flow": {}}"#;
        let err = bot_body(nameless, Path::new("f.json"), None, true).unwrap_err();
        assert!(err.to_string().contains("--name"), "{err}");
        let update = bot_body(nameless, Path::new("f.json"), None, false).unwrap();
        assert!(update.get("name").is_none());
    }

    #[test]
    fn a_file_without_flow_or_not_json_is_refused_naming_the_file() {
        let err = bot_body(r#"{"name": "x"}"#, Path::new("bot.json"), None, true).unwrap_err();
        assert!(
            err.to_string().contains("bot.json has no \"flow\""),
            "{err}"
        );
        let err = bot_body("{", Path::new("bot.json"), None, true).unwrap_err();
        assert!(
            err.to_string().contains("bot.json is not valid JSON"),
            "{err}"
        );
    }
}
