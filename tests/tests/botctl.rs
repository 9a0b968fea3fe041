#![allow(clippy::unwrap_used, clippy::expect_used)]
//! botctl against a real admin service: the operator's setup path (bot from a file, publish,
//! API integration with its key shown once, list, show masked), WhatsApp creation, and the
//! error paths (invalid flow, missing object, bad token, unreachable service).

use e2e::{AdminHarness, BOOTSTRAP_TOKEN as TOKEN};
use serde_json::Value;

const DEMO_BOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/demo-bot.json");

struct Run {
    code: i32,
    out: String,
    err: String,
}

/// Runs botctl in-process with `--url` and `--token` set, and checks the operator token
/// appears in neither stream, whatever the command did.
async fn botctl_as(url: &str, token: &str, args: &[&str]) -> Run {
    let mut argv: Vec<String> = vec!["botctl".into(), "--url".into(), url.into()];
    argv.extend(["--token".into(), token.into()]);
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = botctl::run(argv, &mut out, &mut err).await;
    let run = Run {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    };
    assert!(
        !run.out.contains(token) && !run.err.contains(token),
        "{args:?} printed the operator token"
    );
    run
}

async fn botctl(h: &AdminHarness, args: &[&str]) -> Run {
    botctl_as(&h.base_url, TOKEN, args).await
}

/// The id in "Created <something> <id> ...": the first number of the first line.
fn created_id(out: &str) -> i64 {
    out.lines()
        .next()
        .unwrap()
        .split_whitespace()
        .find_map(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("no id in {out}"))
}

/// A bot file in the temp directory, removed on drop.
struct TempBotFile(std::path::PathBuf);

