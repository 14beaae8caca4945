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

/// A TLS handshake over `tcp`, verifying the server's certificate for `host` against the
/// WebPKI roots.
pub async fn tls_connect(
    host: &str,
    tcp: TcpStream,
    what: &str,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let server_name = rustls::pki_types::ServerName::try_from(host.to_string())
        .with_context(|| format!("the {what} host is not a valid TLS name"))?;
    connector
        .connect(server_name, tcp)
        .await
        .with_context(|| format!("TLS handshake with the {what} server"))
}
