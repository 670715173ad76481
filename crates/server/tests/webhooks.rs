//! Webhooks (issue 14) through the HTTP API and a real receiver: every event of a two-year test-clock run
//! reaches the receiver signed as Standard Webhooks says; a receiver that answers 500 for a while gets every
//! event once it recovers, with retries on the documented schedule (checked with a clock the test moves, never
//! by sleeping); a delivery that gives up marks its endpoint failing and is replayed with the same
//! `webhook-id`; endpoint management (bad URLs, unknown types, rotation, who may).
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad answer"
)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use common::{ADMIN, Backend, Opts, TestApp, spawn_with, workspace};
use entitle_server::hooks::schedule::Schedule;
use entitle_server::hooks::sign::{Secret, verify};
use entitle_server::hooks::{Dispatcher, ManualClock, Options};
use serde_json::{Value, json};

const T: &str = "/v1/tenants/northwind";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    timestamp: i64,
    signature: String,
    body: String,
    answered: u16,
}

/// A receiver on 127.0.0.1 that answers 500 to its first `fail_first` requests, then 200 (or always 500).
#[derive(Debug, Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    fail_first: Arc<Mutex<usize>>,
}

async fn receiver(fail_first: usize) -> Receiver {
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let fail = Arc::new(Mutex::new(fail_first));
    let (g, f) = (Arc::clone(&got), Arc::clone(&fail));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (g, f) = (Arc::clone(&g), Arc::clone(&f));
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned()
                };
                let status = {
                    let mut left = f.lock().unwrap();
                    if *left > 0 {
                        *left -= 1;
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                };
                g.lock().unwrap().push(Got {
                    id: h("webhook-id"),
                    timestamp: h("webhook-timestamp").parse().unwrap_or(-1),
                    signature: h("webhook-signature"),
                    body,
                    answered: status.as_u16(),
                });
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Receiver {
        url: format!("http://{addr}/hook"),
        got,
        fail_first: fail,
    }
}

async fn app(backend: Backend) -> TestApp {
    let app = spawn_with(
        backend,
        Opts {
            webhooks_allow_private: true,
            // The test runs the dispatcher itself, on a clock it moves.
            webhooks_dispatch: false,
            ..Opts::default()
        },
    )
    .await;
    let toml = std::fs::read_to_string(workspace().join("examples/enforcement-timeline.toml")).unwrap();
    app.create_tenant_toml(&toml, None).await.expect(201);
    app
}

async fn dispatcher(app: &TestApp, clock: Arc<ManualClock>) -> Dispatcher {
    let store = entitle_server::store::open(&app.db.url).await.unwrap();
    Dispatcher::new(store, clock, Options::default()).unwrap()
}

async fn endpoint(app: &TestApp, url: &str, types: Value) -> (String, Secret) {
    let made = app
        .post(
            &format!("{T}/webhooks"),
            ADMIN,
            json!({"url": url, "types": types, "description": "test"}),
        )
        .await
        .expect(201)
        .json();
    let secret = Secret::parse(made["secret"].as_str().unwrap()).unwrap();
    (made["id"].as_str().unwrap().to_owned(), secret)
}

/// Ticks, moving the clock to the next due delivery each time, until nothing is due (at most `rounds`).
async fn drain(d: &Dispatcher, clock: &ManualClock, app: &TestApp, rounds: usize) {
    let store = entitle_server::store::open(&app.db.url).await.unwrap();
    for _ in 0..rounds {
        d.tick().await.unwrap();
        match store.next_due().await.unwrap() {
            Some(next) => clock.set(next.max(clock_now(clock))),
            None => return,
        }
    }
    panic!("deliveries still due after {rounds} rounds");
}

fn clock_now(c: &ManualClock) -> i64 {
    use entitle_server::hooks::Clock;
    c.now_ms()
}

fn valid(secret: &Secret, g: &Got, now_secs: i64) -> bool {
    verify(
        std::slice::from_ref(secret),
        &g.id,
        g.timestamp,
        &g.signature,
        g.body.as_bytes(),
        now_secs,
        300,
    )
}

