//! TLS for the servers and clients that offer it (`http serve`, `http dump`, `tcp serve`,
//! `tcp connect`): rustls with the ring provider. A server's identity is a certificate
//! chain and key from PEM files, or a self-signed certificate made once for this
//! machine's names and addresses and kept in sockit's state folder, so that its
//! fingerprint stays the same across restarts.

use std::fmt::Write as _;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sha2::{Digest, Sha256};

use crate::output::Event;

/// Where a server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// `--tls-cert FILE --tls-key FILE`: a PEM chain (leaf first) and its key (PKCS#8,
    /// PKCS#1 RSA or SEC1 EC; RSA, ECDSA and Ed25519 all work).
    Files { cert: PathBuf, key: PathBuf },
    /// `--tls-self-signed`: made once, kept in `state_dir()`.
    SelfSigned,
}

/// What a TLS step failed at, said so a person can act on it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
    #[error("{0}")]
    Config(String),
    #[error("the self-signed certificate in {dir}: {why}")]
    State { dir: PathBuf, why: String },
}

/// A server's TLS: the acceptor and what the certificate is, for `certificate`.
#[derive(Clone)]
pub struct ServerTls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub certificate: Certificate,
    /// What a person should know about the kept certificate (it was renewed, it does
    /// not name an address this machine has now): said as warnings when serving starts.
    pub notes: Vec<String>,
}

impl ServerTls {
    /// The `certificate` event, then a warning per note: said once the server listens.
    pub fn events(&self) -> Vec<Event> {
        let c = &self.certificate;
        let mut events = vec![Event::Certificate {
            fingerprint: c.fingerprint.clone(),
            pin: c.pin.clone(),
            names: c.names.clone(),
            self_signed: c.self_signed,
            path: c.path.display().to_string(),
        }];
        events.extend(self.notes.iter().cloned().map(Event::warning));
        events
    }
}

/// What a person needs to trust a certificate: its SHA-256 fingerprint (as `openssl x509
/// -fingerprint -sha256` prints it), the names it is for, where it is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    pub fingerprint: String,
    /// The public key's pin, `sha256//BASE64` of its SubjectPublicKeyInfo, as curl's
    /// `--pinnedpubkey` and Chromium's `--ignore-certificate-errors-spki-list` take it.
    pub pin: String,
    pub names: Vec<String>,
    pub self_signed: bool,
    pub path: PathBuf,
}

/// How long a made certificate is valid: 825 days, the longest browsers accepted for
/// a certificate of a private authority when this was written.
const VALIDITY_DAYS: i64 = 825;
/// The application protocols a server offers when the caller offers none (TCP).
pub const NO_ALPN: &[&[u8]] = &[];

/// rustls with ring, whatever other provider a dependency might bring in. rustls marks
/// ring's provider deprecated because it has no post-quantum key exchange
/// (X25519MLKEM768, which only the aws-lc-rs provider has); ring is what this crate
/// already builds on, and aws-lc-rs would add a large C build. Key exchange is X25519
/// or the NIST curves.
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The SHA-256 of a DER certificate, as `AB:CD:…`.
pub fn fingerprint(der: &[u8]) -> String {
    let mut out = String::with_capacity(95);
    for (i, b) in Sha256::digest(der).iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02X}");
    }
    out
}

/// The public key pin of a certificate: `sha256//` and the base64 of the SHA-256 of its
/// SubjectPublicKeyInfo (empty for a certificate that does not parse).
pub fn pin(der: &CertificateDer<'_>) -> String {
    use base64::Engine as _;
    match webpki::EndEntityCert::try_from(der) {
        Ok(cert) => {
            let spki = cert.subject_public_key_info();
            let hash = Sha256::digest(spki.as_ref());
            format!(
                "sha256//{}",
                base64::engine::general_purpose::STANDARD.encode(hash)
            )
        }
        Err(_) => String::new(),
    }
}

