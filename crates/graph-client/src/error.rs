//! Meta's error envelope and what a caller should do about each error.
//!
//! `{"error":{"message","type","code","error_data":{"messaging_product","details"},
//! "error_subcode","fbtrace_id"}}` (whatsapp-cloud-api.md §6). Meta asks callers to branch on
//! `code`, not on the HTTP status; the status decides only for codes we do not know.

use serde_json::Value;

/// One error as Meta reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaError {
    /// The HTTP status it came with.
    pub http_status: u16,
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
    /// `error_data.details`, Meta's most specific explanation.
    pub details: Option<String>,
    /// `type`, e.g. `OAuthException`.
    pub kind: Option<String>,
    pub fbtrace_id: Option<String>,
}

impl MetaError {
    /// Reads Meta's envelope from an error answer's body; `None` when it is not one.
    pub fn parse(http_status: u16, body: &[u8]) -> Option<MetaError> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let error = value.get("error")?.as_object()?;
        let code = match error.get("code")? {
            Value::Number(number) => number.as_i64()?,
            Value::String(text) => text.parse().ok()?,
            _ => return None,
        };
        let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(MetaError {
            http_status,
            code,
            subcode: error.get("error_subcode").and_then(Value::as_i64),
            message: text("message").unwrap_or_default(),
            details: error
                .get("error_data")
                .and_then(|data| data.get("details"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            kind: text("type"),
            fbtrace_id: text("fbtrace_id"),
        })
    }
}

/// Why a Graph call failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Meta answered with its error envelope.
    #[error("Graph API error {} (HTTP {}): {}{}", .0.code, .0.http_status, .0.message,
            .0.details.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Api(Box<MetaError>),
    /// An error status without Meta's envelope (a proxy, a load balancer).
    #[error("Graph API answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    /// No answer: connection refused or reset, DNS, timeout. The request may or may not have
    /// reached Meta.
    #[error("Graph API unreachable: {0}")]
    Network(String),
    /// A success status whose body is not what the call returns.
    #[error("unexpected Graph API answer: {0}")]
    Unexpected(String),
    /// The call could not be made as asked (a base URL or path segment that is not usable).
    #[error("invalid Graph API request: {0}")]
    Invalid(String),
}

/// What to do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Throttling, a server error or no answer: try again later with backoff.
    Retryable,
    /// Trying again changes nothing (invalid parameter, undeliverable, permissions, ...).
    Permanent,
    /// The access token is expired, revoked or invalid (190): refresh it, then alert.
    Token,
    /// The 24-hour customer-service window is closed (131047): only a template may be sent.
    OutsideWindow,
}

/// Access token expired, revoked or invalid; 0 is Meta's generic `AuthException`.
pub const TOKEN_CODES: [i64; 2] = [190, 0];
/// Re-engagement: the customer-service window is closed.
pub const OUTSIDE_WINDOW_CODE: i64 = 131047;
/// The (business, consumer) pair rate limit: Meta advises waiting 4^X seconds.
pub const PAIR_RATE_LIMIT_CODE: i64 = 131056;
/// Throttling and temporary failures: app call limit (4), WABA rate limit (80007),
/// throughput (130429), pair rate limit (131056), unknown error / service down (1, 2),
/// "something went wrong" (131000), service unavailable (131016), maintenance (131057).
pub const RETRYABLE_CODES: [i64; 9] = [4, 80007, 130429, 131056, 1, 2, 131000, 131016, 131057];

/// Codes that never succeed on a retry, whatever HTTP status they came with: invalid or
/// missing parameters, permissions, policy blocks, undeliverable recipients, spam limits,
/// opted-out users, unsupported types and template errors.
fn is_known_permanent(code: i64) -> bool {
    matches!(
        code,
        3 | 10
            | 100
            | 200..=299
            | 368
            | 131005
            | 131008
            | 131009
            | 131021
            | 131026
            | 131031
            | 131042
            | 131045
            | 131048
            | 131049
            | 131050
            | 131051
            | 131052
            | 131053
            | 132000..=132999
            | 133000..=133999
    )
}

/// The class of a Meta error `code` that came with `http_status` (`None` when the answer had
/// no envelope).
pub fn classify(http_status: u16, code: Option<i64>) -> ErrorClass {
    if let Some(code) = code {
        if TOKEN_CODES.contains(&code) {
            return ErrorClass::Token;
        }
        if code == OUTSIDE_WINDOW_CODE {
            return ErrorClass::OutsideWindow;
        }
        if RETRYABLE_CODES.contains(&code) {
            return ErrorClass::Retryable;
        }
        if is_known_permanent(code) {
            return ErrorClass::Permanent;
        }
    }
    if http_status == 429 || (500..=599).contains(&http_status) {
        ErrorClass::Retryable
    } else if http_status == 401 && code.is_none() {
        ErrorClass::Token
    } else {
        ErrorClass::Permanent
    }
}

