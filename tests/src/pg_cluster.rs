//! PostgreSQL servers a test starts itself from the installed PostgreSQL binaries (`initdb`,
//! `pg_ctl`, `pg_basebackup`): a primary and hot standbys by streaming replication, each in a
//! temporary directory on a free loopback port, stopped and removed on drop.
//!
//! The binaries are found in `CRM_TEST_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`
//! (Debian's layout), else on `PATH`. PostgreSQL refuses to run as root: as root, every command
//! runs as the `postgres` user (`runuser`), which owns the directories.
//!
//! Without the binaries a test prints a loud SKIPPED line and gets `None`, and under `CI` it
//! fails instead, so CI never skips it.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Instant,
};

/// The environment variable naming the directory of the PostgreSQL server binaries.
pub const PG_BIN_VAR: &str = "CRM_TEST_PG_BIN";

/// The directory holding `initdb`, `pg_ctl` and `pg_basebackup`, if there is one.
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(PG_BIN_VAR) {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(newest) = versions.pop() {
        return Some(newest);
    }
    let on_path = Command::new("sh").args(["-c", "command -v initdb"]).output().ok()?;
    let path = String::from_utf8(on_path.stdout).ok()?;
    Path::new(path.trim()).parent().map(Path::to_path_buf)
}

/// Whether this process runs as root (PostgreSQL's tools, and pgbouncer, must then run as
/// `postgres`).
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A free loopback port (bound, read and released: another process could take it meanwhile,
/// which on a test machine it practically never does).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// What PostgreSQL servers are started with.
#[derive(Debug, Clone)]
struct Tools {
    bin: PathBuf,
    as_postgres: bool,
}

impl Tools {
    fn find() -> Option<Self> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are not installed under CI: \
                 these tests must run in CI"
            );
            eprintln!(
                "\n!!! SKIPPED: PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) were not found; install \
                 them or set {PG_BIN_VAR} !!!\n"
            );
            return None;
        };
        Some(Self {
            bin,
            as_postgres: running_as_root(),
        })
    }

    /// Runs `tool` with `args` (as `postgres` when root) and returns its output; panics, with
    /// the output, when it fails.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command.env_remove("PGDATA");
        command
    }

    /// Runs `tool`, whatever its exit status.
    fn output(&self, tool: &str, args: &[&str]) -> Output {
        self.command(tool)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"))
    }

    fn run(&self, tool: &str, args: &[&str]) -> Output {
        let output = self.output(tool, args);
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// A new empty directory the servers' user owns.
    fn directory(&self) -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("crm-pg-")
            .tempdir()
            .expect("temporary directory");
        if self.as_postgres {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(status.success(), "chown postgres {}", dir.path().display());
        }
        dir
    }
}

/// One running PostgreSQL server.
#[derive(Debug)]
pub struct PgServer {
    tools: Tools,
    port: u16,
    dir: tempfile::TempDir,
    running: bool,
    /// Whether it has ever started (a restart keeps its port).
    started: bool,
}

