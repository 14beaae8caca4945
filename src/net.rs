//! The TCP and TLS streams that the mail protocols (IMAP in `source::imap`, SMTP in
//! `replies::smtp`) run over: one stream type, one TLS configuration.
//!
//! Every connection sets `TCP_NODELAY`: both protocols write a command and wait for its
//! answer, and a mail's body is followed by a small terminator, so Nagle's algorithm
//! against the peer's delayed acknowledgements would hold every exchange for tens of
//! milliseconds.

use anyhow::Context;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A plain or TLS connection, as one concrete type.
#[derive(Debug)]
pub enum NetStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl NetStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            NetStream::Plain(stream) => stream,
            NetStream::Tls(stream) => stream.get_ref().0,
        }
    }
}

impl AsyncRead for NetStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            NetStream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for NetStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            NetStream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            NetStream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            NetStream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            NetStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            NetStream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// lettre's SMTP connection takes any stream of this shape.
impl lettre::transport::smtp::client::AsyncTokioStream for NetStream {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }
}

/// Opens a TCP connection with `TCP_NODELAY` set, within `timeout`.
pub async fn tcp_connect(
    host: &str,
    port: u16,
    timeout: Duration,
    what: &str,
) -> anyhow::Result<TcpStream> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .with_context(|| format!("connecting to the {what} server timed out"))?
        .with_context(|| format!("connecting to the {what} server"))?;
    tcp.set_nodelay(true)
        .with_context(|| format!("setting TCP_NODELAY on the {what} connection"))?;
    Ok(tcp)
}

/// The certificates a TLS connection trusts: the WebPKI roots (public mail providers), or
/// only the certificate authorities of a PEM file (`imap.ca_file`, `outgoing.ca_file`: a
/// private CA, a self-signed server). The host name is verified either way; there is no
/// setting that turns verification off.
#[derive(Debug, Clone)]
pub enum Trust {
    WebPki,
    CaFile(Vec<rustls::pki_types::CertificateDer<'static>>),
}

impl Trust {
    /// `ca_file` empty: the WebPKI roots; otherwise every certificate in the PEM file, which
    /// must hold at least one.
    pub fn load(ca_file: &Path) -> anyhow::Result<Trust> {
        use rustls::pki_types::pem::PemObject;
        if ca_file.as_os_str().is_empty() {
            return Ok(Trust::WebPki);
        }
        let bytes =
            std::fs::read(ca_file).with_context(|| format!("reading {}", ca_file.display()))?;
        let certificates = rustls::pki_types::CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| {
                anyhow::anyhow!("{}: not PEM certificates ({error})", ca_file.display())
            })?;
        if certificates.is_empty() {
            anyhow::bail!("{}: holds no PEM certificate", ca_file.display());
        }
        // Each must be a certificate rustls can use as a trust anchor.
        roots_of(&Trust::CaFile(certificates.clone()))
            .with_context(|| format!("{}: a certificate cannot be trusted", ca_file.display()))?;
        Ok(Trust::CaFile(certificates))
    }

    /// The same trust for lettre's STARTTLS, which builds its own rustls configuration.
    pub fn smtp_parameters(
        &self,
        host: &str,
    ) -> anyhow::Result<lettre::transport::smtp::client::TlsParameters> {
        use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
        let builder = TlsParameters::builder(host.to_string());
        let builder = match self {
            Trust::WebPki => builder.certificate_store(CertificateStore::WebpkiRoots),
            Trust::CaFile(certificates) => {
                let mut builder = builder.certificate_store(CertificateStore::None);
                for certificate in certificates {
                    builder = builder.add_root_certificate(
                        Certificate::from_der(certificate.to_vec())
                            .context("a certificate of the CA file")?,
                    );
                }
                builder
            }
        };
        builder.build_rustls().context("TLS parameters")
    }
}

fn roots_of(trust: &Trust) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    match trust {
        Trust::WebPki => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Trust::CaFile(certificates) => {
            for certificate in certificates {
                roots.add(certificate.clone())?;
            }
        }
    }
    Ok(roots)
}

/// A TLS handshake over `tcp`, verifying the server's certificate for `host` against `trust`.
pub async fn tls_connect(
    host: &str,
    tcp: TcpStream,
    trust: &Trust,
    what: &str,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_root_certificates(roots_of(trust)?)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
        .with_context(|| format!("the {what} host is not a valid TLS name"))?;
    connector
        .connect(server_name, tcp)
        .await
        .with_context(|| format!("TLS handshake with the {what} server {host}"))
}
