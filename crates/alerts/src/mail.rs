//! The text of alert mails.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use contracts::IntegrationId;
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::Message;

use crate::kind::{Alert, AlertKind};

/// Longest summary and detail put into a mail, in characters; a runaway error text (an HTML
/// error page, say) must not make a megabyte mail.
const MAX_SUMMARY_CHARS: usize = 1_000;
const MAX_DETAIL_CHARS: usize = 8_000;

/// Subject and body of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MailText {
    pub subject: String,
    pub body: String,
}

/// Whom the mail is about.
pub(crate) struct Target<'a> {
    pub integration_id: IntegrationId,
    pub integration_name: &'a str,
}

/// `15 min`, `1 h`, `90 s`, `500 ms`.
pub(crate) fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration.subsec_millis() != 0 || seconds == 0 {
        format!("{} ms", duration.as_millis())
    } else if seconds.is_multiple_of(3600) {
        format!("{} h", seconds / 3600)
    } else if seconds.is_multiple_of(60) {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} s")
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// At most `max` characters, marked when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}… [cut]", &text[..end]),
    }
}

/// The integration's name on one line, as a header can carry it.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn subject(target: &Target<'_>, kind: AlertKind, suffix: &str) -> String {
    format!(
        "[bot platform] {kind} on integration {} ({}){suffix}",
        target.integration_id,
        one_line(target.integration_name)
    )
}

fn footer(kind: AlertKind, window: Duration) -> String {
    format!(
        "Alerts of kind {kind} on this integration are mailed at most once per {}; the ones in \
         between are counted and reported in the next mail.\n\
         Turn these mails off or change the address in the integration's settings.\n",
        human_duration(window)
    )
}

/// The mail for one alert. `suppressed` alerts of the same kind were counted since `since`
/// (the previous mail).
pub(crate) fn alert_mail(
    target: &Target<'_>,
    alert: &Alert,
    suppressed: i64,
    since: Option<DateTime<Utc>>,
    window: Duration,
    at: DateTime<Utc>,
) -> MailText {
    let kind = alert.kind;
    let mut body = format!(
        "{}\n\nIntegration: {} ({})\nKind: {kind}\nTime: {}\n\n{}\n",
        kind.description(),
        target.integration_id,
        one_line(target.integration_name),
        time(at),
        clip(alert.summary.trim(), MAX_SUMMARY_CHARS),
    );
    let detail = alert.detail.trim();
    if !detail.is_empty() {
        body.push_str(&format!("\nDetails:\n{}\n", clip(detail, MAX_DETAIL_CHARS)));
    }
    if let (true, Some(since)) = (suppressed > 0, since) {
        body.push_str(&format!(
            "\n{suppressed} more {kind} alerts since {} were counted but not mailed.\n",
            time(since)
        ));
    }
    body.push_str("\n-- \n");
    body.push_str(&footer(kind, window));
    MailText {
        subject: subject(target, kind, ""),
        body,
    }
}

/// The mail for alerts counted in a window that ended without a later alert to carry them.
pub(crate) fn summary_mail(
    target: &Target<'_>,
    kind: AlertKind,
    suppressed: i64,
    since: DateTime<Utc>,
    last_summary: &str,
    window: Duration,
    at: DateTime<Utc>,
) -> MailText {
    let mut body = format!(
        "{}\n\nIntegration: {} ({})\nKind: {kind}\nTime: {}\n\n\
         {suppressed} more {kind} alerts since {} were counted but not mailed.\n",
        kind.description(),
        target.integration_id,
        one_line(target.integration_name),
        time(at),
        time(since),
    );
    let last = last_summary.trim();
    if !last.is_empty() {
        body.push_str(&format!(
            "The last one: {}\n",
            clip(last, MAX_SUMMARY_CHARS)
        ));
    }
    body.push_str("\n-- \n");
    body.push_str(&footer(kind, window));
    MailText {
        subject: subject(target, kind, &format!(": {suppressed} more")),
        body,
    }
}

/// A plain-text message from `from` to `to`.
pub(crate) fn message(
    from: &Mailbox,
    to: Mailbox,
    text: MailText,
) -> Result<Message, lettre::error::Error> {
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(text.subject)
        .header(ContentType::TEXT_PLAIN)
        .body(text.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target<'static> {
        Target {
            integration_id: IntegrationId::new(7).unwrap_or_else(|_| panic!("a positive id")),
            integration_name: "Shop\r\nBcc: evil@example.com",
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn alert_mail_says_what_when_and_how_many_more() {
        let alert = Alert::new(
            target().integration_id,
            AlertKind::SendFailed,
            "Sending to +4911 failed after 5 attempts",
            "Graph API error 131026",
        );
        let text = alert_mail(
            &target(),
            &alert,
            12,
            Some(at(0)),
            Duration::from_secs(900),
            at(900),
        );
        // Control characters in the name cannot start a header of their own.
        assert_eq!(
            text.subject,
            "[bot platform] send_failed on integration 7 (Shop  Bcc: evil@example.com)"
        );
        assert!(text
            .body
            .starts_with("A message could not be sent after retries.\n"));
        assert!(text
            .body
            .contains("Kind: send_failed\nTime: 2026-11-18T11:21:40Z\n"));
        assert!(text
            .body
            .contains("Sending to +4911 failed after 5 attempts\n"));
        assert!(text.body.contains("Details:\nGraph API error 131026\n"));
        assert!(text
            .body
            .contains("12 more send_failed alerts since 2026-11-18T11:06:40Z were"));
        assert!(text.body.contains("at most once per 15 min"));

        let first = alert_mail(&target(), &alert, 0, None, Duration::from_secs(60), at(0));
        assert!(!first.body.contains("more send_failed"));
        assert!(first.body.contains("at most once per 1 min"));
    }

    #[test]
    fn summary_mail_carries_the_count_and_the_last_summary() {
        let text = summary_mail(
            &target(),
            AlertKind::TokenFailure,
            4,
            at(0),
            "Refresh refused: code 190",
            Duration::from_secs(30),
            at(31),
        );
        assert!(text.subject.ends_with("): 4 more"));
        assert!(text.subject.contains("token_failure on integration 7"));
        assert!(text.body.contains("4 more token_failure alerts since "));
        assert!(text
            .body
            .contains("The last one: Refresh refused: code 190\n"));
        assert!(text.body.contains("at most once per 30 s"));
    }

    #[test]
    fn long_texts_are_clipped_and_durations_read_well() {
        let long = "x".repeat(MAX_DETAIL_CHARS + 10);
        let clipped = clip(&long, MAX_DETAIL_CHARS);
        assert!(clipped.ends_with("… [cut]"));
        assert_eq!(
            clipped.chars().filter(|c| *c == 'x').count(),
            MAX_DETAIL_CHARS
        );
        assert_eq!(clip("short", 10), "short");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1 h");
        assert_eq!(human_duration(Duration::from_secs(90)), "90 s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1500 ms");
    }
}
