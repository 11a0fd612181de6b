//! The development data directory and its SQLite database are private to the owner:
//! the database holds pseudonymised tokens and the audit log, the directory also the
//! generated development keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn migrate_creates_the_data_directory_0700_and_the_database_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("fresh").join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_fraudhub"))
        .args(["migrate"])
        .env("FRAUDHUB_DATA_DIR", &data_dir)
        .env_remove("FRAUDHUB_DATABASE_URL")
        .env_remove("FRAUDHUB_MASTER_KEY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&data_dir), 0o700, "data directory");
    assert_eq!(mode(&data_dir.join("fraudhub.db")), 0o600, "database file");
    // SQLite's companions, when still present, copy the database file's mode.
    for companion in ["fraudhub.db-wal", "fraudhub.db-shm"] {
        let path = data_dir.join(companion);
        if path.exists() {
            assert_eq!(mode(&path), 0o600, "{companion}");
        }
    }
}
