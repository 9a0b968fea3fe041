//! Chatting with a bot from a terminal through WhatsApp's path: each line typed becomes a
//! signed user webhook delivered to the integration's ingress, and what the bot sends through
//! the emulator's Graph API is printed, buttons and lists as numbered options.
//!
//! `/N` picks the N-th option of the last buttons or list (sent as a `button_reply` or
//! `list_reply`, as a tap on the phone would); anything else, numbers included, is sent as
//! text. `/quit` ends the session (so does end of input).

use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;

use crate::api::{OutboundMessage, UserMessage};
use crate::client::{self, ClientError, EmulatorClient, WebhookTarget};

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone)]
pub struct ChatOptions {
    /// The emulator's base URL (its Graph API is where the platform's sender must point).
    pub emulator_url: String,
    /// The integration's webhook URL (`.../webhooks/whatsapp/{integration_id}`).
    pub ingress_url: String,
    pub app_secret: String,
    pub phone_number_id: String,
    /// The user's phone number (digits).
    pub from: String,
    pub name: Option<String>,
    /// Also route status webhooks of this phone number to the ingress.
    pub statuses: bool,
    pub poll_interval: Duration,
    /// After the end of input, wait this long without new bot messages before leaving.
    pub quiet: Duration,
}

/// An option the user can pick with `/N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub id: String,
    pub title: String,
    /// Whether it came from a list (else from reply buttons).
    pub from_list: bool,
}

/// One user's conversation with one integration.
pub struct ChatSession {
    client: EmulatorClient,
    target: WebhookTarget,
    options: ChatOptions,
    last_seq: u64,
    choices: Vec<Choice>,
    /// The message the choices came from (`context.id` of a reply).
    choices_wamid: Option<String>,
}

impl ChatSession {
    /// Connects to the emulator; messages sent to the user before now are not shown again.
    pub async fn start(options: ChatOptions) -> Result<Self, ChatError> {
        let client = EmulatorClient::new(&options.emulator_url)?;
        let target = WebhookTarget {
            url: options.ingress_url.clone(),
            app_secret: options.app_secret.clone(),
        };
        if options.statuses {
            client
                .send_statuses_to(&options.phone_number_id, &target)
                .await?;
        }
        let earlier = client
            .conversation(&options.phone_number_id, &options.from, None)
            .await?;
        Ok(ChatSession {
            client,
            target,
            last_seq: earlier.last().map_or(0, |m| m.seq),
            options,
            choices: Vec::new(),
            choices_wamid: None,
        })
    }

    /// The options `/N` currently picks from.
    pub fn choices(&self) -> &[Choice] {
        &self.choices
    }

    /// Delivers one typed line; returns a note for the user when the ingress did not take it.
    pub async fn send_line(&mut self, line: &str) -> Result<Option<String>, ChatError> {
        let message = self.message_for(line);
        let report = self.client.deliver_message(&self.target, message).await?;
        if report.all_acknowledged() {
            return Ok(None);
        }
        let answers: Vec<String> = report
            .deliveries
            .iter()
            .flat_map(|d| &d.attempts)
            .map(|a| match (a.status, &a.error) {
                (Some(status), _) => status.to_string(),
                (None, Some(error)) => error.clone(),
                (None, None) => "no answer".into(),
            })
            .collect();
        Ok(Some(format!(
            "! the ingress did not accept the message (answers: {})",
            answers.join(", ")
        )))
    }

    fn message_for(&self, line: &str) -> UserMessage {
        let pnid = &self.options.phone_number_id;
        let from = &self.options.from;
        let picked = line
            .strip_prefix('/')
            .and_then(|n| n.trim().parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| self.choices.get(i));
        let mut message = match picked {
            Some(choice) if choice.from_list => {
                client::list_reply(pnid, from, &choice.id, &choice.title)
            }
            Some(choice) => client::button_reply(pnid, from, &choice.id, &choice.title),
            None => client::user_text(pnid, from, line),
        };
        if picked.is_some() {
            message.context_message_id = self.choices_wamid.clone();
        }
        message.name = self.options.name.clone();
        message
    }

