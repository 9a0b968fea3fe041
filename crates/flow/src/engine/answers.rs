//! What a waiting component does with the user's input.

use super::turn::{choice_message, run, visit, Turn};
use super::types::{Input, OutMessage, VisitEvent};
use super::{BotVersion, EngineLimits, ExecutionError, InputError, TurnError, TurnStep};
use crate::model::{Component, InputValidation, OptionRef, QuestionTextComponent};
use crate::number::parse_number;
use crate::variables::LAST_INPUT;
use crate::whatsapp_limits::MAX_LIST_ROWS;

pub(super) fn take_input(
    limits: EngineLimits,
    bot: &BotVersion,
    mut turn: Turn,
    component: &Component,
    input: Input,
) -> Result<TurnStep, TurnError> {
    match (component, input) {
        (Component::QuestionText(q), Input::Text(text)) => {
            let answer = text.trim();
            match check_answer(bot, q, answer) {
                Err(e) => Err(turn.fail(Some(visit(component, VisitEvent::Answered)), e)),
                Ok(Some(problem)) => Ok(reprompt(turn, component, problem)),
                Ok(None) => {
                    let mut entry = visit(component, VisitEvent::Answered);
                    entry.detail = Some(format!("answer accepted → \"{}\"", q.next));
                    if let Err(e) =
                        turn.set_variable(&mut entry, &q.variable, Some(answer.to_owned()))
                    {
                        return Err(turn.fail(Some(entry), e));
                    }
                    turn.set_any(&mut entry, LAST_INPUT, Some(answer.to_owned()));
                    turn.state.retries = 0;
                    turn.push_visit(entry);
                    run(limits, bot, turn, q.next.clone())
                }
            }
        }
        (Component::QuestionText(q), Input::SelectedOption(_)) => Err(InputError::TextExpected {
            component: q.id.clone(),
        }
        .into()),
        (Component::Buttons(_) | Component::List(_), input) => {
            let options = component.options().unwrap_or_default();
            let chosen = match &input {
                Input::SelectedOption(id) => match options.iter().find(|o| o.id == id) {
                    Some(option) => *option,
                    None => {
                        return Err(InputError::InvalidOption {
                            component: component.id().to_owned(),
                            option: id.clone(),
                            valid_ids: options.iter().map(|o| o.id.to_owned()).collect(),
                        }
                        .into())
                    }
                },
                Input::Text(text) => match match_text(&turn, &options, text) {
                    Some(option) => option,
                    None => {
                        let problem = format!("no option matches \"{}\"", text.trim());
                        return Ok(reprompt(turn, component, problem));
                    }
                },
            };
            let mut entry = visit(component, VisitEvent::Answered);
            entry.detail = Some(format!(
                "option \"{}\" chosen → \"{}\"",
                chosen.id, chosen.next
            ));
            let title = turn.render(chosen.title);
            turn.set_any(&mut entry, LAST_INPUT, Some(title));
            turn.state.retries = 0;
            turn.push_visit(entry);
            run(limits, bot, turn, chosen.next.to_owned())
        }
        (other, _) => Err(InputError::NotWaiting {
            component: other.id().to_owned(),
        }
        .into()),
    }
}

/// Sends the prompt again (a question's `retry_text` when it has one) and keeps waiting.
fn reprompt(mut turn: Turn, component: &Component, problem: String) -> TurnStep {
    let mut entry = visit(component, VisitEvent::Reprompted);
    entry.detail = Some(problem);
    let message = match component {
        Component::QuestionText(q) => {
            let text = q.retry_text.as_deref().unwrap_or(&q.text);
            Some(OutMessage::Text {
                text: turn.render(text),
            })
        }
        other => choice_message(&turn, other),
    };
    if let Some(message) = message {
        turn.emit(&mut entry, message);
    }
    turn.state.retries = turn.state.retries.saturating_add(1);
    turn.wait_at(entry)
}

/// `None` when the answer is acceptable, else why it is not.
fn check_answer(
    bot: &BotVersion,
    q: &QuestionTextComponent,
    answer: &str,
) -> Result<Option<String>, ExecutionError> {
    if answer.is_empty() {
        return Ok(Some("the answer is empty".into()));
    }
    let accepted = match &q.validation {
        None => true,
        Some(InputValidation::Number) => parse_number(answer).is_some(),
        Some(InputValidation::Email) => is_email(answer),
        Some(InputValidation::Phone) => is_phone(answer),
        Some(InputValidation::Regex { .. }) => match bot.answer_pattern(&q.id) {
            Some(Ok(pattern)) => pattern.is_match(answer),
            Some(Err(reason)) => {
                return Err(ExecutionError::InvalidComponent {
                    component: q.id.clone(),
                    reason: format!("validation pattern: {reason}"),
                })
            }
            None => {
                return Err(ExecutionError::InvalidComponent {
                    component: q.id.clone(),
                    reason: "validation pattern was not compiled".into(),
                })
            }
        },
    };
    let kind = match &q.validation {
        Some(InputValidation::Number) => "number",
        Some(InputValidation::Email) => "email",
        Some(InputValidation::Phone) => "phone",
        Some(InputValidation::Regex { .. }) => "regex",
        None => "",
    };
    Ok((!accepted).then(|| format!("the answer fails {kind} validation")))
}

/// An option whose (rendered) title equals the text, ignoring case and surrounding spaces;
/// with more than 10 options (sent as numbered text on WhatsApp) also the option's number.
fn match_text<'a>(turn: &Turn, options: &[OptionRef<'a>], text: &str) -> Option<OptionRef<'a>> {
    let wanted = text.trim().to_lowercase();
    if wanted.is_empty() {
        return None;
    }
    if let Some(option) = options
        .iter()
        .find(|o| turn.render(o.title).trim().to_lowercase() == wanted)
    {
        return Some(*option);
    }
    if options.len() > MAX_LIST_ROWS {
        let number = wanted.parse::<usize>().ok()?;
        return options.get(number.checked_sub(1)?).copied();
    }
    None
}

/// `local@domain.tld`: one `@`, no spaces, a domain of at least two non-empty labels.
fn is_email(text: &str) -> bool {
    if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let labels: Vec<&str> = domain.split('.').collect();
    !local.is_empty()
        && !domain.contains('@')
        && labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
}

/// An optional `+`, then 7 to 15 digits (E.164's maximum), with spaces, dots, dashes and
/// parentheses allowed between them.
fn is_phone(text: &str) -> bool {
    let rest = text.strip_prefix('+').unwrap_or(text);
    if !rest.starts_with(|c: char| c.is_ascii_digit() || c == '(') {
        return false;
    }
    let mut digits = 0;
    for c in rest.chars() {
        match c {
            '0'..='9' => digits += 1,
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return false,
        }
    }
    (7..=15).contains(&digits)
}

#[cfg(test)]
mod tests {
    use super::{is_email, is_phone};

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@mail.example.com", "ü@exämple.de"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "", "a@b", "@b.co", "a@@b.co", "a@b..co", "a b@c.de", "a@-b.co", "a@b.co.", "plain",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }

    #[test]
    fn phones() {
        for good in [
            "+49 170 1234567",
            "(030) 123-4567",
            "0301234567",
            "+1.415.555.0100",
            "1234567",
        ] {
            assert!(is_phone(good), "{good}");
        }
        for bad in [
            "",
            "+",
            "123456",
            "+1234567890123456",
            "call me",
            "12345678a",
            "-1234567",
            "+ 1234567",
        ] {
            assert!(!is_phone(bad), "{bad}");
        }
    }
}
