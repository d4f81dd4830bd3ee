//! The unit tests of `slow.rs`.

use super::*;

#[test]
fn a_body_must_keep_up_the_rate_after_the_grace() {
    let mut c = BodyClock::start();
    let l = limits();
    let d = c.deadline().into_std() - c.start;
    assert_eq!(d, l.idle.min(l.grace));
    c.bytes = 5000;
    let d = c.rate_deadline() - c.start;
    assert_eq!(d, l.grace + Duration::from_secs(5000 / BODY_MIN_RATE));
}
