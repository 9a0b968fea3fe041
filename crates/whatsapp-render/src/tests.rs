//! Rendering rules, each payload also checked by the emulator's copy of Meta's validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use contracts::v1::{BotMessage, BotOption, MediaType, Recipient};
use serde_json::{json, Value};

use super::*;

fn to() -> Recipient {
    Recipient::WaId("16505551234".into())
}

fn option(n: usize) -> BotOption {
    BotOption {
        id: format!("opt_{n}"),
        text: format!("Option {n}"),
        description: None,
    }
}

fn options(count: usize) -> Vec<BotOption> {
    (1..=count).map(option).collect()
}

/// Renders and checks every body against Meta's limits as the emulator enforces them.
fn rendered(message: BotMessage) -> Vec<Value> {
    let bodies = render_message(&message, &to());
    for body in &bodies {
        if let Err(error) = meta_emulator::validate::validate(body) {
            panic!("Meta would refuse {body}: {error:?}");
        }
    }
    bodies
}

fn text_of(body: &Value) -> &str {
    body["text"]["body"].as_str().unwrap()
}

#[test]
fn a_short_text_is_one_message_to_the_plus_number() {
    let bodies = rendered(BotMessage::Text {
        text: "Hello!".into(),
    });
    assert_eq!(
        bodies,
        [
            json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                "to": "+16505551234", "type": "text", "text": {"body": "Hello!"}})
        ]
    );
}

#[test]
fn blank_text_is_not_sent() {
    assert!(rendered(BotMessage::Text {
        text: " \n ".into()
    })
    .is_empty());
    assert!(rendered(BotMessage::Text {
        text: String::new()
    })
    .is_empty());
}

#[test]
fn long_text_is_split_at_whitespace_without_losing_words() {
    let words: Vec<String> = (0..2000).map(|n| format!("word{n}")).collect();
    let text = words.join(" ");
    let total = text.chars().count();
    assert!(total > 4 * 4096);
    let bodies = rendered(BotMessage::Text { text: text.clone() });
    assert_eq!(bodies.len(), total.div_ceil(4096));
    let pieces: Vec<&str> = bodies.iter().map(text_of).collect();
    for piece in &pieces {
        assert!(piece.chars().count() <= 4096);
        assert!(!piece.starts_with(' ') && !piece.ends_with(' '));
    }
    for piece in &pieces[..pieces.len() - 1] {
        assert!(
            piece.chars().count() > 4080,
            "pieces are filled up to a word"
        );
    }
    assert_eq!(pieces.join(" "), text, "split only at spaces, nothing lost");
}

#[test]
fn a_line_break_in_the_second_half_is_preferred() {
    let first = "a ".repeat(1500); // 3000 characters
    let text = format!("{}\n{}", first.trim_end(), "b ".repeat(1000));
    let pieces = split_text(&text, 4096);
    assert_eq!(pieces[0], first.trim_end());
    assert!(pieces[1].starts_with('b'));
    // A line break early in the window is not used: the piece would be needlessly short.
    let early = format!("intro\n{}", "c ".repeat(3000));
    let pieces = split_text(&early, 4096);
    assert!(pieces[0].chars().count() > 4000, "{}", pieces[0].len());
}

#[test]
fn text_without_whitespace_is_cut_hard_by_characters() {
    let text = "é".repeat(10_000);
    let pieces = split_text(&text, 4096);
    let lengths: Vec<usize> = pieces.iter().map(|p| p.chars().count()).collect();
    assert_eq!(lengths, [4096, 4096, 1808]);
    assert_eq!(pieces.concat(), text);
    let emoji = "😀".repeat(4097);
    assert_eq!(split_text(&emoji, 4096).len(), 2);
    assert_eq!(split_text("exactly", 7), ["exactly"]);
}

#[test]
fn up_to_three_buttons_are_reply_buttons() {
    let bodies = rendered(BotMessage::Buttons {
        text: "Pick one".into(),
        options: options(3),
    });
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["type"], "interactive");
    assert_eq!(
        bodies[0]["interactive"],
        json!({"type": "button", "body": {"text": "Pick one"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "opt_1", "title": "Option 1"}},
            {"type": "reply", "reply": {"id": "opt_2", "title": "Option 2"}},
            {"type": "reply", "reply": {"id": "opt_3", "title": "Option 3"}},
        ]}})
    );
}

