//! iperf3's error numbers (`i_errno`) that a SERVER_ERROR may carry (section 7.2; numbers
//! from `iperf_api.h`, which newer versions append to and never renumber).

pub const IENUMSTREAMS: i32 = 6;
pub const IEBLOCKSIZE: i32 = 7;
pub const IELISTEN: i32 = 102;
pub const IESENDPARAMS: i32 = 113;
pub const IERECVPARAMS: i32 = 114;
pub const IEACCESSDENIED: i32 = 121;
pub const IESETBUF: i32 = 124;
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
        IENUMSTREAMS => "number of parallel streams too large",
        IEBLOCKSIZE => "block size too large",
        IELISTEN => "unable to start listener for connections",
        IESENDPARAMS => "unable to send parameters to server",
        IERECVPARAMS => "unable to receive parameters from client",
        IEACCESSDENIED => "the server is busy running a test. try again later",
        IESETBUF => "unable to set socket buffer size",
        IESETCONGESTION => "unable to set TCP_CONGESTION",
        IESETBUF2 => "socket buffer size not set correctly",
        IEAUTHTEST => "test authorization failed",
        IECREATESTREAM => "unable to create a new stream",
        IESTREAMLISTEN => "unable to start stream listener",
        IESTREAMACCEPT => "unable to accept stream connection",
        _ => return None,
    })
}
