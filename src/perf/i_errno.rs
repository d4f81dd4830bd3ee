//! iperf3's error numbers (`i_errno`) that a SERVER_ERROR may carry (section 7.2; numbers
//! from `iperf_api.h`, which newer versions append to and never renumber).

pub const IEDURATION: i32 = 5;
pub const IENUMSTREAMS: i32 = 6;
pub const IEBLOCKSIZE: i32 = 7;
pub const IEBUFSIZE: i32 = 8;
pub const IEMSS: i32 = 10;
pub const IEOMIT: i32 = 12;
pub const IEUNIMP: i32 = 13;
pub const IEUDPBLOCKSIZE: i32 = 20;
pub const IELISTEN: i32 = 102;
pub const IESENDPARAMS: i32 = 113;
pub const IERECVPARAMS: i32 = 114;
pub const IERECVRESULTS: i32 = 117;
pub const IEACCESSDENIED: i32 = 121;
pub const IESETNODELAY: i32 = 122;
pub const IESETMSS: i32 = 123;
pub const IESETBUF: i32 = 124;
pub const IESETTOS: i32 = 125;
pub const IESETCONGESTION: i32 = 134;
pub const IESETBUF2: i32 = 141;
pub const IEAUTHTEST: i32 = 142;
pub const IECREATESTREAM: i32 = 200;
pub const IESTREAMLISTEN: i32 = 202;
pub const IESTREAMACCEPT: i32 = 204;

/// The message iperf3 prints for a number, for those listed; a client of ours shows
/// the number itself for the others.
pub fn message(i_errno: i32) -> Option<&'static str> {
    Some(match i_errno {
        IEDURATION => "test duration too long",
        IENUMSTREAMS => "number of parallel streams too large",
        IEBLOCKSIZE => "block size too large",
        IEBUFSIZE => "socket buffer size too large",
        IEMSS => "TCP MSS too large",
        IEOMIT => "bogus value for --omit",
        IEUNIMP => "not implemented",
        IEUDPBLOCKSIZE => "block size invalid",
        IELISTEN => "unable to start listener for connections",
        IESENDPARAMS => "unable to send parameters to server",
        IERECVPARAMS => "unable to receive parameters from client",
        IERECVRESULTS => "unable to receive results",
        IEACCESSDENIED => "the server is busy running a test. try again later",
        IESETNODELAY => "unable to set TCP/SCTP NODELAY",
        IESETMSS => "unable to set TCP/SCTP MSS",
        IESETBUF => "unable to set socket buffer size",
        IESETTOS => "unable to set IP TOS",
        IESETCONGESTION => "unable to set TCP_CONGESTION",
        IESETBUF2 => "socket buffer size not set correctly",
        IEAUTHTEST => "test authorization failed",
        IECREATESTREAM => "unable to create a new stream",
        IESTREAMLISTEN => "unable to start stream listener",
        IESTREAMACCEPT => "unable to accept stream connection",
        _ => return None,
    })
}
