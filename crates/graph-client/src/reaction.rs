//! What a sender does after a failed Graph call: the one decision the sender acts on and the
//! test runner shows (`test_runner::whatsapp::deliver`), so the two cannot drift. Pure: the
//! class of the error, what was tried already, and whether a fallback template exists.

use crate::error::ErrorClass;

/// What was tried for the call (and its batch) so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tried {
    /// Failures of this call so far, the one being decided on included.
    pub failures: u32,
    /// The batch's access token was already refreshed once after a refusal.
    pub token_refreshed: bool,
}

/// The reaction to a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Throttling or a temporary failure: wait (backoff) and send the same call again.
    Retry,
    /// The access token was refused: refresh it and send again (once per batch).
    RefreshToken,
    /// Outside the 24-hour window: send the fallback template instead of the rest of the
    /// batch.
    FallBackToTemplate,
    /// Stop the batch and alert.
    GiveUp(GiveUpReason),
}

/// Why a batch is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// Trying again changes nothing.
    Permanent,
    /// Still failing after the allowed attempts.
    RetriesExhausted,
    /// The token was refused again after a refresh.
    TokenRefusedAgain,
    /// Outside the 24-hour window and no template is configured.
    NoFallbackTemplate,
}

/// The reaction to a call that failed with `class`, after `tried`; a retryable failure is
/// retried until `max_attempts` failures; `fallback` says whether the batch has a template
/// for a closed window.
pub fn react(class: ErrorClass, tried: Tried, max_attempts: u32, fallback: bool) -> Reaction {
    match class {
        ErrorClass::Permanent => Reaction::GiveUp(GiveUpReason::Permanent),
        ErrorClass::OutsideWindow if fallback => Reaction::FallBackToTemplate,
        ErrorClass::OutsideWindow => Reaction::GiveUp(GiveUpReason::NoFallbackTemplate),
        ErrorClass::Retryable if tried.failures >= max_attempts => {
            Reaction::GiveUp(GiveUpReason::RetriesExhausted)
        }
        ErrorClass::Retryable => Reaction::Retry,
        ErrorClass::Token if tried.token_refreshed => {
            Reaction::GiveUp(GiveUpReason::TokenRefusedAgain)
        }
        ErrorClass::Token => Reaction::RefreshToken,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Tried = Tried {
        failures: 1,
        token_refreshed: false,
    };

    #[test]
    fn each_class_has_its_reaction() {
        assert_eq!(
            react(ErrorClass::Retryable, FIRST, 5, false),
            Reaction::Retry
        );
        assert_eq!(
            react(ErrorClass::Token, FIRST, 5, false),
            Reaction::RefreshToken
        );
        assert_eq!(
            react(ErrorClass::OutsideWindow, FIRST, 5, true),
            Reaction::FallBackToTemplate
        );
        assert_eq!(
            react(ErrorClass::OutsideWindow, FIRST, 5, false),
            Reaction::GiveUp(GiveUpReason::NoFallbackTemplate)
        );
        assert_eq!(
            react(ErrorClass::Permanent, FIRST, 5, true),
            Reaction::GiveUp(GiveUpReason::Permanent)
        );
    }

    #[test]
    fn retries_and_token_refreshes_are_bounded() {
        let fifth = Tried {
            failures: 5,
            token_refreshed: false,
        };
        assert_eq!(
            react(
                ErrorClass::Retryable,
                Tried {
                    failures: 4,
                    ..fifth
                },
                5,
                false
            ),
            Reaction::Retry
        );
        assert_eq!(
            react(ErrorClass::Retryable, fifth, 5, false),
            Reaction::GiveUp(GiveUpReason::RetriesExhausted)
        );
        let refreshed = Tried {
            failures: 1,
            token_refreshed: true,
        };
        assert_eq!(
            react(ErrorClass::Token, refreshed, 5, false),
            Reaction::GiveUp(GiveUpReason::TokenRefusedAgain)
        );
        // A refreshed token does not change what other classes get.
        assert_eq!(
            react(ErrorClass::Retryable, refreshed, 5, false),
            Reaction::Retry
        );
    }
}
