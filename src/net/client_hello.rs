//! A TLS ClientHello read from the wire before the handshake (`http dump
//! --tls-client-hello`): its fields in the order sent, and its JA4 fingerprint
//! (FoxIO's JA4: version, SNI, counts and ALPN, then hashes of the sorted cipher
//! suites and of the sorted extensions with the signature algorithms).
//!
//! Parsed by hand: rustls exposes a few fields of a ClientHello (names, ALPN, suites)
//! but not the extensions in order, nor GREASE values, which are what a fingerprint is.

use sha2::{Digest, Sha256};

/// The longest ClientHello read (records included): real ones are under 2 KiB, a few
/// KiB with post-quantum key shares; a record may hold 16 KiB.
pub const MAX_HELLO: usize = 64 * 1024;

/// Record type of a handshake, and the ClientHello's handshake type.
const HANDSHAKE: u8 = 0x16;
const CLIENT_HELLO: u8 = 1;

/// Extension numbers used here.
const SERVER_NAME: u16 = 0x0000;
const SUPPORTED_GROUPS: u16 = 0x000a;
const SIGNATURE_ALGORITHMS: u16 = 0x000d;
const ALPN: u16 = 0x0010;
const SUPPORTED_VERSIONS: u16 = 0x002b;

/// Why bytes are not a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HelloError {
    #[error("not a TLS handshake record")]
    NotTls,
    #[error("the first handshake message is not a ClientHello (type {0})")]
    NotClientHello(u8),
    #[error("a ClientHello longer than {MAX_HELLO} bytes")]
    TooLong,
    #[error("a malformed ClientHello: {0}")]
    Malformed(&'static str),
}

/// What reading records gave so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Records {
    /// More bytes are needed.
    More,
    /// The ClientHello handshake message (without its 4-byte header).
    Hello(Vec<u8>),
}

/// Gathers the ClientHello from the records at the start of `wire` (it may span
/// several records).
pub fn from_records(wire: &[u8]) -> Result<Records, HelloError> {
    let mut message = Vec::new();
    let mut at = 0;
    loop {
        let Some(header) = wire.get(at..at + 5) else {
            return Ok(Records::More);
        };
        if header[0] != HANDSHAKE {
            return Err(HelloError::NotTls);
        }
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if at + 5 + len > MAX_HELLO {
            return Err(HelloError::TooLong);
        }
        let Some(fragment) = wire.get(at + 5..at + 5 + len) else {
            return Ok(Records::More);
        };
        message.extend_from_slice(fragment);
        at += 5 + len;
        if message.len() >= 4 {
            if message[0] != CLIENT_HELLO {
                return Err(HelloError::NotClientHello(message[0]));
            }
            let body = u32::from_be_bytes([0, message[1], message[2], message[3]]) as usize;
            if 4 + body > MAX_HELLO {
                return Err(HelloError::TooLong);
            }
            if message.len() >= 4 + body {
                message.truncate(4 + body);
                return Ok(Records::Hello(message.split_off(4)));
            }
        }
    }
}

/// One extension: its number and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    pub kind: u16,
    pub data: Vec<u8>,
}

/// A ClientHello's fields, in the order sent, GREASE values included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    pub legacy_version: u16,
    pub session_id_len: usize,
    pub cipher_suites: Vec<u16>,
    pub compression_methods: Vec<u8>,
    pub extensions: Vec<Extension>,
    pub server_name: Option<String>,
    pub alpn: Vec<Vec<u8>>,
    pub supported_versions: Vec<u16>,
    pub signature_algorithms: Vec<u16>,
    pub supported_groups: Vec<u16>,
}

