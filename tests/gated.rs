//! The integration tests that need something a machine may lack: root (network
//! namespaces, a tmpfs), Chromium with chromedriver, `nc`, iperf3, nftables, IPv6 on
//! loopback, and the HTTP checkers and clients of the conformance tests (REDbot,
//! rclone, wget, aria2c).
//!
//! libtest decides `#[ignore]` when it compiles, so a test that found its tool missing
//! at run time could only return early and be counted as passed. This binary uses
//! libtest-mimic instead: each test names what it needs (shown as `[needs …]`), and one
//! whose need is missing is reported as `ignored`. Under `SOCKIT_REQUIRE_ALL=1` (CI), or
//! with `--include-ignored`, it runs anyway and fails at once, saying what is missing.

mod browser;
mod conformance_gated;
mod full_disk;
mod harness;
mod impair;
mod ipv6;
mod nc;
mod netns;
mod ns;
mod perf_gated;
mod perf_netns;
mod tls_gated;
mod wormhole_gated;

use libtest_mimic::{Arguments, Failed, Trial};

use harness::{have_program, is_root};

/// What a test needs from the machine.
#[derive(Clone, Copy)]
enum Need {
    /// Root, iproute2 and util-linux's unshare and setpriv: network namespaces.
    Namespaces,
    /// Root and mount(8): a tmpfs of the test's own.
    Mount,
    Browser,
    Nc,
    Ipv6,
    /// curl, openssl and ncat, and root (ncat's listener in a namespace).
    TlsTools,
    /// iperf3 on PATH: a stock peer for `perf`.
    Iperf3,
    /// Namespaces, and iperf3 to run in one.
    NamespacesIperf3,
    /// Namespaces, tc and nft: loss and reordering with the kernel's own counts.
    Impairment,
    /// A Python that can import REDbot (see `conformance_gated::redbot_python`).
    Redbot,
    Rclone,
    Wget,
    Aria2c,
    /// The magic-wormhole CLI, mailbox server and transit relay (PyPI), in
    /// /opt/wormhole/bin or on PATH.
    Wormhole,
    /// Namespaces, and the wormhole tools to run in one.
    NamespacesWormhole,
}

impl Need {
    fn label(self) -> &'static str {
        match self {
            Need::Namespaces => "needs root",
            Need::Mount => "needs root",
            Need::Browser => "needs chromium",
            Need::Nc => "needs nc",
            Need::Ipv6 => "needs IPv6",
            Need::TlsTools => "needs root, curl, openssl, ncat",
            Need::Iperf3 => "needs iperf3",
            Need::NamespacesIperf3 => "needs root, iperf3",
            Need::Impairment => "needs root, nft",
            Need::Redbot => "needs redbot",
            Need::Rclone => "needs rclone",
            Need::Wget => "needs wget",
            Need::Aria2c => "needs aria2c",
            Need::Wormhole => "needs magic-wormhole",
            Need::NamespacesWormhole => "needs root, magic-wormhole",
        }
    }

    /// How to get it, for the failure message.
    fn what(self) -> &'static str {
        match self {
            Need::Namespaces => "root, iproute2, unshare and setpriv (network namespaces)",
            Need::Mount => "root and mount (a tmpfs of 2 MiB)",
            Need::Browser => {
                "chromium and chromium-driver (apt-get install chromium chromium-driver)"
            }
            Need::Nc => "nc (apt-get install netcat-openbsd)",
            Need::Ipv6 => "IPv6 on loopback (::1)",
            Need::TlsTools => {
                "root, curl, openssl and ncat (apt-get install curl openssl ncat iproute2)"
            }
            Need::Iperf3 => "iperf3 (apt-get install iperf3)",
            Need::NamespacesIperf3 => {
                "root, iproute2, unshare, setpriv (network namespaces) and iperf3"
            }
            Need::Impairment => {
                "root, iproute2 (ip, tc), unshare, setpriv and nft (apt-get install nftables)"
            }
            Need::Redbot => {
                "REDbot in /opt/redbot (python3 -m venv /opt/redbot && /opt/redbot/bin/pip \
                 install redbot), or SOCKIT_REDBOT_PYTHON naming a python that imports it"
            }
            Need::Rclone => "rclone (apt-get install rclone)",
            Need::Wget => "wget (apt-get install wget)",
            Need::Aria2c => "aria2c (apt-get install aria2)",
            Need::Wormhole => {
                "the wormhole CLI and twist with the mailbox and relay plugins (python3 -m venv \
                 /opt/wormhole && /opt/wormhole/bin/pip install magic-wormhole \
                 magic-wormhole-mailbox-server magic-wormhole-transit-relay)"
            }
            Need::NamespacesWormhole => {
                "root and iproute2 (network namespaces), and the wormhole tools in /opt/wormhole"
            }
        }
    }

    fn met(self) -> bool {
        match self {
            Need::Namespaces => {
                is_root() && ["ip", "unshare", "setpriv"].into_iter().all(have_program)
            }
            Need::Mount => is_root() && have_program("mount") && have_program("umount"),
            Need::Browser => have_program("chromium") && have_program("chromedriver"),
            Need::Nc => have_program("nc"),
            Need::Ipv6 => std::net::TcpListener::bind("[::1]:0").is_ok(),
            Need::TlsTools => {
                is_root()
                    && ["curl", "openssl", "ncat", "ip"]
                        .into_iter()
                        .all(have_program)
            }
            Need::Iperf3 => have_program("iperf3"),
            Need::NamespacesIperf3 => Need::Namespaces.met() && have_program("iperf3"),
            Need::Impairment => {
                Need::Namespaces.met() && ["tc", "nft"].into_iter().all(have_program)
            }
            Need::Redbot => conformance_gated::have_redbot(),
            Need::Rclone => have_program("rclone"),
            Need::Wget => have_program("wget"),
            Need::Aria2c => have_program("aria2c"),
            Need::Wormhole => wormhole_gated::tools().is_some(),
            Need::NamespacesWormhole => Need::Namespaces.met() && Need::Wormhole.met(),
        }
    }
}

