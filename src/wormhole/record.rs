//! Transit's encrypted record pipe (transit.md, "Encryption"): each record is a 4-byte
//! big-endian length, then a 24-byte nonce and the secretbox (tag, then ciphertext).
//! Each direction has its own key, and its nonces count up from zero as a big-endian
//! number (as the Python client writes them; transit.md says little-endian, which no
//! client does): a record out of order, replayed or altered ends the connection.
//! The secretbox is secretbox.rs's, made for this bulk data.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::key::{Key, NONCE_LEN, TAG_LEN};
use super::secretbox;

/// The largest record taken from the peer (nonce, tag and ciphertext): the Python
/// client writes records of 16 KiB, and a record must be held whole in memory.
pub const MAX_RECORD: usize = 4 << 20;

/// How much plaintext each record this side writes carries.
pub const RECORD_PLAIN: usize = 64 << 10;

/// Why the record pipe broke.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("a transit record of {0} bytes (the limit is {MAX_RECORD})")]
    TooLong(usize),
    #[error("a transit record of {0} bytes is shorter than a nonce and a tag")]
    TooShort(usize),
    #[error("transit record {expected} came out of order (its nonce says {got})")]
    OutOfOrder { expected: u64, got: String },
    #[error("transit record {0} does not decrypt: altered, or not from the peer")]
    Tampered(u64),
    #[error("the transit connection closed")]
    Closed,
    #[error("transit connection: {0}")]
    Io(#[from] std::io::Error),
}

fn nonce_of(counter: u64) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    nonce[NONCE_LEN - 8..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// The writing half: seals and writes records.
pub struct RecordWriter<W> {
    io: W,
    key: Key,
    next: u64,
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> RecordWriter<W> {
    pub fn new(io: W, key: &Key) -> Self {
        RecordWriter {
            io,
            key: *key,
            next: 0,
            buf: Vec::with_capacity(4 + NONCE_LEN + TAG_LEN + RECORD_PLAIN),
        }
    }

    /// Seals `plain` as the next record and writes it.
    pub async fn send(&mut self, plain: &[u8]) -> Result<(), RecordError> {
        let sealed = seal(&self.key, self.next, plain, &mut self.buf);
        self.next += 1;
        self.io.write_all(sealed).await?;
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<(), RecordError> {
        self.io.flush().await?;
        Ok(())
    }
}

/// Writes the framed record `counter` of `plain` into `buf` and returns it.
fn seal<'a>(key: &Key, counter: u64, plain: &[u8], buf: &'a mut Vec<u8>) -> &'a [u8] {
    let nonce = nonce_of(counter);
    let len = u32::try_from(NONCE_LEN + TAG_LEN + plain.len()).expect("records are small");
    buf.clear();
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&nonce);
    buf.extend_from_slice(&[0; TAG_LEN]);
    buf.extend_from_slice(plain);
    let (head, body) = buf.split_at_mut(4 + NONCE_LEN + TAG_LEN);
    let tag = secretbox::seal_in_place(key, &nonce, body);
    head[4 + NONCE_LEN..].copy_from_slice(&tag);
    buf
}

/// The reading half: reads and opens records.
pub struct RecordReader<R> {
    io: R,
    key: Key,
    next: u64,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> RecordReader<R> {
    pub fn new(io: R, key: &Key) -> Self {
        RecordReader {
            io,
            key: *key,
            next: 0,
            buf: Vec::new(),
        }
    }

    /// The next record's plaintext (valid until the next call).
    pub async fn recv(&mut self) -> Result<&[u8], RecordError> {
        let mut len = [0u8; 4];
        match self.io.read_exact(&mut len).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(RecordError::Closed)
            }
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_RECORD {
            return Err(RecordError::TooLong(len));
        }
        if len < NONCE_LEN + TAG_LEN {
            return Err(RecordError::TooShort(len));
        }
        self.buf.resize(len, 0);
        self.io.read_exact(&mut self.buf).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                RecordError::Closed
            } else {
                e.into()
            }
        })?;
        let counter = self.next;
        open(&self.key, counter, &mut self.buf)?;
        self.next += 1;
        Ok(&self.buf[NONCE_LEN + TAG_LEN..])
    }
}

