//! QR codes for people at a terminal (`http serve --qr`, `send --qr`): the smallest code
//! that fits the terminal, two modules per character row in half blocks, in colours set
//! explicitly so that it scans the same on dark and light themes.

use std::fmt;
use std::io;

use anstyle::{AnsiColor, Color, Style};
use qrcode::render::unicode::Dense1x2;
use qrcode::{EcLevel, QrCode};

use super::{Event, Printer};

/// The error-correction levels tried, in order: M (15% of the modules may be misread)
/// copes better with glare on a screen; L (7%) gives a smaller code for a small terminal.
const LEVELS: [EcLevel; 2] = [EcLevel::M, EcLevel::L];

/// The light margin around a code that the standard asks for (and `qrencode` draws):
/// scanners find the code by it, and a terminal's own background is no such margin.
pub const QUIET_ZONE: usize = 4;

/// The room assumed when the terminal does not tell its size.
const DEFAULT_ROOM: Room = Room {
    columns: 80,
    rows: 24,
};

/// Light modules are drawn in the foreground and dark ones are left to the background,
/// both set here, as `qrencode -t ANSIUTF8` does: the code keeps its polarity on dark
/// and light themes alike. Without colour (`NO_COLOR`) the same characters read right on
/// a dark theme, as `qrencode -t UTF8`'s do.
const COLOURS: Style = Style::new()
    .fg_color(Some(Color::Ansi(AnsiColor::BrightWhite)))
    .bg_color(Some(Color::Ansi(AnsiColor::Black)));

/// A size in character cells (columns × rows): a terminal's, or what a code needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub columns: usize,
    pub rows: usize,
}

impl Room {
    /// The size of the terminal on stdout, or 80×24 when it does not say.
    pub fn of_stdout() -> Room {
        match terminal_size::terminal_size_of(io::stdout()) {
            Some((w, h)) if w.0 > 0 && h.0 > 0 => Room {
                columns: w.0.into(),
                rows: h.0.into(),
            },
            _ => DEFAULT_ROOM,
        }
    }

    fn holds(self, other: Room) -> bool {
        other.columns <= self.columns && other.rows <= self.rows
    }
}

impl fmt::Display for Room {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×{}", self.columns, self.rows)
    }
}

/// Why a text is not drawn as a QR code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("{bytes} bytes are more than a QR code holds")]
    TooLong { bytes: usize },
    #[error("no room for the QR code: it needs {needs} characters and the terminal is {has}")]
    TooLarge { needs: Room, has: Room },
}

/// The QR code of `text` as lines of half blocks (`█▀▄` and spaces), quiet zone
/// included: at level M when that fits `room`, else at level L, else an error.
pub fn draw(text: &str, room: Room) -> Result<Vec<String>, QrError> {
    let mut smallest = None;
    for level in LEVELS {
        // Too long at M may still fit at L.
        let Ok(code) = QrCode::with_error_correction_level(text, level) else {
            continue;
        };
        let needs = size(&code);
        if room.holds(needs) {
            return Ok(render(&code));
        }
        smallest = Some(needs);
    }
    Err(match smallest {
        Some(needs) => QrError::TooLarge { needs, has: room },
        None => QrError::TooLong { bytes: text.len() },
    })
}

/// The cells `code` takes: one column per module, two modules per row.
fn size(code: &QrCode) -> Room {
    let side = code.width() + 2 * QUIET_ZONE;
    Room {
        columns: side,
        rows: side.div_ceil(2),
    }
}

fn render(code: &QrCode) -> Vec<String> {
    // The crate's "dark" character is a full block: swapped, a block is a light module.
    code.render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// `lines` as one block for the printer, each line in `COLOURS` when `colour`.
pub fn paint(lines: &[String], colour: bool) -> String {
    let (on, off) = if colour {
        (
            COLOURS.render().to_string(),
            COLOURS.render_reset().to_string(),
        )
    } else {
        Default::default()
    };
    let painted: Vec<String> = lines.iter().map(|l| format!("{on}{l}{off}")).collect();
    painted.join("\n")
}

/// For a person at a terminal, shows `text` as a QR code, then the lines `under`; when
/// the code cannot be drawn there, a warning saying why, then `under` all the same.
/// Nothing when no person watches (`--json`, or stdout is not a terminal).
pub fn show(out: &Printer, text: &str, under: &[String]) {
    if !out.is_live() {
        return;
    }
    match draw(text, Room::of_stdout()) {
        // One block, so that no other line lands inside the code.
        Ok(lines) => out.raw_line(paint(&lines, out.is_colour())),
        Err(e) => out.emit(&Event::warning(format!("--qr: {e}"))),
    }
    for line in under {
        out.raw_line(line.clone());
    }
}

#[cfg(test)]
#[path = "qr_tests.rs"]
mod tests;
