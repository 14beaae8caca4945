//! The command line: `serve`, `ingest`, `triage`, `queue`, `report`, `purge`, `migrate`, ...

use crate::config::{InboxKind, Settings};
use crate::ingest::{BatchSummary, IncomingRaw, Ingester};
use crate::source::imap::ImapSource;
use crate::source::maildir::MaildirSource;
use crate::source::mbox::{looks_like_mbox, read_mbox};
use crate::source::MailSource;
use crate::store::{self, Store};
use crate::triage::{self, SenderHistory, TriageConfig};
use crate::web;
use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info};

#[derive(Debug, Parser)]
#[command(
    name = "concierge",
    version,
    about = "Email triage for a global mental-health concierge"
)]
pub struct Cli {
    /// A configuration file layered over the built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

/// The part of the service a `concierge serve` instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServeRole {
    All,
    Web,
    Worker,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: read the inbox, triage, and serve the web app.
    Serve {
        /// Drop a few sample messages into the local Maildir inbox first.
        #[arg(long)]
        demo: bool,
        /// What this instance does: `all` (one machine), `web` (the web app only: no inbox,
        /// no outbox; any number behind a load balancer) or `worker` (inbox and outbox, with
        /// only /healthz and /metrics on the web address).
        #[arg(long, value_enum, default_value = "all")]
        role: ServeRole,
    },
    /// Ingest one .eml file, a Maildir folder, or an mbox file, and print a summary.
    Ingest { path: PathBuf },
    /// Print the triage decision for one .eml file as JSON, without storing anything;
    /// or, with --eval DIR, evaluate triage on a labelled folder.
    Triage {
        #[arg(required_unless_present_any = ["eval", "eval_language", "eval_crisis", "export_corrections"])]
        file: Option<PathBuf>,
        /// A folder of .eml files with labels*.csv (file,language,country,risk,auto).
        #[arg(long, value_name = "DIR", conflicts_with = "file")]
        eval: Option<PathBuf>,
        /// A sentence file (language<TAB>text): language detection accuracy and speed.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["file", "eval"])]
        eval_language: Option<PathBuf>,
        /// A folder of labelled .jsonl files (tests/fixtures/crisis): crisis recall, flagged
        /// and false-crisis rates with 95% intervals, overall and per language.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["file", "eval", "eval_language"])]
        eval_crisis: Option<PathBuf>,
        /// Which items of --eval-crisis to run.
        #[arg(long, default_value = "dev", value_parser = ["dev", "test", "all"], requires = "eval_crisis")]
        split: String,
        /// List the misses of --eval-crisis (never for the test split while tuning).
        #[arg(long, requires = "eval_crisis")]
        show_misses: bool,
        /// Write every navigator's risk correction as a line of the labelled .jsonl format,
        /// without addresses, names or phone numbers.
        #[arg(long, conflicts_with_all = ["file", "eval", "eval_language", "eval_crisis"])]
        export_corrections: bool,
        /// Where --export-corrections writes (standard output when not given).
        #[arg(long, value_name = "FILE", requires = "export_corrections")]
        out: Option<PathBuf>,
    },
    /// Print the open threads: crisis first, then oldest first.
    Queue,
    /// Bring the database schema up to date.
    Migrate,
    /// Purge the content of closed conversations untouched for retention.purge_after_days
    /// (raw mail, texts, subjects, notes, drafts); rows, timestamps and codes stay for the
    /// reports. Prints the counts and the cutoff.
    Purge {
        /// Only count what would go; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Users of the web app.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// The resource directory: import or export records (TOML, as in config/resources/).
    Resources {
        #[command(subcommand)]
        action: ResourcesAction,
    },
    /// Coordinators' reports: response times, answer-target breaches, volume, what waits now.
    /// No message content and no addresses.
    Report(ReportOptions),
    /// Writes generated conversations into the database, for demos and report benchmarks.
    /// Never on a production database: the threads look real in every report.
    History {
        #[arg(long, default_value_t = 400)]
        threads: usize,
        #[arg(long, default_value_t = 1_000)]
        messages: usize,
        /// The history ends now and starts this many days ago.
        #[arg(long, default_value_t = 35)]
        days: i64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Create a user; prints a one-time password when none is given.
    Add {
        email: String,
        /// navigator, coordinator or admin.
        #[arg(long, default_value = "navigator")]
        role: String,
        /// The name shown to colleagues (and signed under replies).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from this environment variable instead of generating one.
        #[arg(long, value_name = "VARIABLE")]
        password_env: Option<String>,
    },
    /// Put a user in a team whose business hours apply to their replies (reports.teams).
    Team {
        email: String,
        /// A name under [reports.teams] in the configuration, or "" for the default team.
        team: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ResourcesAction {
    /// Validate and import a TOML file or a folder of them; records are replaced by id.
    Import { path: PathBuf },
    /// Print every record as TOML (the import format).
    Export,
    /// List records lacking a source page, a verification date, a verifier or hours, and
    /// stale ones; fails when an active crisis line or emergency record is incomplete.
    Check {
        #[arg(default_value = "config/resources")]
        path: PathBuf,
        /// Check as of this date (YYYY-MM-DD) instead of today.
        #[arg(long, value_name = "DATE")]
        today: Option<String>,
    },
}

/// Runs a parsed command line. Configuration errors come back before anything starts.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve { demo, role } => serve(settings, demo, role).await,
        Command::Ingest { path } => ingest(settings, &path).await,
        Command::Triage {
            file: Some(file), ..
        } => triage_file(&settings, &file),
        Command::Triage {
            eval: Some(dir), ..
        } => {
            let report = crate::eval::evaluate(&dir, &TriageConfig::from_settings(&settings))?;
            print!("{}", report.render());
            Ok(())
        }
        Command::Triage {
            eval_language: Some(path),
            ..
        } => {
            let report =
                crate::eval::evaluate_language(&path, &TriageConfig::from_settings(&settings))?;
            print!("{}", report.render());
            Ok(())
        }
        Command::Triage {
            eval_crisis: Some(dir),
            split,
            show_misses,
            ..
        } => {
            let split = crate::eval::Split::parse(&split).context("--split must be dev, test or all")?;
            let report =
                crate::eval::evaluate_crisis(&dir, split, &TriageConfig::from_settings(&settings))?;
            print!("{}", report.render(show_misses));
            Ok(())
        }
        Command::Triage {
            export_corrections: true,
            out,
            ..
        } => export_corrections(settings, out.as_deref()).await,
        Command::Triage { .. } => anyhow::bail!(
            "give a FILE, --eval DIR, --eval-language FILE, --eval-crisis DIR or --export-corrections"
        ),
        Command::Queue => print_queue(settings).await,
        Command::Report(options) => report_command(settings, options).await,
        Command::History {
            threads,
            messages,
            days,
            seed,
        } => {
            let store = open_store(&settings).await?;
            let now = crate::clock::now_ms();
            let spec = crate::reports::history::HistorySpec {
                n_threads: threads,
                n_messages: messages.max(threads),
                end_ms: now,
                days: days.max(1),
                seed,
                finished: false,
            };
            let started = std::time::Instant::now();
            let n = crate::reports::history::insert(store.as_ref(), &spec, now).await?;
            println!(
                "wrote {n} generated threads ({} messages requested) in {:.1} s",
                spec.n_messages,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::User {
            action: UserAction::Team { email, team },
        } => {
            let store = open_store(&settings).await?;
            let email = crate::domain::EmailAddress::parse(&email).context("the email address")?;
            if !team.is_empty() && !settings.reports.teams.contains_key(&team) {
                anyhow::bail!("there is no [reports.teams.{team}] in the configuration");
            }
            let user = store
                .user_by_email(&email)
                .await?
                .context("no user with that address")?;
            store.set_user_team(user.id, &team).await?;
            println!("{email} is now in team {team:?}");
            Ok(())
        }
        Command::Resources { action } => resources_command(settings, action).await,
        Command::User {
            action:
                UserAction::Add {
                    email,
                    role,
                    name,
                    password_env,
                },
        } => {
            let store = open_store(&settings).await?;
            let email = crate::domain::EmailAddress::parse(&email).context("the email address")?;
            let role = crate::domain::Role::parse(&role)
                .context("--role must be navigator, coordinator or admin")?;
            let (password, generated) = match password_env {
                Some(variable) => (
                    std::env::var(&variable).with_context(|| format!("reading {variable}"))?,
                    false,
                ),
                None => (crate::web::auth::new_password(), true),
            };
            if password.chars().count() < 12 {
                anyhow::bail!("the password must have at least 12 characters");
            }
            let name = name.unwrap_or_else(|| email.local_part().to_string());
            store
                .create_user(
                    &email,
                    &name,
                    role,
                    &crate::web::auth::hash_password(&password)?,
                    crate::clock::now_ms(),
                )
                .await?;
            println!("created {} ({})", email, role.as_str());
            if generated {
                println!("one-time password: {password}");
            }
            Ok(())
        }
        Command::Purge { dry_run } => purge_command(settings, dry_run).await,
        Command::Migrate => {
            open_store(&settings).await?;
            println!("database schema is up to date");
            Ok(())
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ReportOptions {
    /// responses, breaches, volume or live.
    #[arg(default_value = "responses")]
    pub kind: String,
    /// First day (YYYY-MM-DD, UTC); default 27 days before --to.
    #[arg(long)]
    pub from: Option<String>,
    /// Last day, included (YYYY-MM-DD, UTC); default today.
    #[arg(long)]
    pub to: Option<String>,
    /// all, week, language, country, risk or navigator (volume: language or country).
    #[arg(long, default_value = "week")]
    pub group_by: String,
    /// wall, or business (needs reports.business_hours).
    #[arg(long, default_value = "wall")]
    pub clock: String,
    #[arg(long)]
    pub risk: Option<String>,
    #[arg(long)]
    pub language: Option<String>,
    #[arg(long)]
    pub country: Option<String>,
    /// table, csv or json.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Print how long the report took to stderr.
    #[arg(long)]
    pub timing: bool,
}

async fn report_command(settings: Settings, options: ReportOptions) -> anyhow::Result<()> {
    use crate::reports::{self, Clock, ReportConfig, ReportRequest};
    use crate::store::{ReportFilter, ReportGroup};
    let store = open_store(&settings).await?;
    let config = ReportConfig::from_settings(&settings);
    let now = crate::clock::now_ms();
    let (from, to) = reports::date_range(options.from.as_deref(), options.to.as_deref(), now)
        .map_err(|why| anyhow::anyhow!("{why}"))?;
    let group = ReportGroup::parse(&options.group_by)
        .context("--group-by must be all, week, language, country, risk or navigator")?;
    let clock = Clock::parse(&options.clock).context("--clock must be wall or business")?;
    if clock == Clock::Business && !config.has_business_hours() {
        anyhow::bail!(
            "--clock business needs [reports.business_hours] with a timezone in the configuration"
        );
    }
    let risk = match &options.risk {
        Some(text) => Some(
            crate::domain::Risk::parse(text).context("--risk must be none, concern or crisis")?,
        ),
        None => None,
    };
    let filter = ReportFilter {
        from,
        to,
        risk,
        language: options.language.clone(),
        country: options.country.clone().map(|c| c.to_uppercase()),
        navigator: None,
    };
    let format = options.format.as_str();
    if !["table", "csv", "json"].contains(&format) {
        anyhow::bail!("--format must be table, csv or json");
    }
    let started = std::time::Instant::now();
    let output = match options.kind.as_str() {
        "responses" => {
            let request = ReportRequest {
                filter,
                group,
                clock,
            };
            let report = reports::response_report(store.as_ref(), &config, &request, now).await?;
            match format {
                "csv" => reports::response_csv(&report),
                "json" => serde_json::to_string_pretty(&report)? + "\n",
                _ => reports::response_table(&report),
            }
        }
        "breaches" => {
            let rows = store
                .report_breaches(&filter, &config.sla, now, 10_000)
                .await?;
            match format {
                "json" => serde_json::to_string_pretty(&rows)? + "\n",
                _ => reports::csv(
                    reports::BREACH_COLUMNS,
                    rows.iter().map(reports::breach_cells),
                ),
            }
        }
        "volume" => {
            let by = if group == ReportGroup::Country {
                ReportGroup::Country
            } else {
                ReportGroup::Language
            };
            let rows = store.report_volume(&filter, by).await?;
            match format {
                "json" => serde_json::to_string_pretty(&rows)? + "\n",
                _ => reports::volume_csv(&rows, by),
            }
        }
        "live" => {
            let live = store.report_live(now).await?;
            match format {
                "json" => serde_json::to_string_pretty(&live)? + "\n",
                _ => reports::live_text(&live, now),
            }
        }
        other => anyhow::bail!("unknown report {other:?}: responses, breaches, volume or live"),
    };
    if options.timing {
        eprintln!(
            "report answered in {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    print!("{output}");
    Ok(())
}

/// `concierge purge [--dry-run]`: counts only, never content.
async fn purge_command(settings: Settings, dry_run: bool) -> anyhow::Result<()> {
    let days = settings.retention.purge_after_days;
    let now = crate::clock::now_ms();
    let Some(cutoff) = crate::retention::cutoff(days, now) else {
        println!("retention.purge_after_days is 0: content is kept forever, nothing to purge");
        return Ok(());
    };
    let store = open_store(&settings).await?;
    let counts = crate::retention::purge(store.as_ref(), cutoff, now, dry_run, None).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "cutoff: {} (retention.purge_after_days = {days}; closed conversations untouched since then)",
        crate::web::thread::format_time(cutoff)
    )?;
    writeln!(
        stdout,
        "{}",
        if dry_run {
            "dry run: would purge (nothing was changed)"
        } else {
            "purged"
        }
    )?;
    for (name, n) in [
        ("threads", counts.threads),
        ("messages", counts.messages),
        ("raw messages", counts.raw_messages),
        ("raw bytes freed", counts.raw_bytes),
        ("sent mails", counts.outbox),
        ("notes", counts.notes),
        ("drafts", counts.drafts),
    ] {
        writeln!(stdout, "{name}: {n}")?;
    }
    Ok(())
}

/// Connects to the configured database and migrates it.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let url = settings.database.url.expose_secret();
    let store = store::connect(url, settings.database.max_connections)
        .await
        .with_context(|| format!("opening the database {}", crate::config::redact_url(url)))?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

async fn resources_command(settings: Settings, action: ResourcesAction) -> anyhow::Result<()> {
    if let ResourcesAction::Check { path, today } = &action {
        return check_resources(path, today.as_deref());
    }
    let store = open_store(&settings).await?;
    match action {
        ResourcesAction::Import { path } => {
            let records = crate::resources::files::read_path(&path)?;
            let today = crate::resources::model::day_of(crate::clock::now_ms());
            let n_active = records
                .iter()
                .filter(|r| r.status == crate::resources::Status::Active)
                .count();
            let n_stale = records.iter().filter(|r| r.is_stale(today)).count();
            // Large imports go in chunks, with a progress bar on stderr.
            let chunk_size = 200;
            let show_progress =
                records.len() > chunk_size && std::io::IsTerminal::is_terminal(&std::io::stderr());
            for (index, chunk) in records.chunks(chunk_size).enumerate() {
                store
                    .upsert_resources(chunk, crate::clock::now_ms())
                    .await?;
                if show_progress {
                    let done = (index * chunk_size + chunk.len()).min(records.len());
                    let width = 30 * done / records.len();
                    eprint!(
                        "\r[{}{}] {done}/{}",
                        "#".repeat(width),
                        " ".repeat(30 - width),
                        records.len()
                    );
                }
            }
            if show_progress {
                eprintln!();
            }
            println!("imported {} resources ({n_active} active, {n_stale} not verified within 24 months)", records.len());
        }
        ResourcesAction::Export => {
            print!(
                "{}",
                crate::resources::files::to_toml(&store.resources().await?)?
            );
        }
        ResourcesAction::Check { .. } => unreachable!("checked above, without a database"),
    }
    Ok(())
}

/// `concierge resources check`: needs no database, only the files.
fn check_resources(path: &std::path::Path, today: Option<&str>) -> anyhow::Result<()> {
    let today = match today {
        Some(date) => crate::resources::model::parse_date(date)
            .with_context(|| format!("--today {date:?} is not a YYYY-MM-DD date"))?,
        None => crate::resources::model::day_of(crate::clock::now_ms()),
    };
    let (records, errors) = crate::resources::files::read_path_for_check(path)?;
    let report = crate::resources::check::check(&records, &errors, today);
    print!("{}", report.render());
    if !report.passed() {
        anyhow::bail!(
            "{} problems in {}: an active crisis line or emergency record is incomplete, stale or invalid",
            report.n_errors(),
            path.display()
        );
    }
    Ok(())
}

/// On the very first start there is nobody to log in: create an admin and say how to log in,
/// on the terminal only (never in the log).
async fn first_run_admin(store: &Arc<dyn Store>, settings: &Settings) -> anyhow::Result<()> {
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let email =
        crate::domain::EmailAddress::parse("admin@concierge.localhost").expect("a valid address");
    let password = crate::web::auth::new_password();
    store
        .create_user(
            &email,
            "Admin",
            crate::domain::Role::Admin,
            &crate::web::auth::hash_password(&password)?,
            crate::clock::now_ms(),
        )
        .await?;
    println!(
        "\nNo users yet: created the admin account.\n  Open http://{}/ and log in as {email} with the password {password}\n  Add navigators with: concierge user add EMAIL --role navigator --name NAME\n",
        settings.web.bind
    );
    Ok(())
}

/// Imports the seed directory when the database has no resources yet.
async fn seed_resources(store: &Arc<dyn Store>, settings: &Settings) -> anyhow::Result<()> {
    if !store.resources().await?.is_empty() || !settings.resources.seed_dir.is_dir() {
        return Ok(());
    }
    let records = crate::resources::files::read_path(&settings.resources.seed_dir)?;
    store
        .upsert_resources(&records, crate::clock::now_ms())
        .await?;
    info!(n_resources = records.len(), "resource directory seeded");
    Ok(())
}

/// The ingester with acknowledgements, and the outbox worker that sends them.
pub fn reply_pipeline(
    store: &Arc<dyn Store>,
    settings: &Settings,
) -> anyhow::Result<(Ingester, crate::replies::outbox::OutboxWorker)> {
    reply_pipeline_with(store, settings, reply_templates(settings)?)
}

/// The built-in reply templates, with those of `replies.template_dir` replacing them.
pub fn reply_templates(
    settings: &Settings,
) -> anyhow::Result<Arc<crate::replies::templates::Templates>> {
    let template_dir = (!settings.replies.template_dir.is_empty())
        .then(|| PathBuf::from(&settings.replies.template_dir));
    Ok(Arc::new(crate::replies::templates::Templates::load(
        template_dir.as_deref(),
    )?))
}

/// As [`reply_pipeline`], with templates already loaded (the web app shares them).
pub fn reply_pipeline_with(
    store: &Arc<dyn Store>,
    settings: &Settings,
    templates: Arc<crate::replies::templates::Templates>,
) -> anyhow::Result<(Ingester, crate::replies::outbox::OutboxWorker)> {
    let queued = Arc::new(tokio::sync::Notify::new());
    let acknowledger = Arc::new(crate::replies::ack::Acknowledger::from_settings(
        store.clone(),
        templates,
        settings,
        queued.clone(),
    ));
    let ingester = Ingester::new(store.clone(), TriageConfig::from_settings(settings))
        .with_acknowledger(acknowledger);
    let transport = crate::replies::outbox::Transport::from_settings(&settings.outgoing)?;
    let worker = crate::replies::outbox::OutboxWorker::new(
        store.clone(),
        transport,
        settings.outgoing.max_attempts,
        Duration::from_millis(settings.outgoing.poll_interval_ms.max(50)),
        queued,
    );
    Ok((ingester, worker))
}

async fn serve(mut settings: Settings, demo: bool, role: ServeRole) -> anyhow::Result<()> {
    if demo && role != ServeRole::All {
        anyhow::bail!("--demo runs the whole service on one machine: use it with --role all");
    }
    // A web node reads no inbox; for the stalled-inbox alert it watches every mailbox the
    // workers poll.
    if role == ServeRole::Web {
        settings.inbox.kind = InboxKind::None;
    }
    let mails = role != ServeRole::Web;
    let store = open_store(&settings).await?;
    crate::triage::risk::check_lexicons()?;
    seed_resources(&store, &settings).await?;
    let templates = reply_templates(&settings)?;
    let (ingester, outbox_worker) = reply_pipeline_with(&store, &settings, templates.clone())?;
    let ingester = Arc::new(ingester);
    if mails {
        ingester.process_pending().await?;
        ingester.acknowledge_pending().await?;
    }
    info!(role = ?role, "starting");

    if demo {
        if settings.inbox.kind != InboxKind::Maildir {
            anyhow::bail!("--demo needs inbox.kind = \"maildir\"");
        }
        let n = crate::demo::drop_samples(&settings.maildir.path)
            .context("writing the demo messages")?;
        info!(n_messages = n, "demo messages dropped into the local inbox");
        if let Some(n_threads) = crate::demo::add_history(store.as_ref(), crate::clock::now_ms())
            .await
            .context("writing the demo history")?
        {
            info!(
                n_threads,
                "five weeks of demo history written for the reports"
            );
        }
    }

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // What this process knows about the servers it talks to, for /healthz.
    let dependencies = Arc::new(crate::health::Dependencies::default());
    let outbox_worker = outbox_worker.with_dependencies(dependencies.clone());
    let outbox_queued = outbox_worker.queued();
    // Replies queued in a web node's app are sent by a worker's outbox poll.
    let outbox_task = mails.then(|| tokio::spawn(outbox_worker.run(shutdown_rx.clone())));
    let mut source: Option<Box<dyn MailSource>> = match settings.inbox.kind {
        InboxKind::Maildir => Some(Box::new(MaildirSource::new(
            settings.maildir.path.clone(),
            Duration::from_millis(settings.maildir.poll_interval_ms.max(50)),
        ))),
        InboxKind::Imap => Some(Box::new(
            ImapSource::new(settings.imap.clone()).with_dependencies(dependencies.clone()),
        )),
        InboxKind::None => None,
    };
    let source_task = source.take().map(|mut source| {
        let ingester = ingester.clone();
        let shutdown = shutdown_rx.clone();
        tokio::spawn(async move {
            if let Err(error) = source.run(ingester, shutdown).await {
                error!(error = format!("{error:#}"), "the mail source stopped");
            }
        })
    });

    let mut state = web::AppState::new(store.clone(), &settings, templates, outbox_queued)
        .context("loading the web templates")?;
    state.dependencies = dependencies;
    let poll_task = tokio::spawn(crate::health::watch_polls(
        store.clone(),
        (*state.poll_watch).clone(),
        shutdown_rx.clone(),
    ));
    // Retention runs where the mail is read, never on web-only nodes.
    let retention_task = (mails && settings.retention.purge_after_days > 0).then(|| {
        tokio::spawn(crate::retention::run_periodically(
            store.clone(),
            settings.retention.purge_after_days,
            shutdown_rx.clone(),
        ))
    });
    if role != ServeRole::Worker {
        first_run_admin(&store, &settings).await?;
    }
    let listener = tokio::net::TcpListener::bind(&settings.web.bind)
        .await
        .with_context(|| format!("binding the web address {}", settings.web.bind))?;
    let address = listener.local_addr()?;
    info!(%address, "concierge is running: open http://{address}/");
    let mut web_shutdown = shutdown_rx.clone();
    let router = match role {
        ServeRole::Worker => web::ops_router(state),
        ServeRole::All | ServeRole::Web => web::router(state),
    };
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        web_shutdown.changed().await.ok();
    });
    let server_task = tokio::spawn(async move { server.await });

    shutdown_signal().await;
    info!("shutting down");
    shutdown_tx.send(true).ok();
    if let Some(task) = source_task {
        task.await.ok();
    }
    if let Some(task) = outbox_task {
        task.await.ok();
    }
    poll_task.await.ok();
    if let Some(task) = retention_task {
        task.await.ok();
    }
    server_task.await.ok();
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.ok();
}

async fn ingest(settings: Settings, path: &Path) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let ingester = Ingester::new(store.clone(), TriageConfig::from_settings(&settings));
    ingester.process_pending().await?;
    let summary = ingest_path(&ingester, path).await?;
    let counts = store.counts().await?;
    println!(
        "new messages: {}\nalready known: {}\nnew threads: {}\nwith problems: {}\ntotal messages: {}\ntotal threads: {}",
        summary.n_new, summary.n_known, summary.n_new_threads, summary.n_problems, counts.messages, counts.threads
    );
    Ok(())
}

/// Ingests a file, Maildir or mbox without changing it.
pub async fn ingest_path(ingester: &Ingester, path: &Path) -> anyhow::Result<BatchSummary> {
    if path.is_dir() {
        if !path.join("new").is_dir() && !path.join("cur").is_dir() {
            anyhow::bail!(
                "{} is a folder but not a Maildir (no new/ or cur/)",
                path.display()
            );
        }
        return MaildirSource::new(path, Duration::ZERO)
            .scan_once(ingester, false)
            .await;
    }
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let items = if looks_like_mbox(&raw) {
        read_mbox(path).with_context(|| format!("reading the mbox {}", path.display()))?
    } else {
        vec![IncomingRaw {
            source_key: format!("file:{}", crate::mail::raw::dedupe_key(&raw)),
            raw,
        }]
    };
    let mut summary = BatchSummary::default();
    for chunk in items.chunks(200) {
        summary.add(&ingester.ingest_batch(chunk.to_vec()).await?);
    }
    Ok(summary)
}

fn triage_file(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    let raw = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let config = TriageConfig::from_settings(settings);
    let output = match crate::mail::parse_message(&raw) {
        Ok(parsed) => {
            let triaged = triage::triage(&parsed, &SenderHistory::default(), &config);
            serde_json::json!({
                "file": file.display().to_string(),
                "problems": parsed.problems,
                "language": triaged.decision.language,
                "country": triaged.decision.country,
                "risk": triaged.decision.risk,
                "auto_kind": triaged.decision.auto_kind,
            })
        }
        Err(failure) => serde_json::json!({
            "file": file.display().to_string(),
            "problems": [failure.to_string()],
            "language": null,
            "country": null,
            "risk": {"value": "none", "confidence": 0.0, "evidence": []},
            "auto_kind": {"value": "none", "confidence": 0.0, "evidence": []},
        }),
    };
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, &output)?;
    writeln!(stdout)?;
    Ok(())
}

/// Navigators' risk corrections as labelled `.jsonl` lines, for the crisis set to grow from.
async fn export_corrections(settings: Settings, out: Option<&Path>) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let items = crate::eval::correction_items(&store.risk_corrections().await?);
    let mut text = String::new();
    for item in &items {
        text.push_str(&serde_json::to_string(item)?);
        text.push('\n');
    }
    match out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("{} corrections written to {}", items.len(), path.display());
        }
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(())
}

async fn print_queue(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    let entries = store.queue(1000).await?;
    let now = crate::clock::now_ms();
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{:<8} {:<8} {:<9} {:<10} {:<4} {:<4} {:>4}  subject",
        "thread", "token", "risk", "waited", "lang", "ctry", "msgs"
    )?;
    for entry in &entries {
        let waited = entry
            .waiting_since
            .map(|since| crate::clock::human_duration(now - since))
            .unwrap_or_else(|| "-".into());
        writeln!(
            stdout,
            "{:<8} {:<8} {:<9} {:<10} {:<4} {:<4} {:>4}  {}",
            entry.thread_id,
            entry.token,
            entry.risk.as_str(),
            waited,
            entry.language.as_deref().unwrap_or("?"),
            entry.country.as_deref().unwrap_or("?"),
            entry.n_messages,
            entry.subject.chars().take(70).collect::<String>()
        )?;
    }
    writeln!(stdout, "{} open threads", entries.len())?;
    Ok(())
}
