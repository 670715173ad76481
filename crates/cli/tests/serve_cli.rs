//! The binary's server-facing commands, run as a user runs them: `entitle serve` refusing bad settings (exit 2,
//! the setting named, nothing on stdout), the first start's operator key, `entitle key create|list|revoke`
//! against a running server on the same data directory, and a graceful stop on SIGTERM.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test when the server misbehaves"
)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::Value;

mod common;

const ADMIN_KEY: &str = "serve-cli-operator-key-0123456789";
const TENANT: &str = "fabrikam-bakery";

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_entitle"));
    for var in [
        "ENTITLE_ADMIN_KEY",
        "ENTITLE_CONFIG",
        "ENTITLE_DATA_DIR",
        "ENTITLE_DATABASE_URL",
        "ENTITLE_LISTEN",
        "ENTITLE_CATALOG",
        "ENTITLE_REDIS_URL",
    ] {
        c.env_remove(var);
    }
    c.env("ENTITLE_LOG", "warn");
    c
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/small-business-m365.toml")
}

/// Runs a command that should end by itself; fails the test if it is still running after 30 s (a server that
/// started although it should not have).
fn run_bounded(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the entitle binary starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("its output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("its output");
            panic!(
                "still running after 30 s (it should have refused to start); stdout: {}; stderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `entitle serve`; killed when dropped.
struct Server {
    child: Child,
    base: String,
    /// What it printed on stdout before `listening on`.
    banner: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(data_dir: &Path, admin_key: Option<&str>) -> Server {
        let mut cmd = bin();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir);
        if let Some(k) = admin_key {
            cmd.env("ENTITLE_ADMIN_KEY", k);
        }
        let common::Launched {
            child, base, banner, ..
        } = common::launch(cmd);
        Server { child, base, banner }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
    }

    fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client")
}

fn create_tenant(s: &Server, key: &str) {
    let res = client()
        .post(s.url("/v1/tenants"))
        .bearer_auth(key)
        .header("Content-Type", "application/toml")
        .body(std::fs::read(example()).expect("the example"))
        .send()
        .expect("POST /v1/tenants");
    assert_eq!(res.status(), StatusCode::CREATED);
}

fn status_of(s: &Server, key: &str, path: &str) -> StatusCode {
    client()
        .get(s.url(path))
        .bearer_auth(key)
        .send()
        .expect("a GET")
        .status()
}

/// Asserts `entitle serve ARGS` exits 2, prints nothing on stdout, and names `needle` on stderr.
fn refuses(args: &[&str], data_dir: Option<&Path>, needles: &[&str]) {
    let mut cmd = bin();
    cmd.arg("serve").args(args);
    if let Some(d) = data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    cmd.env("ENTITLE_ADMIN_KEY", ADMIN_KEY);
    let out = run_bounded(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "`serve {args:?}` exits 2; stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    for n in needles {
        assert!(
            stderr.contains(n),
            "`serve {args:?}`: stderr names `{n}`: {stderr}"
        );
    }
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn serve_refuses_bad_settings_with_exit_2_naming_the_setting() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let d = dir.path();
    refuses(&["--listen", "localhost"], Some(d), &["--listen", "localhost"]);
    refuses(&["--listen", "127.0.0.1:99999"], Some(d), &["--listen"]);
    refuses(&["--catalog", "nope"], Some(d), &["--catalog", "nope"]);
    refuses(
        &["--database-url", "mysql://root:hunter2@db/entitle"],
        None,
        &["--database-url", "mysql://"],
    );
    // The password is not echoed.
    let out = run_bounded({
        let mut c = bin();
        c.args(["serve", "--database-url", "mysql://root:hunter2@db/entitle"]);
        c
    });
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));

    // A config file with an unknown key: FILE:LINE and the key.
    let config = d.join("entitle.toml");
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:0\"\nlisten_adress = \"127.0.0.1:1\"\n",
    )
    .expect("write");
    let config_arg = config.display().to_string();
    refuses(
        &["--config", &config_arg],
        Some(d),
        &[&format!("{config_arg}:2"), "listen_adress"],
    );

    // A data directory that cannot be made (a path under a regular file: refused even for root).
    let file = d.join("a-file");
    std::fs::write(&file, "").expect("write");
    let under_file = file.join("data");
    refuses(
        &["--data-dir", &under_file.display().to_string()],
        None,
        &["--data-dir", "a-file"],
    );

    // A port already in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = taken.local_addr().expect("its address").to_string();
    refuses(&["--listen", &addr], Some(d), &["listen", &addr]);
    drop(taken);
}