/// A reader over a slice that fails instead of panicking.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], HelloError> {
        if self.0.len() < n {
            return Err(HelloError::Malformed(what));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, HelloError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, HelloError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A vector with a length prefix of `width` bytes.
    fn vec(&mut self, width: usize, what: &'static str) -> Result<&'a [u8], HelloError> {
        let len = match width {
            1 => usize::from(self.u8(what)?),
            _ => usize::from(self.u16(what)?),
        };
        self.take(len, what)
    }
}

/// The u16 values of a list.
fn u16s(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

/// GREASE values (RFC 8701): 0x0a0a, 0x1a1a, …, 0xfafa.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && v >> 8 == v & 0xff
}

impl ClientHello {
    /// Parses a ClientHello handshake message's body (`Records::Hello`).
    pub fn parse(body: &[u8]) -> Result<ClientHello, HelloError> {
        let mut c = Cursor(body);
        let legacy_version = c.u16("version")?;
        c.take(32, "random")?;
        let session_id_len = c.vec(1, "session id")?.len();
        let cipher_suites = u16s(c.vec(2, "cipher suites")?);
        let compression_methods = c.vec(1, "compression methods")?.to_vec();
        let mut hello = ClientHello {
            legacy_version,
            session_id_len,
            cipher_suites,
            compression_methods,
            extensions: Vec::new(),
            server_name: None,
            alpn: Vec::new(),
            supported_versions: Vec::new(),
            signature_algorithms: Vec::new(),
            supported_groups: Vec::new(),
        };
        if c.0.is_empty() {
            return Ok(hello);
        }
        let mut exts = Cursor(c.vec(2, "extensions")?);
        while !exts.0.is_empty() {
            let kind = exts.u16("extension type")?;
            let data = exts.vec(2, "extension data")?;
            // A known extension whose contents do not parse is still shown, raw: the
            // fingerprint needs only its number.
            let _ = hello.read_extension(kind, data);
            hello.extensions.push(Extension {
                kind,
                data: data.to_vec(),
            });
        }
        Ok(hello)
    }

    fn read_extension(&mut self, kind: u16, data: &[u8]) -> Result<(), HelloError> {
        let mut d = Cursor(data);
        match kind {
            SERVER_NAME => {
                let mut list = Cursor(d.vec(2, "server names")?);
                while !list.0.is_empty() {
                    let name_type = list.u8("server name type")?;
                    let name = list.vec(2, "server name")?;
                    if name_type == 0 && self.server_name.is_none() {
                        self.server_name = Some(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            ALPN => {
                let mut list = Cursor(d.vec(2, "protocol names")?);
                while !list.0.is_empty() {
                    self.alpn.push(list.vec(1, "protocol name")?.to_vec());
                }
            }
            SUPPORTED_VERSIONS => self.supported_versions = u16s(d.vec(1, "supported versions")?),
            SIGNATURE_ALGORITHMS => {
                self.signature_algorithms = u16s(d.vec(2, "signature algorithms")?)
            }
            SUPPORTED_GROUPS => self.supported_groups = u16s(d.vec(2, "supported groups")?),
            _ => {}
        }
        Ok(())
    }

    /// The highest version offered: from `supported_versions` when sent, else the
    /// legacy field (GREASE left out).
    pub fn version(&self) -> u16 {
        self.supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.legacy_version)
    }

    /// The JA4 fingerprint, e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`.
    pub fn ja4(&self) -> String {
        let version = match self.version() {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            0xfeff => "d1",
            0xfefd => "d2",
            0xfefc => "d3",
            _ => "00",
        };
        let ciphers: Vec<u16> = self
            .cipher_suites
            .iter()
            .copied()
            .filter(|c| !is_grease(*c))
            .collect();
        let exts: Vec<u16> = self
            .extensions
            .iter()
            .map(|e| e.kind)
            .filter(|k| !is_grease(*k))
            .collect();
        let sni = if exts.contains(&SERVER_NAME) {
            'd'
        } else {
            'i'
        };
        let a = format!(
            "t{version}{sni}{:02}{:02}{}",
            ciphers.len().min(99),
            exts.len().min(99),
            alpn_chars(self.alpn.first())
        );
        let mut sorted = ciphers.clone();
        sorted.sort_unstable();
        let b = truncated_hash(&hex_list(&sorted));
        let mut sorted: Vec<u16> = exts
            .into_iter()
            .filter(|k| *k != SERVER_NAME && *k != ALPN)
            .collect();
        sorted.sort_unstable();
        let c = if sorted.is_empty() {
            "000000000000".to_owned()
        } else {
            let sigs: Vec<u16> = self
                .signature_algorithms
                .iter()
                .copied()
                .filter(|s| !is_grease(*s))
                .collect();
            let mut text = hex_list(&sorted);
            if !sigs.is_empty() {
                text.push('_');
                text.push_str(&hex_list(&sigs));
            }
            truncated_hash(&text)
        };
        format!("{a}_{b}_{c}")
    }
}

/// `002f,0035,…`.
fn hex_list(values: &[u16]) -> String {
    values
        .iter()
        .map(|v| format!("{v:04x}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The first 12 hex digits of SHA-256, or twelve zeros for an empty list.
fn truncated_hash(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".to_owned();
    }
    hex::encode(Sha256::digest(text.as_bytes()))[..12].to_owned()
}

/// JA4's two ALPN characters: the first and last of the first value when both are
/// alphanumeric, else the first and last hex digits of it; `00` without one.
fn alpn_chars(first: Option<&Vec<u8>>) -> String {
    let Some(value) = first.filter(|v| !v.is_empty()) else {
        return "00".to_owned();
    };
    let (a, z) = (value[0], value[value.len() - 1]);
    if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() {
        format!("{}{}", a as char, z as char)
    } else {
        let hex = hex::encode(value);
        let h = hex.as_bytes();
        format!("{}{}", h[0] as char, h[h.len() - 1] as char)
    }
}

/// The IANA name of a cipher suite, for the common ones.
pub fn cipher_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x1301 => "TLS_AES_128_GCM_SHA256",
        0x1302 => "TLS_AES_256_GCM_SHA384",
        0x1303 => "TLS_CHACHA20_POLY1305_SHA256",
        0xc02b => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        0xc02c => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        0xc02f => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        0xc030 => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        0xcca8 => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xcca9 => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        0xc013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        0xc014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        0x009c => "TLS_RSA_WITH_AES_128_GCM_SHA256",
        0x009d => "TLS_RSA_WITH_AES_256_GCM_SHA384",
        0x002f => "TLS_RSA_WITH_AES_128_CBC_SHA",
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA",
        0x003c => "TLS_RSA_WITH_AES_128_CBC_SHA256",
        0x003d => "TLS_RSA_WITH_AES_256_CBC_SHA256",
        0x0033 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
        0x0039 => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
        0x0067 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
        0x006b => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
        0x009e => "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        0x009f => "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
        0xccaa => "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        0xc009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
        0xc00a => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
        0xc023 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
        0xc024 => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
        0xc027 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        0xc028 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
        0x000a => "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
        0x00ff => "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
        0x5600 => "TLS_FALLBACK_SCSV",
        _ => return None,
    })
}

/// The IANA name of a key exchange group, for the common ones.
pub fn group_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x001d => "x25519",
        0x0017 => "secp256r1",
        0x0018 => "secp384r1",
        0x0019 => "secp521r1",
        0x001e => "x448",
        0x11ec => "X25519MLKEM768",
        0x0100 => "ffdhe2048",
        0x0101 => "ffdhe3072",
        0x0102 => "ffdhe4096",
        0x0103 => "ffdhe6144",
        0x0104 => "ffdhe8192",
        0x6399 => "X25519Kyber768Draft00",
        _ => return None,
    })
}