    /// Messages the bot sent since the last call; the last interactive one sets the choices.
    pub async fn poll(&mut self) -> Result<Vec<OutboundMessage>, ChatError> {
        let messages = self
            .client
            .conversation(
                &self.options.phone_number_id,
                &self.options.from,
                Some(self.last_seq),
            )
            .await?;
        for message in &messages {
            self.last_seq = self.last_seq.max(message.seq);
            let found = choices(&message.message);
            if !found.is_empty() {
                self.choices = found;
                self.choices_wamid = Some(message.wamid.clone());
            }
        }
        Ok(messages)
    }
}

/// Runs a session: `lines` are what the user types; everything is printed to `out`.
pub async fn run(
    options: ChatOptions,
    mut lines: mpsc::Receiver<String>,
    out: &mut (dyn Write + Send),
) -> Result<(), ChatError> {
    let poll_interval = options.poll_interval;
    let quiet = options.quiet;
    writeln!(
        out,
        "chatting as {} with phone number id {} (type /N to pick option N, /quit to leave)",
        options.from, options.phone_number_id
    )?;
    let mut session = ChatSession::start(options).await?;
    let mut ticker = tokio::time::interval(poll_interval);
    loop {
        tokio::select! {
            line = lines.recv() => {
                let Some(line) = line else { break };
                let line = line.trim_end_matches(['\r', '\n']);
                if line.trim() == "/quit" {
                    break;
                }
                if line.trim().is_empty() {
                    continue;
                }
                if let Some(note) = session.send_line(line).await? {
                    writeln!(out, "{note}")?;
                }
            }
            _ = ticker.tick() => {
                print_new(&mut session, out).await?;
            }
        }
    }
    // Replies to the last lines may still be on their way.
    let mut last_news = Instant::now();
    let deadline = Instant::now() + quiet + Duration::from_secs(10);
    while last_news.elapsed() < quiet && Instant::now() < deadline {
        tokio::time::sleep(poll_interval).await;
        if print_new(&mut session, out).await? {
            last_news = Instant::now();
        }
    }
    Ok(())
}

async fn print_new(
    session: &mut ChatSession,
    out: &mut (dyn Write + Send),
) -> Result<bool, ChatError> {
    let messages = session.poll().await?;
    for message in &messages {
        writeln!(out, "{}", render(&message.message))?;
    }
    out.flush()?;
    Ok(!messages.is_empty())
}

/// The options of an interactive message, numbered from 1 in the order shown.
pub fn choices(message: &Value) -> Vec<Choice> {
    let interactive = &message["interactive"];
    let action = &interactive["action"];
    let reply = |from_list: bool| {
        move |v: &Value| {
            Some(Choice {
                id: v.get("id")?.as_str()?.to_owned(),
                title: v.get("title")?.as_str()?.to_owned(),
                from_list,
            })
        }
    };
    match interactive["type"].as_str() {
        Some("button") => items(&action["buttons"])
            .filter_map(|b| reply(false)(&b["reply"]))
            .collect(),
        Some("list") => items(&action["sections"])
            .flat_map(|s| items(&s["rows"]))
            .filter_map(reply(true))
            .collect(),
        _ => Vec::new(),
    }
}