/// A server's TLS from `identity`, offering `alpn` (HTTP/1.1 for the HTTP servers).
pub fn server(identity: &Identity, alpn: &[&[u8]]) -> Result<ServerTls, TlsError> {
    let mut notes = Vec::new();
    let (certs, key, path, self_signed) = match identity {
        Identity::Files { cert, key } => (read_certs(cert)?, read_key(key)?, cert.clone(), false),
        Identity::SelfSigned => {
            let dir = state_dir()?;
            let (certs, key) = self_signed(&dir, &mut notes)?;
            (certs, key, dir.join(CERT_FILE), true)
        }
    };
    let names = certificate_names(&certs[0]);
    if self_signed {
        notes.extend(unnamed_addresses(&names, &path));
    }
    let certificate = Certificate {
        fingerprint: fingerprint(&certs[0]),
        pin: pin(&certs[0]),
        names,
        self_signed,
        path: path.clone(),
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::File {
            path,
            why: match e {
                rustls::Error::InconsistentKeys(_) => "the key is not the certificate's".into(),
                e => e.to_string(),
            },
        })?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(ServerTls {
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        certificate,
        notes,
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let fail = |why: String| TlsError::File {
        path: path.to_owned(),
        why,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(pem_error(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(pem_error(e)))?;
    if certs.is_empty() {
        return Err(fail(
            "no certificate (PEM `BEGIN CERTIFICATE`) in it".into(),
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.to_owned(),
        why: pem_error(e),
    })
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) => crate::net::sock::describe(&io),
        Error::NoItemsFound => "no private key (PEM `BEGIN … PRIVATE KEY`) in it".into(),
        e => format!("not PEM as expected: {e}"),
    }
}

/// The names a certificate is for, as far as they matter here: its DNS names, and
/// which of this machine's addresses it is valid for (webpki lists DNS names only, but
/// checks an address).
fn certificate_names(der: &CertificateDer<'_>) -> Vec<String> {
    let Ok(cert) = webpki::EndEntityCert::try_from(der) else {
        return Vec::new();
    };
    let mut names: Vec<String> = cert.valid_dns_names().map(str::to_owned).collect();
    for name in local_names() {
        if let Ok(ip) = name.parse::<IpAddr>() {
            let subject = ServerName::IpAddress(ip.into());
            if cert.verify_is_valid_for_subject_name(&subject).is_ok() {
                names.push(name);
            }
        }
    }
    names
}

/// sockit's state folder for TLS: `$SOCKIT_STATE_DIR/tls`, else
/// `$XDG_STATE_HOME/sockit/tls`, else `~/.local/state/sockit/tls`.
pub fn state_dir() -> Result<PathBuf, TlsError> {
    let env = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = env("SOCKIT_STATE_DIR")
        .or_else(|| env("XDG_STATE_HOME").map(|d| d.join("sockit")))
        .or_else(|| env("HOME").map(|h| h.join(".local/state/sockit")))
        .ok_or_else(|| {
            TlsError::Config(
                "no folder for the self-signed certificate: set HOME, XDG_STATE_HOME or SOCKIT_STATE_DIR"
                    .into(),
            )
        })?;
    Ok(base.join("tls"))
}

const CERT_FILE: &str = "self-signed.pem";
const KEY_FILE: &str = "self-signed.key";

/// The self-signed certificate kept in `dir`, made first if there is none, and made
/// anew (with a note) if the kept one has expired. A lock on `dir/lock` makes servers
/// started together agree on one certificate.
fn self_signed(
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    let state = |why: String| TlsError::State {
        dir: dir.to_owned(),
        why,
    };
    let describe = |e: io::Error| state(crate::net::sock::describe(&e));
    std::fs::create_dir_all(dir).map_err(describe)?;
    let _lock = lock(dir).map_err(describe)?;
    if cert.exists() && key.exists() {
        let certs = read_certs(&cert)?;
        match validity(&certs[0]) {
            Validity::Valid => return Ok((certs, read_key(&key)?)),
            Validity::ExpiresSoon => {
                notes.push(format!(
                    "the self-signed certificate in {} expires within {RENEW_WARNING_DAYS} days; \
                     delete it to make a new one (clients that trusted it must trust the new one)",
                    dir.display()
                ));
                return Ok((certs, read_key(&key)?));
            }
            Validity::Expired => {
                notes.push(format!(
                    "the self-signed certificate in {} had expired: made a new one (its \
                     fingerprint changed; clients must trust the new one)",
                    dir.display()
                ));
                for old in [&cert, &key] {
                    std::fs::remove_file(old).map_err(describe)?;
                }
            }
        }
    }
    let (pem, key_pem) = make_self_signed(&local_names()).map_err(|e| state(e.to_string()))?;
    write_private(&key, key_pem.as_bytes()).map_err(describe)?;
    std::fs::write(&cert, pem).map_err(describe)?;
    Ok((read_certs(&cert)?, read_key(&key)?))
}

/// A kept certificate this close to its end is still used, with a warning.
const RENEW_WARNING_DAYS: u64 = 30;

enum Validity {
    Valid,
    ExpiresSoon,
    Expired,
}

/// Whether a self-signed certificate is valid now and in `RENEW_WARNING_DAYS`: checked
/// by webpki as a chain of one, the certificate its own authority.
fn validity(der: &CertificateDer<'_>) -> Validity {
    let valid_at = |days: u64| {
        let at = std::time::SystemTime::now() + std::time::Duration::from_secs(days * 86_400);
        let at = rustls::pki_types::UnixTime::since_unix_epoch(
            at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default(),
        );
        let (Ok(anchor), Ok(cert)) = (
            webpki::anchor_from_trusted_cert(der),
            webpki::EndEntityCert::try_from(der),
        ) else {
            return false;
        };
        cert.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[],
            at,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .is_ok()
    };
    match (valid_at(0), valid_at(RENEW_WARNING_DAYS)) {
        (true, true) => Validity::Valid,
        (true, false) => Validity::ExpiresSoon,
        (false, _) => Validity::Expired,
    }
}

/// An exclusive lock on `dir/lock`, held while the returned file is open.
fn lock(dir: &Path) -> io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(file)
}

/// A warning when the kept certificate does not name an address this machine has now
/// (it was made on another network): a client using that address would be refused.
fn unnamed_addresses(names: &[String], path: &Path) -> Option<String> {
    let missing: Vec<String> = local_names()
        .into_iter()
        .filter(|n| n.parse::<IpAddr>().is_ok() && !names.contains(n))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "the self-signed certificate {} does not name {} (made when this machine had \
             other addresses): clients using {} will see a name mismatch; delete it and its \
             key to make one for the addresses of now (its fingerprint changes)",
            path.display(),
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" },
        )
    })
}