#[test]
fn button_titles_are_cut_with_an_ellipsis_and_kept_unique() {
    let mut opts = options(3);
    opts[0].text = "Delivery tomorrow morning at 8".into();
    opts[1].text = "Delivery tomorrow morning at 10".into();
    opts[2].text = "  ".into();
    let bodies = rendered(BotMessage::Buttons {
        text: "When?".into(),
        options: opts,
    });
    let titles: Vec<&str> = bodies[0]["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reply"]["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Delivery tomorrow m…", "Delivery tomorrow…2", "3"]);
    assert!(titles.iter().all(|t| t.chars().count() <= 20));
    assert_eq!(truncate("short", 20), "short");
    assert_eq!(truncate("exactly twenty chars", 20), "exactly twenty chars");
    assert_eq!(
        truncate("twenty-one characters", 20),
        "twenty-one characte…"
    );
}

#[test]
fn four_to_ten_buttons_and_lists_up_to_ten_are_interactive_lists() {
    let bodies = rendered(BotMessage::Buttons {
        text: "Choose a size".into(),
        options: options(5),
    });
    let interactive = &bodies[0]["interactive"];
    assert_eq!(interactive["type"], "list");
    assert_eq!(interactive["action"]["button"], DEFAULT_LIST_BUTTON);
    let rows = interactive["action"]["sections"][0]["rows"]
        .as_array()
        .unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[4], json!({"id": "opt_5", "title": "Option 5"}));

    // A list stays a list even with two options; ten rows is the most.
    for count in [2, 10] {
        let bodies = rendered(BotMessage::List {
            text: "Menu".into(),
            options: options(count),
            button_text: Some("See the menu".into()),
        });
        assert_eq!(bodies[0]["interactive"]["type"], "list");
        assert_eq!(bodies[0]["interactive"]["action"]["button"], "See the menu");
    }
}

#[test]
fn list_rows_and_labels_are_cut_to_their_limits() {
    let mut opts = options(4);
    opts[0].text = "A very long row title that goes on".into();
    opts[0].description = Some("d".repeat(100));
    opts[1].description = Some("  ".into());
    let bodies = rendered(BotMessage::List {
        text: "Menu".into(),
        options: opts,
        button_text: Some("A label that is far too long".into()),
    });
    let action = &bodies[0]["interactive"]["action"];
    assert_eq!(action["button"], "A label that is far…");
    let rows = action["sections"][0]["rows"].as_array().unwrap();
    assert_eq!(rows[0]["title"], "A very long row title t…");
    let description = rows[0]["description"].as_str().unwrap();
    assert_eq!(description.chars().count(), 72);
    assert!(description.ends_with('…'));
    assert!(
        rows[1].get("description").is_none(),
        "blank descriptions are left out"
    );

    let blank_label = rendered(BotMessage::List {
        text: "Menu".into(),
        options: options(2),
        button_text: Some(" ".into()),
    });
    assert_eq!(blank_label[0]["interactive"]["action"]["button"], "Choose");
}

