//! ADDR / SIZE / DUR parsing and the discovery datagram parser never panic, and an
//! endpoint that parses prints back as text that parses to the same endpoint.

use sockit::net::addr::{parse_duration, parse_size, Endpoint};

pub fn check(data: &[u8]) -> arbitrary::Result<()> {
    let _ = sockit::transfer::parse_announcement(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    if let Ok(endpoint) = text.parse::<Endpoint>() {
        let printed = endpoint.to_string();
        assert_eq!(
            printed.parse::<Endpoint>().as_ref(),
            Ok(&endpoint),
            "{text:?} printed as {printed:?}"
        );
    }
    let _ = parse_size(text);
    let _ = parse_duration(text);
    Ok(())
}
