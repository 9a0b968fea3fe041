//! `integrations create-api|create-whatsapp|list|show|activate|deactivate|update|delete|
//! start-whatsapp`.

use std::io::Write;

use serde_json::{json, Map, Value};

use super::integrations_show::show_integration;
use crate::cli::{CreateApiArgs, CreateWhatsappArgs, IntegrationsCommand};
use crate::error::CliError;
use crate::render::{bot_ref, cell, shell_quote, time, Table};
use crate::{Ctx, Outcome};

pub async fn run(ctx: &mut Ctx<'_>, command: IntegrationsCommand) -> Result<Outcome, CliError> {
    match command {
        IntegrationsCommand::CreateApi(args) => create_api(ctx, args).await,
        IntegrationsCommand::CreateWhatsapp(args) => create_whatsapp(ctx, *args).await,
        IntegrationsCommand::List => {
            let list = ctx.client.get("/v1/integrations").await?;
            if !ctx.printed_json(&list)? {
                write!(
                    ctx.out,
                    "{}",
                    integrations_table(&list).render_or("No integrations.")
                )?;
            }
            Ok(Outcome::Done)
        }
        IntegrationsCommand::Show { id } => {
            let view = ctx.client.get(&format!("/v1/integrations/{id}")).await?;
            if !ctx.printed_json(&view)? {
                show_integration(ctx.out, &view)?;
            }
            Ok(Outcome::Done)
        }
        IntegrationsCommand::Activate { id } => set_active(ctx, id, true).await,
        IntegrationsCommand::Deactivate { id } => set_active(ctx, id, false).await,
        IntegrationsCommand::Update { id, patch } => {
            let patch: Value = serde_json::from_str(&patch)
                .map_err(|err| CliError::usage(format!("the changes are not valid JSON: {err}")))?;
            if !patch.is_object() {
                return Err(CliError::usage(
                    "the changes must be a JSON object such as '{\"name\": \"Shop\"}'",
                ));
            }
            let view = ctx
                .client
                .patch(&format!("/v1/integrations/{id}"), &patch)
                .await?;
            if !ctx.printed_json(&view)? {
                writeln!(ctx.out, "Updated integration {id}.")?;
                show_integration(ctx.out, &view)?;
            }
            Ok(Outcome::Done)
        }
        IntegrationsCommand::Delete { id } => {
            let answer = ctx.client.delete(&format!("/v1/integrations/{id}")).await?;
            if !ctx.printed_json(&answer)? {
                writeln!(ctx.out, "Deleted integration {id}.")?;
            }
            Ok(Outcome::Done)
        }
        IntegrationsCommand::StartWhatsapp { id, to, vars } => {
            start_whatsapp(ctx, id, to, vars).await
        }
    }
}

async fn start_whatsapp(
    ctx: &mut Ctx<'_>,
    id: i64,
    to: String,
    vars: Vec<String>,
) -> Result<Outcome, CliError> {
    let mut variables = Map::new();
    for var in vars {
        let Some((name, value)) = var.split_once('=') else {
            return Err(CliError::usage(format!(
                "--var {var}: write NAME=VALUE, e.g. --var customer_name=Kerry"
            )));
        };
        variables.insert(name.trim().to_owned(), json!(value));
    }
    let mut body = json!({ "to": to });
    if !variables.is_empty() {
        body["variables"] = Value::Object(variables);
    }
    let started = ctx
        .client
        .post(&format!("/v1/integrations/{id}/whatsapp/start"), &body)
        .await?;
    if !ctx.printed_json(&started)? {
        writeln!(
            ctx.out,
            "Sending template {} ({}) to {} from integration {id}; the user's reply continues \
             the bot.",
            cell(&started["template"]["name"]),
            cell(&started["template"]["language_code"]),
            cell(&started["to"]),
        )?;
    }
    Ok(Outcome::Done)
}

