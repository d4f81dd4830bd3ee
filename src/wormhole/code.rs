//! Wormhole codes such as `7-guitarist-revenge`: the nameplate the mailbox allocated,
//! then words of the PGP word list. The whole code, as typed, is the PAKE password; only
//! the nameplate is ever sent in the clear.

use std::fmt;
use std::sync::OnceLock;

use rand::Rng;

/// The PGP word list: line `b` holds the two-syllable ("even") word and the
/// three-syllable ("odd") word for the byte `b`. Every wormhole client draws from it, so
/// it must be exactly this list.
const PGP_WORDS: &str = include_str!("pgp_words.txt");

/// How many words a code made here has: two, as the Python client makes by default
/// (16 bits of secret; an attacker gets one guess per try, and a wrong guess fails both
/// sides loudly).
pub const CODE_WORDS: usize = 2;

/// The longest nameplate accepted: the mailbox refuses more than 40 digits.
pub const MAX_NAMEPLATE_DIGITS: usize = 40;

/// The longest code accepted from a person or a flag, in bytes.
pub const MAX_CODE_BYTES: usize = 256;

struct WordList {
    /// Two-syllable words, by byte.
    even: Vec<&'static str>,
    /// Three-syllable words, by byte.
    odd: Vec<&'static str>,
}

fn word_list() -> &'static WordList {
    static LIST: OnceLock<WordList> = OnceLock::new();
    LIST.get_or_init(|| {
        let (mut even, mut odd) = (Vec::with_capacity(256), Vec::with_capacity(256));
        for line in PGP_WORDS.lines().filter(|l| !l.is_empty()) {
            let mut words = line.split(' ');
            even.push(words.next().unwrap_or_default());
            odd.push(words.next().unwrap_or_default());
        }
        WordList { even, odd }
    })
}

/// Whether `word` is on the PGP word list (either half), ignoring case.
pub fn is_pgp_word(word: &str) -> bool {
    let list = word_list();
    let lower = word.to_ascii_lowercase();
    list.even.contains(&lower.as_str()) || list.odd.contains(&lower.as_str())
}

