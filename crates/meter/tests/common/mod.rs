//! The exact sliding-window reference and the random request streams shared by the property tests.
#![allow(dead_code, reason = "each test binary uses part of this module")]
#![allow(
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test helpers (outside #[test] functions) fail the test on a broken invariant"
)]

use entitle_meter::{Decision, Limits, Windows};
use proptest::prelude::*;

/// One generated request: time step, key, count.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    pub dt_ms: u64,
    pub key: usize,
    pub n: u64,
}

/// A stream over simulated days: mostly bursts, with gaps of minutes and of hours.
pub fn stream(max_len: usize) -> impl Strategy<Value = (u64, Limits, Vec<Step>)> {
    let dt = prop_oneof![4 => 0..20_000u64, 3 => 0..900_000u64, 1 => 0..21_600_000u64];
    let step = (dt, 0..3usize, 0..=40u64).prop_map(|(dt_ms, key, n)| Step { dt_ms, key, n });
    (
        1_600_000_000_000..1_700_000_000_000u64,
        (1..=400u64, 1..=200u64).prop_map(|(d, s)| Limits {
            per_24h: d,
            per_5min: s,
        }),
        prop::collection::vec(step, 1..max_len),
    )
}

pub const KEYS: [&str; 3] = ["user:a", "user:b", "pool:tenant"];

/// Admitted requests of one key, by time.
#[derive(Debug, Default, Clone)]
pub struct Log {
    pub admitted: Vec<(u64, u64)>,
    pub warns: Vec<u64>,
}

impl Log {
    /// Exact count admitted in `(t - len, t]`.
    pub fn sum(&self, t: u64, len: u64) -> u64 {
        self.admitted
            .iter()
            .filter(|&&(a, _)| a <= t && a + len > t)
            .map(|&(_, n)| n)
            .sum()
    }
}

/// REQ-1: in every window of each length ending at an admitted request, at most the limit (windows ending at an
/// admitted request are the fullest ones, so this covers every window).
pub fn assert_never_over_admits(log: &Log, w: &Windows, limits: Limits) {
    for &(t, _) in &log.admitted {
        let day = log.sum(t, w.day_ms());
        let short = log.sum(t, w.short_ms());
        assert!(
            day <= limits.per_24h,
            "{day} admitted in the 24 h before {t}, limit {}",
            limits.per_24h
        );
        assert!(
            short <= limits.per_5min,
            "{short} admitted in the 5 min before {t}, limit {}",
            limits.per_5min
        );
    }
}

/// The early-refusal bound: a refusal at `t` is also a refusal of the exact sliding windows one bucket longer.
pub fn assert_refusal_within_one_bucket(log: &Log, w: &Windows, limits: Limits, t: u64, n: u64) {
    if n > limits.per_24h || n > limits.per_5min {
        return;
    }
    let b = w.bucket_ms();
    let day = log.sum(t, w.day_ms() + b);
    let short = log.sum(t, w.short_ms() + b);
    assert!(
        day + n > limits.per_24h || short + n > limits.per_5min,
        "refused {n} at {t} although the windows one bucket longer hold only {day} and {short}"
    );
}

/// REQ-8: warnings at least 24 hours apart, and one within the 24 hours before any admission that takes the
/// exact usage to 80 %.
pub fn assert_warns_once_per_window(log: &Log, w: &Windows, limits: Limits) {
    for pair in log.warns.windows(2) {
        assert!(
            pair[1] >= pair[0] + w.day_ms(),
            "two warnings within 24 h: {pair:?}"
        );
    }
    for &(t, n) in &log.admitted {
        if n > 0 && log.sum(t, w.day_ms()) * 5 >= limits.per_24h * 4 {
            assert!(
                log.warns.iter().any(|&x| x <= t && x + w.day_ms() > t),
                "usage reached 80 % at {t} with no warning in the 24 h before"
            );
        }
    }
}

/// Records a decision in the key's log.
pub fn record(log: &mut Log, t: u64, n: u64, d: &Decision) {
    if d.is_allowed() {
        log.admitted.push((t, n));
    }
    if d.warn() {
        log.warns.push(t);
    }
}

/// `ENTITLE_TEST_REDIS_URL`, or `None` with a line saying the test `what` is skipped.
pub fn redis_url(what: &str) -> Option<String> {
    let url = std::env::var("ENTITLE_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("ENTITLE_TEST_REDIS_URL is not set: skipping {what}");
    }
    url
}

/// A free loopback port, for a server of the test's own.
pub fn free_port() -> Option<u16> {
    Some(
        std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port(),
    )
}

/// A `redis-server` of the test's own on a loopback port (so the test may stop, restart or pause it with
/// `DEBUG SLEEP`), persisting nothing, killed on drop. `None` when `redis-server` is missing or does not answer.
pub struct OwnRedis {
    child: std::process::Child,
    pub url: String,
}

impl OwnRedis {
    pub fn start(port: u16) -> Option<Self> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "local",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let me = Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(me);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
