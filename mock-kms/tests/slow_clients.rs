//! Slow-loris: hundreds of half-open connections on both listeners — request heads never
//! finished, bodies never sent, TCP and TLS connections that say nothing, HTTP/2 sessions with no
//! request — are all closed once the read timeouts pass, the server answers other clients
//! meanwhile, and every connection slot is released.

use std::sync::Arc;
use std::time::Duration;

use ekm_mock_kms::server::{Limits, MockKms, Options};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// Short limits, so the test waits about a second per timeout.
fn limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        max_connections: 1024,
    }
}

/// Far longer than any limit: a connection still open after this was never closed.
const NEVER: Duration = Duration::from_secs(30);

async fn start() -> MockKms {
    MockKms::start(Options {
        limits: limits(),
        ..Options::ephemeral()
    })
    .await
    .expect("mock starts")
}

/// Reads until the server closes the connection; fails if it does not within [`NEVER`].
async fn wait_closed(mut stream: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(NEVER, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server left a half-open connection open");
    received
}

async fn connect(addr: std::net::SocketAddr, first_bytes: &'static [u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.write_all(first_bytes).await.expect("writes");
    stream
}

/// Both listeners' connection counts fall back to zero.
async fn all_released(mock: &MockKms) {
    let released = tokio::time::timeout(NEVER, async {
        while mock.open_connections() != (0, 0) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        released.is_ok(),
        "connections still counted open: {:?}",
        mock.open_connections()
    );
}

async fn clock_answers(mock: &MockKms) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let response = client
        .get(format!("{}/_mock/v1/clock", mock.http_url()))
        .send()
        .await
        .expect("the clock answers");
    assert_eq!(response.status(), 200);
}

const HALF_HEAD: &[u8] =
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentService.Encrypt\r\n";
const NO_BODY: &[u8] =
    b"PUT /_mock/v1/faults HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{\"provider\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_http_connections_are_closed_and_the_server_keeps_answering() {
    let mock = start().await;
    let addr = mock.http_addr();
    let mut clients = JoinSet::new();
    for i in 0..300 {
        let first_bytes: &'static [u8] = match i % 3 {
            0 => HALF_HEAD,
            1 => NO_BODY,
            _ => b"",
        };
        let stream = connect(addr, first_bytes).await;
        clients.spawn(wait_closed(stream));
    }
    assert!(mock.open_connections().0 > 0);
    clock_answers(&mock).await;

    let mut bodies_refused = 0;
    while let Some(received) = clients.join_next().await {
        let received = String::from_utf8_lossy(&received.expect("client task")).into_owned();
        if received.starts_with("HTTP/1.1 400") {
            assert!(received.contains("body"), "{received}");
            bodies_refused += 1;
        } else {
            assert!(
                received.is_empty() || received.starts_with("HTTP/1.1 408"),
                "{received}"
            );
        }
    }
    assert_eq!(bodies_refused, 100, "each late body is answered with a 400");
    all_released(&mock).await;
    clock_answers(&mock).await;
    mock.shutdown().await;
}

/// A TLS connection to the https listener offering `alpn`, after sending `first_bytes`.
async fn tls_connect(
    mock: &MockKms,
    alpn: &[u8],
    first_bytes: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let stream = TcpStream::connect(mock.https_addr())
        .await
        .expect("connects");
    let server_name = ServerName::try_from("localhost").expect("name");
    let mut stream = tls_connector(mock, alpn)
        .connect(server_name, stream)
        .await
        .expect("TLS handshake");
    stream.write_all(first_bytes).await.expect("writes");
    stream
}

fn tls_connector(mock: &MockKms, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(mock.ca_cert_pem().as_bytes()).expect("CA PEM");
    roots.add(ca).expect("CA certificate");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_tls_and_http2_connections_are_closed() {
    let mock = start().await;
    let addr = mock.https_addr();
    let mut clients = JoinSet::new();
    for i in 0..150 {
        match i % 3 {
            // TCP only: the TLS handshake never starts.
            0 => {
                let stream = connect(addr, b"").await;
                clients.spawn(async move { wait_closed(stream).await.len() });
            }
            // HTTP/2: the preface and empty SETTINGS, then no request.
            1 => {
                let stream = tls_connect(&mock, b"h2", H2_PREFACE).await;
                clients.spawn(async move { wait_closed(stream).await.len() });
            }
            // HTTP/1.1 over TLS: half a request head.
            _ => {
                let half_head = b"GET /keys/ekm-key HTTP/1.1\r\nHost: localhost\r\n";
                let stream = tls_connect(&mock, b"http/1.1", half_head).await;
                clients.spawn(async move { wait_closed(stream).await.len() });
            }
        }
    }
    assert!(mock.open_connections().1 > 0);
    clock_answers(&mock).await;
    while let Some(closed) = clients.join_next().await {
        closed.expect("client task");
    }
    all_released(&mock).await;
    mock.shutdown().await;
}
