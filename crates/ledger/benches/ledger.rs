//! The in-process login check (PORTAL-2) on 10,000 known users of one portal: most logins fall inside an open
//! pass, one in five opens a new one (time moves 5 hours per round).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use entitle_ledger::{Event, LocalLedger, Overage, PortalLimits};

const USERS: usize = 10_000;
/// 2024-06-01T00:00Z.
const T0: u64 = 1_717_200_000_000;
const HOUR: u64 = 3_600_000;

fn login_check(c: &mut Criterion) {
    let users: Vec<String> = (0..USERS).map(|i| format!("contact-{i:08x}")).collect();
    let limits = PortalLimits {
        logins: 1_000_000,
        page_views: 50_000,
        overage: Overage::AllowAndReport,
    };
    let ledger = LocalLedger::new();
    for u in &users {
        let e = Event::Login {
            tenant: "contoso",
            id: None,
            portal: "customer-portal",
            user: u,
            at_ms: T0,
            limits,
        };
        black_box(ledger.take(&e, T0).is_ok());
    }
    let mut i = 0usize;
    let mut now = T0;
    c.bench_function("login_known_user", |b| {
        b.iter(|| {
            let Some(u) = users.get(i) else { return };
            i += 1;
            if i == USERS {
                i = 0;
                now += 5 * HOUR;
            }
            let e = Event::Login {
                tenant: "contoso",
                id: None,
                portal: "customer-portal",
                user: u,
                at_ms: now,
                limits,
            };
            black_box(ledger.take(&e, now).is_ok());
        });
    });
}

criterion_group!(benches, login_check);
criterion_main!(benches);