fn trial(need: Need, name: &'static str, test: fn()) -> Trial {
    let met = need.met();
    let require_all = std::env::var_os("SOCKIT_REQUIRE_ALL").is_some_and(|v| v == "1");
    Trial::test(name, move || {
        if !met {
            return Err(Failed::from(format!("this test needs {}", need.what())));
        }
        test();
        Ok(())
    })
    .with_kind(need.label())
    .with_ignored_flag(!met && !require_all)
}

/// `Need => module::{test, …}`: one trial per test function, named `module::test`.
macro_rules! trials {
    ($($need:expr => $module:ident::{$($test:ident),* $(,)?}),* $(,)?) => {
        vec![$($(trial($need, concat!(stringify!($module), "::", stringify!($test)), $module::$test),)*)*]
    };
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = trials![
        Need::Namespaces => netns::{
            broadcast_from_one_host_reaches_both_others_with_the_senders_address,
            multicast_reaches_group_members_only,
            recv_finds_a_sender_on_another_host_by_its_announcement,
            issue12_a_port_below_1024_without_privilege_says_why,
            issue12_multicast_that_cannot_go_out_fails_once_not_warning_and_error,
            broadcast_without_brd_reaches_the_other_host,
            recv_finds_send_by_its_announcements_with_and_without_brd,
            send_raw_defaults_to_the_notes_port_for_their_client,
        },
        Need::Mount => full_disk::{
            a_full_disk_fails_clearly_keeps_the_part_and_resumes_once_there_is_room,
        },
        Need::Browser => browser::{
            a_browser_browses_uploads_and_downloads_through_http_serve,
            a_browser_sees_its_own_request_in_http_dump,
            a_browser_shows_chinese_text_files_as_written,
        },
        Need::Browser => tls_gated::{chromium_opens_https_trusting_the_certificate_by_its_pin},
        Need::Nc => nc::{raw_send_to_nc_and_raw_recv_from_nc},
        Need::TlsTools => tls_gated::{
            curl_trusts_http_serve_by_its_certificate_or_its_pin,
            openssl_s_client_talks_to_http_serve_and_tcp_serve,
            tcp_connect_talks_to_openssl_s_server,
            ncat_ssl_in_both_roles,
        },
        Need::NamespacesIperf3 => perf_gated::{
            sockit_client_with_iperf3_server_tcp,
            sockit_client_with_iperf3_server_two_streams,
            sockit_client_with_iperf3_server_reverse,
            sockit_client_with_iperf3_server_bidir,
            sockit_client_with_iperf3_server_udp,
            sockit_client_with_iperf3_server_udp_reverse,
        },
        Need::Iperf3 => perf_gated::{
            iperf3_client_with_sockit_server_tcp,
            iperf3_client_with_sockit_server_two_streams,
            iperf3_client_with_sockit_server_reverse,
            iperf3_client_with_sockit_server_bidir,
            iperf3_client_with_sockit_server_udp,
            iperf3_client_with_sockit_server_udp_reverse,
        },
        Need::Impairment => perf_netns::{
            udp_loss_is_exactly_what_the_network_dropped,
            udp_loss_is_exactly_what_the_network_dropped_reverse,
            multicast_members_report_exactly_what_the_network_dropped,
        },
        Need::Namespaces => perf_netns::{
            tcp_bitrate_100m_is_held_over_10_seconds,
            udp_bitrate_100m_is_held_over_10_seconds,
            multicast_members_each_report_what_they_received,
        },
        Need::Redbot => conformance_gated::{
            redbot_finds_no_error_over_http,
            redbot_finds_no_error_over_https,
        },
        Need::Rclone => conformance_gated::{rclone_lists_and_copies_a_tree_bit_exact},
        Need::Wget => conformance_gated::{wget_c_resumes_a_partial_download},
        Need::Aria2c => conformance_gated::{aria2c_splits_a_download_over_http_and_https_bit_exact},
        Need::NamespacesWormhole => wormhole_gated::{
            sockit_and_the_python_client_connect_directly_to_each_others_hints,
        },
        Need::Wormhole => wormhole_gated::{
            sockit_sends_text_to_wormhole_receive,
            wormhole_send_text_to_sockit_recv,
            a_wrong_code_fails_clearly_on_both_sides,
            recv_without_a_code_and_no_terminal_is_a_usage_error,
            sockit_sends_a_file_to_wormhole_receive_directly,
            sockit_sends_a_file_to_wormhole_receive_through_the_relay,
            wormhole_send_sends_a_file_to_sockit_directly,
            wormhole_send_sends_a_file_to_sockit_through_the_relay,
            an_existing_file_is_refused_without_overwrite,
            sockit_sends_a_folder_to_wormhole_receive,
            wormhole_send_sends_a_folder_to_sockit,
            sockit_to_sockit_sends_a_folder_with_its_own_protocol,
            sockit_to_sockit_over_the_relay_resumes_after_a_cut,
            a_200_mib_file_both_ways_with_wormhole,
            send_uses_the_code_it_is_given,
            sockit_to_sockit_knows_its_peer,
            a_hostile_zip_from_a_scripted_sender_writes_nothing,
            the_environment_chooses_the_servers,
            ctrl_c_while_waiting_for_the_receiver_ends_with_130,
        },
        Need::Ipv6 => ipv6::{
            ipv6_loopback,
            an_ipv6_wildcard_bind_also_serves_ipv4_clients,
            the_ipv6_payload_limit_is_65527,
            issue17_perf_over_ipv6_and_ipv4_through_a_dual_stack_server,
        },
    ];
    let listed: Vec<String> = trials.iter().map(|t| t.name().to_owned()).collect();
    trials.push(Trial::test("every_test_here_is_listed", move || {
        every_test_is_listed(&listed)
    }));
    libtest_mimic::run(&args, trials).exit();
}

/// A test function added to one of these modules but not to `main`'s list would never
/// run: every `pub fn name() {` at the top level of a module must be listed.
fn every_test_is_listed(listed: &[String]) -> Result<(), Failed> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut missing = Vec::new();
    for module in [
        "browser",
        "conformance_gated",
        "full_disk",
        "ipv6",
        "nc",
        "netns",
        "perf_gated",
        "perf_netns",
        "wormhole_gated",
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{module}.rs")))
            .map_err(|e| Failed::from(format!("{module}.rs: {e}")))?;
        for line in text.lines() {
            if let Some(name) = line
                .strip_prefix("pub fn ")
                .and_then(|rest| rest.strip_suffix("() {"))
            {
                let full = format!("{module}::{name}");
                if !listed.contains(&full) {
                    missing.push(full);
                }
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("not listed in tests/gated.rs: {}", missing.join(", ")).into())
    }
}