/// Writes a file only its owner may read (a private key), replacing none.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// This machine's names and addresses: `localhost`, its host name, loopback, and every
/// interface's address.
pub fn local_names() -> Vec<String> {
    let mut names = vec!["localhost".to_owned()];
    if let Ok(host) = rustix::system::uname().nodename().to_str() {
        if !host.is_empty() && host != "localhost" {
            names.push(host.to_owned());
        }
    }
    let mut addrs: Vec<IpAddr> = vec![
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
    ];
    if let Ok(ifaces) = if_addrs::get_if_addrs() {
        for iface in ifaces {
            let ip = iface.ip();
            if !addrs.contains(&ip)
                && !matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
            {
                addrs.push(ip);
            }
        }
    }
    names.extend(addrs.iter().map(IpAddr::to_string));
    names
}

/// A self-signed certificate (ECDSA P-256) for `names` (DNS names and IP addresses),
/// valid from yesterday for `VALIDITY_DAYS`: its PEM and its key's.
pub fn make_self_signed(names: &[String]) -> Result<(String, String), rcgen::Error> {
    make_certificate(names, -1, VALIDITY_DAYS)
}

/// A self-signed certificate valid from `from_days` to `until_days` days from now.
fn make_certificate(
    names: &[String],
    from_days: i64,
    until_days: i64,
) -> Result<(String, String), rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let at = |days: i64| {
        time::OffsetDateTime::from_unix_timestamp(now + days * 86_400)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
    };
    params.not_before = at(from_days);
    params.not_after = at(until_days);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "sockit (self-signed)");
    // A server's certificate, not an authority's: what browsers check a leaf for.
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// How a client checks the server's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// `--tls-ca FILE`: trust these certificates instead of the system's.
    pub ca: Option<PathBuf>,
    /// `--tls-insecure`: accept any certificate (the handshake's signatures are still
    /// checked; the fingerprint is shown, to compare with the server's by hand).
    pub insecure: bool,
    /// `--tls-server-name`: the name to check (and send as SNI) instead of the host typed.
    pub server_name: Option<String>,
}

