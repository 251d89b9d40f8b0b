//! Which driver errors mean "the storage is unavailable" (retry later) rather than "something is
//! wrong" (a bug, a corrupt row): the one place where sea-orm and sqlx errors are sorted, so
//! that every repository maps them the same way. The domain names no driver type: it only has
//! an `Unavailable` case, and this module decides what falls into it.
//!
//! Unavailable are: no connection could be had from the pool in time (every connection busy, or
//! none could be opened) or the pool is closed; I/O, TLS and protocol failures of a connection
//! (the server went away or the connection broke mid-way); and the server's own "not now"
//! answers: PostgreSQL's SQLSTATE class 08 (connection exception), class 53 (insufficient
//! resources: too many connections, disk full, out of memory), 57P01-57P03 (shutting down,
//! crashed, starting up) and 57014 (a statement cancelled, e.g. by a timeout); SQLite's BUSY,
//! LOCKED, READONLY, IOERR, FULL and CANTOPEN (the file is locked by another process, cannot be
//! written or cannot be opened).

use std::ops::Deref as _;

use crm_domain::{access::AccessStoreError, error::CustomerError};
use sea_orm::{DbErr, RuntimeErr, sqlx};

/// Whether `error` says the storage cannot be used right now (see the module documentation).
pub(crate) fn is_unavailable(error: &DbErr) -> bool {
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_is_unavailable(e.deref())
        }
        _ => false,
    }
}

fn sqlx_is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else { return false };
            if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
                postgres_code_is_unavailable(&code)
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                code.parse::<i32>().is_ok_and(sqlite_code_is_unavailable)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs of a server that cannot serve now.
fn postgres_code_is_unavailable(sqlstate: &str) -> bool {
    sqlstate.starts_with("08")
        || sqlstate.starts_with("53")
        || matches!(sqlstate, "57P01" | "57P02" | "57P03" | "57014")
}

/// SQLite result codes (extended codes carry the primary one in their low byte) of a file that
/// cannot be used now.
fn sqlite_code_is_unavailable(code: i32) -> bool {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const READONLY: i32 = 8;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    matches!(code & 0xff, BUSY | LOCKED | READONLY | IOERR | FULL | CANTOPEN)
}

/// `error` as a customer operation's error: `Unavailable` or `Unexpected`.
pub(crate) fn customer_error(error: DbErr) -> CustomerError {
    if is_unavailable(&error) {
        CustomerError::unavailable(error)
    } else {
        CustomerError::unexpected(error)
    }
}

/// `error` as an access store's error: `Unavailable` or `Unexpected`.
pub(crate) fn access_error(error: DbErr) -> AccessStoreError {
    if is_unavailable(&error) {
        AccessStoreError::unavailable(error)
    } else {
        AccessStoreError::unexpected(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::ConnAcquireErr;

    #[test]
    fn pool_and_connection_failures_are_unavailable() {
        assert!(is_unavailable(&DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)));
        assert!(is_unavailable(&DbErr::ConnectionAcquire(
            ConnAcquireErr::ConnectionClosed
        )));
        assert!(is_unavailable(&DbErr::Conn(RuntimeErr::Internal("gone".into()))));
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_unavailable(&DbErr::Query(RuntimeErr::SqlxError(io.into()))));
        assert!(is_unavailable(&DbErr::Exec(RuntimeErr::SqlxError(
            sqlx::Error::PoolTimedOut.into()
        ))));
    }

    #[test]
    fn other_failures_are_unexpected() {
        assert!(!is_unavailable(&DbErr::Custom("bad row".into())));
        assert!(!is_unavailable(&DbErr::Query(RuntimeErr::SqlxError(
            sqlx::Error::RowNotFound.into()
        ))));
        assert!(!is_unavailable(&DbErr::Exec(RuntimeErr::Internal("syntax".into()))));
    }

    #[test]
    fn server_codes_are_sorted() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300", "53100", "57014"] {
            assert!(postgres_code_is_unavailable(code), "{code}");
        }
        for code in ["23505", "22003", "40001", "42P01"] {
            assert!(!postgres_code_is_unavailable(code), "{code}");
        }
        for code in [5, 517, 6, 8, 10, 266, 13, 14] {
            assert!(sqlite_code_is_unavailable(code), "{code}");
        }
        for code in [1, 19, 2067, 787] {
            assert!(!sqlite_code_is_unavailable(code), "{code}");
        }
    }
}