#[test]
fn more_than_ten_options_are_numbered_text() {
    let mut opts = options(12);
    opts[1].description = Some("the second".into());
    for message in [
        BotMessage::List {
            text: "Pick a city".into(),
            options: opts.clone(),
            button_text: None,
        },
        BotMessage::Buttons {
            text: "Pick a city".into(),
            options: opts.clone(),
        },
    ] {
        let bodies = rendered(message);
        assert_eq!(bodies.len(), 1);
        let text = text_of(&bodies[0]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Pick a city");
        assert_eq!(lines[1], "");
        assert_eq!(lines[2], "1. Option 1");
        assert_eq!(lines[3], "2. Option 2 — the second");
        assert_eq!(lines[13], "12. Option 12");
        assert_eq!(lines.len(), 14);
    }
    assert_eq!(
        numbered_text(" ", &options(11)).lines().next(),
        Some("1. Option 1")
    );
}

#[test]
fn a_long_interactive_body_sends_its_beginning_as_text_first() {
    let intro = "Our terms. ".repeat(150); // 1650 characters
    let question = "Do you accept?";
    let text = format!("{}\n{question}", intro.trim_end());
    let bodies = rendered(BotMessage::Buttons {
        text: text.clone(),
        options: options(2),
    });
    assert_eq!(bodies.len(), 2);
    let head = text_of(&bodies[0]);
    let body = bodies[1]["interactive"]["body"]["text"].as_str().unwrap();
    assert_eq!(body, question);
    assert_eq!(
        format!("{head}\n{body}"),
        text,
        "nothing lost, nothing repeated"
    );

    // The longest ending that fits is used, starting at a line break.
    let paragraphs: Vec<String> = (0..30)
        .map(|n| format!("Paragraph {n} {}", "x".repeat(90)))
        .collect();
    let text = paragraphs.join("\n");
    let (head, body) = split_interactive_body(&text);
    assert!(body.chars().count() <= 1024);
    assert!(body.starts_with("Paragraph"));
    assert_eq!(format!("{}\n{body}", head.unwrap()), text);
    assert!(body.chars().count() > 1024 - 110, "as much as fits");
}

#[test]
fn a_long_body_without_line_breaks_splits_at_a_space_or_hard() {
    let words = "word ".repeat(300);
    let (head, body) = split_interactive_body(&words);
    assert!(body.chars().count() <= 1024 && body.starts_with("word"));
    assert_eq!(format!("{} {body}", head.unwrap()), words.trim());

    let solid = "x".repeat(3000);
    let (head, body) = split_interactive_body(&solid);
    assert_eq!(body.chars().count(), 1024);
    assert_eq!(head.unwrap().chars().count(), 1976);

    // A body of exactly the limit is left alone; a blank one gets a placeholder.
    let exact = "y".repeat(1024);
    assert_eq!(split_interactive_body(&exact), (None, exact.clone()));
    assert_eq!(split_interactive_body("  "), (None, "…".to_owned()));
}

#[test]
fn media_goes_by_link_with_its_caption() {
    let bodies = rendered(BotMessage::Media {
        text: "A cat".into(),
        media_url: "https://example.com/cat.jpg".into(),
        caption: Some("A cat".into()),
        media_type: MediaType::Image,
    });
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["type"], "image");
    assert_eq!(
        bodies[0]["image"],
        json!({"link": "https://example.com/cat.jpg", "caption": "A cat"})
    );

    let video = rendered(BotMessage::Media {
        text: String::new(),
        media_url: "https://example.com/v.mp4".into(),
        caption: None,
        media_type: MediaType::Video,
    });
    assert_eq!(
        video[0]["video"],
        json!({"link": "https://example.com/v.mp4"})
    );

    let long = rendered(BotMessage::Media {
        text: String::new(),
        media_url: "https://example.com/a.png".into(),
        caption: Some("c".repeat(2000)),
        media_type: MediaType::Image,
    });
    assert_eq!(
        long[0]["image"]["caption"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        1024
    );
}

#[test]
fn audio_has_no_caption_so_the_caption_goes_first_as_text() {
    let bodies = rendered(BotMessage::Media {
        text: "Listen to this".into(),
        media_url: "https://example.com/a.ogg".into(),
        caption: Some("Listen to this".into()),
        media_type: MediaType::Audio,
    });
    assert_eq!(bodies.len(), 2);
    assert_eq!(text_of(&bodies[0]), "Listen to this");
    assert_eq!(
        bodies[1]["audio"],
        json!({"link": "https://example.com/a.ogg"})
    );
}

#[test]
fn documents_are_named_after_their_url() {
    let bodies = rendered(BotMessage::Media {
        text: String::new(),
        media_url: "https://example.com/files/Report%202024.pdf?sig=1#p2".into(),
        caption: Some("Your report".into()),
        media_type: MediaType::Document,
    });
    assert_eq!(bodies[0]["document"]["filename"], "Report%202024.pdf");
    assert_eq!(bodies[0]["document"]["caption"], "Your report");
    assert_eq!(file_name("https://example.com/"), None);
    assert_eq!(file_name("https://example.com"), None);
    assert_eq!(file_name("https://example.com/a/b/"), Some("b".into()));
}

#[test]
fn business_scoped_users_are_addressed_by_recipient_and_order_is_kept() {
    let user = Recipient::UserId("US.13491208655302741918".into());
    let bodies = render(
        &[
            BotMessage::Text { text: "one".into() },
            BotMessage::Text { text: " ".into() },
            BotMessage::Buttons {
                text: "two".into(),
                options: options(2),
            },
            BotMessage::Text {
                text: "three".into(),
            },
        ],
        &user,
    );
    assert_eq!(bodies.len(), 3);
    assert!(bodies
        .iter()
        .all(|b| b["recipient"] == "US.13491208655302741918"));
    assert!(bodies.iter().all(|b| b.get("to").is_none()));
    assert_eq!(text_of(&bodies[0]), "one");
    assert_eq!(bodies[1]["type"], "interactive");
    assert_eq!(text_of(&bodies[2]), "three");
}

#[test]
fn options_without_any_are_sent_as_their_prompt() {
    let bodies = rendered(BotMessage::Buttons {
        text: "No choices".into(),
        options: vec![],
    });
    assert_eq!(text_of(&bodies[0]), "No choices");
}
