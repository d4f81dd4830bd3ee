//! The unit tests of `proto.rs`: fed bytes, no sockets.

use super::*;
use crate::perf::i_errno;

#[test]
fn generated_cookies_are_36_alphabet_characters_and_a_nul() {
    let a = Cookie::generate();
    let b = Cookie::generate();
    assert_ne!(a, b);
    for c in [a, b] {
        assert_eq!(c.0[36], 0);
        assert!(c.0[..36].iter().all(|x| COOKIE_ALPHABET.contains(x)));
        assert_eq!(c.text().len(), 36);
    }
}

#[tokio::test]
async fn a_cookie_round_trips_and_only_37_bytes_are_read() {
    let cookie = Cookie::generate();
    let mut wire = Vec::new();
    write_cookie(&mut wire, &cookie).await.unwrap();
    assert_eq!(wire.len(), COOKIE_LEN);
    wire.push(State::ParamExchange.byte());
    let mut r = &wire[..];
    assert_eq!(read_cookie(&mut r).await.unwrap(), cookie);
    assert_eq!(r, [9]);
}

#[tokio::test]
async fn a_cookie_from_an_old_iperf3_is_accepted_whatever_its_characters() {
    let mut bytes = *b"host.example.1796180812.123456789012\0";
    bytes[3] = 0xff;
    let mut r = &bytes[..];
    let cookie = read_cookie(&mut r).await.unwrap();
    assert_eq!(cookie.0, bytes);
}

