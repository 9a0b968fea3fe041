//! Variable names and the built-in variables every session has.

/// Set at start from the API's `message_payload` (the session's first input); unset otherwise.
pub const ON_CREATE_MESSAGE_PAYLOAD: &str = "on_create_message_payload";
/// The session id (given by the client or generated).
pub const SESSION_ID: &str = "session_id";
/// The user identifier (the API's `user_identifier`, the WhatsApp user's id).
pub const USER_IDENTIFIER: &str = "user_identifier";
/// The channel the session runs on: `whatsapp` or `api`.
pub const CHANNEL: &str = "channel";
/// The last user text the flow accepted (an answer, or the title of the chosen option).
pub const LAST_INPUT: &str = "last_input";

/// Built-in variables: readable by every flow without a declaration, never writable by it.
pub const BUILTIN_VARIABLES: [&str; 5] = [
    ON_CREATE_MESSAGE_PAYLOAD,
    SESSION_ID,
    USER_IDENTIFIER,
    CHANNEL,
    LAST_INPUT,
];

/// Longest variable name: the pattern is `[A-Za-z_][A-Za-z0-9_]{0,63}`.
pub const MAX_VARIABLE_NAME_LEN: usize = 64;

pub fn is_builtin(name: &str) -> bool {
    BUILTIN_VARIABLES.contains(&name)
}

/// True when `name` matches `[A-Za-z_][A-Za-z0-9_]{0,63}`.
pub fn is_valid_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_')
        && name.len() <= MAX_VARIABLE_NAME_LEN
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_follow_the_pattern() {
        for good in ["a", "_", "first_name", "A1", "_x9", &"a".repeat(64)] {
            assert!(is_valid_variable_name(good), "{good} should be valid");
        }
        for bad in [
            "",
            "1a",
            "first-name",
            "first name",
            "é",
            "a.b",
            &"a".repeat(65),
        ] {
            assert!(!is_valid_variable_name(bad), "{bad} should be invalid");
        }
    }

    #[test]
    fn builtins_are_valid_names() {
        assert!(BUILTIN_VARIABLES
            .iter()
            .all(|n| is_valid_variable_name(n) && is_builtin(n)));
        assert!(!is_builtin("first_name"));
    }
}
