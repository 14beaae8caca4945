//! SMTP submission for the outbox: lettre's SMTP protocol code over our own connections.
//!
//! lettre's pooled transport opens its sockets itself, without `TCP_NODELAY`; a mail's body
//! and its terminating `.` are two writes, so Nagle's algorithm held the terminator until
//! the server's delayed acknowledgement, about 40 ms, on every mail. Here each connection is
//! opened by [`crate::net::tcp_connect`] (no delay), TLS is negotiated as configured, and
//! idle connections are kept for the next mail and checked with `NOOP` when they have been
//! idle for more than two seconds.

use crate::config::{OutgoingSettings, TlsMode};
use crate::net::NetStream;
use anyhow::Context;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest one mail's exchange may take, connection included.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept for reuse (the worker sends this many mails at once).
const MAX_IDLE: usize = 8;
/// A connection idle for longer is checked with `NOOP` before it carries a mail: servers
/// close idle sessions, and a mail should not wait for a retry because of that.
const CHECK_AFTER_IDLE: Duration = Duration::from_secs(2);

/// Why a mail was not sent.
#[derive(Debug)]
pub enum SmtpError {
    /// The server refused the mail for good (5xx): do not try again.
    Permanent(String),
    /// Try again later: a 4xx answer, a connection or TLS failure, a timeout.
    Transient(String),
}

pub struct SmtpClient {
    host: String,
    port: u16,
    tls: TlsMode,
    credentials: Option<Credentials>,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl SmtpClient {
    pub fn new(settings: &OutgoingSettings) -> SmtpClient {
        let credentials = (!settings.username.is_empty()).then(|| {
            Credentials::new(
                settings.username.clone(),
                settings.password.expose_secret().to_string(),
            )
        });
        SmtpClient {
            host: settings.host.clone(),
            port: settings.port,
            tls: settings.tls,
            credentials,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends one mail: envelope and the formatted message.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SmtpError> {
        match tokio::time::timeout(SEND_TIMEOUT, self.send_inner(envelope, message)).await {
            Ok(result) => result,
            Err(_) => Err(SmtpError::Transient("the SMTP exchange timed out".into())),
        }
    }

    async fn send_inner(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SmtpError> {
        let mut connection = match self.reusable().await {
            Some(connection) => connection,
            None => self
                .connect()
                .await
                .map_err(|error| SmtpError::Transient(format!("{error:#}")))?,
        };
        match connection.send(envelope, message).await {
            Ok(_) => {
                self.keep(connection);
                Ok(())
            }
            Err(error) => {
                // The connection's state after a failure is unknown: close it.
                connection.abort().await;
                if error.is_permanent() {
                    Err(SmtpError::Permanent(error.to_string()))
                } else {
                    Err(SmtpError::Transient(error.to_string()))
                }
            }
        }
    }

    /// An idle connection, checked with `NOOP` when it has been idle for a while.
    async fn reusable(&self) -> Option<AsyncSmtpConnection> {
        loop {
            let (mut connection, since) = self.idle.lock().ok()?.pop()?;
            if connection.has_broken() {
                continue;
            }
            if since.elapsed() < CHECK_AFTER_IDLE || connection.test_connected().await {
                return Some(connection);
            }
            connection.abort().await;
        }
    }

    fn keep(&self, connection: AsyncSmtpConnection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push((connection, Instant::now()));
            }
        }
    }

    async fn connect(&self) -> anyhow::Result<AsyncSmtpConnection> {
        let tcp = crate::net::tcp_connect(&self.host, self.port, CONNECT_TIMEOUT, "SMTP").await?;
        let stream = match self.tls {
            TlsMode::Implicit => NetStream::Tls(Box::new(
                crate::net::tls_connect(&self.host, tcp, "SMTP").await?,
            )),
            TlsMode::Starttls | TlsMode::None => NetStream::Plain(tcp),
        };
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                .await
                .context("the SMTP greeting and EHLO")?;
        if self.tls == TlsMode::Starttls {
            // Required, never opportunistic: a server without STARTTLS is refused.
            let parameters = TlsParameters::new(self.host.clone()).context("TLS parameters")?;
            connection
                .starttls(parameters, &self.hello)
                .await
                .context("STARTTLS with the SMTP server")?;
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .context("logging in to the SMTP server")?;
        }
        Ok(connection)
    }
}