#[tokio::test]
async fn a_truncated_cookie_says_how_much_came() {
    let mut r = &b"diqylbhglfoytew34jern4pq"[..];
    match read_cookie(&mut r).await {
        Err(ProtoError::TruncatedCookie { got: 24 }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_state_converts_both_ways() {
    for s in State::ALL {
        assert_eq!(State::try_from(i8::from(s)).unwrap(), s);
        assert_eq!(State::try_from(u8::from(s)).unwrap(), s);
    }
    assert_eq!(u8::from(State::AccessDenied), 0xff);
    assert_eq!(u8::from(State::ServerError), 0xfe);
    assert_eq!(u8::from(State::IperfDone), 0x10);
    assert_eq!(i8::from(State::CreateStreams), 10);
}

#[tokio::test]
async fn states_round_trip_as_one_byte_each() {
    let mut wire = Vec::new();
    for s in State::ALL {
        write_state(&mut wire, s).await.unwrap();
    }
    assert_eq!(wire.len(), State::ALL.len());
    let mut r = &wire[..];
    for s in State::ALL {
        assert_eq!(read_state(&mut r).await.unwrap(), s);
    }
    assert!(matches!(read_state(&mut r).await, Err(ProtoError::Closed)));
}

#[tokio::test]
async fn a_bad_state_byte_is_refused() {
    for byte in [0u8, 17, 99, 0xfd, 0x80] {
        let mut r = &[byte][..];
        match read_state(&mut r).await {
            Err(e @ ProtoError::BadState(v)) => {
                assert_eq!(v as u8, byte);
                assert!(e.to_string().contains(&format!("0x{byte:02x}")), "{e}");
            }
            other => panic!("{byte}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn server_error_with_two_integers_or_one() {
    // As seen: UDP port taken (202, EADDRINUSE), then a failed authentication (142 only).
    let mut wire = Vec::new();
    write_server_error(&mut wire, 202, 98).await.unwrap();
    assert_eq!(wire, [0xfe, 0, 0, 0, 0xca, 0, 0, 0, 0x62]);
    let mut r = &wire[..];
    assert_eq!(read_state(&mut r).await.unwrap(), State::ServerError);
    assert_eq!(read_server_error(&mut r).await.unwrap(), (202, Some(98)));
    let mut r = &[0u8, 0, 0, 0x8e][..];
    assert_eq!(read_server_error(&mut r).await.unwrap(), (142, None));
    let mut r = &[0u8, 0][..];
    assert!(matches!(
        read_server_error(&mut r).await,
        Err(ProtoError::Closed)
    ));
}

#[tokio::test]
async fn json_round_trips_behind_a_big_endian_length() {
    let value = serde_json::json!({"tcp": true, "time": 2});
    let mut wire = Vec::new();
    write_json(&mut wire, &value).await.unwrap();
    let text = br#"{"tcp":true,"time":2}"#;
    assert_eq!(wire[..4], (text.len() as u32).to_be_bytes());
    assert_eq!(&wire[4..], text);
    let mut r = &wire[..];
    let back: serde_json::Value = read_json(&mut r).await.unwrap();
    assert_eq!(back, value);
}

#[tokio::test]
async fn json_split_across_reads_is_read_whole() {
    // 3.12 writes the length and the JSON in two segments (section 2.3).
    let (mut a, mut b) = tokio::io::duplex(64);
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        a.write_all(&[0, 0, 0, 2]).await.unwrap();
        a.flush().await.unwrap();
        tokio::task::yield_now().await;
        a.write_all(b"{").await.unwrap();
        tokio::task::yield_now().await;
        a.write_all(b"}").await.unwrap();
    });
    let v: serde_json::Value = read_json(&mut b).await.unwrap();
    assert_eq!(v, serde_json::json!({}));
    writer.await.unwrap();
}

#[tokio::test]
async fn an_oversized_json_length_is_refused_before_reading_the_body() {
    let mut wire = ((MAX_JSON + 1) as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(b"{}");
    let mut r = &wire[..];
    let err = read_json::<serde_json::Value, _>(&mut r).await.unwrap_err();
    assert!(
        matches!(err, ProtoError::TooLong { len, max: MAX_JSON } if len == MAX_JSON as u64 + 1)
    );
    assert!(err.to_string().contains("limit is 65536 bytes"), "{err}");
    assert_eq!(r, b"{}", "nothing after the length was read");
    let mut r = &[0xffu8, 0xff, 0xff, 0xff][..];
    assert!(matches!(
        read_json::<serde_json::Value, _>(&mut r).await,
        Err(ProtoError::TooLong {
            len: 0xffff_ffff,
            ..
        })
    ));
}

#[tokio::test]
async fn a_json_of_exactly_the_limit_is_read() {
    let text = format!("\"{}\"", "a".repeat(MAX_JSON - 2));
    let mut wire = (text.len() as u32).to_be_bytes().to_vec();
    wire.extend_from_slice(text.as_bytes());
    let mut r = &wire[..];
    let s: String = read_json(&mut r).await.unwrap();
    assert_eq!(s.len(), MAX_JSON - 2);
}

#[tokio::test]
async fn writing_an_oversized_json_is_refused() {
    let mut wire = Vec::new();
    let err = write_json(&mut wire, &"a".repeat(MAX_JSON))
        .await
        .unwrap_err();
    assert!(matches!(err, ProtoError::TooLong { .. }));
    assert!(wire.is_empty());
}

#[tokio::test]
async fn truncated_or_bad_json_is_an_error() {
    let mut r = &[0u8, 0][..];
    assert!(matches!(
        read_json::<serde_json::Value, _>(&mut r).await,
        Err(ProtoError::Truncated { got: 2, len: 4 })
    ));
    let mut r = &[0u8, 0, 0, 10, b'{'][..];
    assert!(matches!(
        read_json::<serde_json::Value, _>(&mut r).await,
        Err(ProtoError::Truncated { got: 1, len: 10 })
    ));
    let mut r = &[0u8, 0, 0, 2, b'{', b'{'][..];
    assert!(matches!(
        read_json::<serde_json::Value, _>(&mut r).await,
        Err(ProtoError::Json(_))
    ));
    let mut r = &[][..];
    assert!(matches!(
        read_json::<serde_json::Value, _>(&mut r).await,
        Err(ProtoError::Closed)
    ));
}

#[test]
fn the_error_numbers_seen_have_iperf3_s_messages() {
    assert_eq!(
        i_errno::message(i_errno::IESTREAMLISTEN),
        Some("unable to start stream listener")
    );
    assert_eq!(i_errno::message(142), Some("test authorization failed"));
    assert_eq!(
        i_errno::message(121),
        Some("the server is busy running a test. try again later")
    );
    assert_eq!(i_errno::message(9999), None);
}

#[tokio::test]
async fn a_silent_peer_is_given_up_on_after_the_limit() {
    let (_quiet, mut conn) = tokio::io::duplex(64);
    let limit = std::time::Duration::from_millis(50);
    let err = within("cookie", limit, read_cookie(&mut conn))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProtoError::Timeout { what: "cookie", .. }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "no cookie within 50ms");
    let mut r = &[9u8][..];
    assert_eq!(
        within("state", limit, read_state(&mut r)).await.unwrap(),
        State::ParamExchange
    );
}
