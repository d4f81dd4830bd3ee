//! The ClientHello reader (`http dump --tls-client-hello`): whatever a client sends,
//! gathering records never panics and never takes more than `MAX_HELLO` bytes; a prefix
//! of the records asks for more or fails the same way the whole does; a ClientHello it
//! gathers parses or is refused, and one that parses gives a JA4 of the published shape.

use arbitrary::Result;
use sockit::net::client_hello::{from_records, ClientHello, Records, MAX_HELLO};

pub fn check(data: &[u8]) -> Result<()> {
    let whole = from_records(data);
    for cut in [data.len() / 3, data.len() / 2, data.len().saturating_sub(1)] {
        match (from_records(&data[..cut]), &whole) {
            (Ok(Records::More), _) => {}
            (Ok(Records::Hello(h)), Ok(Records::Hello(w))) => assert_eq!(&h, w, "cut {cut}"),
            (Err(e), Err(w)) => assert_eq!(e.to_string(), w.to_string(), "cut {cut}"),
            (prefix, whole) => panic!("cut {cut}: {prefix:?}, but whole: {whole:?}"),
        }
    }
    let body = match whole {
        Ok(Records::Hello(body)) => body,
        Ok(Records::More) | Err(_) => data.get(5..).unwrap_or_default().to_vec(),
    };
    assert!(body.len() <= MAX_HELLO);
    if let Ok(hello) = ClientHello::parse(&body) {
        let ja4 = hello.ja4();
        let parts: Vec<&str> = ja4.split('_').collect();
        assert_eq!(parts.len(), 3, "{ja4}");
        assert_eq!(parts[0].len(), 10, "{ja4}");
        assert!(parts[1].len() == 12 && parts[2].len() == 12, "{ja4}");
        assert!(ja4.is_ascii(), "{ja4}");
    }
    Ok(())
}
