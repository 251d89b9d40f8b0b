//! Scratch databases: a fresh PostgreSQL database per crmd ([`ScratchDatabase::postgres`],
//! `crm_loadgen_<uuid>` on the server of `--postgres-url`, dropped with `WITH (FORCE)` when the
//! handle is dropped), or a fresh SQLite file in a temporary directory
//! ([`ScratchDatabase::sqlite`]).

use anyhow::Context as _;
use sea_orm::{ConnectOptions, ConnectionTrait, DatabaseConnection};
use serde::Serialize;

/// Which database a crmd stores in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Backend {
    /// A fresh database on the PostgreSQL server of `--postgres-url`.
    #[serde(rename = "postgresql")]
    Postgres,
    /// A fresh SQLite file.
    #[serde(rename = "sqlite")]
    Sqlite,
}

impl Backend {
    /// How the tables name it.
    pub fn title(self) -> &'static str {
        match self {
            Self::Postgres => "PostgreSQL",
            Self::Sqlite => "SQLite",
        }
    }
}

/// A fresh database, removed on drop.
#[derive(Debug)]
pub enum ScratchDatabase {
    /// An SQLite file in a temporary directory.
    Sqlite {
        /// `sqlite://…/crm.db?mode=rwc`.
        url: String,
        /// The directory, deleted on drop.
        dir: tempfile::TempDir,
    },
    /// A database on a PostgreSQL server.
    Postgres {
        /// The URL of the created database.
        url: String,
        /// The URL it was created through (kept to drop it).
        admin_url: String,
        /// Its name.
        name: String,
    },
}

impl ScratchDatabase {
    /// A fresh SQLite file.
    ///
    /// # Errors
    /// When no temporary directory can be made.
    pub fn sqlite() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("crm-loadgen-sqlite-")
            .tempdir()
            .context("creating a temporary directory for SQLite")?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("crm.db").display());
        Ok(Self::Sqlite { url, dir })
    }

    /// Creates `crm_loadgen_<uuid>` on the server `admin_url` names.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses `CREATE DATABASE`.
    pub async fn postgres(admin_url: &str) -> anyhow::Result<Self> {
        let name = format!("crm_loadgen_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(admin_url, 1)
            .await
            .with_context(|| format!("connecting to {} (--postgres-url)", redact(admin_url)))?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating database {name}"))?;
        admin.close().await.ok();
        Ok(Self::Postgres {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_owned(),
            name,
        })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        match self {
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    /// The database's name on its server (PostgreSQL), for the same database on a standby.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Postgres { name, .. } => Some(name),
            Self::Sqlite { .. } => None,
        }
    }

    /// Which backend it is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite { .. } => Backend::Sqlite,
            Self::Postgres { .. } => Backend::Postgres,
        }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let Self::Postgres { admin_url, name, .. } = self else {
            return;
        };
        let (admin_url, db_name) = (admin_url.clone(), name.clone());
        // Drop cannot be async (and may run inside a runtime): a private runtime on a thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = connect(&admin_url, 1).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("warning: could not drop the scratch database {name}");
        }
    }
}

/// A sea-orm connection pool of `max_connections`, without statement logging.
///
/// # Errors
/// When the database cannot be reached.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(max_connections).sqlx_logging(false);
    Ok(sea_orm::Database::connect(options).await?)
}

/// `url` with its path replaced by `/name` (the query, if any, kept).
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let Some(at) = rest.find('@') else {
        return url.to_owned();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_replaces_the_path_and_keeps_the_query() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5432", "x"), "postgres://h:5432/x");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://postgres@h/db"), "postgres://postgres@h/db");
    }
}
