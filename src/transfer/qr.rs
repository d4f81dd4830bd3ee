//! `send --qr`: under `ready`, the `sockit recv` command a person runs on the other
//! machine, as a QR code (a phone's camera carries it there, or a person reads it off).

use std::net::SocketAddr;

use crate::net::lan;
use crate::output::{qr, Event, Printer};

/// What the receiver must be told besides the address.
pub enum Needs<'a> {
    /// The code, and `--plain` when the sender does not encrypt.
    Code { code: &'a str, plain: bool },
    /// `--raw`: no code.
    Raw,
}

/// Shows the QR code of the command that receives from `addrs[0]` (what `ready` lists;
/// `local` is the bound address). A sender on loopback gets its code under a warning,
/// as `http serve --qr` does.
pub fn show(local: SocketAddr, addrs: &[SocketAddr], needs: Needs<'_>, out: &Printer) {
    if !out.is_live() {
        return;
    }
    let first = addrs.first().copied().unwrap_or(local);
    if let Some(why) = lan::loopback_only(local, first) {
        out.emit(&Event::warning(format!("--qr: {why}")));
    }
    qr::show(out, &command(first, &needs), &[]);
}

/// The command as a person types it.
fn command(addr: SocketAddr, needs: &Needs<'_>) -> String {
    match needs {
        Needs::Code { code, plain: false } => format!("sockit recv {addr} --code {code}"),
        Needs::Code { code, plain: true } => format!("sockit recv {addr} --code {code} --plain"),
        Needs::Raw => format!("sockit recv --raw {addr}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_the_command_carries_what_recv_needs() {
        let addr = "192.168.1.20:40111".parse().unwrap();
        let code = "7-amber-lantern";
        assert_eq!(
            command(addr, &Needs::Code { code, plain: false }),
            "sockit recv 192.168.1.20:40111 --code 7-amber-lantern"
        );
        assert_eq!(
            command(addr, &Needs::Code { code, plain: true }),
            "sockit recv 192.168.1.20:40111 --code 7-amber-lantern --plain"
        );
        assert_eq!(
            command(addr, &Needs::Raw),
            "sockit recv --raw 192.168.1.20:40111"
        );
    }
}
