//! TLS client configuration (rustls with ring) and the translation of TLS failures into [`TlsProblem`].
//!
//! ldap3 0.12 builds the TLS server name from the URL's host as written, which for an IPv6 literal keeps
//! its brackets (`[::1]`) and is refused by rustls. For such URLs the engine hands ldap3 a placeholder
//! host name that encodes the address ([`ipv6_placeholder`]); the certificate verifier here maps it back
//! to the address before the usual WebPKI check, so the certificate is still verified for the real IP.

use std::{net::Ipv6Addr, path::Path, sync::Arc};

use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};

use crate::{Error, TlsProblem};

/// The suffix of placeholder names standing for IPv6 literals.
const IPV6_SUFFIX: &str = ".ipv6-literal.dirconn.invalid";

/// A DNS-shaped name standing for an IPv6 address (`0-0-0-0-0-0-0-1.ipv6-literal.dirconn.invalid`).
pub fn ipv6_placeholder(addr: Ipv6Addr) -> String {
    let groups: Vec<String> = addr.segments().iter().map(|g| format!("{g:x}")).collect();
    format!("{}{IPV6_SUFFIX}", groups.join("-"))
}

fn from_placeholder(name: &str) -> Option<Ipv6Addr> {
    let groups = name.strip_suffix(IPV6_SUFFIX)?;
    let parsed: Vec<u16> = groups.split('-').map(|g| u16::from_str_radix(g, 16).ok()).collect::<Option<_>>()?;
    let segments: [u16; 8] = parsed.try_into().ok()?;
    Some(Ipv6Addr::from(segments))
}

/// The WebPKI verifier, with placeholder names turned back into the IPv6 addresses they stand for.
#[derive(Debug)]
struct LiteralAware {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for LiteralAware {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let literal = match server_name {
            ServerName::DnsName(dns) => from_placeholder(dns.as_ref()),
            _ => None,
        };
        match literal {
            Some(ip) => {
                let real = ServerName::IpAddress(std::net::IpAddr::V6(ip).into());
                self.inner.verify_server_cert(end_entity, intermediates, &real, ocsp_response, now)
            }
            None => self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The client configurations of a domain: one for host names, one (without SNI, which names hosts only)
/// for IPv6 literals.
#[derive(Debug, Clone)]
pub struct TlsConfigs {
    /// For URLs with a host name or an IPv4 address.
    pub named: Arc<ClientConfig>,
    /// For URLs with an IPv6 literal, reached through a placeholder name.
    pub ipv6_literal: Arc<ClientConfig>,
}

/// Builds the client configurations: the CA file's certificates, or the system's roots.
pub fn client_config(ca_file: Option<&Path>) -> Result<TlsConfigs, Error> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |problem: String| {
                Error::config(
                    "DC-106",
                    "ca_file",
                    problem,
                    "Point ca_file at a PEM file holding the CA certificate(s) (-----BEGIN CERTIFICATE-----).",
                )
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|err| bad(format!("{} cannot be read: {err}", path.display())))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| bad(format!("{} is not valid PEM: {err}", path.display())))?;
            if certs.is_empty() {
                return Err(bad(format!("{} holds no certificate", path.display())));
            }
            for cert in certs {
                roots.add(cert).map_err(|err| bad(format!("{}: {err}", path.display())))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for err in &found.errors {
                tracing::warn!(error = %err, "a system CA certificate could not be loaded");
            }
            roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let setup = |err: String| Error::Tls { addr: String::new(), problem: TlsProblem::Other(err) };
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .build()
        .map_err(|err| setup(err.to_string()))?;
    let verifier = Arc::new(LiteralAware { inner });
    let named = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| setup(err.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let mut ipv6_literal = named.clone();
    ipv6_literal.enable_sni = false;
    Ok(TlsConfigs { named: Arc::new(named), ipv6_literal: Arc::new(ipv6_literal) })
}

/// Reads a rustls error out of an I/O error, if that is what it carries.
pub fn rustls_error(err: &std::io::Error) -> Option<&rustls::Error> {
    err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// Classifies a rustls error.
pub fn problem(err: &rustls::Error) -> TlsProblem {
    match err {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer | CertificateError::BadSignature => TlsProblem::UnknownCa,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsProblem::NameMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsProblem::Expired,
            other => TlsProblem::Other(format!("certificate rejected: {other:?}")),
        },
        other => TlsProblem::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use rustls::{CertificateError, Error as RustlsError};

    use super::*;

    #[test]
    fn certificate_failures_get_their_own_codes() {
        let code = |e: RustlsError| Error::Tls { addr: "h:636".into(), problem: problem(&e) }.code();
        assert_eq!(code(RustlsError::InvalidCertificate(CertificateError::UnknownIssuer)), "DC-310");
        assert_eq!(code(RustlsError::InvalidCertificate(CertificateError::NotValidForName)), "DC-311");
        assert_eq!(code(RustlsError::InvalidCertificate(CertificateError::Expired)), "DC-312");
        assert_eq!(code(RustlsError::InvalidCertificate(CertificateError::Revoked)), "DC-313");
    }

    #[test]
    fn ipv6_placeholders_round_trip() {
        for text in ["::1", "fe80::1:2", "2001:db8::ff00:42:8329"] {
            let ip: Ipv6Addr = text.parse().unwrap();
            let name = ipv6_placeholder(ip);
            assert!(ServerName::try_from(name.clone()).is_ok(), "{name} is a valid DNS name");
            assert_eq!(from_placeholder(&name), Some(ip));
        }
        assert_eq!(from_placeholder("dc1.example.org"), None);
        assert_eq!(from_placeholder("1-2.ipv6-literal.dirconn.invalid"), None);
    }

    #[test]
    fn a_ca_file_without_certificates_is_a_configuration_error() {
        let dir = std::env::temp_dir().join(format!("dirconn-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert_eq!(client_config(Some(&empty)).unwrap_err().code(), "DC-106");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
