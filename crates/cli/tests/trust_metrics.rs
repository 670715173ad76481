//! Issue "Trust", item 4, against the real binary: requests with no key, each with a method and a path never
//! seen before, must not grow `/metrics` or the server's memory. Before the fix, every method was a label value
//! kept for good: 5,000 random methods added 86 MB to `/metrics` and 62 MB of RSS.
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test when the server misbehaves"
)]

mod common;

use std::time::Duration;

use common::Server;
use reqwest::Method;
use reqwest::blocking::Client;

/// The server's resident memory, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `/metrics`: its size in bytes, and the series of `entitle_http_requests`.
fn metrics(client: &Client, s: &Server) -> (usize, usize) {
    let text = client
        .get(s.url("/metrics"))
        .send()
        .expect("metrics")
        .text()
        .expect("text");
    let series = text
        .lines()
        .filter(|l| l.starts_with("entitle_http_requests_total{"))
        .count();
    (text.len(), series)
}

fn burst(s: &Server, from: u32, n: u32) {
    let threads: Vec<_> = (0..4u32)
        .map(|w| {
            let base = s.url("");
            std::thread::spawn(move || {
                let client = Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("client");
                for i in (from + w..from + n).step_by(4) {
                    let method = Method::from_bytes(format!("RND{i}METHOD").as_bytes()).expect("method");
                    let path = format!("{base}/random/{i}/{}", "p".repeat((i % 200) as usize));
                    let res = client.request(method, path).send().expect("answered");
                    assert!(res.status().is_client_error(), "{}", res.status());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("sender");
    }
}

#[test]
fn item_4_random_methods_and_paths_keep_metrics_and_memory_flat() {
    let s = Server::start(&[("ENTITLE_LOG", "error")], None);
    let client = Client::new();
    // A first burst reaches every series such requests can reach and warms the allocator.
    burst(&s, 0, 2_000);
    let _ = metrics(&client, &s);
    let (size, series) = metrics(&client, &s);
    let rss = rss_kb(s.child.id());
    burst(&s, 2_000, 10_000);
    let (size_after, series_after) = metrics(&client, &s);
    let rss_after = rss_kb(s.child.id());
    eprintln!(
        "after 10,000 more distinct methods and paths: series {series} -> {series_after}, /metrics {size} -> \
         {size_after} bytes, RSS {rss} -> {rss_after} kB"
    );
    assert_eq!(series_after, series, "no new series");
    assert!(
        size_after < size + 4_096,
        "/metrics grew from {size} to {size_after} bytes"
    );
    assert!(
        rss_after < rss + 8 * 1024,
        "RSS grew from {rss} kB to {rss_after} kB"
    );
}
