#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The recording SMTP server against a real client (lettre) and raw protocol exchanges.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use testkit::smtp::{SmtpServer, SmtpServerError};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn transport(server: &SmtpServer) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.addr().port())
        .timeout(Some(Duration::from_secs(5)))
        .build()
}

#[tokio::test]
async fn records_what_lettre_sends() {
    let server = SmtpServer::start().await.unwrap();
    let mailer = transport(&server);
    // A line starting with a dot is stuffed by the client and must come back unstuffed; the
    // long non-ASCII body makes lettre choose a transfer encoding that `body()` undoes.
    let body = format!(
        "first line\n.starts with a dot\n..two dots\nčšž {}\nlast",
        "long ".repeat(40)
    );
    let message = Message::builder()
        .from("Alerts <alerts@example.test>".parse().unwrap())
        .to("ops@example.test".parse().unwrap())
        .cc("second@example.test".parse().unwrap())
        .subject("Ünïcode subject that is long enough to be folded by the client, surely")
        .header(ContentType::TEXT_PLAIN)
        .body(body.clone())
        .unwrap();
    mailer.send(message).await.unwrap();
    let plain = Message::builder()
        .from("alerts@example.test".parse().unwrap())
        .to("other@example.test".parse().unwrap())
        .subject("plain")
        .body(String::from("short"))
        .unwrap();
    mailer.send(plain).await.unwrap();

    let mails = server.wait_for(2, Duration::from_secs(5)).await.unwrap();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[0].mail_from, "alerts@example.test");
    assert_eq!(
        mails[0].rcpt_to,
        ["ops@example.test", "second@example.test"]
    );
    assert_eq!(
        mails[0].subject().as_deref(),
        Some("Ünïcode subject that is long enough to be folded by the client, surely")
    );
    assert_eq!(mails[0].body(), body);
    assert!(mails[0].header("Date").is_some());
    assert_eq!(mails[1].rcpt_to, ["other@example.test"]);
    assert_eq!(mails[1].subject().as_deref(), Some("plain"));
    assert_eq!(mails[1].body(), "short");
    assert_eq!(server.received(), mails);
}

#[tokio::test]
async fn waiting_for_more_than_arrived_times_out_with_the_count() {
    let server = SmtpServer::start().await.unwrap();
    let mailer = transport(&server);
    let message = Message::builder()
        .from("a@example.test".parse().unwrap())
        .to("b@example.test".parse().unwrap())
        .subject("one")
        .body(String::from("x"))
        .unwrap();
    mailer.send(message).await.unwrap();
    let error = server
        .wait_for(2, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        SmtpServerError::Timeout {
            expected: 2,
            received: 1,
            ..
        }
    ));
}

struct Session {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Session {
    async fn open(server: &SmtpServer) -> Session {
        let stream = TcpStream::connect(server.addr()).await.unwrap();
        let (read, writer) = stream.into_split();
        let mut session = Session {
            reader: BufReader::new(read),
            writer,
        };
        assert!(session.reply().await.starts_with("220 "));
        session
    }

    /// The last line of a (possibly multi-line) reply.
    async fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).await.unwrap();
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.trim_end().to_owned();
            }
        }
    }

    async fn send(&mut self, line: &str) -> String {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }
}

#[tokio::test]
async fn enforces_command_order_and_resets() {
    let server = SmtpServer::start().await.unwrap();
    let mut session = Session::open(&server).await;
    assert!(session.send("HELO client").await.starts_with("250"));
    assert!(session.send("RCPT TO:<x@y>").await.starts_with("503"));
    assert!(session.send("DATA").await.starts_with("503"));
    assert!(session.send("MAIL FROM:<a@b>").await.starts_with("250"));
    assert!(session.send("RSET").await.starts_with("250"));
    // RSET forgot the sender.
    assert!(session.send("RCPT TO:<x@y>").await.starts_with("503"));
    assert!(session.send("NOOP").await.starts_with("250"));
    assert!(session.send("VRFY someone").await.starts_with("502"));
    assert!(session
        .send("mail from:<a@b> SIZE=10")
        .await
        .starts_with("250"));
    assert!(session.send("rcpt to:<x@y>").await.starts_with("250"));
    assert!(session.send("DATA").await.starts_with("354"));
    assert!(session
        .send("Subject: raw\r\n\r\n..dot\r\nend\r\n.")
        .await
        .starts_with("250"));
    assert!(session.send("QUIT").await.starts_with("221"));
    let mails = server.wait_for(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(mails[0].mail_from, "a@b");
    assert_eq!(mails[0].rcpt_to, ["x@y"]);
    assert_eq!(mails[0].data, "Subject: raw\r\n\r\n.dot\r\nend");
    assert_eq!(mails[0].body(), ".dot\nend");
}
