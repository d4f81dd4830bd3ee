//! A password as `--auth` gives it: in clear, or as an argon2, bcrypt or `sha256:HEX`
//! hash (so it need not sit in a shell's history or an auth file), and how a candidate
//! is checked against it without a comparison that stops at the first wrong byte.

use argon2::password_hash::PasswordHash;
use argon2::PasswordVerifier;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// The longest password bcrypt looks at: longer candidates are refused rather than cut
/// short (bcrypt would ignore the rest and accept any ending).
pub const BCRYPT_MAX_PASSWORD: usize = 72;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PasswordError {
    #[error("the password is empty")]
    Empty,
    #[error("sha256: must be followed by 64 hex digits")]
    Sha256,
    #[error("not a valid argon2 hash ({0})")]
    Argon2(String),
    #[error("not a valid bcrypt hash ({0})")]
    Bcrypt(String),
}

/// What a candidate is compared with.
#[derive(Debug, Clone)]
pub enum Password {
    /// Given in clear; only its SHA-256 is kept, so comparisons have one length.
    Plain([u8; 32]),
    /// `sha256:HEX`: the SHA-256 of the password.
    Sha256([u8; 32]),
    /// A PHC string, `$argon2id$v=19$m=…,t=…,p=…$salt$hash` (argon2i and argon2d too).
    Argon2(String),
    /// `$2b$COST$…` (`$2a$`, `$2y$` and `$2x$` too, as `htpasswd -B` writes).
    Bcrypt(String),
}

impl Password {
    /// Reads a password as written after `USER:`. A hash that does not parse is an error,
    /// never taken for a plain password that happens to look like one.
    pub fn parse(text: &str) -> Result<Password, PasswordError> {
        if text.is_empty() {
            return Err(PasswordError::Empty);
        }
        if let Some(hex) = text.strip_prefix("sha256:") {
            let mut digest = [0u8; 32];
            return match hex::decode_to_slice(hex, &mut digest) {
                Ok(()) => Ok(Password::Sha256(digest)),
                Err(_) => Err(PasswordError::Sha256),
            };
        }
        if text.starts_with("$argon2") {
            let parsed =
                PasswordHash::new(text).map_err(|e| PasswordError::Argon2(e.to_string()))?;
            argon2::Params::try_from(&parsed).map_err(|e| PasswordError::Argon2(e.to_string()))?;
            if parsed.hash.is_none() || parsed.salt.is_none() {
                return Err(PasswordError::Argon2("no salt or no hash".into()));
            }
            return Ok(Password::Argon2(text.to_owned()));
        }
        if ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .any(|p| text.starts_with(p))
        {
            text.parse::<bcrypt::HashParts>()
                .map_err(|e| PasswordError::Bcrypt(e.to_string()))?;
            return Ok(Password::Bcrypt(text.to_owned()));
        }
        Ok(Password::Plain(Sha256::digest(text.as_bytes()).into()))
    }

    /// Given in clear (an auth file holding such passwords should be its owner's alone).
    pub fn is_plain(&self) -> bool {
        matches!(self, Password::Plain(_))
    }

    /// A hash made to be slow (milliseconds to a second): checked off the runtime's
    /// threads, a few at a time.
    pub fn is_slow(&self) -> bool {
        matches!(self, Password::Argon2(_) | Password::Bcrypt(_))
    }

    /// Whether `candidate` is this password. Slow for argon2 and bcrypt: call it where
    /// blocking is allowed. Every comparison is constant-time: the SHA-256 digests with
    /// `subtle`, the hash outputs by the `argon2` and `bcrypt` crates' own.
    pub fn verify(&self, candidate: &[u8]) -> bool {
        match self {
            Password::Plain(digest) | Password::Sha256(digest) => {
                let given: [u8; 32] = Sha256::digest(candidate).into();
                given.ct_eq(digest).into()
            }
            Password::Argon2(phc) => PasswordHash::new(phc).is_ok_and(|hash| {
                argon2::Argon2::default()
                    .verify_password(candidate, &hash)
                    .is_ok()
            }),
            Password::Bcrypt(hash) => {
                candidate.len() <= BCRYPT_MAX_PASSWORD
                    && bcrypt::verify(candidate, hash).unwrap_or(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argon2_of(password: &str) -> String {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"sixteen byte salt").unwrap();
        argon2::Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    #[test]
    fn issue18_every_kind_accepts_its_password_and_nothing_else() {
        let sha = format!("sha256:{}", hex::encode(Sha256::digest(b"secret")));
        let bcrypt = bcrypt::hash_with_salt("secret", 4, *b"sixteen byte slt")
            .unwrap()
            .format_for_version(bcrypt::Version::TwoB);
        for text in ["secret", &sha, &argon2_of("secret"), &bcrypt] {
            let p = Password::parse(text).unwrap();
            assert!(p.verify(b"secret"), "{text}");
            for wrong in [&b"Secret"[..], b"secre", b"secret ", b""] {
                assert!(!p.verify(wrong), "{text} accepted {wrong:?}");
            }
        }
        assert!(Password::parse(&sha.to_uppercase().replace("SHA256", "sha256")).is_ok());
        assert!(Password::parse("secret").unwrap().is_plain());
        assert!(Password::parse(&bcrypt).unwrap().is_slow());
    }

    #[test]
    fn issue18_a_malformed_hash_is_an_error_not_a_plain_password() {
        assert_eq!(
            Password::parse("sha256:abc").unwrap_err(),
            PasswordError::Sha256
        );
        assert!(matches!(
            Password::parse("$argon2id$v=19$nonsense"),
            Err(PasswordError::Argon2(_))
        ));
        assert!(matches!(
            Password::parse("$2b$12$short"),
            Err(PasswordError::Bcrypt(_))
        ));
        assert_eq!(Password::parse("").unwrap_err(), PasswordError::Empty);
    }

    #[test]
    fn issue18_bcrypt_refuses_what_it_would_cut_short() {
        let long = "x".repeat(BCRYPT_MAX_PASSWORD);
        let hash = bcrypt::hash_with_salt(&long, 4, *b"sixteen byte slt")
            .unwrap()
            .to_string();
        let p = Password::parse(&hash).unwrap();
        assert!(p.verify(long.as_bytes()));
        assert!(!p.verify(format!("{long}anything").as_bytes()));
    }
}