/// The IANA name of a signature scheme, for the common ones (and the SHA-224 and DSA
/// pairs OpenSSL still offers, by their hash and signature names).
pub fn signature_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x0201 => "rsa_pkcs1_sha1",
        0x0203 => "ecdsa_sha1",
        0x0401 => "rsa_pkcs1_sha256",
        0x0501 => "rsa_pkcs1_sha384",
        0x0601 => "rsa_pkcs1_sha512",
        0x0403 => "ecdsa_secp256r1_sha256",
        0x0503 => "ecdsa_secp384r1_sha384",
        0x0603 => "ecdsa_secp521r1_sha512",
        0x0804 => "rsa_pss_rsae_sha256",
        0x0805 => "rsa_pss_rsae_sha384",
        0x0806 => "rsa_pss_rsae_sha512",
        0x0807 => "ed25519",
        0x0808 => "ed448",
        0x0809 => "rsa_pss_pss_sha256",
        0x080a => "rsa_pss_pss_sha384",
        0x080b => "rsa_pss_pss_sha512",
        0x0301 => "sha224_rsa",
        0x0302 => "sha224_dsa",
        0x0303 => "sha224_ecdsa",
        0x0402 => "sha256_dsa",
        0x0502 => "sha384_dsa",
        0x0602 => "sha512_dsa",
        _ => return None,
    })
}

/// A version's name: `TLS 1.3`, …
pub fn version_name(v: u16) -> String {
    match v {
        0x0304 => "TLS 1.3".into(),
        0x0303 => "TLS 1.2".into(),
        0x0302 => "TLS 1.1".into(),
        0x0301 => "TLS 1.0".into(),
        0x0300 => "SSL 3.0".into(),
        v if is_grease(v) => "GREASE".into(),
        v => format!("0x{v:04x}"),
    }
}

/// The IANA name of an extension, for the common ones.
pub fn extension_name(v: u16) -> Option<&'static str> {
    Some(match v {
        0x0000 => "server_name",
        0x0005 => "status_request",
        0x000a => "supported_groups",
        0x000b => "ec_point_formats",
        0x000d => "signature_algorithms",
        0x0010 => "application_layer_protocol_negotiation",
        0x0012 => "signed_certificate_timestamp",
        0x0015 => "padding",
        0x0016 => "encrypt_then_mac",
        0x0017 => "extended_master_secret",
        0x001b => "compress_certificate",
        0x0023 => "session_ticket",
        0x0029 => "pre_shared_key",
        0x002b => "supported_versions",
        0x002d => "psk_key_exchange_modes",
        0x0031 => "post_handshake_auth",
        0x0033 => "key_share",
        0x44cd => "application_settings",
        0xfe0d => "encrypted_client_hello",
        0xff01 => "renegotiation_info",
        _ => return None,
    })
}

#[cfg(test)]
#[path = "client_hello_tests.rs"]
mod tests;