impl GraphError {
    pub fn class(&self) -> ErrorClass {
        match self {
            GraphError::Api(error) => classify(error.http_status, Some(error.code)),
            GraphError::Status { status, .. } => classify(*status, None),
            GraphError::Network(_) => ErrorClass::Retryable,
            // A success status: the message may have been accepted; sending it again could
            // duplicate it.
            GraphError::Unexpected(_) | GraphError::Invalid(_) => ErrorClass::Permanent,
        }
    }

    /// Meta's error code, when Meta answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            GraphError::Api(error) => Some(error.code),
            _ => None,
        }
    }

    pub fn meta(&self) -> Option<&MetaError> {
        match self {
            GraphError::Api(error) => Some(error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/meta/graph-api")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn parses_metas_fixtures() {
        let error = MetaError::parse(400, &fixture("error_130429_rate_limit.json")).unwrap();
        assert_eq!(error.code, 130429);
        assert_eq!(error.subcode, Some(2494055));
        assert_eq!(error.message, "(#130429) Rate limit hit");
        assert_eq!(error.kind.as_deref(), Some("OAuthException"));
        assert_eq!(error.fbtrace_id.as_deref(), Some("Az8or2yhqkZfEZ-_4Qn_Bam"));
        assert!(error.details.unwrap().starts_with("Message failed to send"));

        let token = MetaError::parse(401, &fixture("error_190_expired_token.json")).unwrap();
        assert_eq!(
            (token.code, token.subcode, token.details),
            (190, Some(463), None)
        );

        let invalid = MetaError::parse(
            400,
            &fixture("handwritten_error_100_invalid_parameter.json"),
        )
        .unwrap();
        assert_eq!(
            invalid.details.as_deref(),
            Some("Param text['body'] is required.")
        );
    }

    #[test]
    fn bodies_that_are_not_the_envelope_are_refused() {
        for body in [
            &b""[..],
            b"<html>502 Bad Gateway</html>",
            b"{}",
            b"{\"error\": \"nope\"}",
            b"{\"error\": {\"message\": \"no code\"}}",
            b"{\"error\": {\"code\": [1]}}",
        ] {
            assert_eq!(MetaError::parse(500, body), None, "{body:?}");
        }
        let text_code = MetaError::parse(400, br#"{"error":{"code":"131056"}}"#).unwrap();
        assert_eq!(text_code.code, 131056);
    }

    #[test]
    fn codes_decide_before_statuses() {
        use ErrorClass::*;
        let cases = [
            // Throttling, as Meta's table lists it (400) and as third parties report it (429).
            (400, 130429, Retryable),
            (429, 130429, Retryable),
            (400, 131056, Retryable),
            (400, 4, Retryable),
            (400, 80007, Retryable),
            (500, 131000, Retryable),
            (503, 131016, Retryable),
            (500, 131057, Retryable),
            (503, 2, Retryable),
            (400, 1, Retryable),
            (401, 190, Token),
            (400, 190, Token),
            (401, 0, Token),
            (400, 131047, OutsideWindow),
            (400, 100, Permanent),
            (400, 131008, Permanent),
            (400, 131009, Permanent),
            (400, 131026, Permanent),
            (400, 131051, Permanent),
            (400, 131048, Permanent),
            (403, 10, Permanent),
            (403, 200, Permanent),
            (403, 368, Permanent),
            (403, 131031, Permanent),
            (404, 132001, Permanent),
            (400, 132000, Permanent),
            // A permanent code stays permanent even behind a 5xx.
            (500, 100, Permanent),
            // Unknown codes: the status decides.
            (500, 999_999, Retryable),
            (429, 999_999, Retryable),
            (400, 999_999, Permanent),
        ];
        for (status, code, class) in cases {
            assert_eq!(classify(status, Some(code)), class, "{status} / {code}");
        }
    }

    #[test]
    fn answers_without_an_envelope_are_classified_by_status() {
        use ErrorClass::*;
        assert_eq!(classify(502, None), Retryable);
        assert_eq!(classify(429, None), Retryable);
        assert_eq!(classify(401, None), Token);
        assert_eq!(classify(404, None), Permanent);
        assert_eq!(classify(400, None), Permanent);
    }

    #[test]
    fn transport_failures_are_retryable_and_odd_successes_are_not() {
        assert_eq!(
            GraphError::Network("reset".into()).class(),
            ErrorClass::Retryable
        );
        assert_eq!(
            GraphError::Unexpected("no id".into()).class(),
            ErrorClass::Permanent
        );
        let api = GraphError::Api(Box::new(
            MetaError::parse(400, &fixture("error_130429_rate_limit.json")).unwrap(),
        ));
        assert_eq!(api.class(), ErrorClass::Retryable);
        assert_eq!(api.code(), Some(130429));
        let text = api.to_string();
        assert!(
            text.contains("130429") && text.contains("too many messages"),
            "{text}"
        );
    }
}
