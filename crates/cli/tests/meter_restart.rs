//! The in-process meter's counts survive a restart (issue: the request meter): a clean shutdown loses
//! nothing; after a crash (kill -9) at most the last second of counts is gone, and never more is counted than
//! was.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers: a failed step is a failed test"
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ADMIN: &str = "ent_meter_restart_admin_key_01";

fn start(dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_entitle"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("ENTITLE_ADMIN_KEY", ADMIN)
        .env("ENTITLE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start entitle serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("an address").unwrap();
        if let Some(addr) = line.strip_prefix("entitle: listening on ") {
            break addr.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

fn stop(mut child: Child, gracefully: bool) {
    if gracefully {
        // SIGTERM: finish, save the counts, exit 0.
        let pid = child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert!(exit.success(), "a clean shutdown exits 0, not {exit:?}");
    } else {
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
}

async fn used(c: &reqwest::Client, base: &str) -> u64 {
    let r: serde_json::Value = c
        .get(format!("{base}/v1/tenants/fabrikam-bakery/usage?user=carol"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["used"].as_u64().unwrap()
}

async fn count(c: &reqwest::Client, base: &str, n: u64) {
    let r = c
        .post(format!("{base}/v1/tenants/fabrikam-bakery/usage"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"user": "carol", "requests": n}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn req1_counts_survive_a_clean_restart_and_a_crash_loses_at_most_a_second() {
    let dir = std::env::temp_dir().join(format!("entitle-meter-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let c = reqwest::Client::new();
    let (child, base) = start(&dir);
    let scenario = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/small-business-m365.toml"
    ))
    .unwrap();
    let r = c
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(ADMIN)
        .header("content-type", "application/toml")
        .body(scenario)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    for _ in 0..10 {
        count(&c, &base, 7).await;
    }
    assert_eq!(used(&c, &base).await, 70);

    // Clean shutdown, immediately after counting: nothing lost.
    stop(child, true);
    let (child, base) = start(&dir);
    assert_eq!(used(&c, &base).await, 70, "a clean shutdown loses no count");

    // Counts older than a second reach the store before a crash.
    count(&c, &base, 30).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    count(&c, &base, 5).await; // may be lost: counted within the last second before the crash
    stop(child, false);
    let (child, base) = start(&dir);
    let after = used(&c, &base).await;
    assert!(
        (100..=105).contains(&after),
        "kept every count older than a second, and never more: {after}"
    );
    stop(child, true);
    let _ = std::fs::remove_dir_all(&dir);
}
