//! Bytes from the network shown on a terminal: control characters and characters that
//! deceive (bidirectional controls, invisible ones) escaped, long payloads cut.

use std::fmt::{self, Write as _};

use super::human::Plural;

/// Bytes shown safely on a terminal: printable UTF-8 stays, control characters become
/// escapes (`\n`, `\u{1b}`), and invalid UTF-8 becomes `\xNN`.
pub struct Escaped<'a>(pub &'a [u8]);

/// Characters that change how text reads without being seen: the bidirectional
/// controls (U+202E shows `invoice\u{202e}txt.exe` as `invoiceexe.txt`) and invisible
/// format characters (zero-width space, word joiner, soft hyphen, BOM, tags). The
/// zero-width joiner and non-joiner (U+200C, U+200D) are not among them: several
/// scripts and emoji sequences need them. `Escaped` shows these as `\u{…}`, and
/// `recv` refuses names holding them.
pub fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}' | '\u{200E}' | '\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Most payloads are plain printable ASCII: written whole, without the walk by char.
        if self
            .0
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) && b != b'\\')
        {
            return f.write_str(std::str::from_utf8(self.0).expect("printable ASCII is UTF-8"));
        }
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                if c.is_control() || c == '\\' {
                    write!(f, "{}", c.escape_debug())?;
                } else if is_deceptive(c) {
                    write!(f, "{}", c.escape_unicode())?;
                } else {
                    f.write_char(c)?;
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

/// How much of a payload people see: a 1 MB line is one line of about this many
/// characters, not a screenful; `--json` keeps every byte.
pub const PREVIEW: usize = 200;

/// A payload shown to people: the first `PREVIEW` bytes [`Escaped`] (never cutting a
/// UTF-8 character), then `… (N more bytes)`.
pub struct Preview<'a>(pub &'a [u8]);

impl fmt::Display for Preview<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= PREVIEW {
            return Escaped(self.0).fmt(f);
        }
        // Back up over UTF-8 continuation bytes (at most 3) to a character's start.
        let mut cut = PREVIEW;
        while cut > PREVIEW - 3 && (self.0[cut] & 0xc0) == 0x80 {
            cut -= 1;
        }
        let rest = self.0.len() - cut;
        write!(
            f,
            "{}… ({rest} more {})",
            Escaped(&self.0[..cut]),
            Plural(rest, "byte")
        )
    }
}

/// [`Escaped`] as a `String`.
pub fn escape(bytes: &[u8]) -> String {
    Escaped(bytes).to_string()
}
