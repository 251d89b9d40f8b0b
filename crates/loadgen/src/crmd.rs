//! The crmd under test as a child process: [`CrmdProcess::start`] runs the given binary on port 0
//! with a database URL, in a private temporary directory that holds its admin key file and its
//! log, and without the caller's `CRM_*`, `DATABASE_URL` and `OTEL_*` variables (the environment
//! must not change what is measured). crmd logs as it would in production (`info`, text) into the
//! log file, so the benchmark pays the same per-call logging a deployment does.
//!
//! Readiness: the bound address comes from the `crmd listening` log line (port 0 avoids port
//! clashes), the admin key from the key file crmd writes on first start (before it listens), and
//! the process counts as ready when `grpc.health.v1.Health/Check` answers SERVING.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// How long crmd may take to start (migrations on a fresh database included).
const START_PATIENCE: Duration = Duration::from_secs(60);
/// How often the log file is read while waiting for the listening line.
const LOG_POLL: Duration = Duration::from_millis(20);
/// How long a graceful stop may take before the process is killed.
const STOP_PATIENCE: Duration = Duration::from_secs(15);
/// Linux reports process CPU times in `USER_HZ` ticks, which are 1/100 s on every architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// How to start one crmd.
#[derive(Debug, Clone)]
pub struct CrmdConfig {
    /// The binary.
    pub binary: PathBuf,
    /// `--database-url`.
    pub database_url: String,
    /// Further flags, appended after the loadgen's own (so they win).
    pub extra_args: Vec<String>,
    /// How many HTTP/2 connections the load is spread over.
    pub connections: usize,
    /// The admin's key when the database has one already (a second crmd on the same database,
    /// which writes no key file); `None` reads the key file the first start writes.
    pub admin_key: Option<String>,
}

/// A running crmd; dropping it kills the process.
#[derive(Debug)]
pub struct CrmdProcess {
    child: KillOnDrop,
    pid: u32,
    dir: tempfile::TempDir,
    /// Where it listens.
    pub addr: SocketAddr,
    /// The bootstrap admin's API key, from the key file.
    pub admin_key: String,
    /// The connections to it (at least one).
    pub channels: Vec<Channel>,
}