/// Opens record `counter` (nonce, tag, ciphertext) in place.
fn open(key: &Key, counter: u64, record: &mut [u8]) -> Result<(), RecordError> {
    let expected = nonce_of(counter);
    let (nonce, rest) = record.split_at_mut(NONCE_LEN);
    if *nonce != expected {
        return Err(RecordError::OutOfOrder {
            expected: counter,
            got: hex::encode(&*nonce),
        });
    }
    let (tag, body) = rest.split_at_mut(TAG_LEN);
    let tag = (&*tag).try_into().expect("TAG_LEN bytes");
    secretbox::open_in_place(key, &expected, body, tag).map_err(|_| RecordError::Tampered(counter))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record key and records computed by the Python client
    /// (src/wormhole/testdata/vectors.py).
    fn python_key() -> Key {
        hex::decode("4860c8f20d819f7caff59f3e9c6c90c7d70405c6e1247fc6eebb6686768b0d75")
            .unwrap()
            .try_into()
            .unwrap()
    }

    const RECORD_0: &str = "000000000000000000000000000000000000000000000000c4c7142d3b1c49ae2ef740567bff62b0e6bdbe5baa";
    const RECORD_1: &str = "00000000000000000000000000000000000000000000000129f97d6cf2f2dff7c9ff602d8989d73c5e215048b9";

    #[tokio::test]
    async fn records_match_the_python_client_both_ways() {
        let mut out = Vec::new();
        let mut writer = RecordWriter::new(&mut out, &python_key());
        writer.send(b"hello").await.unwrap();
        writer.send(b"hello").await.unwrap();
        let expected: Vec<u8> = [RECORD_0, RECORD_1]
            .iter()
            .flat_map(|r| {
                let r = hex::decode(r).unwrap();
                let mut framed = (r.len() as u32).to_be_bytes().to_vec();
                framed.extend(r);
                framed
            })
            .collect();
        assert_eq!(out, expected);
        let mut reader = RecordReader::new(&expected[..], &python_key());
        assert_eq!(reader.recv().await.unwrap(), b"hello");
        assert_eq!(reader.recv().await.unwrap(), b"hello");
        assert!(matches!(reader.recv().await, Err(RecordError::Closed)));
    }

    fn framed(records: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let mut buf = Vec::new();
            out.extend_from_slice(seal(&python_key(), i as u64, r, &mut buf));
        }
        out
    }

    #[tokio::test]
    async fn reordered_altered_or_oversized_records_are_refused() {
        let two = framed(&[b"first", b"second"]);
        let first_len = 4 + NONCE_LEN + TAG_LEN + 5;
        // The second record alone: nonce 1 where 0 is expected.
        let mut reader = RecordReader::new(&two[first_len..], &python_key());
        assert!(matches!(
            reader.recv().await,
            Err(RecordError::OutOfOrder { expected: 0, .. })
        ));
        let mut altered = two.clone();
        *altered.last_mut().unwrap() ^= 1;
        let mut reader = RecordReader::new(&altered[..], &python_key());
        assert_eq!(reader.recv().await.unwrap(), b"first");
        assert!(matches!(reader.recv().await, Err(RecordError::Tampered(1))));
        let huge = ((MAX_RECORD + 1) as u32).to_be_bytes();
        let mut reader = RecordReader::new(&huge[..], &python_key());
        assert!(matches!(reader.recv().await, Err(RecordError::TooLong(_))));
        let tiny = [0, 0, 0, 39];
        let mut reader = RecordReader::new(&tiny[..], &python_key());
        assert!(matches!(
            reader.recv().await,
            Err(RecordError::TooShort(39))
        ));
        // Cut in the middle of a record.
        let mut reader = RecordReader::new(&two[..first_len - 1], &python_key());
        assert!(matches!(reader.recv().await, Err(RecordError::Closed)));
    }
}