/// The first endpoint's delivery log holds `n` deliveries, each delivered at its first attempt.
async fn delivered_once_each(app: &TestApp, n: usize) {
    let id = app.get(&format!("{T}/webhooks"), ADMIN).await.expect(200).json()["endpoints"][0]["id"].clone();
    let log = app
        .get(
            &format!("{T}/webhooks/{}/deliveries?limit=500", id.as_str().unwrap()),
            ADMIN,
        )
        .await
        .expect(200)
        .json();
    let rows = log["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), n, "{log}");
    assert!(
        rows.iter()
            .all(|r| r["state"] == "delivered" && r["attempts"] == 1),
        "{log}"
    );
}

async fn events_after_creation(app: &TestApp) -> Vec<Value> {
    let v = app
        .get(&format!("{T}/events?limit=1000"), ADMIN)
        .await
        .expect(200)
        .json();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] != "tenant.created")
        .cloned()
        .collect()
}

async fn every_event_reaches_the_receiver_signed(backend: Backend) {
    let app = app(backend).await;
    let rx = receiver(0).await;
    let (_, secret) = endpoint(&app, &rx.url, json!([])).await;
    app.post(&format!("{T}/clock:advance"), ADMIN, json!({"to": "2024-09-01"}))
        .await
        .expect(200);
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let d = dispatcher(&app, Arc::clone(&clock)).await;
    drain(&d, &clock, &app, 50).await;
    let events = events_after_creation(&app).await;
    let got = rx.got.lock().unwrap().clone();
    assert_eq!(got.len(), events.len(), "one request per event");
    // Sent concurrently: no order is promised (a receiver orders by the body's `seq`).
    let by_id: BTreeMap<&str, &Got> = got.iter().map(|g| (g.id.as_str(), g)).collect();
    assert_eq!(by_id.len(), got.len(), "no event twice");
    for e in &events {
        let g = by_id[e["id"].as_str().unwrap()];
        assert!(valid(&secret, g, 1_700_000_000), "a bad signature on {}", g.id);
        let body: Value = serde_json::from_str(&g.body).unwrap();
        assert_eq!(body["id"], e["id"]);
        assert_eq!(body["type"], e["type"]);
        assert_eq!(body["payload"], e["payload"]);
    }
    // The log says delivered, once each.
    delivered_once_each(&app, events.len()).await;
    app.stop().await;
}
on_every_backend!(
    webhooks_every_event_signed,
    every_event_reaches_the_receiver_signed
);

async fn an_outage_is_ridden_out_on_the_schedule(backend: Backend) {
    let app = app(backend).await;
    // The first 15 requests fail (every event's first two tries, and more), then the receiver is back.
    let rx = receiver(15).await;
    let (_, secret) = endpoint(&app, &rx.url, json!([])).await;
    app.post(&format!("{T}/clock:advance"), ADMIN, json!({"to": "2022-10-16"}))
        .await
        .expect(200);
    let t0 = 1_700_000_000_000;
    let clock = Arc::new(ManualClock::new(t0));
    let d = dispatcher(&app, Arc::clone(&clock)).await;
    drain(&d, &clock, &app, 200).await;
    let events = events_after_creation(&app).await;
    assert_eq!(events.len(), 6, "2 admin notices, 2 maker notices, 2 turn-offs");
    let got = rx.got.lock().unwrap().clone();
    let schedule = Schedule::default();
    let mut by_id: BTreeMap<String, Vec<&Got>> = BTreeMap::new();
    for g in &got {
        assert!(valid(&secret, g, g.timestamp), "a bad signature on {}", g.id);
        by_id.entry(g.id.clone()).or_default().push(g);
    }
    assert_eq!(by_id.len(), events.len(), "every event reached the receiver");
    for (id, tries) in &by_id {
        let ok: Vec<_> = tries.iter().filter(|g| g.answered == 200).collect();
        assert_eq!(ok.len(), 1, "{id}: delivered exactly once");
        assert_eq!(
            tries.last().unwrap().answered,
            200,
            "{id}: nothing after the delivery"
        );
        // Each retry came within the documented window after the try before (timestamps are whole seconds).
        for (n, w) in tries.windows(2).enumerate() {
            let (lo, hi) = schedule.bounds_ms(n as i64 + 1);
            let gap = (w[1].timestamp - w[0].timestamp) * 1000;
            assert!(
                gap >= lo - 1000 && gap <= hi + 1000,
                "{id}: retry {} came {gap} ms after the try before, outside [{lo}, {hi}]",
                n + 1
            );
        }
    }
    assert_eq!(got.iter().filter(|g| g.answered == 500).count(), 15);
    // Each delivery's history: its failed attempts (kept as rows), then the one that got through, as the
    // receiver saw them.
    let hook =
        app.get(&format!("{T}/webhooks"), ADMIN).await.expect(200).json()["endpoints"][0]["id"].clone();
    let hook = hook.as_str().unwrap();
    let log = app
        .get(&format!("{T}/webhooks/{hook}/deliveries"), ADMIN)
        .await
        .expect(200)
        .json();
    for row in log["deliveries"].as_array().unwrap() {
        let one = app
            .get(
                &format!("{T}/webhooks/{hook}/deliveries/{}", row["id"].as_str().unwrap()),
                ADMIN,
            )
            .await
            .expect(200)
            .json();
        let statuses: Vec<u16> = one["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status"].as_u64().unwrap() as u16)
            .collect();
        let seen: Vec<u16> = by_id[one["event_id"].as_str().unwrap()]
            .iter()
            .map(|g| g.answered)
            .collect();
        assert_eq!(statuses, seen, "{one}");
        assert_eq!(one["attempts"].as_u64().unwrap() as usize, seen.len());
    }
    app.get(&format!("{T}/webhooks/{hook}/deliveries/dlv_nope"), ADMIN)
        .await
        .expect(404);
    app.stop().await;
}
on_every_backend!(
    webhooks_outage_on_schedule,
    an_outage_is_ridden_out_on_the_schedule
);