/// The list as a table: id, name, kind, status, bot, last activity.
pub fn integrations_table(list: &Value) -> Table {
    let mut table = Table::new(&["ID", "NAME", "KIND", "STATUS", "BOT", "LAST ACTIVITY"]);
    for integration in list["integrations"].as_array().into_iter().flatten() {
        table.row(vec![
            cell(&integration["id"]),
            cell(&integration["name"]),
            cell(&integration["kind"]),
            cell(&integration["status"]),
            bot_ref(&integration["bot"]),
            time(&integration["last_activity_at"]),
        ]);
    }
    table
}

async fn set_active(ctx: &mut Ctx<'_>, id: i64, active: bool) -> Result<Outcome, CliError> {
    let action = if active { "activate" } else { "deactivate" };
    let view = ctx
        .client
        .post(&format!("/v1/integrations/{id}/{action}"), &Value::Null)
        .await?;
    if !ctx.printed_json(&view)? {
        writeln!(
            ctx.out,
            "Integration {id} \"{}\" is now {}.",
            cell(&view["name"]),
            cell(&view["status"])
        )?;
    }
    Ok(Outcome::Done)
}

fn alert_email(address: Option<String>) -> Option<Value> {
    address.map(|address| json!({ "enabled": true, "address": address }))
}

async fn create_api(ctx: &mut Ctx<'_>, args: CreateApiArgs) -> Result<Outcome, CliError> {
    let mut body = Map::new();
    body.insert("kind".into(), json!("api"));
    body.insert("name".into(), json!(args.name));
    body.insert("bot_id".into(), json!(args.bot));
    body.insert("variable_injection".into(), json!(args.variable_injection));
    if let Some(key) = args.api_key {
        body.insert("api_key".into(), json!(key));
    }
    if let Some(limit) = args.rate_limit {
        body.insert("rate_limit_per_minute".into(), json!(limit));
    }
    if let Some(alert) = alert_email(args.alert_email) {
        body.insert("alert_email".into(), alert);
    }
    let (view, activation) = create_then_activate(ctx, Value::Object(body), args.activate).await?;
    if !ctx.printed_json(&view)? {
        let id = cell(&view["id"]);
        write_created(ctx.out, "API", &view)?;
        writeln!(ctx.out)?;
        writeln!(
            ctx.out,
            "API key (shown once; store it now, it cannot be retrieved again):"
        )?;
        let key = cell(&view["api_key"]);
        writeln!(ctx.out, "  {key}")?;
        writeln!(ctx.out)?;
        writeln!(ctx.out, "Start a session:")?;
        writeln!(
            ctx.out,
            "  {}",
            session_start_curl(&cell(&view["api"]["endpoints"]["session_start"]), &key)
        )?;
        if activation.is_none() && !view["active"].as_bool().unwrap_or(false) {
            writeln!(
                ctx.out,
                "The integration is inactive; activate it with: botctl integrations activate {id}"
            )?;
        }
    }
    finish(activation)
}

/// A copyable command that starts a session with the new key.
pub fn session_start_curl(url: &str, api_key: &str) -> String {
    format!(
        "curl -X POST {} -H 'Content-Type: application/json' -H {} -d '{{\"session_id\": \"user-123\"}}'",
        shell_quote(url),
        shell_quote(&format!("X-API-Key: {api_key}"))
    )
}