fn items(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// How a message the bot sent looks in the terminal.
pub fn render(message: &Value) -> String {
    let kind = message["type"].as_str().unwrap_or("text");
    let content = &message[kind];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut lines = Vec::new();
    match kind {
        "text" => lines.push(text(&content["body"])),
        "interactive" => {
            if let Some(header) = content["header"]["text"].as_str() {
                lines.push(format!("*{header}*"));
            }
            lines.push(text(&content["body"]["text"]));
            if let Some(footer) = content["footer"]["text"].as_str() {
                lines.push(format!("_{footer}_"));
            }
            if let Some(button) = content["action"]["button"].as_str() {
                lines.push(format!("[{button}]"));
            }
            let mut n = 0;
            if content["type"] == "list" {
                for section in items(&content["action"]["sections"]) {
                    if let Some(title) = section["title"].as_str() {
                        lines.push(format!("  {title}"));
                    }
                    for row in items(&section["rows"]) {
                        n += 1;
                        let mut line = format!("  {n}) {}", text(&row["title"]));
                        if let Some(description) = row["description"].as_str() {
                            line.push_str(&format!(" - {description}"));
                        }
                        lines.push(line);
                    }
                }
            } else {
                for button in items(&content["action"]["buttons"]) {
                    n += 1;
                    lines.push(format!("  {n}) {}", text(&button["reply"]["title"])));
                }
            }
        }
        "image" | "video" | "audio" | "document" | "sticker" => {
            let source = content["link"]
                .as_str()
                .or(content["id"].as_str())
                .unwrap_or_default();
            let mut line = format!("[{kind}] {source}");
            if let Some(caption) = content["caption"].as_str() {
                line.push_str(&format!(" - {caption}"));
            }
            lines.push(line);
        }
        "template" => {
            let parameters: Vec<String> = items(&content["components"])
                .flat_map(|c| items(&c["parameters"]))
                .filter_map(|p| {
                    p["text"]
                        .as_str()
                        .or(p["payload"].as_str())
                        .map(str::to_owned)
                })
                .collect();
            let mut line = format!(
                "[template {} ({})]",
                text(&content["name"]),
                text(&content["language"]["code"])
            );
            if !parameters.is_empty() {
                line.push_str(&format!(" {}", parameters.join(", ")));
            }
            lines.push(line);
        }
        other => lines.push(format!("[{other}] {content}")),
    }
    let mut rendered = String::new();
    for (i, line) in lines.iter().enumerate() {
        rendered.push_str(if i == 0 { "bot> " } else { "     " });
        rendered.push_str(line);
        if i + 1 < lines.len() {
            rendered.push('\n');
        }
    }
    rendered
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_buttons_as_numbered_options() {
        let message = json!({"type": "interactive", "interactive": {"type": "button",
            "body": {"text": "Pick one"},
            "action": {"buttons": [
                {"type": "reply", "reply": {"id": "a", "title": "Apples"}},
                {"type": "reply", "reply": {"id": "b", "title": "Pears"}}]}}});
        assert_eq!(
            render(&message),
            "bot> Pick one\n       1) Apples\n       2) Pears"
        );
        let found = choices(&message);
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].id, "b");
        assert!(!found[1].from_list);
    }

    #[test]
    fn renders_lists_across_sections() {
        let message = json!({"type": "interactive", "interactive": {"type": "list",
            "body": {"text": "Choose"},
            "action": {"button": "Options", "sections": [
                {"title": "Fruit", "rows": [{"id": "f1", "title": "Apple", "description": "red"}]},
                {"title": "Veg", "rows": [{"id": "v1", "title": "Leek"}]}]}}});
        let rendered = render(&message);
        assert!(rendered.contains("[Options]"));
        assert!(rendered.contains("1) Apple - red"));
        assert!(rendered.contains("2) Leek"));
        let found = choices(&message);
        assert_eq!(
            found[1],
            Choice {
                id: "v1".into(),
                title: "Leek".into(),
                from_list: true
            }
        );
    }

    #[test]
    fn renders_text_media_and_templates() {
        assert_eq!(
            render(&json!({"type": "text", "text": {"body": "hi"}})),
            "bot> hi"
        );
        assert_eq!(
            render(&json!({"text": {"body": "default type"}})),
            "bot> default type"
        );
        assert_eq!(
            render(&json!({"type": "image", "image": {"link": "https://x/y.png", "caption": "c"}})),
            "bot> [image] https://x/y.png - c"
        );
        let template = json!({"type": "template", "template": {"name": "welcome",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}]}});
        assert_eq!(render(&template), "bot> [template welcome (en_US)] Ann");
    }
}