/// `count` random words, alternating three-syllable and two-syllable words starting
/// with a three-syllable one, as the other clients do: a dropped or doubled word then
/// breaks the rhythm a person reads it with.
pub fn random_words(count: usize) -> String {
    let list = word_list();
    let mut rng = rand::rng();
    (0..count)
        .map(|i| {
            let byte = rng.random_range(0..256usize);
            if i % 2 == 0 {
                list.odd[byte]
            } else {
                list.even[byte]
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// A wormhole code: `NAMEPLATE-WORDS`.
#[derive(Clone, PartialEq, Eq)]
pub struct WormholeCode {
    text: String,
    dash: usize,
}

/// Why a typed code was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadCode {
    #[error("a wormhole code is a number, a dash and words, like 7-guitarist-revenge")]
    Shape,
    #[error("the code's number has more than {MAX_NAMEPLATE_DIGITS} digits")]
    LongNameplate,
    #[error("the code is longer than {MAX_CODE_BYTES} bytes")]
    TooLong,
    #[error("the code has a space, a control character or a character outside ASCII")]
    Characters,
}

impl WormholeCode {
    /// A code from the nameplate the mailbox allocated and fresh random words.
    pub fn new_random(nameplate: &str) -> Result<WormholeCode, BadCode> {
        format!("{nameplate}-{}", random_words(CODE_WORDS)).parse()
    }

    /// The nameplate: the only part the mailbox sees.
    pub fn nameplate(&self) -> &str {
        &self.text[..self.dash]
    }

    /// The PAKE password: the whole code, exactly as typed.
    pub fn password(&self) -> &[u8] {
        self.text.as_bytes()
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::str::FromStr for WormholeCode {
    type Err = BadCode;

    /// Takes the code as typed, surrounding spaces aside. Words are not required to be
    /// PGP words (`wormhole send --code` accepts any), but they must be printable ASCII:
    /// the other clients normalise Unicode before using the code as a password, which
    /// this one does not do.
    fn from_str(typed: &str) -> Result<Self, BadCode> {
        let text = typed.trim();
        if text.len() > MAX_CODE_BYTES {
            return Err(BadCode::TooLong);
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(BadCode::Characters);
        }
        let (nameplate, words) = text.split_once('-').ok_or(BadCode::Shape)?;
        if nameplate.is_empty()
            || !nameplate.bytes().all(|b| b.is_ascii_digit())
            || words.is_empty()
            || words.split('-').any(str::is_empty)
        {
            return Err(BadCode::Shape);
        }
        if nameplate.len() > MAX_NAMEPLATE_DIGITS {
            return Err(BadCode::LongNameplate);
        }
        Ok(WormholeCode {
            text: text.to_owned(),
            dash: nameplate.len(),
        })
    }
}

impl fmt::Display for WormholeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Debug output never shows the secret words (they end up in logs otherwise).
impl fmt::Debug for WormholeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WormholeCode({}-…)", self.nameplate())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_the_pgp_list() {
        let list = word_list();
        assert_eq!((list.even.len(), list.odd.len()), (256, 256));
        assert_eq!((list.even[0], list.odd[0]), ("aardvark", "adroitness"));
        assert_eq!((list.even[255], list.odd[255]), ("zulu", "yucatan"));
        // The example of the magic-wormhole documentation: an odd word, then an even one.
        assert!(list.odd.contains(&"guitarist") && list.even.contains(&"revenge"));
        let all: std::collections::BTreeSet<_> = list.even.iter().chain(&list.odd).collect();
        assert_eq!(all.len(), 512, "every word is distinct");
    }

    #[test]
    fn random_codes_alternate_odd_and_even_words() {
        let list = word_list();
        for _ in 0..100 {
            let code = WormholeCode::new_random("7").unwrap();
            let parts: Vec<&str> = code.as_str().split('-').collect();
            assert_eq!(parts.len(), 1 + CODE_WORDS);
            assert_eq!(parts[0], "7");
            assert!(list.odd.contains(&parts[1]), "{code}");
            assert!(list.even.contains(&parts[2]), "{code}");
        }
    }

    #[test]
    fn codes_parse_as_typed() {
        let code: WormholeCode = " 7-guitarist-revenge\n".parse().unwrap();
        assert_eq!(code.nameplate(), "7");
        assert_eq!(code.password(), b"7-guitarist-revenge");
        assert_eq!(format!("{code:?}"), "WormholeCode(7-…)");
        // Custom words, as `wormhole send --code` allows; case is kept (it is the
        // password).
        let code: WormholeCode = "123-Open-Sesame-x".parse().unwrap();
        assert_eq!(code.password(), b"123-Open-Sesame-x");
        assert!(is_pgp_word("Guitarist") && !is_pgp_word("sesame"));
    }

    #[test]
    fn malformed_codes_are_refused() {
        for (typed, why) in [
            ("", BadCode::Shape),
            ("7", BadCode::Shape),
            ("7-", BadCode::Shape),
            ("-guitarist", BadCode::Shape),
            ("x7-guitarist", BadCode::Shape),
            ("7-guitarist--revenge", BadCode::Shape),
            ("7-guitar ist", BadCode::Characters),
            ("7-gu\u{e9}rison", BadCode::Characters),
            ("7-a\u{1b}[2J", BadCode::Characters),
        ] {
            assert_eq!(typed.parse::<WormholeCode>(), Err(why), "{typed:?}");
        }
        let long = format!("{}-a", "1".repeat(MAX_NAMEPLATE_DIGITS + 1));
        assert_eq!(long.parse::<WormholeCode>(), Err(BadCode::LongNameplate));
        let long = format!("1-{}", "a".repeat(MAX_CODE_BYTES));
        assert_eq!(long.parse::<WormholeCode>(), Err(BadCode::TooLong));
    }
}
