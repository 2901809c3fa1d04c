//! Sync over real TLS on 127.0.0.1: a district server behind a private CA, with and without
//! the CA configured, with the right and a wrong key pin. A TLS terminator (tokio-rustls) in
//! front of the real reference server plays the district's HTTPS endpoint.

mod support;
mod sync_support;

use std::sync::Arc;

use gridworker_core::Error;
use gridworker_core::sync::SyncOptions;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use sync_support::{Device, RealServer, Tokens, assert_all_synced_once, fast_options};
use tokio::net::{TcpListener, TcpStream};

struct Pki {
    ca_pem: String,
    key_pin: String,
}

/// Starts an HTTPS front for `upstream` with a leaf for 127.0.0.1 signed by a fresh CA.
async fn https_front(upstream: String) -> (String, Pki) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "鸡西市网格化管理中心 CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let key_pin = hex::encode(Sha256::digest(
        rcgen::PublicKeyData::subject_public_key_info(&leaf_key),
    ));

    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![
            leaf.der().clone(),
            CertificateDer::from(ca_cert.der().to_vec()),
        ],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                // A failed handshake (the client refused us) just ends this connection.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut up) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
            });
        }
    });
    (
        format!("https://{addr}"),
        Pki {
            ca_pem: ca_cert.pem(),
            key_pin,
        },
    )
}

fn tls_options(pki: &Pki, with_ca: bool, pins: Vec<String>) -> SyncOptions {
    SyncOptions {
        allow_http: false,
        extra_root_certs_pem: if with_ca {
            vec![pki.ca_pem.clone()]
        } else {
            vec![]
        },
        pinned_sha256: pins,
        max_attempts: 2,
        ..fast_options()
    }
}

fn upstream_of(server: &RealServer) -> String {
    server
        .direct_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_ca_and_key_pin_sync_exactly_once() {
    let server = RealServer::start(&["tok"]);
    let (url, pki) = https_front(upstream_of(&server)).await;
    let dev = Device::new(&url);
    dev.check_ins(2);
    let (_, shas) = dev.report(1, 20_000, 3);
    let engine = dev.engine(
        Tokens::fixed("tok"),
        tls_options(&pki, true, vec![pki.key_pin.clone()]),
    );
    engine.sync().await.unwrap();
    assert_eq!(assert_all_synced_once(&dev, &server).await, 3);
    assert!(server.photo(&shas[0]).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ca_or_wrong_pin_is_refused_and_nothing_is_marked_synced() {
    let server = RealServer::start(&["tok"]);
    let (url, pki) = https_front(upstream_of(&server)).await;
    let dev = Device::new(&url);
    dev.check_ins(2);
    for (with_ca, pins) in [(false, vec![]), (true, vec!["ab".repeat(32)])] {
        let engine = dev.engine(Tokens::fixed("tok"), tls_options(&pki, with_ca, pins));
        let err = engine.sync().await.unwrap_err();
        assert!(matches!(err, Error::Network { .. }), "{err:?}");
        assert_eq!(dev.pending(), 2, "nothing may be marked synced");
    }
    let (counts, _) = server.counts().await;
    assert_eq!(
        counts.values().sum::<u64>(),
        0,
        "the server received nothing"
    );
}
