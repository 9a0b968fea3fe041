//! The human form of one integration, secrets as the API masks them.

use std::io::Write;

use serde_json::Value;

use crate::error::CliError;
use crate::render::{bot_ref, cell, time, Table};

pub fn show_integration(out: &mut dyn Write, view: &Value) -> Result<(), CliError> {
    let mut table = Table::headerless();
    let mut row = |key: &str, value: String| table.row(vec![key.to_owned(), value]);
    row("id", cell(&view["id"]));
    row("name", cell(&view["name"]));
    row("kind", cell(&view["kind"]));
    row("status", cell(&view["status"]));
    row("bot", bot_ref(&view["bot"]));
    let alert = &view["alert_email"];
    row(
        "alert e-mail",
        match (alert["enabled"].as_bool(), alert["address"].as_str()) {
            (Some(true), Some(address)) => format!("on, {address}"),
            (_, Some(address)) => format!("off ({address})"),
            _ => "off".to_owned(),
        },
    );
    row("created", time(&view["created_at"]));
    row("updated", time(&view["updated_at"]));
    row("last activity", time(&view["last_activity_at"]));

    let api = &view["api"];
    if api.is_object() {
        row("api key", cell(&api["api_key"]));
        row(
            "variable injection",
            on_off(api["variable_injection"].as_bool()),
        );
        row(
            "rate limit",
            format!("{} per minute", cell(&api["rate_limit_per_minute"])),
        );
        row("session start", cell(&api["endpoints"]["session_start"]));
        row("send message", cell(&api["endpoints"]["send_message"]));
    }
    let wa = &view["whatsapp"];
    if wa.is_object() {
        row("business account id", cell(&wa["business_account_id"]));
        row("phone number id", cell(&wa["phone_number_id"]));
        row("app id", cell(&wa["app_id"]));
        row("app secret", cell(&wa["app_secret"]));
        row("access token", cell(&wa["access_token"]));
        row(
            "access token expires",
            match wa["access_token_expires_at"] {
                Value::Null => "unknown (not exchanged yet)".to_owned(),
                ref at => time(at),
            },
        );
        row("verify token", cell(&wa["verify_token"]));
        row("api version", cell(&wa["api_version"]));
        row(
            "conversation expiry",
            match wa["conversation_expiry_minutes"].as_i64() {
                Some(minutes) => format!("{minutes} minutes"),
                None => "never".to_owned(),
            },
        );
        row(
            "template",
            match (
                wa["template"]["name"].as_str(),
                wa["template"]["language_code"].as_str(),
            ) {
                (Some(name), Some(language)) => format!("{name} ({language})"),
                _ => "-".to_owned(),
            },
        );
        let triggers: Vec<String> = wa["trigger_recipients"]
            .as_array()
            .into_iter()
            .flatten()
            .map(cell)
            .collect();
        row(
            "trigger recipients",
            if triggers.is_empty() {
                "everyone".to_owned()
            } else {
                triggers.join(", ")
            },
        );
        row("webhook url", cell(&wa["webhook_url"]));
    }
    write!(out, "{}", table.render())?;
    Ok(())
}

fn on_off(value: Option<bool>) -> String {
    if value.unwrap_or(false) { "on" } else { "off" }.to_owned()
}