async fn create_whatsapp(ctx: &mut Ctx<'_>, args: CreateWhatsappArgs) -> Result<Outcome, CliError> {
    let mut body = json!({
        "kind": "whatsapp",
        "name": args.name,
        "bot_id": args.bot,
        "business_account_id": args.business_account_id,
        "phone_number_id": args.phone_number_id,
        "app_id": args.app_id,
        "app_secret": args.app_secret,
        "access_token": args.access_token,
        "verify_token": args.verify_token,
        "trigger_recipients": args.triggers,
    });
    if let Some(version) = args.api_version {
        body["api_version"] = json!(version);
    }
    if let Some(minutes) = args.expiry_minutes {
        body["conversation_expiry_minutes"] = json!(minutes);
    }
    if let (Some(name), Some(language)) = (args.template_name, args.template_language) {
        body["template"] = json!({ "name": name, "language_code": language });
    }
    if let Some(alert) = alert_email(args.alert_email) {
        body["alert_email"] = alert;
    }
    let (view, activation) = create_then_activate(ctx, body, args.activate).await?;
    if !ctx.printed_json(&view)? {
        write_created(ctx.out, "WhatsApp", &view)?;
        writeln!(ctx.out)?;
        writeln!(
            ctx.out,
            "Webhook URL (enter it as the callback URL in Meta's App Dashboard, with your verify token):"
        )?;
        writeln!(ctx.out, "  {}", cell(&view["whatsapp"]["webhook_url"]))?;
        if activation.is_none() && !view["active"].as_bool().unwrap_or(false) {
            writeln!(
                ctx.out,
                "The integration is inactive; activate it with: botctl integrations activate {}",
                cell(&view["id"])
            )?;
        }
    }
    finish(activation)
}

/// Creates the integration and, when asked, activates it. The creation answer is returned even
/// when activation fails, because it holds the API key that is shown only this once; the
/// failed activation is returned beside it so that it is reported after the key is printed.
async fn create_then_activate(
    ctx: &mut Ctx<'_>,
    body: Value,
    activate: bool,
) -> Result<(Value, Option<Result<(), CliError>>), CliError> {
    let mut view = ctx.client.post("/v1/integrations", &body).await?;
    if !activate {
        return Ok((view, None));
    }
    let path = format!("/v1/integrations/{}/activate", cell(&view["id"]));
    match ctx.client.post(&path, &Value::Null).await {
        Ok(Value::Object(activated)) => {
            // The activation answer is the current view without the key: keep the key.
            if let Some(fields) = view.as_object_mut() {
                fields.extend(activated);
            }
            Ok((view, Some(Ok(()))))
        }
        Ok(_) => Ok((view, Some(Ok(())))),
        Err(err) => Ok((view, Some(Err(err)))),
    }
}

fn write_created(out: &mut dyn Write, kind: &str, view: &Value) -> Result<(), CliError> {
    writeln!(
        out,
        "Created {kind} integration {} \"{}\" for bot {}; status: {}.",
        cell(&view["id"]),
        cell(&view["name"]),
        bot_ref(&view["bot"]),
        cell(&view["status"])
    )?;
    Ok(())
}

fn finish(activation: Option<Result<(), CliError>>) -> Result<Outcome, CliError> {
    match activation {
        Some(Err(err)) => Err(err),
        _ => Ok(Outcome::Done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_shows_bot_names_and_never_for_no_activity() {
        let list = json!({"integrations": [
            {"id": 7, "name": "Web chat", "kind": "api", "status": "active", "active": true,
             "bot": {"id": 3, "name": "Demo Bot"}, "last_activity_at": null},
            {"id": 12, "name": "Shop", "kind": "whatsapp", "status": "inactive", "active": false,
             "bot": null, "last_activity_at": "2026-11-26T08:52:57Z"},
        ]});
        assert_eq!(
            integrations_table(&list).render(),
            "ID  NAME      KIND      STATUS    BOT            LAST ACTIVITY\n\
             7   Web chat  api       active    Demo Bot (#3)  never\n\
             12  Shop      whatsapp  inactive  -              2026-11-26 08:52 UTC\n"
        );
    }

    #[test]
    fn the_curl_line_quotes_url_and_key() {
        assert_eq!(
            session_start_curl("http://api.test/api/integrations/api/7/session/", "k'ey"),
            "curl -X POST 'http://api.test/api/integrations/api/7/session/' \
             -H 'Content-Type: application/json' -H 'X-API-Key: k'\\''ey' \
             -d '{\"session_id\": \"user-123\"}'"
        );
    }
}
