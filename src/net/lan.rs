//! This machine as other devices on the LAN see it: the addresses a person types (or a
//! phone opens) to reach a server, and why none of them would work from elsewhere.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::dgram;

/// What another device can type to reach a server bound to `local`: each up interface's
/// IPv4 address (loopback last, so the first is one another machine can use) with
/// `local`'s port when it is bound to every address, else `local` itself.
pub fn reachable(local: SocketAddr) -> Vec<SocketAddr> {
    if !local.ip().is_unspecified() {
        return vec![local];
    }
    let mut ips: Vec<Ipv4Addr> = dgram::up_interfaces_v4()
        .map(|l| l.into_iter().map(|(_, v4)| v4.ip).collect())
        .unwrap_or_default();
    ips.sort_by_key(|ip| (ip.is_loopback(), *ip));
    ips.dedup();
    if ips.is_empty() {
        ips.push(Ipv4Addr::LOCALHOST);
    }
    ips.into_iter()
        .map(|ip| SocketAddr::new(IpAddr::V4(ip), local.port()))
        .collect()
}

/// Why `first` (the first of [`reachable`]`(local)`) cannot be reached from another
/// device, if it cannot: it is a loopback address.
pub fn loopback_only(local: SocketAddr, first: SocketAddr) -> Option<String> {
    if !first.ip().is_loopback() {
        return None;
    }
    Some(if local.ip().is_loopback() {
        format!(
            "{} is loopback, which no other device can reach (--bind 0.0.0.0:{} listens on \
             the LAN too)",
            local.ip(),
            local.port()
        )
    } else {
        "this machine has no network interface but loopback: no other device can reach it"
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_a_loopback_address_is_the_only_one_and_no_other_device_reaches_it() {
        let local: SocketAddr = "127.0.0.1:8000".parse().unwrap();
        assert_eq!(reachable(local), vec![local]);
        let why = loopback_only(local, local).unwrap();
        assert!(why.contains("--bind 0.0.0.0:8000"), "{why}");
        let lan: SocketAddr = "192.168.1.20:8000".parse().unwrap();
        assert_eq!(loopback_only(lan, lan), None);
    }

    #[test]
    fn issue18_every_address_puts_loopback_last() {
        let found = reachable("0.0.0.0:8000".parse().unwrap());
        assert!(!found.is_empty());
        assert!(found.iter().all(|a| a.port() == 8000));
        let first_loopback = found.iter().position(|a| a.ip().is_loopback());
        if let Some(i) = first_loopback {
            assert!(found[i..].iter().all(|a| a.ip().is_loopback()), "{found:?}");
        }
        let wildcard: SocketAddr = "0.0.0.0:8000".parse().unwrap();
        let why = loopback_only(wildcard, "127.0.0.1:8000".parse().unwrap()).unwrap();
        assert!(why.contains("no network interface but loopback"), "{why}");
    }
}
