//! SMTP submission for the outbox: lettre's SMTP protocol code over our own connections.
//!
//! lettre's pooled transport opens its sockets itself, without `TCP_NODELAY`; a mail's body
//! and its terminating `.` are two writes, so Nagle's algorithm held the terminator until
//! the server's delayed acknowledgement, about 40 ms, on every mail. Here each connection is
//! opened by [`crate::net::tcp_connect`] (no delay), TLS is negotiated as configured, and
//! idle connections are kept for the next mail and checked with `NOOP` when they have been
//! idle for more than two seconds.

use crate::config::{OutgoingSettings, TlsMode};
use crate::health::{Dependencies, Dependency};
use crate::net::NetStream;
use anyhow::Context;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;
use std::sync::{Arc, Mutex};
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
    ca_file: std::path::PathBuf,
    credentials: Option<Credentials>,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    dependencies: Arc<Dependencies>,
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
            ca_file: settings.ca_file.clone(),
            credentials,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            dependencies: Arc::default(),
        }
    }

    /// Reports whether the server can be reached to `dependencies` (`/healthz`).
    pub fn set_dependencies(&mut self, dependencies: Arc<Dependencies>) {
        self.dependencies = dependencies;
    }

    /// Sends one mail: envelope and the formatted message.
    pub async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SmtpError> {
        match tokio::time::timeout(SEND_TIMEOUT, self.send_inner(envelope, message)).await {
            Ok(result) => result,
            Err(_) => Err(SmtpError::Transient("the SMTP exchange timed out".into())),
        }
    }

    async fn send_inner(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SmtpError> {
        if let Some(mut connection) = self.reusable().await {
            match transaction(&mut connection, envelope, message).await {
                Ok(()) => {
                    self.keep(connection);
                    return Ok(());
                }
                // A kept connection the server has closed (a restart, an idle timeout) fails
                // before the body is sent: nothing was delivered, so the mail goes on a new
                // connection at once instead of waiting for a retry.
                Err(TransactionError::Envelope(error))
                    if !error.is_permanent() && !error.is_transient() =>
                {
                    connection.abort().await;
                }
                Err(error) => {
                    connection.abort().await;
                    return Err(error.classify());
                }
            }
        }
        let mut connection = match self.connect().await {
            Ok(connection) => connection,
            Err(error) => {
                self.dependencies
                    .report_down(Dependency::Smtp, crate::clock::now_ms());
                return Err(SmtpError::Transient(format!("{error:#}")));
            }
        };
        self.dependencies
            .report_up(Dependency::Smtp, crate::clock::now_ms());
        match transaction(&mut connection, envelope, message).await {
            Ok(()) => {
                self.keep(connection);
                Ok(())
            }
            Err(error) => {
                // The connection's state after a failure is unknown: close it.
                connection.abort().await;
                Err(error.classify())
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
        let trust = match self.tls {
            TlsMode::None => crate::net::Trust::WebPki,
            TlsMode::Implicit | TlsMode::Starttls => {
                crate::net::Trust::load(&self.ca_file).context("outgoing.ca_file")?
            }
        };
        let tcp = crate::net::tcp_connect(&self.host, self.port, CONNECT_TIMEOUT, "SMTP").await?;
        let stream = match self.tls {
            TlsMode::Implicit => NetStream::Tls(Box::new(
                crate::net::tls_connect(&self.host, tcp, &trust, "SMTP").await?,
            )),
            TlsMode::Starttls | TlsMode::None => NetStream::Plain(tcp),
        };
        let mut connection =
            AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                .await
                .context("the SMTP greeting and EHLO")?;
        if self.tls == TlsMode::Starttls {
            // Required, never opportunistic: a server without STARTTLS is refused.
            let parameters = trust.smtp_parameters(&self.host)?;
            connection
                .starttls(parameters, &self.hello)
                .await
                .with_context(|| format!("STARTTLS with the SMTP server {}", self.host))?;
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

/// Where a mail transaction failed: before the body was sent (nothing can have been
/// delivered), while it was sent and answered (the server may have taken it), or not at all
/// because the server cannot carry it.
enum TransactionError {
    Envelope(lettre::transport::smtp::Error),
    Body(lettre::transport::smtp::Error),
    Unsupported(&'static str),
}

impl TransactionError {
    fn classify(self) -> SmtpError {
        match self {
            TransactionError::Envelope(error) | TransactionError::Body(error) => {
                if error.is_permanent() {
                    SmtpError::Permanent(error.to_string())
                } else {
                    SmtpError::Transient(error.to_string())
                }
            }
            TransactionError::Unsupported(what) => SmtpError::Permanent(what.into()),
        }
    }
}

/// One mail transaction: MAIL, RCPT for each recipient, DATA, the body. lettre's own `send`
/// does the same steps but does not say which one failed.
async fn transaction(
    connection: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    message: &[u8],
) -> Result<(), TransactionError> {
    use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
    use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
    let mut options = Vec::new();
    let non_ascii = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|address| !AsRef::<str>::as_ref(address).is_ascii());
    if non_ascii {
        if !connection
            .server_info()
            .supports_feature(Extension::SmtpUtfEight)
        {
            return Err(TransactionError::Unsupported(
                "the address is not ASCII and the SMTP server does not offer SMTPUTF8",
            ));
        }
        options.push(MailParameter::SmtpUtfEight);
    }
    if !message.is_ascii() {
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    connection
        .command(Mail::new(envelope.from().cloned(), options))
        .await
        .map_err(TransactionError::Envelope)?;
    for to in envelope.to() {
        connection
            .command(Rcpt::new(to.clone(), Vec::new()))
            .await
            .map_err(TransactionError::Envelope)?;
    }
    connection
        .command(Data)
        .await
        .map_err(TransactionError::Envelope)?;
    connection
        .message(message)
        .await
        .map_err(TransactionError::Body)?;
    Ok(())
}
