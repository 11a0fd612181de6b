//! `fraudhub backup`: a consistent copy of the embedded SQLite database while the hub
//! serves, and for PostgreSQL the pg_dump command to run instead.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::store::{BackupContents, Store, StoreError, inspect_sqlite_backup};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists: refusing to overwrite it (choose a new file name)")]
    Exists(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: the backup path must be valid UTF-8")]
    NotUtf8(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
    pub elapsed: Duration,
    pub contents: BackupContents,
}

/// Copies the SQLite database behind `store` into the new file `to` (mode 0600). On any
/// failure the partial file is removed, so a file that exists afterwards is a whole,
/// integrity-checked backup.
pub async fn backup_sqlite(store: &Store, to: &Path) -> Result<BackupReport, BackupError> {
    let shown = to.display().to_string();
    let target = to
        .to_str()
        .ok_or_else(|| BackupError::NotUtf8(shown.clone()))?;
    let started = Instant::now();
    // O_EXCL makes the refusal atomic (and refuses a planted symlink); SQLite accepts an
    // empty file as the VACUUM INTO target and keeps the mode we create it with, so the
    // tokens and the audit log are never readable by others, not even for a moment.
    if let Err(source) = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
    {
        return Err(match source.kind() {
            ErrorKind::AlreadyExists => BackupError::Exists(shown),
            _ => BackupError::Io {
                path: shown,
                source,
            },
        });
    }
    match write_and_check(store, target, to).await {
        Ok(contents) => {
            let bytes = std::fs::metadata(to)
                .map_err(|source| BackupError::Io {
                    path: shown,
                    source,
                })?
                .len();
            Ok(BackupReport {
                path: to.to_path_buf(),
                bytes,
                elapsed: started.elapsed(),
                contents,
            })
        }
        Err(e) => {
            if let Err(rm) = std::fs::remove_file(to) {
                tracing::warn!(path = %shown, error = %rm, "could not remove the incomplete backup");
            }
            Err(e)
        }
    }
}

async fn write_and_check(
    store: &Store,
    target: &str,
    to: &Path,
) -> Result<BackupContents, BackupError> {
    store.vacuum_into(target).await?;
    // SQLite does not fsync a VACUUM INTO output; a backup that vanishes with the page
    // cache in a power cut would be discovered only when it is needed.
    let io = |source| BackupError::Io {
        path: to.display().to_string(),
        source,
    };
    File::open(to).and_then(|f| f.sync_all()).map_err(io)?;
    let dir = match to.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    Ok(inspect_sqlite_backup(to).await?)
}

/// The refusal for PostgreSQL: the exact pg_dump command (password left out, it belongs
/// in PGPASSWORD or ~/.pgpass, not in a shell history) and how to restore.
pub fn postgres_instructions(url: &str, to: &Path) -> String {
    let db = url_without_password(url).map_or_else(
        || "\"$FRAUDHUB_DATABASE_URL\"".to_string(),
        |u| shell_quote(&u),
    );
    let file = shell_quote(&to.display().to_string());
    format!(
        "fraudhub backup copies the embedded SQLite database only; back up PostgreSQL with pg_dump:\n\n    \
         pg_dump -Fc -f {file} -d {db}\n\n\
         (the password is left out: give it in PGPASSWORD or ~/.pgpass). Restore into a new, empty \
         database with:\n\n    pg_restore --no-owner -d <new database URL> {file}\n",
    )
}

/// What no database backup contains, and where the configuration says it lives.
pub fn not_included(config: &Config) -> String {
    let master = if config.master_key.is_some() {
        "the master_key setting (FRAUDHUB_MASTER_KEY)".to_string()
    } else if let Some(path) = &config.master_key_file {
        format!("master_key_file {}", path.display())
    } else {
        format!(
            "the development key {}",
            config.data_dir.join("dev-master.key").display()
        )
    };
    let signing = if config.audit_signing_key.is_some() {
        "the audit_signing_key setting (FRAUDHUB_AUDIT_SIGNING_KEY)".to_string()
    } else if let Some(path) = &config.audit_signing_key_file {
        format!("audit_signing_key_file {}", path.display())
    } else {
        format!(
            "the development key {}",
            config.data_dir.join("dev-audit-signing.key").display()
        )
    };
    format!(
        "NOT in this backup (they live outside the database; keep copies of them, apart from the \
         database backups):\n  \
         - the master key, version {version}, from {master}: without it no flag's token can be \
         recomputed and every flag silently stops matching\n  \
         - the checkpoint signing key, from {signing}: without it new checkpoints need a new key \
         and a published key change",
        version = config.master_key_version,
    )
}

fn url_without_password(url: &str) -> Option<String> {
    let mut parsed = url::Url::parse(url).ok()?;
    parsed.set_password(None).ok()?;
    Some(parsed.to_string())
}

/// Quotes for a POSIX shell unless the word is plainly safe as it is.
fn shell_quote(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
