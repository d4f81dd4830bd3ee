//! The chunked body decoder: the whole input and the same input fed in random splits
//! decode to the same bytes, consume the same bytes and reach the same verdict; what
//! it decodes never exceeds its limit.

use arbitrary::{Result, Unstructured};
use sockit::http::chunked::ChunkedDecoder;

/// What feeding one input gave: the decoded bytes, the bytes consumed (unknown, so 0,
/// once an error stopped it: `feed` says how far it got only when it succeeds), whether
/// the body ended, and the error (as text) if one stopped it.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    decoded: Vec<u8>,
    consumed: usize,
    done: bool,
    error: Option<String>,
}

pub fn check(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let max: u64 = u.int_in_range(0..=200)?;
    let cuts: Vec<u8> = u.arbitrary()?;
    let input = u.take_rest();

    let whole = feed(max, input, &[]);
    let split = feed(max, input, &cuts);
    assert_eq!(whole, split, "splits {cuts:?}");
    assert!(whole.decoded.len() as u64 <= max, "decoded past the limit");
    Ok(())
}

fn feed(max: u64, input: &[u8], cuts: &[u8]) -> Outcome {
    let mut decoder = ChunkedDecoder::new(max);
    let mut decoded = Vec::new();
    let mut consumed = 0;
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() && !decoder.is_done() {
        let n = match cuts.get(i) {
            Some(&c) => (1 + c as usize).min(rest.len()),
            None => rest.len(),
        };
        i += 1;
        match decoder.feed(&rest[..n], &mut decoded) {
            Ok(used) => {
                assert!(used <= n);
                consumed += used;
                if used < n {
                    assert!(decoder.is_done(), "stopped early without ending the body");
                }
                rest = &rest[n..];
            }
            Err(e) => {
                return Outcome {
                    decoded,
                    consumed: 0,
                    done: false,
                    error: Some(e.to_string()),
                }
            }
        }
    }
    Outcome {
        decoded,
        consumed,
        done: decoder.is_done(),
        error: None,
    }
}
