//! Admin subcommands beside `serve` (issue 4 item 6): add a user, import estates from GeoJSON,
//! check a routing-rules file, verify the audit chain, export cases as CSV. Each opens the same
//! storage `serve` would (`--data DIR` or `--database URL`, or the config file and environment),
//! runs its migrations, and writes audit entries like the server does.
//!
//! - [`users`]: `user add`; [`estates`]: `estates import`; [`rules`]: `rules check`;
//!   [`export`]: `export cases`; `audit verify` is here.

pub mod estates;
pub mod export;
pub mod rules;
pub mod users;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use crate::config::{Config, ConfigError};
use crate::policy::audit;
use crate::storage::{self, Storage, StorageError};

/// Where the data lives, exactly as for `serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct StorageArgs {
    /// Config file (TOML); environment variables override it, flags override both.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Data folder holding the SQLite database.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// PostgreSQL URL (or env XUNCHA_DATABASE_URL).
    #[arg(long)]
    pub database: Option<String>,
}

impl StorageArgs {
    pub fn load_config(&self) -> Result<Config, CliError> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(data) = &self.data {
            config.data_dir = data.clone();
        }
        if let Some(url) = &self.database {
            config.database_url = Some(url.clone());
        }
        Ok(config)
    }

    /// Opens the storage (running migrations, like `serve`).
    pub async fn open(&self) -> Result<Arc<dyn Storage>, CliError> {
        Ok(storage::open(&self.load_config()?).await?)
    }
}

