//! TLS client configuration (rustls with ring) and the translation of TLS failures into [`TlsProblem`].

use std::{path::Path, sync::Arc};

use rustls::{CertificateError, ClientConfig, RootCertStore};
use rustls_pki_types::{CertificateDer, pem::PemObject};

use crate::{Error, TlsProblem};

/// Builds the client configuration: the CA file's certificates, or the system's roots.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, Error> {
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
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| Error::Tls { addr: String::new(), problem: TlsProblem::Other(err.to_string()) })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
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
    fn a_ca_file_without_certificates_is_a_configuration_error() {
        let dir = std::env::temp_dir().join(format!("dirconn-tls-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert_eq!(client_config(Some(&empty)).unwrap_err().code(), "DC-106");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