impl TempBotFile {
    fn new(label: &str, content: &Value) -> Self {
        let path =
            std::env::temp_dir().join(format!("botctl-e2e-{}-{label}.json", std::process::id()));
        std::fs::write(&path, content.to_string()).unwrap();
        TempBotFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempBotFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[tokio::test]
async fn create_publish_connect_list_and_show_an_api_integration() {
    let h = AdminHarness::start().await;

    let created = botctl(
        &h,
        &["bots", "create", "--file", DEMO_BOT, "--name", "CLI Demo"],
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.err);
    assert!(created.out.starts_with("Created bot "), "{}", created.out);
    let bot = created_id(&created.out);

    let published = botctl(&h, &["bots", "publish", &bot.to_string()]).await;
    assert_eq!(published.code, 0, "{}", published.err);
    assert!(
        published
            .out
            .contains(&format!("Published bot {bot} as version 1.")),
        "{}",
        published.out
    );

    let listed = botctl(&h, &["bots", "list", "--published"]).await;
    assert_eq!(listed.code, 0, "{}", listed.err);
    let row = listed.out.lines().nth(1).unwrap();
    assert!(
        row.starts_with(&format!("{bot} ")) && row.contains("CLI Demo"),
        "{row}"
    );

    let bot_arg = bot.to_string();
    let integration = botctl(
        &h,
        &[
            "integrations",
            "create-api",
            "--name",
            "Web chat",
            "--bot",
            &bot_arg,
            "--rate-limit",
            "90",
            "--activate",
        ],
    )
    .await;
    assert_eq!(integration.code, 0, "{}", integration.err);
    let out = &integration.out;
    assert!(out.contains("status: active"), "{out}");
    let id = created_id(out);
    let mut lines = out.lines();
    lines
        .find(|l| l.starts_with("API key (shown once"))
        .unwrap();
    let key = lines.next().unwrap().trim().to_owned();
    assert_eq!(key.len(), 40, "a generated key: {out}");
    let curl = out.lines().find(|l| l.contains("curl ")).unwrap();
    assert!(
        curl.contains(&format!(
            "'http://api.test/api/integrations/api/{id}/session/'"
        )),
        "{curl}"
    );
    assert!(curl.contains(&format!("'X-API-Key: {key}'")), "{curl}");

    // The API agrees with what the CLI printed.
    let (status, stored) = h.get(&format!("/v1/integrations/{id}"), TOKEN).await;
    assert_eq!(status, 200);
    assert_eq!(stored["status"], "active");
    assert_eq!(stored["api"]["rate_limit_per_minute"], 90);

    let list = botctl(&h, &["integrations", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.err);
    let header: Vec<&str> = list.out.lines().next().unwrap().split("  ").collect();
    assert_eq!(header[0], "ID");
    assert!(list.out.lines().next().unwrap().ends_with("LAST ACTIVITY"));
    let row: Vec<&str> = list
        .out
        .lines()
        .find(|l| l.starts_with(&format!("{id} ")))
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        row,
        [
            id.to_string().as_str(),
            "Web chat",
            "api",
            "active",
            &format!("CLI Demo (#{bot})"),
            "never"
        ]
    );

    let shown = botctl(&h, &["integrations", "show", &id.to_string()]).await;
    assert_eq!(shown.code, 0, "{}", shown.err);
    assert!(
        !shown.out.contains(&key),
        "the key is shown again: {}",
        shown.out
    );
    let masked = format!("••••••••{}", &key[key.len() - 4..]);
    let key_line = shown
        .out
        .lines()
        .find(|l| l.starts_with("api key"))
        .unwrap();
    assert!(key_line.ends_with(&masked), "{key_line}");

    // `--json` before the changes: the global output flag, the changes positional.
    let updated = botctl(
        &h,
        &[
            "integrations",
            "update",
            &id.to_string(),
            "--json",
            r#"{"rate_limit_per_minute": 120}"#,
        ],
    )
    .await;
    assert_eq!(updated.code, 0, "{}", updated.err);
    let updated: Value = serde_json::from_str(&updated.out).unwrap();
    assert_eq!(updated["api"]["rate_limit_per_minute"], 120);

    let off = botctl(&h, &["integrations", "deactivate", &id.to_string()]).await;
    assert_eq!(off.code, 0, "{}", off.err);
    assert_eq!(
        off.out,
        format!("Integration {id} \"Web chat\" is now inactive.\n")
    );
    let in_use = botctl(&h, &["bots", "delete", &bot_arg]).await;
    assert_eq!(in_use.code, 1);
    assert!(in_use.err.ends_with("(bot_in_use)\n"), "{}", in_use.err);
    h.stop().await;
}

#[tokio::test]
async fn whatsapp_integration_prints_its_webhook_and_keeps_secrets_masked() {
    let h = AdminHarness::start().await;
    let bot = h.published_demo_bot(TOKEN, "Shop bot").await.to_string();
    let app_secret = "a3f1c9e07b5d42e8b6f0c1d2e3f4a5b6";
    let access_token = "EAAGshortlivedTokenFromMetaDashboard1234567890abcdef";
    let created = botctl(
        &h,
        &[
            "integrations",
            "create-whatsapp",
            "--name",
            "Support line",
            "--bot",
            &bot,
            "--business-account-id",
            "102290129340398",
            "--phone-number-id",
            "106540352242922",
            "--app-id",
            "1234567890",
            "--app-secret",
            app_secret,
            "--access-token",
            access_token,
            "--verify-token",
            "my_secure_verify_token_12345",
            "--template-name",
            "hello_world",
            "--template-language",
            "en_US",
            "--trigger",
            "+15551234567",
            "--trigger",
            "+4915112345678",
        ],
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.err);
    let id = created_id(&created.out);
    assert!(created.out.contains("status: inactive"), "{}", created.out);
    assert!(
        created
            .out
            .contains(&format!("  http://hooks.test/webhooks/whatsapp/{id}\n")),
        "{}",
        created.out
    );
    assert!(created.out.contains(&format!(
        "activate it with: botctl integrations activate {id}"
    )));

    let shown = botctl(&h, &["integrations", "show", &id.to_string()]).await;
    assert_eq!(shown.code, 0, "{}", shown.err);
    for secret in [app_secret, access_token, "my_secure_verify_token_12345"] {
        assert!(!shown.out.contains(secret), "{secret} shown: {}", shown.out);
    }
    let line = |key: &str| {
        shown
            .out
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} in {}", shown.out))
            .to_owned()
    };
    assert!(line("app secret").ends_with("••••••••"));
    assert!(line("template").ends_with("hello_world (en_US)"));
    let triggers = line("trigger recipients");
    assert!(triggers.contains("15551234567"), "{triggers}");
    assert!(triggers.contains("4915112345678"), "{triggers}");
    h.stop().await;
}

#[tokio::test]
async fn an_invalid_flow_is_reported_by_rule_and_exits_with_1() {
    let h = AdminHarness::start().await;
    let file = TempBotFile::new(
        "invalid",
        &serde_json::json!({
            "name": "Broken",
            "variables": [],
            "flow": {"start": "a", "components": [
                {"id": "a", "type": "text", "text": "hi", "next": "nowhere"}
            ]}
        }),
    );
    let created = botctl(&h, &["bots", "create", "--file", file.path()]).await;
    assert_eq!(created.code, 0, "drafts may be invalid: {}", created.err);
    let bot = created_id(&created.out).to_string();

    let validated = botctl(&h, &["bots", "validate", &bot]).await;
    assert_eq!(validated.code, 1);
    assert!(
        validated.out.starts_with("invalid: 1 error, 0 warnings\n"),
        "{}",
        validated.out
    );
    let issue = validated
        .out
        .lines()
        .find(|l| l.contains("dangling_next"))
        .unwrap();
    assert!(
        issue.trim_start().starts_with("a  dangling_next  "),
        "{issue}"
    );

    let published = botctl(&h, &["bots", "publish", &bot]).await;
    assert_eq!(published.code, 1);
    assert_eq!(published.out, "");
    let mut lines = published.err.lines();
    let first = lines.next().unwrap();
    assert!(
        first.starts_with("error: the flow has 1 error(s)"),
        "{first}"
    );
    assert!(first.ends_with("(invalid_flow)"), "{first}");
    assert!(
        lines.next().unwrap().starts_with("  a  dangling_next  "),
        "{}",
        published.err
    );
    let (_, versions) = h.get(&format!("/v1/bots/{bot}/versions"), TOKEN).await;
    assert_eq!(versions["versions"], serde_json::json!([]));
    h.stop().await;
}

#[tokio::test]
async fn api_and_connection_errors_are_one_line_on_stderr() {
    let h = AdminHarness::start().await;
    let missing = botctl(&h, &["integrations", "show", "999999"]).await;
    assert_eq!(
        (missing.code, missing.out.as_str(), missing.err.as_str()),
        (1, "", "error: integration not found (not_found)\n")
    );

    let wrong = "op_not_a_real_token_0000000000000000000000000";
    let refused = botctl_as(&h.base_url, wrong, &["account"]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.err.starts_with("error: ") && refused.err.ends_with("(unauthorized)\n"),
        "{}",
        refused.err
    );

    // A token made through the CLI is printed once and works.
    let made = botctl(&h, &["tokens", "create", "ci"]).await;
    assert_eq!(made.code, 0, "{}", made.err);
    let token = made.out.lines().nth(2).unwrap().trim().to_owned();
    let account = botctl_as(&h.base_url, &token, &["account", "--json"]).await;
    assert_eq!(account.code, 0, "{}", account.err);
    let account: Value = serde_json::from_str(&account.out).unwrap();
    assert_eq!(account["name"], "default");

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{closed}");
    let unreachable = botctl_as(&url, TOKEN, &["bots", "list"]).await;
    assert_eq!(unreachable.code, 1);
    assert!(
        unreachable
            .err
            .starts_with(&format!("error: could not reach the admin API at {url}: ")),
        "{}",
        unreachable.err
    );
    h.stop().await;
}

#[tokio::test]
async fn dead_letters_are_listed_shown_replayed_and_discarded() {
    use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
    // Replays publish: the admin gets a broker (no executor consumes here).
    let vhost = testkit::vhost::TestVhost::create().await;
    let h = AdminHarness::start_with_broker(Some(config::BrokerConfig {
        url: crypto::SecretString::from(vhost.amqp_url()),
        prefetch: 8,
        inbound_shards: 2,
    }))
    .await;
    let mut conn = AsyncPgConnection::establish(h.db.url()).await.unwrap();
    diesel::sql_query(
        "INSERT INTO dead_letters (event_id, account_id, conversation_key, source_queue, \
             exchange, routing_key, body, headers, reason, attempts, first_attempt_at, \
             last_attempt_at) \
         SELECT 'ev-cli', id, '1:cli', 'bot.inbound.1', 'bot.inbound', '1:cli', \
                convert_to('{\"schema\": \"v1\", \"event_id\": \"ev-cli\"}', 'UTF8'), \
                '{\"message_id\": \"ev-cli\"}', 'delivery limit reached (queue bot.inbound.1)', \
                6, now(), now() FROM accounts",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    let list = botctl(&h, &["dead-letters", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.err);
    let line = list.out.lines().nth(1).unwrap_or_default().to_owned();
    let id: i64 = line.split_whitespace().next().unwrap().parse().unwrap();
    assert!(
        line.contains("dead") && line.contains("1:cli"),
        "{}",
        list.out
    );
    assert!(line.contains("delivery limit reached"), "{}", list.out);

    let show = botctl(&h, &["dead-letters", "show", &id.to_string()]).await;
    assert_eq!(show.code, 0, "{}", show.err);
    assert!(show.out.contains("ev-cli"), "{}", show.out);
    assert!(show.out.contains("bot.inbound.1"), "{}", show.out);
    assert!(show.out.contains("\"schema\": \"v1\""), "{}", show.out);

    let replay = botctl(&h, &["dead-letters", "replay", &id.to_string()]).await;
    assert_eq!(replay.code, 0, "{}", replay.err);
    assert!(
        replay
            .out
            .starts_with(&format!("Replayed dead letter {id}")),
        "{}",
        replay.out
    );

    let discard = botctl(&h, &["dead-letters", "discard", &id.to_string()]).await;
    assert_eq!(discard.code, 0, "{}", discard.err);
    assert!(discard
        .out
        .starts_with(&format!("Discarded dead letter {id}")));
    let refused = botctl(&h, &["dead-letters", "replay", &id.to_string()]).await;
    assert_eq!(refused.code, 1);
    assert!(refused.err.contains("discarded"), "{}", refused.err);

    let json = botctl(
        &h,
        &["--json", "dead-letters", "list", "--status", "discarded"],
    )
    .await;
    assert_eq!(json.code, 0, "{}", json.err);
    let listed: Value = serde_json::from_str(&json.out).unwrap();
    assert_eq!(listed["dead_letters"][0]["id"], id);
    assert_eq!(listed["dead_letters"][0]["status"], "discarded");
    let empty = botctl(&h, &["dead-letters", "list", "--status", "dead"]).await;
    assert_eq!(empty.out, "No dead letters.\n");
    h.stop().await;
}
