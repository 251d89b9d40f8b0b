//! The real `crmctl` binary against a [`TestApp`]: [`crmctl`] runs it with `--server` pointing
//! at the app and the admin's key in `CRM_TOKEN`, and returns its exit code, stdout and stderr.
//! The environment's own `CRM_*` variables are removed so they cannot change what is tested.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::TestApp;

/// The `crmctl` binary of this build: tests live in `target/<profile>/deps`, binaries one up.
pub fn crmctl_path() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .join("crmctl");
    assert!(
        path.exists(),
        "{} does not exist: build it first (`cargo build -p crm-cli --bin crmctl`; `make test-rust` does)",
        path.display()
    );
    path
}

/// What one run of `crmctl` did. The assertions take and return it, so they chain.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit code (`-1` when killed by a signal).
    pub code: i32,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0.
    #[track_caller]
    pub fn success(self) -> Self {
        assert_eq!(
            self.code, 0,
            "crmctl failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts exit code `code` (not 0).
    #[track_caller]
    pub fn fails_with(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "unexpected exit code:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts that stderr contains `text`.
    #[track_caller]
    pub fn stderr_has(self, text: &str) -> Self {
        assert!(self.stderr.contains(text), "stderr lacks {text:?}:\n{}", self.stderr);
        self
    }

    /// Asserts that stdout contains `text`.
    #[track_caller]
    pub fn stdout_has(self, text: &str) -> Self {
        assert!(self.stdout.contains(text), "stdout lacks {text:?}:\n{}", self.stdout);
        self
    }

    /// Stdout parsed as one JSON document.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// Stdout parsed as NDJSON, one value per line.
    #[track_caller]
    pub fn ndjson(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}")))
            .collect()
    }
}

/// How to run `crmctl`: as whom, from where.
#[derive(Debug, Clone, Default)]
pub struct Invocation<'a> {
    /// The key sent in `CRM_TOKEN`; `None` sends none.
    pub key: Option<&'a str>,
    /// The working directory (default: the test's).
    pub dir: Option<&'a Path>,
}

/// Runs `crmctl ARGS` against `app` with `key` in `CRM_TOKEN` (`None`: without a key).
pub async fn crmctl(app: &TestApp, key: Option<&str>, args: &[&str]) -> Run {
    crmctl_with(app, Invocation { key, dir: None }, args).await
}

/// Runs `crmctl --server http://<app> ARGS` as `how` says, on a blocking thread so the app's
/// server keeps running on the test's runtime.
pub async fn crmctl_with(app: &TestApp, how: Invocation<'_>, args: &[&str]) -> Run {
    let server = format!("http://{}", app.addr);
    let mut command = Command::new(crmctl_path());
    command
        .arg("--server")
        .arg(&server)
        .args(args)
        .env_remove("CRM_TOKEN")
        .env_remove("CRM_SERVER")
        .stdin(Stdio::null());
    if let Some(key) = how.key {
        command.env("CRM_TOKEN", key);
    }
    if let Some(dir) = how.dir {
        command.current_dir(dir);
    }
    run(command).await
}

/// Runs `crmctl ARGS` without a server (completions, usage errors).
pub async fn crmctl_offline(args: &[&str]) -> Run {
    let mut command = Command::new(crmctl_path());
    command
        .args(args)
        .env_remove("CRM_TOKEN")
        .env_remove("CRM_SERVER")
        .stdin(Stdio::null());
    run(command).await
}

async fn run(mut command: Command) -> Run {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the crmctl thread")
        .expect("run crmctl");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
