//! The real `crmd` binary as a child process: [`Crmd::start`] runs it in a temporary working
//! directory with the test's `CRM_*`, `DATABASE_URL` and `OTEL_*` variables removed (the
//! environment must not change what is tested), and reads its output line by line on
//! background threads. Dropping it kills the process if it has not exited.

use std::{
    io::{BufRead, BufReader, Read},
    path::PathBuf,
    process::{Command, ExitStatus, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

/// How long any one step of the binary may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The `crmd` binary of this build: tests live in `target/<profile>/deps`, binaries one up.
pub fn crmd_path() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .join("crmd");
    assert!(
        path.exists(),
        "{} does not exist: build the server first (`cargo build -p crm-server`, or run the tests with \
         `cargo test --workspace`, which builds every binary)",
        path.display()
    );
    path
}

/// A running `crmd`; see the module documentation.
#[derive(Debug)]
pub struct Crmd {
    pid: u32,
    lines: mpsc::Receiver<String>,
    exit: mpsc::Receiver<std::io::Result<ExitStatus>>,
    status: Option<ExitStatus>,
    /// Every line read so far (stdout and stderr).
    pub output: Vec<String>,
    dir: tempfile::TempDir,
}

impl Crmd {
    /// Starts `crmd ARGS` with text logs at `info`.
    pub fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[])
    }

    /// Starts `crmd ARGS` with text logs at `info` and the extra environment `env`.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(crmd_path());
        command.args(args);
        Self::spawn(command, env)
    }

    /// Starts `crmd ARGS` with its soft and hard file-descriptor limits at `limit` (through
    /// util-linux's `prlimit`, which execs crmd in its own process).
    pub fn start_with_descriptor_limit(args: &[&str], limit: u64) -> Self {
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--nofile={limit}:{limit}"))
            .arg("--")
            .arg(crmd_path())
            .args(args);
        Self::spawn(command, &[])
    }

    fn spawn(mut command: Command, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, _) in std::env::vars_os() {
            if name
                .to_str()
                .is_some_and(|n| n.starts_with("CRM_") || n.starts_with("OTEL_") || n == "DATABASE_URL")
            {
                command.env_remove(name);
            }
        }
        command.env("CRM_LOG", "info").env("CRM_LOG_FORMAT", "text");
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start crmd");
        let pid = child.id();
        let (line_tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let line_tx = line_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if line_tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let (exit_tx, exit) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = exit_tx.send(child.wait());
        });
        Self {
            pid,
            lines,
            exit,
            status: None,
            output: Vec::new(),
            dir,
        }
    }

    /// The process's working directory (where relative paths such as the key file land).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Reads lines until one satisfies `wanted` and returns it; fails after [`PATIENCE`] or when
    /// the output ends first.
    pub fn wait_for_line(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.output.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {what} within {PATIENCE:?}; output so far:\n{}",
                        self.output.join("\n")
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("crmd's output ended without {what}:\n{}", self.output.join("\n"))
                }
            }
        }
    }

    /// Waits for the process to exit, then returns its status and its whole output.
    pub fn wait_for_exit(&mut self) -> (ExitStatus, String) {
        let status = match self.exit.recv_timeout(PATIENCE) {
            Ok(status) => status.expect("wait for crmd"),
            Err(_) => panic!(
                "crmd did not exit within {PATIENCE:?}; output so far:\n{}",
                self.output.join("\n")
            ),
        };
        self.status = Some(status);
        // The pipes close when the process exits; what is left is read to the end.
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.output.push(line);
        }
        (status, self.output.join("\n"))
    }

    /// The address in the `address` field of the first JSON log line containing `message`
    /// (e.g. "crmd listening", "serving Prometheus metrics"); crmd must run with
    /// `--log-format json`.
    pub fn address_of(&mut self, message: &str) -> std::net::SocketAddr {
        let line = self.wait_for_line(message, |line| line.contains(message));
        let json: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        json["fields"]["address"]
            .as_str()
            .unwrap_or_else(|| panic!("no address in {line}"))
            .parse()
            .unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal` (e.g. `TERM`) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid);
    }
}

impl Drop for Crmd {
    fn drop(&mut self) {
        if self.status.is_none() && self.exit.try_recv().is_err() {
            let _ = Command::new("kill").arg("-KILL").arg(self.pid.to_string()).status();
        }
    }
}
