//! Layered configuration: the embedded `config/default.toml`, then an optional file given
//! with `--config`, then `CONCIERGE__SECTION__KEY` environment variables.
//!
//! Every mistake is reported with the key and the file (or variable) it came from, before
//! anything starts.

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The defaults, compiled into the binary so that it runs from any folder.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");
const DEFAULT_TOML_NAME: &str = "config/default.toml (built in)";
pub const ENV_PREFIX: &str = "CONCIERGE__";

/// A configuration mistake, with where it came from.
#[derive(Debug, thiserror::Error)]
#[error("configuration error at key `{key}` in {origin}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub origin: String,
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub inbox: InboxSettings,
    pub maildir: MaildirSettings,
    pub imap: ImapSettings,
    pub web: WebSettings,
    pub mail: MailSettings,
    pub triage: TriageSettings,
    pub outgoing: OutgoingSettings,
    pub replies: ReplySettings,
    pub resources: ResourceSettings,
    pub reports: ReportSettings,
    pub alerts: AlertSettings,
    pub retention: RetentionSettings,
}

/// How long the content of closed conversations is kept (`concierge purge`, and hourly in
/// `serve` on instances that read mail).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Purge the content of a closed conversation once nothing happened on it for this many
    /// days; 0 keeps everything forever.
    pub purge_after_days: i64,
}

/// The longest retention that can be set: a hundred years.
pub const MAX_PURGE_AFTER_DAYS: i64 = 36_500;

/// Operability alerts (`/healthz`, the queue's banner, the serve loop's log).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// With no successful poll of the inbox for longer than this, the inbox is stalled.
    pub stalled_poll_minutes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportKind {
    /// Each mail written as an `.eml` file into `outgoing.file_dir` (the embedded default).
    File,
    /// An SMTP relay.
    Smtp,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutgoingSettings {
    pub transport: TransportKind,
    pub file_dir: PathBuf,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// A PEM file of the certificate authorities to trust instead of the WebPKI roots
    /// (empty: the WebPKI roots).
    pub ca_file: PathBuf,
    pub username: String,
    pub password: SecretString,
    /// The display name in From.
    pub from_name: String,
    /// Attempts before a row is given up as failed (transient errors only).
    pub max_attempts: u32,
    /// How often the worker looks for due rows, in milliseconds.
    pub poll_interval_ms: u64,
}

impl fmt::Debug for OutgoingSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingSettings")
            .field("transport", &self.transport)
            .field("file_dir", &self.file_dir)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("username", &"***")
            .field("password", &"***")
            .field("from_name", &self.from_name)
            .field("max_attempts", &self.max_attempts)
            .field("poll_interval_ms", &self.poll_interval_ms)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplySettings {
    /// Acknowledge new conversations automatically.
    pub acknowledge: bool,
    /// When a navigator will answer, as promised in the acknowledgement.
    pub reply_window_hours: u32,
    /// At most one acknowledgement per sender within this many hours (loop safety).
    pub acknowledgement_window_hours: u32,
    /// A folder of templates (`<lang>/<name>.subject.hbs`, `.txt.hbs`) that replace the built-in ones.
    pub template_dir: String,
    pub service_name: String,
}

/// Coordinators' reports: answer targets per risk level and the teams' business hours.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    pub sla: SlaSettings,
    /// The default team's business hours (`timezone = ""`: none, reports use wall-clock time only).
    pub business_hours: BusinessHoursSettings,
    /// Other teams' business hours, by the team name set on navigators (`concierge user team`).
    #[serde(default)]
    pub teams: std::collections::BTreeMap<String, BusinessHoursSettings>,
}

