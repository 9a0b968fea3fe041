use std::fmt;

use serde::{Deserialize, Deserializer};

/// A value that must not leak: `Debug` prints `Secret([redacted])`, there is no `Display` and
/// no `Serialize`, so it cannot end up in a log line, an error message or a response body by
/// accident. Read it with [`Secret::expose`] at the one place that needs it.
///
/// It can be deserialized, so request bodies and configuration can carry secrets directly.
#[derive(Clone, Default)]
pub struct Secret<T>(T);

/// The common case: a secret string (token, password, URL with credentials).
pub type SecretString = Secret<String>;

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value. Keep the borrow short and never log it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for SecretString {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<Vec<u8>> for Secret<Vec<u8>> {
    fn from(value: Vec<u8>) -> Self {
        Self(value)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = SecretString::from("hunter2-very-secret");
        let printed = format!("{secret:?} {:#?}", secret);
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(format!("{secret:?}"), "Secret([redacted])");

        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            token: SecretString,
        }
        let holder = format!("{:?}", Holder { token: secret });
        assert!(!holder.contains("hunter2"), "{holder}");
    }

    #[test]
    fn accessors_return_the_value() {
        let secret = Secret::new(vec![1u8, 2, 3]);
        assert_eq!(secret.expose(), &vec![1, 2, 3]);
        let cloned = secret.clone();
        assert_eq!(secret.into_inner(), vec![1, 2, 3]);
        assert_eq!(cloned.expose().len(), 3);
    }

    #[test]
    fn deserializes_transparently() {
        #[derive(serde::Deserialize)]
        struct Body {
            app_secret: SecretString,
            count: Secret<u32>,
        }
        let body: Body = serde_json::from_str(r#"{"app_secret":"abc123","count":7}"#).unwrap();
        assert_eq!(body.app_secret.expose(), "abc123");
        assert_eq!(*body.count.expose(), 7);

        let wrong: Result<Body, _> = serde_json::from_str(r#"{"app_secret":5,"count":7}"#);
        assert!(wrong.is_err());
    }
}
