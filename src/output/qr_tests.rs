use super::*;

/// Room enough for any code these tests draw.
const WIDE: Room = Room {
    columns: 200,
    rows: 100,
};

const URL: &str = "http://192.168.100.200:65535/";
const COMMAND: &str = "sockit recv 192.168.100.200:65535 --code 999-umbrella-fountain";

/// The modules drawn in `lines` (true: light), two per character row, as a scanner would
/// see them; escape codes are skipped.
fn modules(lines: &[String]) -> Vec<Vec<bool>> {
    let mut grid = Vec::new();
    for line in lines {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            let (t, b) = match c {
                '\x1b' => {
                    chars.by_ref().find(|&c| c == 'm');
                    continue;
                }
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("{other:?} in a QR code: {line:?}"),
            };
            top.push(t);
            bottom.push(b);
        }
        grid.push(top);
        grid.push(bottom);
    }
    grid
}

/// Decodes the code drawn in `lines` with rqrr, from a picture of 4×4 pixels per module.
fn decode(lines: &[String]) -> String {
    let grid = modules(lines);
    let scale = 4;
    let (w, h) = (grid[0].len() * scale, grid.len() * scale);
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        if grid[y / scale][x / scale] {
            255
        } else {
            0
        }
    });
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "one code in {lines:#?}");
    grids[0].decode().expect("the code decodes").1
}

#[test]
fn issue18_a_url_and_a_recv_command_decode_back() {
    for text in [URL, COMMAND, "http://[fe80::1]:8000/"] {
        let lines = draw(text, WIDE).unwrap();
        assert_eq!(decode(&lines), text);
    }
}

#[test]
fn issue18_the_code_is_square_with_a_light_quiet_zone_in_block_characters() {
    let lines = draw(URL, WIDE).unwrap();
    let grid = modules(&lines);
    let side = grid[0].len();
    // Version 3 at level M (29 modules) plus the quiet zone on both sides.
    assert_eq!(side, 29 + 2 * QUIET_ZONE);
    assert!(lines.iter().all(|l| l.chars().count() == side));
    assert_eq!(lines.len(), side.div_ceil(2));
    // An odd side leaves the last row's lower half to the terminal: not part of the code.
    let grid = &grid[..side];
    for (y, row) in grid.iter().enumerate() {
        for (x, &light) in row.iter().enumerate() {
            let margin = [x, y, side - 1 - x, side - 1 - y]
                .into_iter()
                .min()
                .unwrap();
            if margin < QUIET_ZONE {
                assert!(light, "module ({x}, {y}) is in the quiet zone");
            }
        }
    }
    // The finder pattern's corner, just inside the quiet zone, is dark.
    assert!(!grid[QUIET_ZONE][QUIET_ZONE]);
}

#[test]
fn issue18_a_code_that_needs_level_l_to_fit_is_drawn_at_l_and_still_decodes() {
    // 30 bytes: version 2 (25 modules) at L, version 3 (29) at M.
    let text = "http://192.168.100.200:65535/x";
    let at_m = draw(text, WIDE).unwrap();
    assert_eq!(at_m[0].chars().count(), 29 + 2 * QUIET_ZONE);
    let tight = Room {
        columns: 25 + 2 * QUIET_ZONE,
        rows: 17,
    };
    let at_l = draw(text, tight).unwrap();
    assert_eq!(at_l[0].chars().count(), tight.columns);
    assert_eq!(decode(&at_l), text);
}

#[test]
fn issue18_a_narrow_or_short_terminal_gets_no_code_and_is_told_what_it_needs() {
    let narrow = Room {
        columns: 30,
        rows: 50,
    };
    let needs = Room {
        columns: 25 + 2 * QUIET_ZONE,
        rows: 17,
    };
    assert_eq!(
        draw(URL, narrow),
        Err(QrError::TooLarge { needs, has: narrow })
    );
    let short = Room {
        columns: 200,
        rows: 16,
    };
    assert!(matches!(draw(URL, short), Err(QrError::TooLarge { .. })));
    let message = draw(URL, narrow).unwrap_err().to_string();
    assert_eq!(
        message,
        "no room for the QR code: it needs 33×17 characters and the terminal is 30×50"
    );
}

#[test]
fn issue18_too_much_text_for_any_code_is_an_error_not_a_panic() {
    let text = "x".repeat(4000);
    assert_eq!(draw(&text, WIDE), Err(QrError::TooLong { bytes: 4000 }));
}

#[test]
fn issue18_colour_wraps_every_line_and_its_absence_adds_nothing() {
    let lines = draw(URL, WIDE).unwrap();
    let plain = paint(&lines, false);
    assert_eq!(plain, lines.join("\n"));
    let coloured = paint(&lines, true);
    for line in coloured.lines() {
        assert!(line.starts_with("\x1b["), "{line:?}");
        assert!(line.ends_with("\x1b[0m"), "{line:?}");
    }
    let back: Vec<String> = coloured.lines().map(str::to_owned).collect();
    assert_eq!(decode(&back), URL);
}
