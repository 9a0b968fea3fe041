//! The command line: global flags and every command, as clap derive types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub const DEFAULT_URL: &str = "http://localhost:8080";

/// Operator command-line client for the chatbot platform's admin API.
// No `Debug`: the struct holds the operator token, which must never be printed.
#[derive(Parser)]
#[command(name = "botctl", version)]
pub struct Cli {
    /// Base URL of the admin API.
    #[arg(long, env = "BOTCTL_URL", default_value = DEFAULT_URL, global = true)]
    pub url: String,

    /// Operator token (prefer the environment variable: it stays out of shell history).
    #[arg(long, env = "BOTCTL_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,

    /// Print the API's raw JSON instead of human-readable output.
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show the account the operator token belongs to.
    Account,
    /// Create accounts (platform admins only).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// List, create and revoke operator tokens of your account.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Create, edit, validate and publish bots.
    #[command(subcommand)]
    Bots(BotsCommand),
    /// Connect published bots to WhatsApp or to the REST API.
    #[command(subcommand)]
    Integrations(IntegrationsCommand),
    /// Messages the platform gave up on: list, show, replay or discard them.
    #[command(subcommand)]
    DeadLetters(DeadLettersCommand),
    /// Run test scenarios against a bot in a sandbox (docs/test-runner.md).
    #[command(subcommand)]
    Test(TestCommand),
}

#[derive(Subcommand)]
pub enum DeadLettersCommand {
    /// List dead letters, newest first.
    List {
        /// Only this status: dead, replayed or discarded.
        #[arg(long)]
        status: Option<String>,
        /// Only this integration's letters.
        #[arg(long)]
        integration: Option<i64>,
        /// Page size (1 to 200).
        #[arg(long)]
        limit: Option<i64>,
        /// Only letters with a smaller id (the next page of a list).
        #[arg(long)]
        before: Option<i64>,
    },
    /// Show a dead letter with its message.
    Show { id: i64 },
    /// Publish the letter's message again, to where it was first published (an event back to
    /// its conversation's shard). Safe to repeat: an event that already ran is not run again.
    Replay { id: i64 },
    /// Give the letter up for good: it can no longer be replayed.
    Discard { id: i64 },
}

