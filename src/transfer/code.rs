//! Transfer codes such as `7-amber-lantern`: a public number that finds the sender,
//! and secret words that only the PAKE ever sees.

use std::fmt;
use std::str::FromStr;

use rand::Rng;

/// The 256 words codes are made of (8 bits each).
const WORDS: &str = include_str!("words.txt");

/// How many secret words a generated code has (16 bits of secret).
pub const SECRET_WORDS: usize = 2;

fn words() -> Vec<&'static str> {
    WORDS.lines().filter(|w| !w.is_empty()).collect()
}

/// A transfer code. `nameplate` is announced in the clear; the whole code is the PAKE
/// password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    pub nameplate: u32,
    secret: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid code {0:?}: expected a number, a dash and secret words, like 7-amber-lantern")]
pub struct BadCode(String);

impl Code {
    /// A fresh random code: a number below 1000 and two words.
    pub fn generate() -> Code {
        let list = words();
        let mut rng = rand::rng();
        let secret: Vec<&str> = (0..SECRET_WORDS)
            .map(|_| list[rng.random_range(0..list.len())])
            .collect();
        Code {
            nameplate: rng.random_range(1..1000),
            secret: secret.join("-"),
        }
    }

    /// The PAKE password: the whole code, as typed in a canonical form.
    pub fn password(&self) -> String {
        self.to_string()
    }

    /// `n` words from the list chosen by `bytes` (used for the verification string).
    pub fn words_for(bytes: &[u8]) -> String {
        let list = words();
        bytes
            .iter()
            .map(|b| list[*b as usize])
            .collect::<Vec<_>>()
            .join("-")
    }
}

impl FromStr for Code {
    type Err = BadCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadCode(s.to_owned());
        let canonical = s.trim().to_lowercase();
        let (number, secret) = canonical.split_once('-').ok_or_else(bad)?;
        let nameplate = number.parse::<u32>().map_err(|_| bad())?;
        let secret = secret.trim();
        if secret.is_empty() || secret.chars().any(char::is_control) {
            return Err(bad());
        }
        Ok(Code {
            nameplate,
            secret: secret.to_owned(),
        })
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.nameplate, self.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_list_has_256_distinct_words() {
        let list = words();
        assert_eq!(list.len(), 256);
        let unique: std::collections::HashSet<_> = list.iter().collect();
        assert_eq!(unique.len(), 256);
    }

    #[test]
    fn generated_codes_parse_back() {
        for _ in 0..50 {
            let code = Code::generate();
            assert!((1..1000).contains(&code.nameplate));
            assert_eq!(code.to_string().parse::<Code>().unwrap(), code);
        }
    }

    #[test]
    fn parsing_is_forgiving_of_case_and_space_but_needs_a_number() {
        let code: Code = " 7-Amber-Lantern ".parse().unwrap();
        assert_eq!(code.to_string(), "7-amber-lantern");
        assert!("amber-lantern".parse::<Code>().is_err());
        assert!("7".parse::<Code>().is_err());
        assert!("7-".parse::<Code>().is_err());
    }
}
