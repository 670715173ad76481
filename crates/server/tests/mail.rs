//! ENF-3's notices by e-mail (issue 14), against an SMTP sink the test starts on 127.0.0.1: admins get the admin
//! notices and turn-offs, a flow's owner its maker notice and turn-off, and users whose id is not an e-mail
//! address get none (they have events and banners).
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ADMIN, Backend, Opts, spawn_with, workspace};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One message the sink took: envelope recipients and the message text.
#[derive(Debug, Clone)]
struct Mail {
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server: answers the dialogue lettre speaks (EHLO, MAIL, RCPT, DATA, QUIT) and keeps each
/// message.
async fn sink() -> (String, Arc<Mutex<Vec<Mail>>>) {
    let got: Arc<Mutex<Vec<Mail>>> = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let g = Arc::clone(&got);
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let g = Arc::clone(&g);
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                let mut to = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("MAIL FROM") {
                        to.clear();
                        b"250 ok\r\n"
                    } else if upper.starts_with("RCPT TO") {
                        to.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
                        b"250 ok\r\n"
                    } else if upper == "DATA" {
                        let _ = w.write_all(b"354 go on\r\n").await;
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        g.lock().unwrap().push(Mail { to: to.clone(), data });
                        b"250 queued\r\n"
                    } else if upper == "QUIT" {
                        let _ = w.write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    if w.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("smtp://{addr}"), got)
}

async fn enf_3_notices_are_mailed(backend: Backend) {
    let (url, got) = sink().await;
    let app = spawn_with(
        backend,
        Opts {
            smtp_url: Some(url),
            ..Opts::default()
        },
    )
    .await;
    let toml = std::fs::read_to_string(workspace().join("examples/enforcement-timeline.toml"))
        .unwrap()
        .replace("\"adele\"", "\"adele@northwind.example\"")
        .replace("\"ann\"", "\"ann@northwind.example\"");
    app.create_tenant_toml(&toml, None).await.expect(201);
    app.post(
        "/v1/tenants/northwind/clock:advance",
        ADMIN,
        json!({"to": "2022-10-16"}),
    )
    .await
    .expect(200);
    let deadline = Instant::now() + Duration::from_secs(30);
    // 2 admin notices and 2 turn-offs to adele; ann's maker notice and turn-off of `sync`.
    while got.lock().unwrap().len() < 6 {
        assert!(
            Instant::now() < deadline,
            "mails so far: {:?}",
            got.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = got.lock().unwrap().clone();
    let to = |who: &str| {
        mails
            .iter()
            .filter(|m| m.to == [who])
            .map(|m| m.data.clone())
            .collect::<Vec<_>>()
    };
    let adele = to("adele@northwind.example");
    let ann = to("ann@northwind.example");
    assert_eq!((adele.len(), ann.len(), mails.len()), (4, 2, 6), "{mails:?}");
    assert!(
        adele
            .iter()
            .any(|d| d
                .contains("Subject: [northwind] 1 flow(s) will be turned off on 2022-10-15 (owner-left)")),
        "{adele:?}"
    );
    assert!(
        ann.iter()
            .any(|d| d.contains("Subject: [northwind] your flow sync will be turned off on 2022-10-15")),
        "{ann:?}"
    );
    assert!(
        ann.iter()
            .any(|d| d.contains("Subject: [northwind] flow sync was turned off")),
        "{ann:?}"
    );
    assert!(
        mails
            .iter()
            .all(|m| m.data.contains("From: notices@entitle.test"))
    );
    // Nothing twice: a second round finds the cursor past them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(got.lock().unwrap().len(), 6);
    app.stop().await;
}
on_every_backend!(enf_3_mail_on_every_backend, enf_3_notices_are_mailed);
