//! WhatsApp Cloud API limits that shape how a flow's messages are delivered.
//!
//! Validation warns about them (a flow is not wrong for exceeding them, it is delivered
//! differently); the sender applies the same numbers when it builds Graph API payloads.

/// A text message longer than this is split into several messages.
pub const TEXT_MAX_CHARS: usize = 4096;
/// Body of an interactive (buttons or list) message.
pub const INTERACTIVE_BODY_MAX_CHARS: usize = 1024;
/// Caption of an image, video or document.
pub const CAPTION_MAX_CHARS: usize = 1024;
/// Title of a reply button.
pub const BUTTON_TITLE_MAX_CHARS: usize = 20;
/// At most this many reply buttons; more options are sent as a list.
pub const MAX_BUTTONS: usize = 3;
/// Title of a list row.
pub const LIST_ROW_TITLE_MAX_CHARS: usize = 24;
/// Description of a list row.
pub const LIST_ROW_DESCRIPTION_MAX_CHARS: usize = 72;
/// At most this many list rows; more options are sent as numbered text.
pub const MAX_LIST_ROWS: usize = 10;
/// Label of the button that opens a list.
pub const LIST_BUTTON_TEXT_MAX_CHARS: usize = 20;
/// Id of a list row (reply button ids may be 256; the smaller bound holds for both).
pub const OPTION_ID_MAX_CHARS: usize = 200;

/// How a set of options is carried on WhatsApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionsDelivery {
    /// Interactive reply buttons (at most [`MAX_BUTTONS`]).
    Buttons,
    /// Interactive list (at most [`MAX_LIST_ROWS`]).
    List,
    /// Numbered text lines; the user answers with the number or the title.
    NumberedText,
}

/// How `option_count` options are delivered; `as_buttons` for a `buttons` component.
pub fn options_delivery(option_count: usize, as_buttons: bool) -> OptionsDelivery {
    if as_buttons && option_count <= MAX_BUTTONS {
        OptionsDelivery::Buttons
    } else if option_count <= MAX_LIST_ROWS {
        OptionsDelivery::List
    } else {
        OptionsDelivery::NumberedText
    }
}
