//! Starting the real `entitle serve` binary for a test: a fresh data dir, chosen settings, an optional
//! file-descriptor limit, its address read from its first line; killed when dropped.
#![allow(dead_code, reason = "each test binary uses its own part of these helpers")]
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers fail the test when the server misbehaves"
)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;

pub const ADMIN_KEY: &str = "item-5-operator-key-0123456789abcdef";

pub fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/small-business-m365.toml")
}

/// A started `entitle serve`: its process, the base URL its first `listening on` line announced, what it printed
/// before that line, and what it writes to stderr (collected as it comes).
pub struct Launched {
    pub child: Child,
    pub base: String,
    pub banner: Vec<String>,
    pub stderr: Arc<Mutex<String>>,
}

/// Spawns `cmd` (an `entitle serve …`) with its output piped, and waits up to 60 s for its address. A server that
/// does not announce one is killed and the test fails with its stderr.
pub fn launch(mut cmd: Command) -> Launched {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the entitle binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let stderr = Arc::new(Mutex::new(String::new()));
    {
        let stderr = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                stderr
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => match line.strip_prefix("entitle: listening on ") {
                Some(addr) => break addr.trim().to_owned(),
                None => banner.push(line),
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(100));
                panic!("the server did not start; stderr: {}", stderr.lock().unwrap());
            }
        }
    };
    Launched {
        child,
        base,
        banner,
        stderr,
    }
}

/// A running `entitle serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts the binary with `env` set, under `ulimit -n fd_limit` when given.
    pub fn start(env: &[(&str, &str)], fd_limit: Option<u32>) -> Server {
        let dir = tempfile::tempdir().expect("a temp dir");
        let bin = env!("CARGO_BIN_EXE_entitle");
        let mut cmd = match fd_limit {
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path());
        for (k, _) in std::env::vars() {
            if k.starts_with("ENTITLE_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("ENTITLE_ADMIN_KEY", ADMIN_KEY).env("ENTITLE_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let up = launch(cmd);
        let addr = up.base.trim_start_matches("http://").parse().expect("an address");
        let (child, stderr) = (up.child, up.stderr);
        Server {
            child,
            addr,
            stderr,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn create_tenant(&self) {
        let res = Client::new()
            .post(self.url("/v1/tenants"))
            .bearer_auth(ADMIN_KEY)
            .header("Content-Type", "application/toml")
            .body(std::fs::read(example()).expect("the example"))
            .timeout(Duration::from_secs(30))
            .send()
            .expect("POST /v1/tenants");
        assert_eq!(res.status(), StatusCode::CREATED);
    }

    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    /// Waits for the process to exit; `None` if it is still running after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// One counter or gauge of `/metrics` (0 when absent).
    pub fn metric(&self, name: &str) -> f64 {
        let text = Client::new()
            .get(self.url("/metrics"))
            .timeout(Duration::from_secs(10))
            .send()
            .expect("GET /metrics")
            .text()
            .expect("text");
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}
