//! Hosts in network namespaces for tests that need real interfaces: a bridge in a
//! namespace of its own and a veth pair per host. Names carry the test's pid and tag so
//! parallel runs do not clash; traffic never leaves the namespaces the test creates.

use std::process::Command;

use crate::harness::*;

/// Hosts `a`, `b`, … (SUBNET.1, .2, …) on a bridge; every namespace is deleted when
/// this is dropped, also when the test fails.
pub struct Lan {
    switch: String,
    hosts: Vec<String>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Lan {
    /// `count` hosts on `subnet` (the first three octets, e.g. `10.77.0`).
    pub fn new(tag: &str, subnet: &str, count: usize) -> Lan {
        Lan::build(tag, subnet, count, true)
    }

    /// The same, but each address configured without `brd` (`ip addr add
    /// 10.77.0.1/24 dev eth0`), as hand-made and some DHCP/VM set-ups do: the
    /// interface then reports no proper broadcast address.
    pub fn without_brd(tag: &str, subnet: &str, count: usize) -> Lan {
        Lan::build(tag, subnet, count, false)
    }

    fn build(tag: &str, subnet: &str, count: usize, brd: bool) -> Lan {
        let prefix = format!("sockit-{}-{tag}", std::process::id());
        let mut lan = Lan {
            switch: format!("{prefix}-sw"),
            hosts: Vec::new(),
        };
        let sw = lan.switch.clone();
        ip(&["netns", "add", &sw]);
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        // Without snooping the bridge floods multicast to every port, so a non-member
        // is kept out by its own kernel, not by the switch.
        ip(&[
            "-n",
            &sw,
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        for (i, name) in ["a", "b", "c", "d"].iter().take(count).enumerate() {
            let ns = format!("{prefix}-{name}");
            ip(&["netns", "add", &ns]);
            lan.hosts.push(ns.clone());
            let port = format!("p{name}");
            ip(&[
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ]);
            ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"]);
            let addr = format!("{subnet}.{}/24", i + 1);
            // `brd +` gives the interface its broadcast address, SUBNET.255.
            if brd {
                ip(&["-n", &ns, "addr", "add", &addr, "brd", "+", "dev", "eth0"]);
            } else {
                ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"]);
            }
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&["-n", &ns, "route", "add", "default", "dev", "eth0"]);
        }
        lan
    }

    /// `sockit --json ARGS` inside host `i` (0 = a).
    pub fn sockit(&self, i: usize, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.hosts[i]])
            .arg(bin())
            .arg("--json")
            .args(args)
            .env("NO_COLOR", "1");
        cmd
    }

    /// Any `program` inside host `i`.
    pub fn command(&self, i: usize, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.hosts[i], program]);
        cmd
    }

    pub fn serve(&self, i: usize, args: &[&str]) -> Server {
        Server::start_command(self.sockit(i, args))
    }

    pub fn run(&self, i: usize, args: &[&str]) -> Output {
        let out = run_with(self.sockit(i, args), b"");
        assert_eq!(out.code(), 0, "{args:?}: {}", out.stderr);
        out
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes its interfaces, the veth pairs and the bridge.
        for ns in self.hosts.iter().chain([&self.switch]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}
