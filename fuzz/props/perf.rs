//! What an iperf3 peer sends `sockit perf`: the control connection's cookie, states,
//! SERVER_ERROR integers and length-prefixed JSON (parameters, results), UDP datagram
//! headers and multicast datagrams. The readers never panic; a JSON message whose
//! length passes `MAX_JSON` is refused from its length alone; parameters and results
//! that parse are written back as JSON that parses to the same values; and a
//! receiver's counts stay consistent whatever sequence numbers arrive, in any order.

use arbitrary::{Result, Unstructured};
use sockit::perf::{
    multicast, read_cookie, read_json, read_server_error, read_state, Header, Params, ProtoError,
    Results, UdpStats, MAX_JSON,
};

pub fn check(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    match u.int_in_range(0..=2u8)? {
        0 => control(u.take_rest()),
        1 => datagrams(&mut u)?,
        _ => {
            let bytes = u.take_rest();
            let _ = Header::decode(bytes, false);
            let _ = Header::decode(bytes, true);
            let _ = multicast::parse(bytes);
        }
    }
    Ok(())
}

/// The control connection's readers, each on the same bytes.
fn control(bytes: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut r = bytes;
        let _ = read_cookie(&mut r).await;
        let _ = read_state(&mut r).await;
        let _ = read_server_error(&mut r).await;
        let declared = bytes
            .get(..4)
            .map(|b| u32::from_be_bytes(b.try_into().unwrap()) as usize);
        let too_long = |e: &ProtoError| matches!(e, ProtoError::TooLong { .. });
        match read_json::<Params, _>(&mut &bytes[..]).await {
            Ok(p) => {
                let text = serde_json::to_vec(&p).unwrap();
                let again: Params = serde_json::from_slice(&text).unwrap();
                assert_eq!(again, p, "{}", String::from_utf8_lossy(&text));
            }
            Err(e) => assert_eq!(too_long(&e), declared.is_some_and(|n| n > MAX_JSON), "{e}"),
        }
        match read_json::<Results, _>(&mut &bytes[..]).await {
            Ok(r) => {
                let text = serde_json::to_vec(&r).unwrap();
                let again: Results = serde_json::from_slice(&text).unwrap();
                assert_eq!(
                    exactly(&again),
                    exactly(&r),
                    "{}",
                    String::from_utf8_lossy(&text)
                );
            }
            Err(e) => assert_eq!(too_long(&e), declared.is_some_and(|n| n > MAX_JSON), "{e}"),
        }
    });
}

/// Up to 2,000 datagrams with sequence numbers near each other (and now and then far
/// off), arriving in the order given.
fn datagrams(u: &mut Unstructured) -> Result<()> {
    let mut stats = UdpStats::default();
    let count = u.int_in_range(0..=2000u32)?;
    let mut base = 0u64;
    for _ in 0..count {
        let seq = match u.int_in_range(0..=9u8)? {
            0 => u.arbitrary::<u64>()?,
            _ => base
                .saturating_add(u.int_in_range(0..=40u64)?)
                .saturating_sub(20),
        };
        base = base.max(seq);
        let header = Header {
            sec: u.arbitrary()?,
            usec: u.int_in_range(0..=999_999)?,
            seq,
        };
        let arrival = f64::from(u.int_in_range(0..=u32::MAX)?)
            + f64::from(u.int_in_range(0..=999_999u32)?) / 1e6;
        stats.record(&header, arrival);
    }
    assert_eq!(stats.unique + stats.duplicates, stats.received);
    assert!(stats.out_of_order <= stats.received);
    assert!(stats.reordered() <= stats.out_of_order);
    assert!(
        stats.jitter.is_finite() && stats.jitter >= 0.0,
        "{}",
        stats.jitter
    );
    assert!(stats.exact_lost(stats.max_seq) <= stats.max_seq);
    Ok(())
}

/// Results with their numbers rounded to 12 significant digits: serde_json reads a
/// float it wrote back to within one unit in the last place, not always exactly.
fn exactly(r: &Results) -> Results {
    let round = |v: f64| {
        if v == 0.0 || !v.is_finite() {
            return v;
        }
        let scale = 10f64.powi(11 - v.abs().log10().floor() as i32);
        (v * scale).round() / scale
    };
    let mut r = r.clone();
    r.cpu_util_total = round(r.cpu_util_total);
    r.cpu_util_user = round(r.cpu_util_user);
    r.cpu_util_system = round(r.cpu_util_system);
    for s in &mut r.streams {
        s.jitter = round(s.jitter);
        s.start_time = s.start_time.map(round);
        s.end_time = s.end_time.map(round);
    }
    r.server_output_json = None;
    r
}
