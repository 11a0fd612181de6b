//! Instant revocation across hub instances.
//!
//! Every instance caches successful key checks (see `members::AuthCache`). Whatever
//! changes a key or a member — revocation, suspension, a new quota — announces itself
//! here after its commit, and every instance's cache drops what it holds before its next
//! lookup:
//!
//! - PostgreSQL: `NOTIFY fraudhub_auth`; each instance LISTENs on a connection of its
//!   own. While that connection is down (or not yet up) the cache is bypassed, because a
//!   notification may be missed then.
//! - SQLite: the database is a local file shared by every process on the machine, so the
//!   announcement is a small file beside it (`<database>-auth`) rewritten on every
//!   change; each lookup compares the file's metadata with what it saw last, one `stat`
//!   (about a microsecond) instead of a database round trip.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::{Store, StoreError};

const CHANNEL: &str = "fraudhub_auth";

/// Where a store announces changes to keys and members.
#[derive(Clone, Debug)]
pub(crate) enum AuthSignal {
    /// The file beside the SQLite database.
    File(PathBuf),
    /// The PostgreSQL URL, for each instance's listening connection.
    Notify(SecretString),
    /// An in-memory database: one process, nothing to tell.
    None,
}

impl AuthSignal {
    pub(crate) fn for_url(url: &str) -> AuthSignal {
        if url.starts_with("sqlite:") {
            match super::database_file(url) {
                Some(path) => {
                    let mut name = path.into_os_string();
                    name.push("-auth");
                    AuthSignal::File(name.into())
                }
                None => AuthSignal::None,
            }
        } else {
            AuthSignal::Notify(SecretString::from(url.to_string()))
        }
    }
}

impl Store {
    /// Tells every instance that a key or member changed. Called after the change is
    /// committed, so an instance that drops its cache reads the new state. The change
    /// stands even if the announcement fails: instances then see it when their cached
    /// checks expire (`auth_cache_ms`), which is logged rather than failing the command
    /// that made it.
    pub(crate) async fn announce_auth_change(&self) -> Result<(), StoreError> {
        let announced = match &self.signal {
            AuthSignal::Notify(_) => sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(self.pool())
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            AuthSignal::File(path) => {
                // A fresh random content and a rename give a new inode and mtime, so a
                // reader cannot miss two changes within one timestamp tick.
                let tmp = path.with_extension("tmp");
                let content = hex::encode(rand::random::<[u8; 8]>());
                std::fs::write(&tmp, content)
                    .and_then(|()| std::fs::rename(&tmp, path))
                    .map_err(|e| e.to_string())
            }
            AuthSignal::None => Ok(()),
        };
        if let Err(error) = announced {
            tracing::warn!(%error, "could not announce a key or member change; other instances apply it when their cached checks expire");
        }
        Ok(())
    }

    /// The revocation feed this instance's auth cache consults.
    pub fn auth_changes(&self) -> AuthChanges {
        AuthChanges {
            signal: self.signal.clone(),
            generation: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            seen: Mutex::new(None),
        }
    }
}

/// What a file looked like: changes to it change at least one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        #[cfg(unix)]
        inode: meta.ino(),
        #[cfg(not(unix))]
        inode: 0,
    })
}

/// A counter that moves whenever keys or members may have changed.
#[derive(Debug)]
pub struct AuthChanges {
    signal: AuthSignal,
    generation: AtomicU64,
    listening: AtomicBool,
    seen: Mutex<Option<Option<Stamp>>>,
}

impl AuthChanges {
    /// The current generation; cached checks made under another one are stale. `None`
    /// means no cached check may be trusted now.
    pub fn generation(&self) -> Option<u64> {
        match &self.signal {
            AuthSignal::None => Some(0),
            AuthSignal::Notify(_) => self
                .listening
                .load(Ordering::Acquire)
                .then(|| self.generation.load(Ordering::Acquire)),
            AuthSignal::File(path) => {
                let now = stamp(path);
                let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
                if seen.as_ref() != Some(&now) {
                    *seen = Some(now);
                    self.generation.fetch_add(1, Ordering::AcqRel);
                }
                Some(self.generation.load(Ordering::Acquire))
            }
        }
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Listens for announcements until `stop` (PostgreSQL only; returns at once
    /// otherwise). Reconnects after a lost connection, bypassing the cache meanwhile.
    pub async fn listen(self: std::sync::Arc<Self>, stop: CancellationToken) {
        let AuthSignal::Notify(url) = &self.signal else {
            return;
        };
        loop {
            let connected = async {
                let mut listener = PgListener::connect(url.expose_secret()).await?;
                listener.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(listener)
            };
            let mut listener = tokio::select! {
                () = stop.cancelled() => return,
                l = connected => match l {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "auth change listener cannot connect; key checks bypass the cache");
                        tokio::select! {
                            () = stop.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        }
                    }
                },
            };
            // Anything cached before the listener was up may be stale.
            self.bump();
            self.listening.store(true, Ordering::Release);
            loop {
                let next = tokio::select! {
                    () = stop.cancelled() => return,
                    n = listener.try_recv() => n,
                };
                match next {
                    Ok(Some(_)) => self.bump(),
                    // The connection dropped; notifications may have been missed.
                    Ok(None) | Err(_) => {
                        self.listening.store(false, Ordering::Release);
                        self.bump();
                        break;
                    }
                }
            }
        }
    }
}
