//! Loss and reordering between hosts of a `Lan`, with the kernel's own count of what it
//! did, for tests that check a program's figures against them.
//!
//! nftables and HTB, not netem: the kernels these tests run on are built without
//! `sch_netem` (and without `act_gact`). A drop in the *sender's* netfilter output hook
//! would fail its `send()` with EPERM, so datagrams are dropped as they arrive at the
//! receiver, which the sender cannot see, as on a lossy link; the sender's output hook
//! only counts them and may send some through a slow HTB class, which later ones
//! overtake. Callers match a flow's data datagrams alone (e.g. UDP, its port and their
//! IP length), so that a control connection, a UDP hello, ARP or end markers are never
//! dropped or counted. Everything lives in the hosts' namespaces and goes with them.

use serde_json::Value;

use crate::harness::*;
use crate::ns::Lan;

/// `RULES` as table `ip sockit` of host `i`.
fn nft(lan: &Lan, i: usize, rules: &str) {
    let mut cmd = lan.command(i, "nft");
    cmd.args(["-f", "-"]);
    let table = format!("table ip sockit {{\n{rules}\n}}\n");
    let out = run_with(cmd, table.as_bytes());
    assert_eq!(out.code(), 0, "nft: {}\n{table}", out.stderr);
}

fn tc(lan: &Lan, i: usize, args: &str) {
    let mut cmd = lan.command(i, "tc");
    cmd.args(args.split(' '));
    let out = run_with(cmd, b"");
    assert_eq!(out.code(), 0, "tc {args}: {}", out.stderr);
}

/// Packets counted so far by counter `name` (`sent`, `dropped`) of host `i`.
pub fn counter(lan: &Lan, i: usize, name: &str) -> u64 {
    let mut cmd = lan.command(i, "nft");
    cmd.args(["-j", "list", "counter", "ip", "sockit", name]);
    let out = run_with(cmd, b"");
    assert_eq!(out.code(), 0, "nft list counter {name}: {}", out.stderr);
    let doc: Value = serde_json::from_slice(&out.stdout).expect("nft -j");
    let found = doc["nftables"].as_array().into_iter().flatten();
    let counter = found.filter_map(|o| o.get("counter")).next();
    let counter = counter.unwrap_or_else(|| panic!("no counter {name}: {doc}"));
    counter["packets"].as_u64().expect("a count of packets")
}

/// At host `i`, the sender of `flow` (an nft match): its datagrams are counted as they
/// leave (`sent`), and with `reorder` one in 20 waits in a 5 Mbit/s HTB class (about
/// 2 ms each) while the others pass.
pub fn count_sent(lan: &Lan, i: usize, flow: &str, reorder: bool) {
    let mut rules = format!(
        "counter sent {{}}\nchain out {{\ntype filter hook output priority 0; policy accept;\n\
         {flow} counter name \"sent\"\n"
    );
    if reorder {
        // Unclassified packets bypass HTB; skb->priority 1:20 picks the slow class.
        tc(lan, i, "qdisc add dev eth0 root handle 1: htb");
        tc(
            lan,
            i,
            "class add dev eth0 parent 1: classid 1:20 htb rate 5mbit burst 1500 cburst 1500",
        );
        rules += &format!("{flow} numgen random mod 20 == 0 meta priority set 1:20\n");
    }
    nft(lan, i, &(rules + "}"));
}

/// At host `i`, a receiver of `flow`: one in 100 of its datagrams is dropped as it
/// arrives, and counted (`dropped`).
pub fn drop_some(lan: &Lan, i: usize, flow: &str) {
    nft(
        lan,
        i,
        &format!(
            "counter dropped {{}}\nchain in {{\ntype filter hook prerouting priority 0; policy accept;\n\
             {flow} numgen random mod 100 == 0 counter name \"dropped\" drop\n}}"
        ),
    );
}