impl CrmdProcess {
    /// Starts crmd and waits until it answers health checks with SERVING.
    ///
    /// # Errors
    /// When the binary cannot be started, exits, or is not ready within a minute; the error
    /// carries the end of its log.
    pub async fn start(config: &CrmdConfig) -> anyhow::Result<Self> {
        // Absolute, because crmd runs in its own directory and a relative program path would be
        // looked up from there.
        let binary = std::fs::canonicalize(&config.binary).with_context(|| {
            format!(
                "{} cannot be found: build it first (`cargo build --release -p crm-server --bin crmd`)",
                config.binary.display()
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("crm-loadgen-crmd-")
            .tempdir()
            .context("creating a temporary directory for crmd")?;
        let log_path = dir.path().join("crmd.log");
        let key_path = dir.path().join("admin.key");
        let log = std::fs::File::create(&log_path).context("creating crmd's log file")?;
        let mut command = Command::new(&binary);
        command
            .arg("--listen-addr")
            .arg("127.0.0.1:0")
            .arg("--database-url")
            .arg(&config.database_url)
            .arg("--admin-key-file")
            .arg(&key_path)
            // The daily re-classification starts with the server: off, so that no batch runs
            // unless the benchmark starts one.
            .arg("--reclassify-interval-secs")
            .arg("0")
            .args(&config.extra_args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("sharing crmd's log file")?)
            .stderr(log);
        for (name, _) in std::env::vars_os() {
            if name
                .to_str()
                .is_some_and(|n| n.starts_with("CRM_") || n.starts_with("OTEL_") || n == "DATABASE_URL")
            {
                command.env_remove(name);
            }
        }
        command.env("CRM_LOG", "info").env("CRM_LOG_FORMAT", "text");
        // Every call of the benchmark is the admin's: its per-principal limit of calls at once
        // would shed the open loops' pile-ups before the server does. An environment variable,
        // not a flag, so that an older crmd (`--compare-crmd`) without the setting still starts,
        // and a `--crmd-arg` flag still wins.
        command.env("CRM_PRINCIPAL_MAX_CONCURRENT", "0");
        let mut child = KillOnDrop(
            command
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?,
        );
        let pid = child.0.id();

        let deadline = Instant::now() + START_PATIENCE;
        let addr = loop {
            if let Some(addr) = listening_address(&std::fs::read_to_string(&log_path).unwrap_or_default()) {
                break addr;
            }
            if let Some(status) = child.0.try_wait().context("waiting for crmd")? {
                bail!("crmd exited with {status} before listening:\n{}", log_tail(&log_path));
            }
            if Instant::now() > deadline {
                bail!(
                    "crmd did not listen within {START_PATIENCE:?}:\n{}",
                    log_tail(&log_path)
                );
            }
            tokio::time::sleep(LOG_POLL).await;
        };
        // The key file is written before the listener serves, so it is there now.
        let admin_key = match &config.admin_key {
            Some(key) => key.clone(),
            None => std::fs::read_to_string(&key_path)
                .with_context(|| format!("reading the admin key file {}", key_path.display()))?
                .trim()
                .to_owned(),
        };
        let mut channels = Vec::new();
        for _ in 0..config.connections.max(1) {
            channels.push(connect(addr).await?);
        }
        let process = Self {
            child,
            pid,
            dir,
            addr,
            admin_key,
            channels,
        };
        process.wait_serving(deadline).await?;
        Ok(process)
    }

    /// Waits until the health service answers SERVING for the whole server.
    async fn wait_serving(&self, deadline: Instant) -> anyhow::Result<()> {
        let mut health = HealthClient::new(self.channels[0].clone());
        loop {
            let answer = health
                .check(HealthCheckRequest { service: String::new() })
                .await
                .map(|r| r.into_inner().status);
            match answer {
                Ok(status) if status == ServingStatus::Serving as i32 => return Ok(()),
                // NOT_SERVING while the database is unreachable: ask again below.
                Ok(_) | Err(_) if Instant::now() < deadline => {}
                Ok(status) => bail!(
                    "crmd's health is {status:?}, not SERVING, after {START_PATIENCE:?}:\n{}",
                    self.log_tail()
                ),
                Err(error) => bail!("crmd's health check failed: {error}:\n{}", self.log_tail()),
            }
            // The health watcher pings the database every few seconds; ask again soon.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process's CPU time so far (user + system), from `/proc/<pid>/stat`; `None` where
    /// that file is not readable (not Linux).
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        cpu_from_stat(&stat)
    }

    /// Waits (up to `patience`) until crmd's log has a line containing `text`.
    ///
    /// # Errors
    /// When it does not appear in time; the error carries the end of the log.
    pub async fn wait_for_log(&self, text: &str, patience: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + patience;
        while !self.logged(text) {
            if Instant::now() > deadline {
                bail!("crmd did not log {text:?} within {patience:?}:\n{}", self.log_tail());
            }
            tokio::time::sleep(LOG_POLL).await;
        }
        Ok(())
    }

    /// Whether crmd's log has a line containing `text`.
    pub fn logged(&self, text: &str) -> bool {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .contains(text)
    }

    /// The last lines of crmd's log.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log_path())
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("crmd.log")
    }

    /// Stops crmd with SIGTERM (graceful: in-flight calls finish, the audit log drains) and waits
    /// for it; kills it if it takes longer than 15 s.
    ///
    /// # Errors
    /// When it does not exit cleanly; the error carries the end of its log.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        // Close our connections first, so that shutdown waits for nobody.
        self.channels.clear();
        let sent = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .context("running kill")?;
        if !sent.success() {
            bail!("kill -TERM {} failed", self.pid);
        }
        let deadline = Instant::now() + STOP_PATIENCE;
        loop {
            match self.child.0.try_wait().context("waiting for crmd")? {
                Some(status) if status.success() => return Ok(()),
                Some(status) => bail!("crmd exited with {status}:\n{}", self.log_tail()),
                None if Instant::now() > deadline => {
                    self.child.kill();
                    bail!("crmd did not stop within {STOP_PATIENCE:?}:\n{}", self.log_tail())
                }
                None => tokio::time::sleep(LOG_POLL).await,
            }
        }
    }
}

/// The child process, killed when dropped unless it has exited: no crmd outlives the benchmark,
/// whatever error ends it early.
#[derive(Debug)]
struct KillOnDrop(Child);

impl KillOnDrop {
    fn kill(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A connection to `addr` with TCP_NODELAY (as crmd sets on its side).
async fn connect(addr: SocketAddr) -> anyhow::Result<Channel> {
    Endpoint::from_shared(format!("http://{addr}"))
        .context("the crmd address as a URI")?
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("connecting to crmd at {addr}"))
}

/// The address of the first `crmd listening … address=HOST:PORT` line of a text log.
pub fn listening_address(log: &str) -> Option<SocketAddr> {
    log.lines()
        .find(|line| line.contains("crmd listening"))?
        .split_whitespace()
        .find_map(|word| word.strip_prefix("address="))?
        .parse()
        .ok()
}

/// User plus system CPU time from the text of `/proc/<pid>/stat`.
pub fn cpu_from_stat(stat: &str) -> Option<Duration> {
    // The command name (field 2) is in parentheses and may hold spaces: count after its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64((utime + stime) as f64 / TICKS_PER_SECOND))
}

/// The last 40 lines of the file at `path`.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_comes_from_the_listening_line() {
        let log = "2026-01-01T00:00:00Z  INFO crm_server: database ready database=sqlite://x\n\
                   2026-01-01T00:00:00Z  INFO crm_server: crmd listening (gRPC, plaintext HTTP/2) address=127.0.0.1:40123\n";
        assert_eq!(listening_address(log), Some("127.0.0.1:40123".parse().unwrap()));
        assert_eq!(listening_address("INFO crm_server: database ready\n"), None);
    }

    #[test]
    fn cpu_time_is_utime_plus_stime_in_ticks() {
        let stat = "4242 (crm d) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 0 0";
        assert_eq!(cpu_from_stat(stat), Some(Duration::from_secs(3)));
        assert_eq!(cpu_from_stat("garbage"), None);
    }
}