/// A client's TLS: its connector and the name the certificate must carry.
pub struct ClientTls {
    pub connector: tokio_rustls::TlsConnector,
    pub server_name: ServerName<'static>,
}

/// A client's TLS for `host` (the name or address typed), offering `alpn`.
pub fn client(o: &ClientOptions, host: &str, alpn: &[&[u8]]) -> Result<ClientTls, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut config = if o.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
            .with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match &o.ca {
            Some(path) => {
                for cert in read_certs(path)? {
                    roots.add(cert).map_err(|e| TlsError::File {
                        path: path.clone(),
                        why: e.to_string(),
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                roots.add_parsable_certificates(found.certs);
                if roots.is_empty() {
                    return Err(TlsError::Config(
                        "no trusted certificates on this system (install ca-certificates, or give --tls-ca FILE)".into(),
                    ));
                }
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = o.server_name.as_deref().unwrap_or(host);
    let server_name = ServerName::try_from(name.to_owned())
        .map_err(|_| TlsError::Config(format!("{name:?} is not a host name or address for TLS")))?;
    Ok(ClientTls {
        connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        server_name,
    })
}

/// A client's failed handshake in a person's words, with what to do about it: rustls's
/// own (`invalid peer certificate: UnknownIssuer`) name the check, not the remedy.
pub fn handshake_error(e: &io::Error) -> String {
    use rustls::{CertificateError as C, Error as E};
    let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<E>()) else {
        return crate::net::sock::describe(e);
    };
    match tls {
        E::InvalidCertificate(C::UnknownIssuer) => "the server's certificate is not signed by \
            an authority this side trusts (self-signed?): give it, or its authority, with \
            --tls-ca FILE, or see its fingerprint with --tls-insecure and compare"
            .into(),
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the server's certificate has expired".into()
        }
        E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "the server's certificate is not valid yet (is this machine's clock right?)".into()
        }
        E::InvalidCertificate(C::NotValidForNameContext {
            expected,
            presented,
        }) => format!(
            "the server's certificate is not for {}: it is for {}; connect by one of those \
             names or give --tls-server-name NAME",
            expected.to_str(),
            presented
                .iter()
                .map(|n| presented_name(n))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        E::InvalidCertificate(C::NotValidForName) => "the server's certificate is not for \
            the name connected to: give --tls-server-name NAME"
            .into(),
        E::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => "the server did not \
            answer in TLS (does it speak plain TCP? then leave out --tls)"
            .into(),
        E::AlertReceived(alert) => format!("the server refused the handshake ({alert:?})"),
        other => other.to_string(),
    }
}

/// A name as rustls presents it (`DnsName("localhost")`, `IpAddress(127.0.0.1)`), bare.
fn presented_name(name: &str) -> &str {
    ["DnsName(\"", "IpAddress("]
        .iter()
        .find_map(|open| name.strip_prefix(open))
        .map_or(name, |rest| {
            rest.trim_end_matches(')').trim_end_matches('"')
        })
}

/// `--tls-insecure`: any certificate is accepted; the handshake's signatures are still
/// verified, so the peer must hold the key of the certificate it shows.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Whether the first byte a client sent opens a TLS handshake record (a plain HTTP
/// request starts with a method's letters instead).
pub fn starts_tls(first: u8) -> bool {
    first == 0x16
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
