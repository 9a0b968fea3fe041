//! `account`, `accounts create`, `tokens list|create|revoke`.

use serde_json::json;

use crate::cli::{AccountsCommand, TokensCommand};
use crate::error::CliError;
use crate::render::{cell, time, yes_no, Table};
use crate::{Ctx, Outcome};

pub async fn show(ctx: &mut Ctx<'_>) -> Result<Outcome, CliError> {
    let account = ctx.client.get("/v1/account").await?;
    if !ctx.printed_json(&account)? {
        let mut table = Table::headerless();
        table.row(vec!["id".into(), cell(&account["id"])]);
        table.row(vec!["name".into(), cell(&account["name"])]);
        table.row(vec![
            "platform admin".into(),
            yes_no(&account["is_platform_admin"]),
        ]);
        table.row(vec!["created".into(), time(&account["created_at"])]);
        write!(ctx.out, "{}", table.render())?;
    }
    Ok(Outcome::Done)
}

pub async fn accounts(ctx: &mut Ctx<'_>, command: AccountsCommand) -> Result<Outcome, CliError> {
    match command {
        AccountsCommand::Create { name, token_name } => {
            let mut body = json!({ "name": name });
            if let Some(token_name) = token_name {
                body["token_name"] = json!(token_name);
            }
            let created = ctx.client.post("/v1/accounts", &body).await?;
            if !ctx.printed_json(&created)? {
                let account = &created["account"];
                writeln!(
                    ctx.out,
                    "Created account {} \"{}\".",
                    cell(&account["id"]),
                    cell(&account["name"])
                )?;
                writeln!(
                    ctx.out,
                    "Its operator token is shown once; store it now, it cannot be retrieved again:"
                )?;
                writeln!(ctx.out, "  {}", cell(&created["token"]))?;
            }
        }
    }
    Ok(Outcome::Done)
}

pub async fn tokens(ctx: &mut Ctx<'_>, command: TokensCommand) -> Result<Outcome, CliError> {
    match command {
        TokensCommand::List => {
            let list = ctx.client.get("/v1/tokens").await?;
            if !ctx.printed_json(&list)? {
                let mut table = Table::new(&["ID", "NAME", "TOKEN", "CREATED", "REVOKED"]);
                for token in list["tokens"].as_array().into_iter().flatten() {
                    let revoked = if token["revoked_at"].is_null() {
                        "-".to_owned()
                    } else {
                        time(&token["revoked_at"])
                    };
                    table.row(vec![
                        cell(&token["id"]),
                        cell(&token["name"]),
                        cell(&token["token_masked"]),
                        time(&token["created_at"]),
                        revoked,
                    ]);
                }
                write!(ctx.out, "{}", table.render_or("No tokens."))?;
            }
        }
        TokensCommand::Create { name } => {
            let created = ctx
                .client
                .post("/v1/tokens", &json!({ "name": name }))
                .await?;
            if !ctx.printed_json(&created)? {
                writeln!(
                    ctx.out,
                    "Created operator token {} \"{}\".",
                    cell(&created["id"]),
                    cell(&created["name"])
                )?;
                writeln!(
                    ctx.out,
                    "The token is shown once; store it now, it cannot be retrieved again:"
                )?;
                writeln!(ctx.out, "  {}", cell(&created["token"]))?;
            }
        }
        TokensCommand::Revoke { id } => {
            let answer = ctx.client.delete(&format!("/v1/tokens/{id}")).await?;
            if !ctx.printed_json(&answer)? {
                writeln!(ctx.out, "Revoked operator token {id}.")?;
            }
        }
    }
    Ok(Outcome::Done)
}
