//! TLS configuration: the public web roots plus any private CA the district configured, and
//! an optional pin on the server's public key.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Checks the chain as usual, then requires the SHA-256 of the leaf's SubjectPublicKeyInfo to
/// be pinned. Pinning the key rather than the certificate survives a certificate renewal that
/// keeps the key (the usual case), the same choice as OkHttp's `CertificatePinner`.
#[derive(Debug)]
struct PinnedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<[u8; 32]>,
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let digest = spki_sha256(end_entity)?;
        if self.pins.contains(&digest) {
            Ok(verified)
        } else {
            Err(rustls::Error::General(
                "server certificate does not match the configured pin".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// SHA-256 of a certificate's DER-encoded SubjectPublicKeyInfo: the value to pin.
pub fn spki_sha256(cert: &CertificateDer<'_>) -> std::result::Result<[u8; 32], rustls::Error> {
    let parsed = webpki::EndEntityCert::try_from(cert)
        .map_err(|e| rustls::Error::General(format!("unparseable server certificate: {e}")))?;
    Ok(Sha256::digest(parsed.subject_public_key_info().as_ref()).into())
}

fn parse_pin(pin: &str) -> Result<[u8; 32]> {
    let cleaned: String = pin.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(cleaned.to_ascii_lowercase())
        .map_err(|_| Error::invalid("pinned_sha256", "not a hex SHA-256"))?;
    bytes
        .try_into()
        .map_err(|_| Error::invalid("pinned_sha256", "must be 32 bytes (64 hex digits)"))
}

/// Builds the rustls configuration for the engine's HTTP client.
pub fn client_config(extra_roots_pem: &[String], pins: &[String]) -> Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for (i, pem) in extra_roots_pem.iter().enumerate() {
        let field = format!("extra_root_certs_pem[{i}]");
        let mut found = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| Error::invalid(&field, format!("bad PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::invalid(&field, format!("unusable certificate: {e}")))?;
            found += 1;
        }
        if found == 0 {
            return Err(Error::invalid(field, "no certificate in PEM"));
        }
    }
    let pins: Vec<[u8; 32]> = pins.iter().map(|p| parse_pin(p)).collect::<Result<_>>()?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::invalid("tls", e.to_string()))?;
    let roots = Arc::new(roots);
    let config = if pins.is_empty() {
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| Error::invalid("tls", e.to_string()))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedVerifier { inner, pins }))
            .with_no_client_auth()
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pins_and_pem_are_typed_input_errors() {
        assert!(matches!(
            client_config(&[], &["zz".into()]),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            client_config(&["not a pem".into()], &[]),
            Err(Error::InvalidInput { .. })
        ));
        assert!(client_config(&[], &["ab".repeat(32)]).is_ok());
    }

    #[test]
    fn pin_is_the_hash_of_the_public_key_and_survives_renewal() {
        let key = rcgen::KeyPair::generate().unwrap();
        let expected: [u8; 32] =
            Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(&key)).into();
        // Two certificates for the same key (a renewal) pin to the same value.
        for name in ["grid.example.gov.cn", "renewed.example.gov.cn"] {
            let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
            let cert = params.self_signed(&key).unwrap();
            assert_eq!(spki_sha256(cert.der()).unwrap(), expected);
        }
        let other = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_string()])
            .unwrap()
            .self_signed(&other)
            .unwrap();
        assert_ne!(spki_sha256(cert.der()).unwrap(), expected);
        assert!(spki_sha256(&CertificateDer::from(vec![1u8, 2, 3])).is_err());
    }
}