async fn a_delivery_that_gives_up_marks_its_endpoint_and_can_be_replayed(backend: Backend) {
    let app = app(backend).await;
    let rx = receiver(usize::MAX).await;
    let (id, secret) = endpoint(&app, &rx.url, json!(["flow.suspended"])).await;
    app.post(&format!("{T}/clock:advance"), ADMIN, json!({"to": "2022-10-15"}))
        .await
        .expect(200);
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let d = dispatcher(&app, Arc::clone(&clock)).await;
    drain(&d, &clock, &app, 500).await;
    let ep = app
        .get(&format!("{T}/webhooks/{id}"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(ep["status"], "failing", "{ep}");
    let log = app
        .get(&format!("{T}/webhooks/{id}/deliveries"), ADMIN)
        .await
        .expect(200)
        .json();
    let rows = log["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "only the subscribed type: {log}");
    assert!(rows.iter().all(|r| r["state"] == "failed"), "{log}");
    let tried = rx.got.lock().unwrap().len();
    assert!(tried >= 2 * 20, "about 24 hours of retries each: {tried}");
    // Within 24 hours of the first try, and no more.
    let first = rx.got.lock().unwrap().first().unwrap().timestamp;
    let last = rx.got.lock().unwrap().last().unwrap().timestamp;
    assert!(last - first <= 24 * 3600, "{}", last - first);

    // The receiver is back; a replay sends the same event again, with the same webhook-id.
    *rx.fail_first.lock().unwrap() = 0;
    let dlv = rows[0]["id"].as_str().unwrap();
    let event = rows[0]["event_id"].as_str().unwrap().to_owned();
    app.post(
        &format!("{T}/webhooks/{id}/deliveries/{dlv}:replay"),
        ADMIN,
        json!({}),
    )
    .await
    .expect(202);
    // Due now by the server's clock: the test's clock moves there.
    drain(&d, &clock, &app, 5).await;
    let last = rx.got.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last.id.as_str(), last.answered), (event.as_str(), 200));
    assert!(valid(&secret, &last, last.timestamp));
    let ep = app
        .get(&format!("{T}/webhooks/{id}"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(ep["status"], "active", "a delivery got through: {ep}");
    app.post(
        &format!("{T}/webhooks/{id}/deliveries/nope:replay"),
        ADMIN,
        json!({}),
    )
    .await
    .expect(404);
    app.stop().await;
}
on_every_backend!(
    webhooks_give_up_then_replay,
    a_delivery_that_gives_up_marks_its_endpoint_and_can_be_replayed
);

async fn endpoints_are_checked_and_kept_to_admins(backend: Backend) {
    let app = spawn_with(backend, Opts::default()).await;
    let toml = std::fs::read_to_string(workspace().join("examples/enforcement-timeline.toml")).unwrap();
    app.create_tenant_toml(&toml, None).await.expect(201);
    // Private addresses are refused unless the server allows them.
    let p = app
        .post(
            &format!("{T}/webhooks"),
            ADMIN,
            json!({"url": "http://127.0.0.1:9/x"}),
        )
        .await
        .expect(422)
        .json();
    assert_eq!(p["pointer"], "/url", "{p}");
    app.post(
        &format!("{T}/webhooks"),
        ADMIN,
        json!({"url": "ftp://example.com/x"}),
    )
    .await
    .expect(422);
    let p = app
        .post(
            &format!("{T}/webhooks"),
            ADMIN,
            json!({"url": "https://hooks.example.com/x", "types": ["flow.suspended", "flow.exploded"]}),
        )
        .await
        .expect(422)
        .json();
    assert_eq!(p["pointer"], "/types/1", "{p}");
    app.post(
        &format!("{T}/webhooks"),
        ADMIN,
        json!({"url": "https://hooks.example.com/x", "extra": 1}),
    )
    .await
    .expect(422);
    let made = app
        .post(
            &format!("{T}/webhooks"),
            ADMIN,
            json!({"url": "https://hooks.example.com/x"}),
        )
        .await
        .expect(201)
        .json();
    let id = made["id"].as_str().unwrap();
    let first = made["secret"].as_str().unwrap().to_owned();
    // The secret is never shown again.
    let listed = app.get(&format!("{T}/webhooks"), ADMIN).await.expect(200).text;
    assert!(!listed.contains(&first), "{listed}");
    // Rotation: a new secret; both sign for a day.
    let rotated = app
        .post(&format!("{T}/webhooks/{id}/secret:rotate"), ADMIN, json!({}))
        .await
        .expect(200)
        .json();
    assert_ne!(rotated["secret"], first);
    let ep = app
        .get(&format!("{T}/webhooks/{id}"), ADMIN)
        .await
        .expect(200)
        .json();
    assert_eq!(ep["secrets_in_force"], 2);
    // Other roles may not read or make endpoints.
    let (reader, _) = app.key("northwind", json!({"role": "reader"})).await;
    app.get(&format!("{T}/webhooks"), &reader).await.expect(403);
    let (billing, _) = app.key("northwind", json!({"role": "billing-admin"})).await;
    app.post(
        &format!("{T}/webhooks"),
        &billing,
        json!({"url": "https://hooks.example.com/y"}),
    )
    .await
    .expect(403);
    // Disable, then delete.
    let off = app
        .patch(
            &format!("{T}/webhooks/{id}"),
            ADMIN,
            None,
            json!({"disabled": true}),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(off["status"], "disabled");
    app.delete(&format!("{T}/webhooks/{id}"), ADMIN).await.expect(204);
    app.get(&format!("{T}/webhooks/{id}"), ADMIN).await.expect(404);
    app.stop().await;
}
on_every_backend!(
    webhooks_endpoints_checked,
    endpoints_are_checked_and_kept_to_admins
);

/// The pump (`drain`: sending, the next claim and the commits overlapping) leaves unsent what it claimed but
/// could not send before its lease would end, and a later claim sends each of those exactly once.
async fn what_would_outlive_its_lease_is_left_for_the_next_claim(backend: Backend) {
    let app = app(backend).await;
    let rx = receiver(0).await;
    let (_, secret) = endpoint(&app, &rx.url, json!([])).await;
    app.post(&format!("{T}/clock:advance"), ADMIN, json!({"to": "2022-10-16"}))
        .await
        .expect(200);
    let t0 = 1_700_000_000_000;
    let clock = Arc::new(ManualClock::new(t0));
    let store = entitle_server::store::open(&app.db.url).await.unwrap();
    // A lease shorter than one request may take: nothing claimed may be sent under it.
    let short = Dispatcher::new(
        Arc::clone(&store),
        Arc::clone(&clock) as Arc<dyn entitle_server::hooks::Clock>,
        Options {
            lease_ms: 5_000,
            ..Options::default()
        },
    )
    .unwrap();
    let r = short.drain().await.unwrap();
    assert_eq!((r.made, r.released, r.sent), (6, 6, 0), "{r:?}");
    assert!(rx.got.lock().unwrap().is_empty());
    // Still leased: another dispatcher finds nothing until the lease ends.
    let d = dispatcher(&app, Arc::clone(&clock)).await;
    assert_eq!(d.drain().await.unwrap().sent, 0);
    clock.advance(5_000);
    let r = d.drain().await.unwrap();
    assert_eq!((r.sent, r.delivered), (6, 6), "{r:?}");
    let got = rx.got.lock().unwrap().clone();
    let ids: std::collections::BTreeSet<_> = got.iter().map(|g| g.id.clone()).collect();
    assert_eq!((got.len(), ids.len()), (6, 6), "each event once");
    assert!(got.iter().all(|g| valid(&secret, g, g.timestamp)));
    // And the log says delivered, with one attempt each.
    delivered_once_each(&app, 6).await;
    app.stop().await;
}
on_every_backend!(
    webhooks_lease_outlived_left_for_next,
    what_would_outlive_its_lease_is_left_for_the_next_claim
);