#[test]
fn first_start_prints_an_operator_key_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut s = Server::start(dir.path(), None);
    let shown: Vec<&String> = s.banner.iter().filter(|l| l.contains("operator key")).collect();
    assert_eq!(shown.len(), 1, "the key is printed once: {:?}", s.banner);
    let key = shown[0]
        .rsplit(' ')
        .next()
        .expect("the key ends the line")
        .to_owned();
    assert!(key.starts_with("ent_") && key.len() == 68, "a key: {key}");
    assert_eq!(status_of(&s, &key, "/v1/tenants"), StatusCode::OK);
    assert_eq!(
        status_of(&s, "ent_not-a-key", "/v1/tenants"),
        StatusCode::UNAUTHORIZED
    );
    s.sigterm();
    assert!(s.wait_exit(Duration::from_secs(10)).success());
    drop(s);

    // The second start makes no key and prints none; the first key still works.
    let s = Server::start(dir.path(), None);
    assert!(
        s.banner
            .iter()
            .all(|l| !l.contains("operator key") && !l.contains("ent_")),
        "no key on the second start: {:?}",
        s.banner
    );
    assert_eq!(status_of(&s, &key, "/v1/tenants"), StatusCode::OK);
    drop(s);

    // With ENTITLE_ADMIN_KEY on a fresh store, that key is the operator key and nothing is printed.
    let dir = tempfile::tempdir().expect("a temp dir");
    let s = Server::start(dir.path(), Some(ADMIN_KEY));
    assert!(
        s.banner.iter().all(|l| !l.contains("operator key")),
        "{:?}",
        s.banner
    );
    assert_eq!(status_of(&s, ADMIN_KEY, "/v1/tenants"), StatusCode::OK);
}

/// Polls until `path` answers `want` for `key`, for at most `within`; returns how long it took.
fn until_status(s: &Server, key: &str, path: &str, want: StatusCode, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let got = status_of(s, key, path);
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{path} still answers {got} after {within:?}, not {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn key_commands_work_against_a_running_server_on_the_same_data_dir() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let s = Server::start(dir.path(), Some(ADMIN_KEY));
    create_tenant(&s, ADMIN_KEY);
    let entities = format!("/v1/tenants/{TENANT}/entities");

    // create: the secret on the first line, then its id.
    let out = run_bounded({
        let mut c = bin();
        c.args([
            "key",
            "create",
            "--tenant",
            TENANT,
            "--role",
            "reader",
            "--name",
            "ci reader",
            "--data-dir",
        ])
        .arg(dir.path());
        c
    });
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "key create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = stdout.lines().next().expect("a first line").trim().to_owned();
    assert!(secret.starts_with("ent_") && secret.len() == 68, "{stdout}");
    let id = stdout
        .split_whitespace()
        .skip_while(|w| *w != "id:")
        .nth(1)
        .expect("the key's id")
        .to_owned();

    // The running server takes it within a second or so (it reloads keys on an unknown key, at most once a
    // second).
    let took = until_status(&s, &secret, &entities, StatusCode::OK, Duration::from_secs(3));
    assert!(took <= Duration::from_millis(1500), "took {took:?}");
    // A reader reads, and only reads; and only its tenant.
    let res = client()
        .post(s.url(&entities))
        .bearer_auth(&secret)
        .json(&serde_json::json!({"id": "e1"}))
        .send()
        .expect("a POST");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        status_of(&s, &secret, "/v1/tenants/other/entities"),
        StatusCode::NOT_FOUND
    );

    // list: the key, without its secret or hash.
    let out = run_bounded({
        let mut c = bin();
        c.args(["key", "list", "--data-dir"]).arg(dir.path());
        c
    });
    assert!(out.status.success());
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!listed.contains(&secret), "no secret in the list");
    assert!(!listed.contains(&secret["ent_".len()..]), "no secret in the list");
    let keys: Value = serde_json::from_str(&listed).expect("JSON");
    let mine = keys
        .as_array()
        .expect("a list")
        .iter()
        .find(|k| k["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} in {listed}"));
    assert_eq!(mine["role"], "reader");
    assert_eq!(mine["tenant"], TENANT);
    assert!(mine.get("hash").is_none() && mine.get("key").is_none() && mine.get("secret").is_none());
    let out = run_bounded({
        let mut c = bin();
        c.args(["key", "list", "--tenant", "other", "--data-dir"])
            .arg(dir.path());
        c
    });
    let other: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(other, serde_json::json!([]));

    // revoke: the running server stops taking it.
    let out = run_bounded({
        let mut c = bin();
        c.args(["key", "revoke", &id, "--data-dir"]).arg(dir.path());
        c
    });
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("revoked {id}")
    );
    until_status(
        &s,
        &secret,
        &entities,
        StatusCode::UNAUTHORIZED,
        Duration::from_secs(5),
    );
    // Revoking again is bad input.
    let out = run_bounded({
        let mut c = bin();
        c.args(["key", "revoke", &id, "--data-dir"]).arg(dir.path());
        c
    });
    assert_eq!(out.status.code(), Some(2));
    // A bad role is bad input, naming the flag.
    let out = run_bounded({
        let mut c = bin();
        c.args([
            "key",
            "create",
            "--tenant",
            TENANT,
            "--role",
            "king",
            "--data-dir",
        ])
        .arg(dir.path());
        c
    });
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--role"));
}

