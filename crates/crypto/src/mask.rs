//! Masked forms of secrets for admin responses: after creation a secret is shown only as
//! bullets plus, for long secrets, its last four characters.

const BULLETS: &str = "••••••••";
/// Secrets shorter than this are masked completely: four characters of a short secret are
/// too large a share of it.
const MIN_LEN_FOR_HINT: usize = 16;
const HINT_CHARS: usize = 4;

/// The last four characters of `secret` if it has at least 16, else an empty string. Store it
/// beside a digest so that later responses can show which key is meant.
pub fn hint(secret: &str) -> String {
    let count = secret.chars().count();
    if count < MIN_LEN_FOR_HINT {
        return String::new();
    }
    secret.chars().skip(count - HINT_CHARS).collect()
}

/// `••••••••` followed by the [`hint`]; the number of bullets is fixed so the length does not
/// leak.
pub fn mask_secret(secret: &str) -> String {
    masked_from_hint(&hint(secret))
}

/// The masked form from a stored hint (when only the digest and hint are kept).
pub fn masked_from_hint(hint: &str) -> String {
    format!("{BULLETS}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_secrets_show_the_last_four() {
        let key = "xK9mP2qR7vW4nT8yU1zA5bC6dE3fG0hI";
        assert_eq!(mask_secret(key), "••••••••G0hI");
        assert_eq!(hint(key), "G0hI");
        assert_eq!(masked_from_hint("G0hI"), "••••••••G0hI");
        assert_eq!(mask_secret("0123456789abcdef"), "••••••••cdef");
    }

    #[test]
    fn short_secrets_are_fully_masked() {
        assert_eq!(mask_secret("0123456789abcde"), "••••••••");
        assert_eq!(mask_secret(""), "••••••••");
        assert_eq!(hint("short"), "");
    }

    #[test]
    fn non_ascii_does_not_panic() {
        assert_eq!(hint("ééééééééééééééééxyzé"), "xyzé");
    }
}
