//! Known answers computed by the Python client's own functions
//! (src/wormhole/testdata/vectors.py): the session key `00 01 … 1f`.

use super::*;

fn session_key() -> Key {
    std::array::from_fn(|i| i as u8)
}

fn hex32(s: &str) -> Key {
    hex::decode(s).unwrap().try_into().unwrap()
}

#[test]
fn subkeys_match_the_python_client() {
    let key = session_key();
    assert_eq!(
        verifier(&key),
        hex32("116c6e41d0faf2886a5b488079748585db2c4d6d151cca6c580055e1bd176459")
    );
    assert_eq!(
        phase_key(&key, "0123456789", "version"),
        hex32("65187c8822d10970289e2eaa1eb623d7c90d0ff2af2507fcdac4f1a08bf13fa9")
    );
    assert_eq!(
        phase_key(&key, "abcdef", "0"),
        hex32("74840cbf4477eec2d9bf38e2737537437687f397468d8dbca9f6c4b25cef8c42")
    );
    assert_eq!(
        derive(&key, TRANSIT_PURPOSE.as_bytes()),
        hex32("9329a646acaba7172c557c7971191ec6a1e287f84abe58c60dce2659c44c2925")
    );
}

#[test]
fn a_sealed_message_matches_the_python_client_and_opens() {
    let key = phase_key(&session_key(), "0123456789", "version");
    let nonce: [u8; NONCE_LEN] = std::array::from_fn(|i| i as u8);
    let sealed = seal_with_nonce(&key, &nonce, br#"{"app_versions": {}}"#);
    assert_eq!(
        hex::encode(&sealed),
        "000102030405060708090a0b0c0d0e0f1011121314151617b375147ba644623a349087bc6bea3fe7\
         757b1fb57233eedf131e9cd437cb6ba2b19f747f"
    );
    assert_eq!(open(&key, &sealed).unwrap(), br#"{"app_versions": {}}"#);
    // Random nonces: two seals of the same message differ, and both open.
    let (a, b) = (seal(&key, b"x"), seal(&key, b"x"));
    assert_ne!(a, b);
    assert_eq!(open(&key, &a).unwrap(), b"x");
}

#[test]
fn a_wrong_key_or_a_changed_byte_does_not_open() {
    let key = phase_key(&session_key(), "a", "version");
    let sealed = seal(&key, b"hello");
    let other = phase_key(&session_key(), "b", "version");
    assert_eq!(open(&other, &sealed), Err(Undecryptable));
    for at in [0, NONCE_LEN, sealed.len() - 1] {
        let mut changed = sealed.clone();
        changed[at] ^= 1;
        assert_eq!(open(&key, &changed), Err(Undecryptable), "byte {at}");
    }
    assert_eq!(
        open(&key, &sealed[..NONCE_LEN + TAG_LEN - 1]),
        Err(Undecryptable)
    );
    assert_eq!(open(&key, b""), Err(Undecryptable));
}

/// Every byte it gives is `0x17`: a fixed scalar, so the PAKE message is known.
struct Fixed;

impl rand_core::RngCore for Fixed {
    fn next_u32(&mut self) -> u32 {
        0x1717_1717
    }
    fn next_u64(&mut self) -> u64 {
        0x1717_1717_1717_1717
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0x17);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        dest.fill(0x17);
        Ok(())
    }
}

impl rand_core::CryptoRng for Fixed {}

#[test]
fn the_pake_agrees_with_the_python_client() {
    let (pake, ours) = Pake::start_with_rng(b"7-guitarist-revenge", APPID, Fixed);
    // `vectors.py OURS` prints the Python side's message and the key it derives.
    assert_eq!(
        hex::encode(&ours),
        "53e68aab35a2bb55a6279d51afd534ea11d805e2e62ad747e1dc0a4a3493fc6a69"
    );
    let theirs =
        hex::decode("53e8b976b2f4318f526f5316dbeabc6b4b7ebd7addf4c0990285a241790901f472").unwrap();
    let key = pake.finish(&theirs).unwrap();
    assert_eq!(
        hex::encode(key),
        "138d172040b59f814730f2f614a82745918bd63508c586033b8227cb7bfa9686"
    );
}

#[test]
fn a_different_code_gives_a_different_key_and_garbage_is_refused() {
    let (a, msg_a) = Pake::start(b"7-guitarist-revenge", APPID);
    let (b, msg_b) = Pake::start(b"7-guitarist-revenue", APPID);
    assert_ne!(a.finish(&msg_b).unwrap(), b.finish(&msg_a).unwrap());
    let (a, msg_a) = Pake::start(b"7-guitarist-revenge", APPID);
    let (b, msg_b) = Pake::start(b"7-guitarist-revenge", APPID);
    assert_eq!(a.finish(&msg_b).unwrap(), b.finish(&msg_a).unwrap());
    let (c, _) = Pake::start(b"7-guitarist-revenge", APPID);
    assert!(c.finish(b"short").is_err());
}