#[derive(Subcommand)]
pub enum TestCommand {
    /// Run scenario files (or every *.yaml/*.yml in directories) and scenarios saved with the
    /// bot, and print the timeline; exits 1 unless every scenario passed.
    Run {
        /// Scenario files or directories.
        #[arg(required_unless_present = "saved")]
        paths: Vec<PathBuf>,
        #[arg(long)]
        bot: i64,
        /// A scenario saved with the bot, by id (repeatable); saved ones run first.
        #[arg(long = "saved", value_name = "SCENARIO_ID")]
        saved: Vec<i64>,
        /// A published version (default: the newest).
        #[arg(long)]
        version: Option<i32>,
        /// Run the bot's draft instead of a published version (validated first).
        #[arg(long, conflicts_with = "version")]
        draft: bool,
        /// api, whatsapp or both.
        #[arg(long, default_value = "both")]
        channel: String,
        /// Also write a JUnit XML report here.
        #[arg(long)]
        junit: Option<PathBuf>,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Show a run's timeline.
    Show { run_id: i64 },
    /// List a bot's runs.
    List {
        #[arg(long)]
        bot: i64,
    },
    /// Cancel a running run.
    Cancel { run_id: i64 },
    /// Turn a real conversation of an integration into a scenario file that replays it (its
    /// turns stay in the executor's history for EVENT_HISTORY_RETENTION_HOURS).
    Record {
        #[arg(long)]
        integration: i64,
        /// The API session id, or the WhatsApp user's wa_id.
        #[arg(long)]
        conversation: String,
        /// Write the scenario here (default: print it).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Create an account; prints its first operator token once.
    Create {
        name: String,
        /// Name of the new account's first operator token.
        #[arg(long)]
        token_name: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// List the operator tokens of your account (masked).
    List,
    /// Create an operator token; prints it once.
    Create { name: String },
    /// Revoke an operator token.
    Revoke { id: i64 },
}

#[derive(Subcommand)]
pub enum BotsCommand {
    /// Create a bot from a bot file ({name, variables, flow}).
    Create {
        #[arg(long)]
        file: PathBuf,
        /// Overrides the name in the file.
        #[arg(long)]
        name: Option<String>,
    },
    /// List bots, alphabetically.
    List {
        /// Only bots with a published version.
        #[arg(long)]
        published: bool,
    },
    /// Show a bot's draft.
    Show { id: i64 },
    /// Replace a bot's draft (flow, variables and name) with a bot file.
    Update {
        id: i64,
        #[arg(long)]
        file: PathBuf,
        /// Overrides the name in the file.
        #[arg(long)]
        name: Option<String>,
    },
    /// Validate the draft; exits with 1 when it has errors.
    Validate { id: i64 },
    /// Publish the draft as the next version; exits with 1 when it has errors.
    Publish { id: i64 },
    /// List the published versions.
    Versions { id: i64 },
    /// Delete a bot (refused while an integration uses it).
    Delete { id: i64 },
}

#[derive(Subcommand)]
pub enum IntegrationsCommand {
    /// Create a REST API integration; prints its API key once.
    CreateApi(CreateApiArgs),
    /// Create a WhatsApp Cloud API integration; prints its webhook URL.
    CreateWhatsapp(Box<CreateWhatsappArgs>),
    /// List integrations.
    List,
    /// Show an integration (secrets masked).
    Show { id: i64 },
    /// Start accepting traffic.
    Activate { id: i64 },
    /// Stop accepting traffic.
    Deactivate { id: i64 },
    /// Change fields of an integration.
    ///
    /// PATCH is a JSON object of the fields to change, e.g. '{"rate_limit_per_minute": 120}';
    /// `null` clears a clearable field. `--json` (the global output flag) may stand before it:
    /// `botctl integrations update 7 --json '{...}'` prints the updated integration as JSON.
    Update { id: i64, patch: String },
    /// Delete an integration.
    Delete { id: i64 },
    /// Send a WhatsApp integration's template to a number and open a session there: the
    /// user's reply continues the bot (a proactive start).
    StartWhatsapp {
        id: i64,
        /// The user's number in international form, e.g. +15551234567.
        #[arg(long)]
        to: String,
        /// A variable of the bot for the new session, NAME=VALUE (repeatable).
        #[arg(long = "var", value_name = "NAME=VALUE")]
        vars: Vec<String>,
    },
}

#[derive(Args)]
pub struct CreateApiArgs {
    /// The alias shown in lists.
    #[arg(long)]
    pub name: String,
    /// Id of the published bot to connect.
    #[arg(long)]
    pub bot: i64,
    /// Your own API key (at least as strong as a generated one); generated when absent.
    #[arg(long, env = "BOTCTL_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Allow clients to seed bot variables when they start a session.
    #[arg(long)]
    pub variable_injection: bool,
    /// Requests per minute (the deployment's default when absent).
    #[arg(long)]
    pub rate_limit: Option<u32>,
    /// Send error alerts to this address.
    #[arg(long)]
    pub alert_email: Option<String>,
    /// Activate the integration right after creating it.
    #[arg(long)]
    pub activate: bool,
}

#[derive(Args)]
pub struct CreateWhatsappArgs {
    #[arg(long)]
    pub name: String,
    /// Id of the published bot to connect.
    #[arg(long)]
    pub bot: i64,
    #[arg(long)]
    pub business_account_id: String,
    #[arg(long)]
    pub phone_number_id: String,
    #[arg(long)]
    pub app_id: String,
    /// Meta app secret (or BOTCTL_APP_SECRET, to keep it out of shell history).
    #[arg(long, env = "BOTCTL_APP_SECRET", hide_env_values = true)]
    pub app_secret: String,
    /// Access token from Meta's dashboard (or BOTCTL_ACCESS_TOKEN).
    #[arg(long, env = "BOTCTL_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: String,
    /// The token Meta echoes when it verifies the webhook (or BOTCTL_VERIFY_TOKEN).
    #[arg(long, env = "BOTCTL_VERIFY_TOKEN", hide_env_values = true)]
    pub verify_token: String,
    /// Graph API version such as v21.0 (the deployment's default when absent).
    #[arg(long)]
    pub api_version: Option<String>,
    /// Conversations idle this long expire (never when absent).
    #[arg(long)]
    pub expiry_minutes: Option<u32>,
    /// Template that opens conversations started by the business.
    #[arg(long, requires = "template_language")]
    pub template_name: Option<String>,
    #[arg(long, requires = "template_name")]
    pub template_language: Option<String>,
    /// A phone number allowed to start the bot (repeatable; everyone when absent).
    #[arg(long = "trigger", value_name = "PHONE")]
    pub triggers: Vec<String>,
    /// Send error alerts to this address.
    #[arg(long)]
    pub alert_email: Option<String>,
    /// Activate the integration right after creating it.
    #[arg(long)]
    pub activate: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|err| panic!("{args:?}: {err}"))
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = parse(&["botctl", "bots", "list", "--json", "--url", "http://h:1"]);
        assert!(cli.json);
        assert_eq!(cli.url, "http://h:1");
    }

    #[test]
    fn update_takes_its_changes_with_or_without_json_before_them() {
        for args in [
            &[
                "botctl",
                "integrations",
                "update",
                "7",
                "--json",
                "{\"name\":\"x\"}",
            ][..],
            &["botctl", "integrations", "update", "7", "{\"name\":\"x\"}"][..],
        ] {
            let cli = parse(args);
            match cli.command {
                Command::Integrations(IntegrationsCommand::Update { id, patch }) => {
                    assert_eq!((id, patch.as_str()), (7, "{\"name\":\"x\"}"));
                }
                _ => panic!("{args:?} parsed as another command"),
            }
        }
    }

    #[test]
    fn secrets_read_from_the_environment_are_never_shown_in_help() {
        let command = Cli::command();
        let whatsapp = command
            .find_subcommand("integrations")
            .and_then(|c| c.find_subcommand("create-whatsapp"))
            .unwrap();
        let api = command
            .find_subcommand("integrations")
            .and_then(|c| c.find_subcommand("create-api"))
            .unwrap();
        let secret_args = command
            .get_arguments()
            .filter(|a| a.get_id() == "token")
            .chain(whatsapp.get_arguments().filter(|a| {
                ["app_secret", "access_token", "verify_token"].contains(&a.get_id().as_str())
            }))
            .chain(api.get_arguments().filter(|a| a.get_id() == "api_key"));
        let mut count = 0;
        for arg in secret_args {
            assert!(
                arg.is_hide_env_values_set(),
                "{} shows its env value",
                arg.get_id()
            );
            count += 1;
        }
        assert_eq!(count, 5);
    }
}
