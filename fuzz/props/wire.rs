//! The transfer protocol's record layer (`sockit::transfer::Conn`): control messages and
//! file data written by one `Conn` are read back unchanged by another, sealed or plain;
//! a sealed stream with one bit flipped or cut short opens to exactly the records before
//! the damage and then an error, never to something that was not sealed; and bytes
//! that were never sealed under the key never open at all.

use std::io::{self, Cursor};

use arbitrary::{Result, Unstructured};
use sockit::transfer::{Conn, Entry, Have, Kind, Msg, Record, Role, CHUNK};

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Msg(Msg),
    /// Data sent with `send_data`, or filled in place (`data_buf` + `send_filled`).
    Data(Vec<u8>, bool),
}

pub fn check(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let sealed: bool = u.arbitrary()?;
    let send_key: [u8; 32] = u.arbitrary()?;
    let recv_key: [u8; 32] = u.arbitrary()?;
    let count = u.int_in_range(1..=6)?;
    let items = (0..count)
        .map(|_| item(&mut u))
        .collect::<Result<Vec<_>>>()?;
    let damage: u8 = u.arbitrary()?;
    let at: u32 = u.arbitrary()?;

    let mut writer = Conn::new(io::empty(), Vec::new());
    if sealed {
        writer.encrypt(&send_key, &recv_key);
    }
    // Where each record ends on the wire.
    let mut ends = Vec::new();
    for item in &items {
        match item {
            Item::Msg(msg) => writer.send(msg).unwrap(),
            Item::Data(bytes, false) => writer.send_data(bytes).unwrap(),
            Item::Data(bytes, true) => {
                writer.data_buf()[..bytes.len()].copy_from_slice(bytes);
                writer.send_filled(bytes.len()).unwrap();
            }
        }
        ends.push(writer.writer().len());
    }
    let wire = std::mem::take(writer.writer());

    // What a reader sees: data is data, however it was written.
    let items: Vec<Item> = items
        .into_iter()
        .map(|item| match item {
            Item::Data(bytes, _) => Item::Data(bytes, false),
            msg => msg,
        })
        .collect();

    // Whole: everything comes back, then the end of the stream.
    let (got, end) = read_all(&wire, sealed.then_some((&recv_key, &send_key)));
    assert_eq!(got, items, "round trip");
    assert!(end.is_some(), "no end of stream after the last record");

    // Damaged: a bit flipped, or the stream cut short.
    let mut bad = wire.clone();
    let (first_hit, cut) = if damage.is_multiple_of(2) {
        let i = at as usize % bad.len();
        bad[i] ^= 1 << (damage / 2 % 8);
        (
            ends.iter().position(|&e| i < e).expect("inside a record"),
            false,
        )
    } else {
        let len = at as usize % bad.len();
        bad.truncate(len);
        (
            ends.iter()
                .position(|&e| len < e)
                .expect("short of the end"),
            true,
        )
    };
    let (got, end) = read_all(&bad, sealed.then_some((&recv_key, &send_key)));
    if sealed || cut {
        assert_eq!(got, items[..first_hit], "records before the damage");
        assert!(end.is_some(), "damage went unnoticed");
    }

    // Bytes never sealed under this key: nothing opens.
    let garbage = u.take_rest();
    let mut reader = Conn::new(Cursor::new(garbage), io::sink());
    reader.encrypt(&send_key, &recv_key);
    assert!(reader.recv().is_err(), "unsealed bytes opened");
    Ok(())
}

/// Reads records until the first error; returns them and whether an error (or the end
/// of the stream) stopped it.
fn read_all(wire: &[u8], keys: Option<(&[u8; 32], &[u8; 32])>) -> (Vec<Item>, Option<String>) {
    let mut reader = Conn::new(Cursor::new(wire), io::sink());
    if let Some((send, recv)) = keys {
        reader.encrypt(send, recv);
    }
    let mut got = Vec::new();
    loop {
        match reader.recv() {
            Ok(Record::Msg(m)) => got.push(Item::Msg(m)),
            Ok(Record::Data(d)) => got.push(Item::Data(d.to_vec(), false)),
            Err(e) => return (got, Some(e.to_string())),
        }
        if got.len() > 64 {
            return (got, None);
        }
    }
}

fn item(u: &mut Unstructured) -> Result<Item> {
    Ok(match u.int_in_range(0..=13)? {
        12 | 13 => {
            let len = u.int_in_range(0..=300)?.min(CHUNK);
            let bytes = u.bytes(len.min(u.len()))?.to_vec();
            Item::Data(bytes, u.arbitrary()?)
        }
        n => Item::Msg(msg(u, n)?),
    })
}

fn text(u: &mut Unstructured) -> Result<String> {
    let s: String = u.arbitrary()?;
    Ok(s.chars().take(40).collect())
}

fn msg(u: &mut Unstructured, n: u8) -> Result<Msg> {
    Ok(match n {
        0 => Msg::Hello {
            app: text(u)?,
            version: u.arbitrary()?,
            role: if u.arbitrary()? {
                Role::Send
            } else {
                Role::Recv
            },
            pake: text(u)?,
            encrypt: u.arbitrary()?,
        },
        1 => Msg::Confirm { mac: text(u)? },
        2 => Msg::Manifest {
            entries: (0..u.int_in_range(0..=3)?)
                .map(|_| entry(u))
                .collect::<Result<_>>()?,
        },
        3 => Msg::ManifestEnd {
            count: u.arbitrary()?,
            bytes: u.arbitrary()?,
        },
        4 => Msg::Plan {
            have: (0..u.int_in_range(0..=3)?)
                .map(|_| {
                    Ok(Have {
                        index: u.arbitrary()?,
                        size: u.arbitrary()?,
                        blake3: text(u)?,
                        complete: u.arbitrary()?,
                        send_if_differs: u.arbitrary()?,
                    })
                })
                .collect::<Result<_>>()?,
        },
        5 => Msg::PlanEnd,
        6 => Msg::File {
            index: u.arbitrary()?,
            offset: u.arbitrary()?,
            restart: u.arbitrary()?,
        },
        7 => Msg::Skip {
            index: u.arbitrary()?,
        },
        8 => Msg::FileEnd {
            index: u.arbitrary()?,
            blake3: text(u)?,
        },
        9 => Msg::Done {
            files: u.arbitrary()?,
            bytes: u.arbitrary()?,
        },
        // `error` is not here: it is read as the peer's error, not as a message.
        _ => Msg::Result {
            files: u.arbitrary()?,
            bytes: u.arbitrary()?,
        },
    })
}

fn entry(u: &mut Unstructured) -> Result<Entry> {
    Ok(Entry {
        path: text(u)?,
        kind: *u.choose(&[Kind::File, Kind::Dir, Kind::Symlink])?,
        size: u.arbitrary()?,
        mode: u.arbitrary()?,
        mtime: u.arbitrary()?,
        mtime_ns: u.arbitrary()?,
        target: if u.arbitrary()? { Some(text(u)?) } else { None },
    })
}
