//! Telling "the database is away" apart from "the request or the data is wrong".
//!
//! A restart, failover or network cut of the database is an outage the client can retry
//! through (503), not a bug in the hub (500). Only connection-class failures count: an
//! error the database returned about a statement stays internal.

use super::StoreError;

impl StoreError {
    /// The database could not be reached or is shutting down / starting up.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Db(e) => is_connection_error(e),
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => is_connection_error(e),
            StoreError::Postgres(e) => is_lost_connection(e),
            StoreError::Lost => true,
            _ => false,
        }
    }
}

pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| is_unavailable_code(&c)),
        _ => false,
    }
}

/// The same for the audit writer's own connection: closed, not made, or refused by a
/// server that is going away.
fn is_lost_connection(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        return is_unavailable_code(code.code());
    }
    // Connecting and I/O failures carry the I/O error; a statement the server refused
    // has a code, and one the client could not encode has neither.
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

/// PostgreSQL SQLSTATEs that mean the server, not the statement, is the problem.
fn is_unavailable_code(code: &str) -> bool {
    // Class 08: connection exception.
    code.starts_with("08")
        // admin_shutdown, crash_shutdown, cannot_connect_now (starting up / shutting down)
        || matches!(code, "57P01" | "57P02" | "57P03")
        // too_many_connections: another instance holds them all for now
        || code == "53300"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_unavailable() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(StoreError::Db(sqlx::Error::Io(refused)).is_unavailable());
        assert!(StoreError::Db(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::Db(sqlx::Error::PoolClosed).is_unavailable());
    }

    #[test]
    fn statement_and_data_errors_are_not_unavailable() {
        assert!(!StoreError::Db(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::NotFound.is_unavailable());
        assert!(!StoreError::corrupt("x").is_unavailable());
    }

    #[test]
    fn server_state_codes_are_unavailable_and_statement_codes_are_not() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300"] {
            assert!(is_unavailable_code(code), "{code}");
        }
        // unique_violation, syntax_error, query_canceled, SQLite's SQLITE_CONSTRAINT
        for code in ["23505", "42601", "57014", "19"] {
            assert!(!is_unavailable_code(code), "{code}");
        }
    }
}
