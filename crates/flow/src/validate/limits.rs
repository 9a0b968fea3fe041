//! WhatsApp delivery limits, reported as warnings.
//!
//! Lengths are measured on the template as written; interpolated values can change them at
//! run time, which the sender handles (it splits long text, truncates titles).

use super::{Checker, Rule};
use crate::model::{Component, MediaType};
use crate::whatsapp_limits::{
    options_delivery, OptionsDelivery, BUTTON_TITLE_MAX_CHARS, CAPTION_MAX_CHARS,
    INTERACTIVE_BODY_MAX_CHARS, LIST_BUTTON_TEXT_MAX_CHARS, LIST_ROW_DESCRIPTION_MAX_CHARS,
    LIST_ROW_TITLE_MAX_CHARS, MAX_BUTTONS, MAX_LIST_ROWS, TEXT_MAX_CHARS,
};

fn chars(text: &str) -> usize {
    text.chars().count()
}

pub(super) fn check_whatsapp_limits(checker: &mut Checker<'_>, component: &Component) {
    let id = component.id();
    let long_text = |checker: &mut Checker<'_>, field: &str, text: &str| {
        if chars(text) > TEXT_MAX_CHARS {
            checker.issue(
                id,
                Rule::TextTooLong,
                format!("{field} has {} characters; WhatsApp will receive it split into messages of at most {TEXT_MAX_CHARS}", chars(text)),
            );
        }
    };
    match component {
        Component::Text(c) => long_text(checker, "text", &c.text),
        Component::QuestionText(c) => {
            long_text(checker, "text", &c.text);
            if let Some(retry) = &c.retry_text {
                long_text(checker, "retry_text", retry);
            }
        }
        Component::End(c) => {
            if let Some(text) = &c.text {
                long_text(checker, "text", text);
            }
        }
        Component::Buttons(_) | Component::List(_) => check_options(checker, component),
        Component::Media(c) => {
            if let Some(caption) = &c.caption {
                if c.media_type == MediaType::Audio {
                    checker.issue(
                        id,
                        Rule::UnsupportedCaption,
                        "WhatsApp does not show a caption on audio; it is sent as a separate text"
                            .into(),
                    );
                } else if chars(caption) > CAPTION_MAX_CHARS {
                    checker.issue(
                        id,
                        Rule::CaptionTooLong,
                        format!("caption has {} characters; WhatsApp accepts at most {CAPTION_MAX_CHARS}", chars(caption)),
                    );
                }
            }
        }
        Component::Condition(_) | Component::SetVariable(_) | Component::HttpRequest(_) => {}
    }
}

fn check_options(checker: &mut Checker<'_>, component: &Component) {
    let id = component.id();
    let (text, button_text, as_buttons) = match component {
        Component::Buttons(c) => (c.text.as_str(), None, true),
        Component::List(c) => (c.text.as_str(), c.button_text.as_deref(), false),
        _ => return,
    };
    let options = component.options().unwrap_or_default();
    let delivery = options_delivery(options.len(), as_buttons);
    match delivery {
        OptionsDelivery::List if as_buttons => checker.issue(
            id,
            Rule::TooManyButtons,
            format!("{} options: WhatsApp shows at most {MAX_BUTTONS} buttons, so they are sent as a list", options.len()),
        ),
        OptionsDelivery::NumberedText if as_buttons => checker.issue(
            id,
            Rule::TooManyButtons,
            format!("{} options: more than {MAX_LIST_ROWS}, so they are sent as numbered text", options.len()),
        ),
        OptionsDelivery::NumberedText => checker.issue(
            id,
            Rule::TooManyListOptions,
            format!("{} options: WhatsApp lists hold at most {MAX_LIST_ROWS} rows, so they are sent as numbered text", options.len()),
        ),
        OptionsDelivery::Buttons | OptionsDelivery::List => {}
    }
    if delivery == OptionsDelivery::NumberedText {
        if chars(text) > TEXT_MAX_CHARS {
            checker.issue(
                id,
                Rule::TextTooLong,
                format!("text has {} characters; it will be split", chars(text)),
            );
        }
        return;
    }
    if chars(text) > INTERACTIVE_BODY_MAX_CHARS {
        checker.issue(
            id,
            Rule::InteractiveTextTooLong,
            format!("text has {} characters; an interactive message body holds at most {INTERACTIVE_BODY_MAX_CHARS}", chars(text)),
        );
    }
    for option in options {
        if delivery == OptionsDelivery::Buttons && chars(option.title) > BUTTON_TITLE_MAX_CHARS {
            checker.issue(
                id,
                Rule::ButtonTitleTooLong,
                format!("option \"{}\" title has {} characters; a button title holds at most {BUTTON_TITLE_MAX_CHARS}", option.id, chars(option.title)),
            );
        }
        if delivery == OptionsDelivery::List && chars(option.title) > LIST_ROW_TITLE_MAX_CHARS {
            checker.issue(
                id,
                Rule::ListTitleTooLong,
                format!("option \"{}\" title has {} characters; a list row title holds at most {LIST_ROW_TITLE_MAX_CHARS}", option.id, chars(option.title)),
            );
        }
        if let Some(description) = option.description {
            if chars(description) > LIST_ROW_DESCRIPTION_MAX_CHARS {
                checker.issue(
                    id,
                    Rule::ListDescriptionTooLong,
                    format!("option \"{}\" description has {} characters; a list row description holds at most {LIST_ROW_DESCRIPTION_MAX_CHARS}", option.id, chars(description)),
                );
            }
        }
    }
    if let Some(button_text) = button_text {
        if chars(button_text) > LIST_BUTTON_TEXT_MAX_CHARS {
            checker.issue(
                id,
                Rule::ButtonTextTooLong,
                format!("button_text has {} characters; WhatsApp accepts at most {LIST_BUTTON_TEXT_MAX_CHARS}", chars(button_text)),
            );
        }
    }
}