/// The admin subcommands, flattened into the binary's command list next to `serve`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage estates (旧楼区).
    #[command(subcommand)]
    Estates(EstatesCommand),
    /// Routing rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// The hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Export data for spreadsheets.
    #[command(subcommand)]
    Export(ExportCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user bound to a role and an org unit. The password is read from --password-file or
    /// stdin (not echoed on a terminal), never from the command line.
    Add {
        username: String,
        /// inspector, company_staff, committee, street_office, department or admin.
        #[arg(long)]
        role: String,
        /// Org unit id from the unit directory, e.g. heping.nanyingmen.
        #[arg(long)]
        unit: String,
        /// Name shown in the apps (defaults to the username).
        #[arg(long)]
        display_name: Option<String>,
        /// File whose first line is the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Lift every sign-in lock of an account (too many wrong passwords from an address); the
    /// locks otherwise end by themselves.
    Unlock {
        username: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum EstatesCommand {
    /// Import (insert or update) estates from a GeoJSON FeatureCollection; each feature's
    /// properties are the estate's fields, its geometry the boundary. Nothing is imported if any
    /// feature is invalid.
    Import {
        file: PathBuf,
        /// Validate only.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Building footprints of one estate.
    #[command(subcommand)]
    Buildings(BuildingsCommand),
}

#[derive(Debug, Subcommand)]
pub enum BuildingsCommand {
    /// Replace an estate's building footprints with a GeoJSON FeatureCollection of Polygons
    /// (property `name` or `number` = the building's label, WGS-84). Nothing changes if any
    /// feature is invalid; the error names the file and the feature (1-based).
    Import {
        estate: String,
        file: PathBuf,
        /// Validate only.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Parse and validate a routing-rules file; prints `file:line: message` for the first problem and
    /// exits non-zero. With --data/--database/--config, also routes every category for every stored
    /// estate with the stored unit directory.
    Check {
        file: PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the keyed hash chain; exits non-zero and shows the first bad entry if it is
    /// broken. With --checkpoint, also checks the log against a line printed earlier by
    /// `audit checkpoint`, which catches a rewrite of the whole tail.
    Verify {
        /// A line printed by `audit checkpoint` (kept outside the server).
        #[arg(long)]
        checkpoint: Option<String>,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Print a signed checkpoint of the chain's tip (seq, hash, time, HMAC signature): keep the
    /// line somewhere else (paper, e-mail, another machine) and give it to `audit verify
    /// --checkpoint` later.
    Checkpoint {
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// All cases as CSV (UTF-8 with BOM for Excel, Beijing time, Chinese headers and codes).
    Cases {
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{file}: {errors} invalid feature(s); nothing was imported")]
    EstatesInvalid { file: String, errors: usize },
    #[error("{0}")]
    BuildingsInvalid(#[from] xuncha_core::buildings::FootprintError),
    #[error("no estate {0:?}")]
    UnknownEstate(String),
    #[error("{file}: the routing rules are invalid")]
    RulesInvalid { file: String },
    #[error("the audit chain is broken at entry {seq} ({code})")]
    AuditBroken { seq: i64, code: &'static str },
    #[error("password hashing: {0}")]
    Password(#[from] crate::policy::passwords::PasswordError),
}

impl CliError {
    pub fn code(&self) -> &'static str {
        match self {
            CliError::Config(e) => e.code(),
            CliError::Storage(e) => e.code(),
            CliError::Read { .. } => "READ",
            CliError::Write { .. } => "WRITE",
            CliError::Invalid(_) => "INVALID",
            CliError::EstatesInvalid { .. } => "ESTATES_INVALID",
            CliError::BuildingsInvalid(e) => e.code(),
            CliError::UnknownEstate(_) => "UNKNOWN_ESTATE",
            CliError::RulesInvalid { .. } => "RULES_INVALID",
            CliError::AuditBroken { .. } => "AUDIT_BROKEN",
            CliError::Password(_) => "PASSWORD_HASH",
        }
    }
}

pub fn read_file(path: &std::path::Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Runs one admin command; reports go to stdout, problems to stderr.
pub async fn run(command: AdminCommand) -> Result<(), CliError> {
    match command {
        AdminCommand::User(UserCommand::Add {
            username,
            role,
            unit,
            display_name,
            password_file,
            storage,
        }) => {
            let password = users::read_password(password_file.as_deref(), &username)?;
            let store = storage.open().await?;
            let user = users::add(
                store.as_ref(),
                &username,
                &role,
                &unit,
                display_name,
                password,
            )
            .await?;
            println!(
                "created user {} ({}, {}) id {}",
                user.username,
                user.role.code(),
                user.unit_id,
                user.id
            );
            Ok(())
        }
        AdminCommand::User(UserCommand::Unlock { username, storage }) => {
            let store = storage.open().await?;
            let lifted = store
                .unlock_login(
                    username.clone(),
                    crate::policy::audit::AuditDraft::new(
                        "LOGIN_UNLOCKED",
                        "user",
                        crate::policy::credentials::audit_username(&username),
                    ),
                )
                .await?;
            println!("unlocked {username}: {lifted} locked address(es) cleared");
            Ok(())
        }
        AdminCommand::Estates(EstatesCommand::Import {
            file,
            dry_run,
            storage,
        }) => {
            let text = read_file(&file)?;
            let name = file.display().to_string();
            let store = storage.open().await?;
            let catalog = store.load_catalog().await?;
            let estates = match estates::parse_feature_collection(&text, &catalog) {
                Ok(estates) => estates,
                Err(problems) => {
                    for problem in &problems {
                        eprintln!("{name}: {problem}");
                    }
                    return Err(CliError::EstatesInvalid {
                        file: name,
                        errors: problems.len(),
                    });
                }
            };
            let ids: Vec<String> = estates.iter().map(|e| e.id.clone()).collect();
            if dry_run {
                println!("{name}: {} estate(s) valid: {}", ids.len(), ids.join(", "));
                return Ok(());
            }
            estates::import(store.as_ref(), estates, &name).await?;
            println!("imported {} estate(s): {}", ids.len(), ids.join(", "));
            Ok(())
        }
        AdminCommand::Estates(EstatesCommand::Buildings(BuildingsCommand::Import {
            estate,
            file,
            dry_run,
            storage,
        })) => {
            let text = read_file(&file)?;
            let name = file.display().to_string();
            let store = storage.open().await?;
            let summary =
                estates::import_buildings(store.as_ref(), &estate, &name, &text, dry_run).await?;
            println!("{summary}");
            Ok(())
        }
        AdminCommand::Rules(RulesCommand::Check { file, storage }) => {
            let text = read_file(&file)?;
            let name = file.display().to_string();
            let (parsed, summary) = rules::check(&text, &name).map_err(|problem| {
                eprintln!("{problem}");
                CliError::RulesInvalid { file: name.clone() }
            })?;
            let today = chrono::Utc::now()
                .with_timezone(&xuncha_core::time::SHANGHAI)
                .date_naive();
            if let Some(warning) = rules::expiry_warning(&parsed, today) {
                eprintln!("{name}: {warning}");
            }
            if storage.config.is_some() || storage.data.is_some() || storage.database.is_some() {
                let catalog = storage.open().await?.load_catalog().await?;
                let problems = rules::check_against(&parsed, &catalog, &name);
                for problem in &problems {
                    eprintln!("{problem}");
                }
                if !problems.is_empty() {
                    return Err(CliError::RulesInvalid { file: name });
                }
                println!(
                    "{name}: ok ({summary}; all {} stored estates routable)",
                    catalog.estates().len()
                );
            } else {
                println!("{name}: ok ({summary})");
            }
            Ok(())
        }
        AdminCommand::Audit(AuditCommand::Checkpoint { storage }) => {
            let store = storage.open().await?;
            let (_rows, head) = store.audit_log().await?;
            let key = head.audit_key.clone().ok_or_else(|| {
                CliError::Invalid(
                    "no audit key: set XUNCHA_AUDIT_KEY or keep audit.key in the data folder"
                        .to_owned(),
                )
            })?;
            println!(
                "{}",
                audit::Checkpoint::of(&head, &key, chrono::Utc::now()).to_line()
            );
            Ok(())
        }
        AdminCommand::Audit(AuditCommand::Verify {
            checkpoint,
            storage,
        }) => {
            let store = storage.open().await?;
            let (rows, head) = store.audit_log().await?;
            let report = match checkpoint {
                Some(line) => {
                    let key = head.audit_key.clone().ok_or_else(|| {
                        CliError::Invalid("no audit key to check the checkpoint with".to_owned())
                    })?;
                    let checkpoint = audit::Checkpoint::parse(&line, &key).map_err(|e| {
                        CliError::Invalid(format!("checkpoint refused ({}): {e}", e.code()))
                    })?;
                    audit::verify_with_checkpoint(&rows, &head, &checkpoint)
                }
                None => audit::verify(&rows, &head),
            };
            match report.problem {
                None => {
                    println!(
                        "audit chain intact: {} entries, head {}",
                        report.entries, head.audit_hash
                    );
                    Ok(())
                }
                Some(problem) => {
                    eprintln!(
                        "audit chain broken at entry {} ({}): {}",
                        problem.seq, problem.code, problem.message
                    );
                    if let Some(row) = rows.iter().find(|r| r.seq == problem.seq) {
                        eprintln!("entry {}: {}", row.seq, row.entry);
                        eprintln!("  prev_hash {}\n  hash      {}", row.prev_hash, row.hash);
                    }
                    Err(CliError::AuditBroken {
                        seq: problem.seq,
                        code: problem.code,
                    })
                }
            }
        }
        AdminCommand::Export(ExportCommand::Cases { out, storage }) => {
            let store = storage.open().await?;
            let count = export::export_cases(store.as_ref(), &out).await?;
            println!("exported {count} case(s) to {}", out.display());
            Ok(())
        }
    }
}