#[test]
fn sigterm_finishes_requests_in_flight_then_exits_0() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut s = Server::start(dir.path(), Some(ADMIN_KEY));
    create_tenant(&s, ADMIN_KEY);

    // A write in flight: its head and half its body sent when SIGTERM arrives.
    let body = br#"{"id": "in-flight", "dynamics": false}"#;
    let (first, rest) = body.split_at(body.len() / 2);
    let mut conn = TcpStream::connect(s.addr()).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        conn,
        "POST /v1/tenants/{TENANT}/entities HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {ADMIN_KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        s.addr(),
        body.len()
    )
    .expect("send the head");
    conn.write_all(first).expect("send half the body");
    conn.flush().expect("flush");
    std::thread::sleep(Duration::from_millis(200));

    s.sigterm();
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        s.child.try_wait().expect("wait").is_none(),
        "the server waits for the request in flight"
    );
    // It takes no new connections meanwhile.
    let refused =
        TcpStream::connect_timeout(&s.addr().parse().expect("an address"), Duration::from_millis(500))
            .and_then(|mut c| {
                c.set_read_timeout(Some(Duration::from_secs(1)))?;
                write!(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")?;
                let mut buf = [0u8; 64];
                match c.read(&mut buf)? {
                    0 => Err(std::io::Error::other("closed")),
                    n => Ok(String::from_utf8_lossy(&buf[..n]).to_string()),
                }
            });
    assert!(
        refused.is_err(),
        "a new connection is not served while stopping: {refused:?}"
    );

    conn.write_all(rest).expect("send the rest");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("the answer");
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "the write in flight is answered: {answer}"
    );
    let status = s.wait_exit(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
    drop(s);

    // And the answered write is there.
    let s = Server::start(dir.path(), Some(ADMIN_KEY));
    let listed: Value = client()
        .get(s.url(&format!("/v1/tenants/{TENANT}/entities")))
        .bearer_auth(ADMIN_KEY)
        .send()
        .expect("GET")
        .json()
        .expect("JSON");
    assert_eq!(listed[0]["id"], "in-flight");
}

/// Issue 14: `entitle timeline` and the server's events agree, for the same scenario and range: the same
/// happenings (type, day and what they are about) in the same order, from one core function run offline and by
/// the server's jobs as `clock:advance` moves a test clock.
#[test]
fn enf_3_timeline_and_the_servers_events_agree() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/enforcement-timeline.toml");
    let mut offline = bin();
    offline
        .args([
            "timeline",
            "--format",
            "json",
            "--from",
            "2022-08-01",
            "--to",
            "2024-09-01",
            "--scenario",
        ])
        .arg(&file);
    let out = run_bounded(offline);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let days: Value = serde_json::from_slice(&out.stdout).expect("timeline JSON");
    let mut want: Vec<(String, Value)> = Vec::new();
    for d in days.as_array().expect("days") {
        for h in d["happenings"].as_array().expect("happenings") {
            want.push((d["on"].as_str().expect("on").to_owned(), h.clone()));
        }
    }
    assert!(want.len() > 20, "{days}");

    let dir = tempfile::tempdir().expect("a temp dir");
    let s = Server::start(dir.path(), Some(ADMIN_KEY));
    let res = client()
        .post(s.url("/v1/tenants"))
        .bearer_auth(ADMIN_KEY)
        .header("Content-Type", "application/toml")
        .body(std::fs::read(&file).expect("the example"))
        .send()
        .expect("POST /v1/tenants");
    assert_eq!(res.status(), StatusCode::CREATED);
    let moved = client()
        .post(s.url("/v1/tenants/northwind/clock:advance"))
        .bearer_auth(ADMIN_KEY)
        .json(&serde_json::json!({"to": "2024-09-01"}))
        .send()
        .expect("clock:advance");
    assert_eq!(moved.status(), StatusCode::OK);
    let mut got: Vec<(String, Value)> = Vec::new();
    let mut after = 0i64;
    loop {
        let page: Value = client()
            .get(s.url(&format!("/v1/tenants/northwind/events?limit=1000&after={after}")))
            .bearer_auth(ADMIN_KEY)
            .send()
            .expect("GET events")
            .json()
            .expect("events JSON");
        for e in page["events"].as_array().expect("events") {
            if e["type"] != "tenant.created" {
                got.push((e["day"].as_str().expect("day").to_owned(), e["payload"].clone()));
            }
        }
        match page["next"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    // The payloads are the happenings themselves, fixes included.
    assert_eq!(got, want);
}