impl PgServer {
    /// The URL of database `postgres` as user `postgres` (trust authentication).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server. The port was free when chosen, but another process (an outgoing
    /// connection of a test running alongside takes an ephemeral port from the same range) can
    /// take it before the server binds it: a first start that cannot bind moves to another free
    /// port, up to three times. A restart keeps its port (what is connected to it expects it).
    /// Any other failure panics with the server's log.
    fn start(&mut self) {
        let data = self.data();
        let log = self.dir.path().join("server.log");
        for attempt in 1.. {
            let output = self.tools.output(
                "pg_ctl",
                &[
                    "-D",
                    &data.to_string_lossy(),
                    "-l",
                    &log.to_string_lossy(),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            );
            if output.status.success() {
                self.running = true;
                self.started = true;
                return;
            }
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            if !self.started && attempt <= 3 && server_log.contains("could not bind") {
                eprintln!(
                    "port {} was taken before PostgreSQL bound it: trying another",
                    self.port
                );
                self.port = free_port();
                append(&data.join("postgresql.conf"), &format!("\nport = {}\n", self.port));
                continue;
            }
            panic!(
                "pg_ctl start failed: {}\n{}{}\nserver log:\n{server_log}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    pub fn kill(&mut self) {
        if self.running {
            self.tools.run(
                "pg_ctl",
                &["-D", &self.data().to_string_lossy(), "-m", "immediate", "-w", "stop"],
            );
            self.running = false;
        }
    }

    /// Promotes this standby to a primary and waits until it accepts writes.
    pub fn promote(&self) {
        self.tools
            .run("pg_ctl", &["-D", &self.data().to_string_lossy(), "-w", "promote"]);
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .tools
                .command("pg_ctl")
                .args(["-D", &self.data().to_string_lossy(), "-m", "immediate", "stop"])
                .output();
        }
    }
}

/// A primary and its hot standbys.
#[derive(Debug)]
pub struct PgCluster {
    /// The primary (index 0 of the servers started).
    pub primary: PgServer,
    /// Hot standbys streaming from the primary.
    pub standbys: Vec<PgServer>,
}

/// The settings every server of a test cluster runs with: loopback only, its socket in its own
/// directory, replication on, and no durability (`fsync=off`: a test's data need not survive a
/// power cut, and the machine's disk is shared).
const SETTINGS: &[&str] = &[
    "listen_addresses = '127.0.0.1'",
    "wal_level = replica",
    "max_wal_senders = 10",
    "max_replication_slots = 10",
    "hot_standby = on",
    "hot_standby_feedback = on",
    "wal_receiver_status_interval = 1s",
    "fsync = off",
    "full_page_writes = off",
    "shared_buffers = 32MB",
    "max_connections = 100",
];

impl PgCluster {
    /// Starts a primary with `standbys` hot standbys; `None` (after a loud SKIPPED line) where
    /// PostgreSQL's server binaries are not installed.
    pub fn start(standbys: usize) -> Option<Self> {
        let tools = Tools::find()?;
        let started = Instant::now();
        let dir = tools.directory();
        let data = dir.path().join("data");
        tools.run(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
        );
        let port = free_port();
        let mut settings = SETTINGS.join("\n");
        settings.push_str(&format!(
            "\nport = {port}\nunix_socket_directories = '{}'\n",
            dir.path().display()
        ));
        append(&data.join("postgresql.conf"), &settings);
        let mut primary = PgServer {
            tools: tools.clone(),
            port,
            dir,
            running: false,
            started: false,
        };
        primary.start();
        let mut cluster = Self {
            primary,
            standbys: Vec::new(),
        };
        for _ in 0..standbys {
            cluster.add_standby();
        }
        eprintln!(
            "pg cluster: primary on {} with {standbys} standby(s) after {:?}",
            cluster.primary.port,
            started.elapsed()
        );
        Some(cluster)
    }

    /// Clones the primary with `pg_basebackup` into a new hot standby streaming from it, and
    /// starts it.
    pub fn add_standby(&mut self) -> &PgServer {
        let tools = self.primary.tools.clone();
        let dir = tools.directory();
        let data = dir.path().join("data");
        tools.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.primary.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &data.to_string_lossy(),
                "-R",
                "-X",
                "stream",
                "--no-sync",
                "-c",
                "fast",
            ],
        );
        let port = free_port();
        append(
            &data.join("postgresql.conf"),
            &format!(
                "\nport = {port}\nunix_socket_directories = '{}'\n",
                dir.path().display()
            ),
        );
        let mut standby = PgServer {
            tools,
            port,
            dir,
            running: false,
            started: false,
        };
        standby.start();
        self.standbys.push(standby);
        self.standbys.last().expect("just pushed")
    }
}

impl PgServer {
    /// Runs `sql` on this server with `psql` (as the servers' user), returning what it prints.
    pub fn psql(&self, sql: &str) -> String {
        let output = self.tools.run(
            "psql",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-Atqc",
                sql,
            ],
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl PgCluster {
    /// Makes every commit on the primary wait until a standby has flushed it
    /// (`synchronous_standby_names = '*'`), so that an acknowledged write survives the primary's
    /// loss. Set on the primary only, after the standbys were cloned: a promoted standby does not
    /// wait for standbys it does not have.
    pub fn make_synchronous(&self) {
        self.primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'");
        self.primary.psql("SELECT pg_reload_conf()");
    }
}

/// Appends `text` to the file at `path` (written as the directory's owner would: the file is
/// PostgreSQL's, the test may be root).
fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    file.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