/// Answer targets: minutes from a person's first message to the first human reply.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSettings {
    pub crisis_minutes: u32,
    pub concern_minutes: u32,
    pub none_minutes: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursSettings {
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// Open days: `mon` ... `sun`.
    pub days: Vec<String>,
    /// `HH:MM`; a close at or before the open runs past midnight (a night shift).
    pub open: String,
    pub close: String,
    /// `YYYY-MM-DD` dates, in the team's time zone, with no business hours.
    pub holidays: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSettings {
    /// Imported at start-up when the directory in the database is empty.
    pub seed_dir: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` or `postgres://user:password@host/db`.
    pub url: SecretString,
    pub max_connections: u32,
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &redact_url(self.url.expose_secret()))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Shows a database URL without its password.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxKind {
    Maildir,
    Imap,
    /// No mail source: the web app and the queue only (e.g. extra web nodes).
    None,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxSettings {
    pub kind: InboxKind,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaildirSettings {
    pub path: PathBuf,
    /// How often `new/` is scanned, in milliseconds.
    pub poll_interval_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// TLS from the first byte (port 993).
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 143).
    Starttls,
    /// No encryption: only for a server on this machine (tests).
    None,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// A PEM file of the certificate authorities to trust instead of the WebPKI roots
    /// (empty: the WebPKI roots).
    pub ca_file: PathBuf,
    pub username: String,
    pub password: SecretString,
    pub mailbox: String,
    /// When set, processed messages are moved here instead of being flagged `\Seen`.
    pub processed_folder: String,
    /// How many messages one `UID FETCH` asks for.
    pub batch_size: u32,
    /// Use IDLE when the server offers it.
    pub idle: bool,
    /// How long to wait between checks when IDLE is off or unavailable, and the longest
    /// IDLE before it is renewed, in seconds.
    pub poll_interval_secs: u64,
    /// The longest wait between reconnection attempts, in seconds.
    pub max_backoff_secs: u64,
}

impl fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("username", &"***")
            .field("password", &"***")
            .field("mailbox", &self.mailbox)
            .field("processed_folder", &self.processed_folder)
            .field("batch_size", &self.batch_size)
            .field("idle", &self.idle)
            .field("poll_interval_secs", &self.poll_interval_secs)
            .field("max_backoff_secs", &self.max_backoff_secs)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebSettings {
    pub bind: String,
    /// A session unused for this long ends.
    pub session_idle_minutes: u32,
    /// Mark the session cookie `Secure`: set it when the app is served over HTTPS.
    pub secure_cookies: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailSettings {
    /// The address people write to, e.g. `help@concierge.example.org`.
    pub address: String,
    /// The domain of the Message-IDs we generate; mail carrying it came from us.
    pub message_id_domain: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriageSettings {
    /// The languages this deployment serves (ISO 639-1); short texts are restricted to them.
    pub languages: Vec<String>,
    /// `decide` (the learned crisis detector may raise the risk), `evidence` (its scores are
    /// shown, the lexicons decide) or `off`.
    #[serde(default)]
    pub classifier: crate::triage::classifier::ClassifierUse,
}

impl Settings {
    /// Loads the layered configuration, or says which key in which file is wrong.
    pub fn load(config_file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::new().merge(Toml::string(DEFAULT_TOML));
        if let Some(path) = config_file {
            if !path.is_file() {
                return Err(ConfigError {
                    key: "--config".into(),
                    origin: path.display().to_string(),
                    message: "the file does not exist".into(),
                });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        let settings: Settings = figment
            .extract()
            .map_err(|error| from_figment(&figment, error))?;
        settings.validate(&figment)?;
        Ok(settings)
    }

    fn validate(&self, figment: &Figment) -> Result<(), ConfigError> {
        let fail = |key: &str, message: &str| ConfigError {
            key: key.to_string(),
            origin: origin_of(figment, key),
            message: message.to_string(),
        };
        let url = self.database.url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            return Err(fail("database.url", "must start with sqlite: or postgres:"));
        }
        if self.database.max_connections == 0 {
            return Err(fail("database.max_connections", "must be at least 1"));
        }
        if self.inbox.kind == InboxKind::Imap {
            if self.imap.host.trim().is_empty() {
                return Err(fail("imap.host", "is required when inbox.kind = \"imap\""));
            }
            if self.imap.username.trim().is_empty() {
                return Err(fail(
                    "imap.username",
                    "is required when inbox.kind = \"imap\"",
                ));
            }
            if self.imap.mailbox.trim().is_empty() {
                return Err(fail("imap.mailbox", "must not be empty"));
            }
            if self.imap.batch_size == 0 {
                return Err(fail("imap.batch_size", "must be at least 1"));
            }
            if self.imap.poll_interval_secs == 0 {
                return Err(fail("imap.poll_interval_secs", "must be at least 1"));
            }
            check_ca_file("imap", self.imap.tls, &self.imap.ca_file)
                .map_err(|(key, message)| fail(&key, &message))?;
        }
        let stalled_after_secs = u64::from(self.alerts.stalled_poll_minutes) * 60;
        if stalled_after_secs == 0 {
            return Err(fail("alerts.stalled_poll_minutes", "must be at least 1"));
        }
        // A poll round must be able to happen well within the threshold.
        let poll_every_secs = match self.inbox.kind {
            InboxKind::Imap => Some(("imap.poll_interval_secs", self.imap.poll_interval_secs)),
            InboxKind::Maildir => Some((
                "maildir.poll_interval_ms",
                self.maildir.poll_interval_ms.div_ceil(1000),
            )),
            InboxKind::None => None,
        };
        if let Some((interval_key, every_secs)) = poll_every_secs {
            if every_secs.saturating_mul(2) > stalled_after_secs {
                return Err(fail(
                    "alerts.stalled_poll_minutes",
                    &format!(
                        "must be at least twice {interval_key}, or every poll would look stalled"
                    ),
                ));
            }
        }
        if self.web.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(fail("web.bind", "must be an address like 127.0.0.1:8080"));
        }
        if crate::domain::EmailAddress::parse(&self.mail.address).is_err() {
            return Err(fail("mail.address", "is not an email address"));
        }
        if self.mail.message_id_domain.trim().is_empty()
            || self.mail.message_id_domain.contains(['@', ' ', '<', '>'])
        {
            return Err(fail(
                "mail.message_id_domain",
                "must be a plain domain name",
            ));
        }
        if self.outgoing.transport == TransportKind::Smtp && self.outgoing.host.trim().is_empty() {
            return Err(fail(
                "outgoing.host",
                "is required when outgoing.transport = \"smtp\"",
            ));
        }
        if self.outgoing.transport == TransportKind::Smtp {
            check_ca_file("outgoing", self.outgoing.tls, &self.outgoing.ca_file)
                .map_err(|(key, message)| fail(&key, &message))?;
        }
        if self.outgoing.max_attempts == 0 {
            return Err(fail("outgoing.max_attempts", "must be at least 1"));
        }
        if self
            .outgoing
            .from_name
            .contains(['\r', '\n', '"', '<', '>'])
        {
            return Err(fail("outgoing.from_name", "must be plain text on one line"));
        }
        let sla = &self.reports.sla;
        for (key, minutes) in [
            ("reports.sla.crisis_minutes", sla.crisis_minutes),
            ("reports.sla.concern_minutes", sla.concern_minutes),
            ("reports.sla.none_minutes", sla.none_minutes),
        ] {
            if minutes == 0 {
                return Err(fail(key, "must be at least 1"));
            }
        }
        let teams = std::iter::once((
            "reports.business_hours".to_string(),
            &self.reports.business_hours,
        ))
        .chain(
            self.reports
                .teams
                .iter()
                .map(|(name, hours)| (format!("reports.teams.{name}"), hours)),
        );
        for (prefix, hours) in teams {
            if let Err((field, message)) = crate::reports::calendar::Calendar::from_settings(hours)
            {
                return Err(fail(&format!("{prefix}.{field}"), &message));
            }
        }
        if self.replies.reply_window_hours == 0 {
            return Err(fail("replies.reply_window_hours", "must be at least 1"));
        }
        if !self.replies.template_dir.is_empty() && !Path::new(&self.replies.template_dir).is_dir()
        {
            return Err(fail("replies.template_dir", "is not a folder"));
        }
        if self.retention.purge_after_days < 0 {
            return Err(fail(
                "retention.purge_after_days",
                "must be 0 (keep forever) or a number of days",
            ));
        }
        if self.retention.purge_after_days > MAX_PURGE_AFTER_DAYS {
            return Err(fail(
                "retention.purge_after_days",
                &format!("must be at most {MAX_PURGE_AFTER_DAYS} days (or 0 to keep forever)"),
            ));
        }
        for language in &self.triage.languages {
            if crate::domain::LanguageCode::parse(language).is_err() {
                return Err(fail(
                    "triage.languages",
                    &format!("`{language}` is not an ISO 639 code"),
                ));
            }
        }
        Ok(())
    }
}

/// A CA file must be readable PEM certificates, and only makes sense with TLS.
fn check_ca_file(section: &str, tls: TlsMode, ca_file: &Path) -> Result<(), (String, String)> {
    if ca_file.as_os_str().is_empty() {
        return Ok(());
    }
    let key = format!("{section}.ca_file");
    if tls == TlsMode::None {
        return Err((key, format!("is set but {section}.tls = \"none\"")));
    }
    crate::net::Trust::load(ca_file).map_err(|error| (key, format!("{error:#}")))?;
    Ok(())
}

fn origin_of(figment: &Figment, key: &str) -> String {
    match figment.find_metadata(key) {
        Some(metadata) => describe_metadata(metadata, key),
        None => "(not set anywhere)".into(),
    }
}

fn describe_metadata(metadata: &figment::Metadata, key: &str) -> String {
    match &metadata.source {
        Some(figment::Source::File(path)) => path.display().to_string(),
        Some(figment::Source::Code(_)) | Some(figment::Source::Custom(_)) | None
            if metadata.name.contains("environment") =>
        {
            format!(
                "environment variable {ENV_PREFIX}{}",
                key.replace('.', "__").to_uppercase()
            )
        }
        _ if metadata.name.contains("TOML source string") => DEFAULT_TOML_NAME.into(),
        _ => metadata.name.to_string(),
    }
}

fn from_figment(figment: &Figment, error: figment::Error) -> ConfigError {
    let error = error
        .into_iter()
        .next()
        .expect("a figment error has at least one cause");
    let key = if error.path.is_empty() {
        match &error.kind {
            figment::error::Kind::UnknownField(field, _) => field.clone(),
            figment::error::Kind::MissingField(field) => field.to_string(),
            _ => "(top level)".into(),
        }
    } else {
        let mut path = error.path.join(".");
        let field = match &error.kind {
            figment::error::Kind::UnknownField(field, _) => Some(field.to_string()),
            figment::error::Kind::MissingField(field) => Some(field.to_string()),
            _ => None,
        };
        if let Some(field) = field {
            if error.path.last() != Some(&field) {
                path = format!("{path}.{field}");
            }
        }
        path
    };
    let origin = match &error.metadata {
        Some(metadata) => describe_metadata(metadata, &key),
        None => origin_of(figment, &key),
    };
    ConfigError {
        key,
        origin,
        message: error.kind.to_string(),
    }
}

#[cfg(test)]
// figment's Jail closures return figment's own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn redacts_database_passwords() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db.internal:5432/concierge"),
            "postgres://app:***@db.internal:5432/concierge"
        );
        assert_eq!(
            redact_url("sqlite://var/concierge.db"),
            "sqlite://var/concierge.db"
        );
    }

    #[test]
    fn defaults_load_and_validate() {
        figment::Jail::expect_with(|_jail| {
            let settings = Settings::load(None).expect("defaults are valid");
            assert_eq!(settings.inbox.kind, InboxKind::Maildir);
            assert!(settings.triage.languages.len() >= 25);
            Ok(())
        });
    }

    #[test]
    fn secrets_never_reach_debug_output() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CONCIERGE__IMAP__PASSWORD", "hunter2-imap");
            jail.set_env(
                "CONCIERGE__DATABASE__URL",
                "postgres://app:hunter3-db@localhost/x",
            );
            let settings = Settings::load(None).expect("valid");
            let debug = format!("{settings:?}");
            assert!(!debug.contains("hunter2-imap"), "{debug}");
            assert!(!debug.contains("hunter3-db"), "{debug}");
            Ok(())
        });
    }

    #[test]
    fn a_wrong_value_names_the_key_and_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("prod.toml", "[imap]\nport = \"nine\"\n")?;
            let error = Settings::load(Some(Path::new("prod.toml"))).unwrap_err();
            assert_eq!(error.key, "imap.port");
            assert!(error.origin.ends_with("prod.toml"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("prod.toml", "[imap]\nhots = \"mail.example.org\"\n")?;
            let error = Settings::load(Some(Path::new("prod.toml"))).unwrap_err();
            assert_eq!(error.key, "imap.hots", "{error}");
            assert!(error.origin.ends_with("prod.toml"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_missing_requirement_names_the_key_and_the_variable() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CONCIERGE__INBOX__KIND", "imap");
            let error = Settings::load(None).unwrap_err();
            assert_eq!(error.key, "imap.host", "{error}");
            jail.set_env("CONCIERGE__WEB__BIND", "localhost");
            jail.set_env("CONCIERGE__IMAP__HOST", "mail.example.org");
            jail.set_env("CONCIERGE__IMAP__USERNAME", "help");
            let error = Settings::load(None).unwrap_err();
            assert_eq!(error.key, "web.bind", "{error}");
            assert_eq!(
                error.origin, "environment variable CONCIERGE__WEB__BIND",
                "{error}"
            );
            Ok(())
        });
    }

    #[test]
    fn a_bad_stall_threshold_names_the_key_and_the_file() {
        figment::Jail::expect_with(|jail| {
            let settings = Settings::load(None).expect("defaults are valid");
            assert_eq!(settings.alerts.stalled_poll_minutes, 15);
            jail.create_file("prod.toml", "[alerts]\nstalled_poll_minutes = 0\n")?;
            let error = Settings::load(Some(Path::new("prod.toml"))).unwrap_err();
            assert_eq!(error.key, "alerts.stalled_poll_minutes", "{error}");
            assert!(error.origin.ends_with("prod.toml"), "{error}");
            jail.create_file(
                "slow.toml",
                "[alerts]\nstalled_poll_minutes = 1\n[maildir]\npoll_interval_ms = 45000\n",
            )?;
            let error = Settings::load(Some(Path::new("slow.toml"))).unwrap_err();
            assert_eq!(error.key, "alerts.stalled_poll_minutes", "{error}");
            assert!(
                error.message.contains("maildir.poll_interval_ms"),
                "{error}"
            );
            jail.create_file("word.toml", "[alerts]\nstalled_poll_minutes = \"soon\"\n")?;
            let error = Settings::load(Some(Path::new("word.toml"))).unwrap_err();
            assert_eq!(error.key, "alerts.stalled_poll_minutes", "{error}");
            assert!(error.origin.ends_with("word.toml"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_negative_retention_names_the_key_and_the_file() {
        figment::Jail::expect_with(|jail| {
            let settings = Settings::load(None).expect("defaults are valid");
            assert_eq!(
                settings.retention.purge_after_days, 0,
                "kept forever by default"
            );
            jail.create_file("prod.toml", "[retention]\npurge_after_days = -30\n")?;
            let error = Settings::load(Some(Path::new("prod.toml"))).unwrap_err();
            assert_eq!(error.key, "retention.purge_after_days", "{error}");
            assert!(error.origin.ends_with("prod.toml"), "{error}");
            jail.set_env("CONCIERGE__RETENTION__PURGE_AFTER_DAYS", "99999");
            let error = Settings::load(None).unwrap_err();
            assert_eq!(error.key, "retention.purge_after_days", "{error}");
            assert_eq!(
                error.origin, "environment variable CONCIERGE__RETENTION__PURGE_AFTER_DAYS",
                "{error}"
            );
            jail.set_env("CONCIERGE__RETENTION__PURGE_AFTER_DAYS", "400");
            let settings = Settings::load(None).expect("400 days is valid");
            assert_eq!(settings.retention.purge_after_days, 400);
            Ok(())
        });
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        let error = Settings::load(Some(Path::new("/nonexistent/concierge.toml"))).unwrap_err();
        assert_eq!(error.key, "--config");
    }
}
