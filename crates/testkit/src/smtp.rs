//! A tiny SMTP server for tests: it accepts every message (no authentication, no TLS) and
//! records it, so that a test can assert on what a mailer sent. One server per test, on
//! `127.0.0.1:0`.
//!
//! Speaks EHLO/HELO, MAIL FROM, RCPT TO, DATA (with dot-unstuffing), RSET, NOOP and QUIT;
//! anything else is answered `502`. Enough for lettre's SMTP client, pooled or not.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A message larger than this is refused (`552`), so that a runaway client cannot fill memory.
const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SmtpServerError {
    #[error("test SMTP server could not listen: {0}")]
    Listen(std::io::Error),
    #[error("expected {expected} messages within {timeout:?}, received {received}")]
    Timeout {
        expected: usize,
        received: usize,
        timeout: Duration,
    },
}

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The `MAIL FROM` address, without angle brackets.
    pub mail_from: String,
    /// The `RCPT TO` addresses, in order, without angle brackets.
    pub rcpt_to: Vec<String>,
    /// The message as sent after `DATA` (headers and body, CRLF line ends), dot-unstuffed and
    /// without the terminating `.` line.
    pub data: String,
}

impl ReceivedMail {
    /// The header section, one unfolded `Name: value` per entry.
    fn headers(&self) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in self.data.split("\r\n") {
            if line.is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                // A folded continuation of the previous header.
                if let Some((_, value)) = headers.last_mut() {
                    value.push_str(line);
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        headers
    }

    /// The first header called `name` (case-insensitive), unfolded, as sent (not decoded).
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers()
            .into_iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// The `Subject`, with RFC 2047 encoded words (`=?utf-8?b?..?=`, `=?utf-8?q?..?=`) decoded.
    pub fn subject(&self) -> Option<String> {
        self.header("Subject").map(|raw| decode_encoded_words(&raw))
    }

    /// The body of a single-part message, with its `Content-Transfer-Encoding` (7bit, 8bit,
    /// quoted-printable, base64) undone and line ends turned into `\n`.
    pub fn body(&self) -> String {
        let raw = self
            .data
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .unwrap_or("");
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let decoded = match encoding.as_str() {
            "base64" => {
                let compact: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .unwrap_or_else(|_| raw.to_owned())
            }
            "quoted-printable" => decode_quoted_printable(raw),
            _ => raw.to_owned(),
        };
        decoded.replace("\r\n", "\n")
    }
}

/// Undoes quoted-printable: `=` at a line end joins lines, `=XX` is a byte.
fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            let high = char::from(bytes[i + 1]).to_digit(16);
            let low = char::from(bytes[i + 2]).to_digit(16);
            if let (Some(high), Some(low)) = (high, low) {
                // Two hex digits make one byte: high * 16 + low < 256.
                out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes RFC 2047 encoded words; whitespace between two encoded words is dropped, as the
/// RFC says.
fn decode_encoded_words(raw: &str) -> String {
    let mut out = String::new();
    let mut pending_space = String::new();
    let mut previous_was_encoded = false;
    for token in raw.split_inclusive([' ', '\t']) {
        let word = token.trim_end_matches([' ', '\t']);
        let space = &token[word.len()..];
        match decode_encoded_word(word) {
            Some(decoded) => {
                if !previous_was_encoded {
                    out.push_str(&pending_space);
                }
                out.push_str(&decoded);
                previous_was_encoded = true;
            }
            None => {
                out.push_str(&pending_space);
                out.push_str(word);
                previous_was_encoded = false;
            }
        }
        pending_space = space.to_owned();
    }
    out.push_str(&pending_space);
    out
}

fn decode_encoded_word(word: &str) -> Option<String> {
    let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut parts = inner.splitn(3, '?');
    let _charset = parts.next()?;
    let encoding = parts.next()?;
    let text = parts.next()?;
    let bytes = match encoding {
        "b" | "B" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        "q" | "Q" => decode_quoted_printable(&text.replace('_', " ")).into_bytes(),
        _ => return None,
    };
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

struct Recorded {
    mails: Mutex<Vec<ReceivedMail>>,
    count: watch::Sender<usize>,
}

impl Recorded {
    fn mails(&self) -> MutexGuard<'_, Vec<ReceivedMail>> {
        // A panicking connection task cannot leave the vector half-written: recover it.
        self.mails
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, mail: ReceivedMail) {
        let count = {
            let mut mails = self.mails();
            mails.push(mail);
            mails.len()
        };
        self.count.send_replace(count);
    }
}

/// The running server; stops when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    recorded: Arc<Recorded>,
    accept_task: JoinHandle<()>,
}

impl SmtpServer {
    /// Listens on `127.0.0.1` on a free port.
    pub async fn start() -> Result<SmtpServer, SmtpServerError> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(SmtpServerError::Listen)?;
        let addr = listener.local_addr().map_err(SmtpServerError::Listen)?;
        let recorded = Arc::new(Recorded {
            mails: Mutex::new(Vec::new()),
            count: watch::channel(0).0,
        });
        let accept_recorded = Arc::clone(&recorded);
        let accept_task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let recorded = Arc::clone(&accept_recorded);
                tokio::spawn(async move {
                    // A client that goes away mid-session is not the server's problem.
                    let _ = serve(stream, &recorded).await;
                });
            }
        });
        Ok(SmtpServer {
            addr,
            recorded,
            accept_task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:<port>`, the form an `SMTP_URL` takes.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message received so far, in order of arrival.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.recorded.mails().clone()
    }

    /// Waits until at least `n` messages have arrived, then returns all of them.
    pub async fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMail>, SmtpServerError> {
        let mut count = self.recorded.count.subscribe();
        let reached =
            tokio::time::timeout(timeout, count.wait_for(|received| *received >= n)).await;
        match reached {
            Ok(Ok(_)) => Ok(self.received()),
            _ => Err(SmtpServerError::Timeout {
                expected: n,
                received: self.recorded.mails().len(),
                timeout,
            }),
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

/// Angle-bracketed address after `MAIL FROM:` / `RCPT TO:`; parameters after it are ignored.
fn address_of(argument: &str) -> Option<String> {
    let start = argument.find('<')?;
    let end = argument[start..].find('>')? + start;
    Some(argument[start + 1..end].to_owned())
}

async fn serve(stream: TcpStream, recorded: &Recorded) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 testkit ESMTP ready\r\n").await?;
    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let command = text.trim_end_matches(['\r', '\n']);
        let (verb, argument) = command.split_once(' ').unwrap_or((command, ""));
        let verb = verb.to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-testkit\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 10485760\r\n",
            "HELO" => b"250 testkit\r\n",
            "MAIL" => match address_of(argument) {
                Some(from) if argument.to_ascii_uppercase().starts_with("FROM:") => {
                    mail_from = Some(from);
                    rcpt_to.clear();
                    b"250 OK\r\n"
                }
                _ => b"501 syntax: MAIL FROM:<address>\r\n",
            },
            "RCPT" => match (address_of(argument), &mail_from) {
                (_, None) => b"503 MAIL first\r\n",
                (Some(to), Some(_)) if argument.to_ascii_uppercase().starts_with("TO:") => {
                    rcpt_to.push(to);
                    b"250 OK\r\n"
                }
                _ => b"501 syntax: RCPT TO:<address>\r\n",
            },
            "DATA" => match (&mail_from, rcpt_to.is_empty()) {
                (Some(from), false) => {
                    write
                        .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    match read_data(&mut reader).await? {
                        Some(data) => {
                            recorded.push(ReceivedMail {
                                mail_from: from.clone(),
                                rcpt_to: std::mem::take(&mut rcpt_to),
                                data,
                            });
                            mail_from = None;
                            b"250 OK queued\r\n"
                        }
                        None => {
                            mail_from = None;
                            rcpt_to.clear();
                            b"552 message too large\r\n"
                        }
                    }
                }
                _ => b"503 MAIL and RCPT first\r\n",
            },
            "RSET" => {
                mail_from = None;
                rcpt_to.clear();
                b"250 OK\r\n"
            }
            "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads DATA up to the lone `.` line and undoes dot-stuffing. `None` (after reading to the
/// end all the same, to stay in step with the client) when the message is too large.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<String>> {
    let mut data = Vec::new();
    let mut too_large = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + unstuffed.len() > MAX_MESSAGE_BYTES {
            too_large = true;
        } else {
            data.extend_from_slice(unstuffed);
        }
    }
    if too_large {
        return Ok(None);
    }
    // The CRLF before the terminating dot belongs to the protocol, not the message.
    if data.ends_with(b"\r\n") {
        data.truncate(data.len() - 2);
    }
    Ok(Some(String::from_utf8_lossy(&data).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_and_encoded_words_decode() {
        assert_eq!(
            decode_quoted_printable("caf=C3=A9 =\r\nau lait"),
            "café au lait"
        );
        assert_eq!(decode_quoted_printable("a=3Db ="), "a=b =");
        assert_eq!(
            decode_encoded_words("=?utf-8?b?Y2Fmw6k=?= =?utf-8?q?_au_lait?= ok"),
            "café au lait ok"
        );
        assert_eq!(decode_encoded_words("plain  subject"), "plain  subject");
    }

    #[test]
    fn headers_unfold_and_bodies_decode() {
        let mail = ReceivedMail {
            mail_from: "a@x".into(),
            rcpt_to: vec!["b@y".into()],
            data: "Subject: a long\r\n subject\r\nContent-Transfer-Encoding: base64\r\n\r\n\
                   aGVsbG8K\r\nd29ybGQ="
                .into(),
        };
        assert_eq!(mail.subject().as_deref(), Some("a long subject"));
        assert_eq!(mail.body(), "hello\nworld");
        assert_eq!(mail.header("to"), None);
    }
}
