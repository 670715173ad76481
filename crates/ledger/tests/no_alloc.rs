//! A login by a user the portal has seen allocates nothing, charged or not. The counting allocator is
//! `stats_alloc`'s, so this crate keeps `unsafe_code = "forbid"`. Its own test binary, with one test, so nothing
//! else allocates meanwhile.

use std::hint::black_box;

use entitle_ledger::{Event, LocalLedger, Overage, PortalLimits};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

/// 2024-05-22T00:00Z.
const T0: u64 = 1_716_336_000_000;
const HOUR: u64 = 3_600_000;

#[test]
fn logins_of_known_users_allocate_nothing() {
    let ledger = LocalLedger::new();
    let users: Vec<String> = (0..300).map(|i| format!("contact-{i:05}")).collect();
    let portals = ["customer-portal", "partner-portal"];
    let limits = PortalLimits {
        logins: 100,
        page_views: 50_000,
        overage: Overage::AllowAndReport,
    };
    let run = |from_hour: u64, hours: u64| {
        for h in from_hour..from_hour + hours {
            // Every user logs in every 5 hours (a pass charged about every 25 hours), at staggered minutes.
            for (i, u) in users.iter().enumerate() {
                let at = T0 + h * HOUR + (i as u64 % 60) * 60_000;
                if !(h + i as u64).is_multiple_of(5) {
                    continue;
                }
                for p in portals {
                    let e = Event::Login {
                        tenant: "contoso",
                        id: None,
                        portal: p,
                        user: u,
                        at_ms: at,
                        limits,
                    };
                    black_box(ledger.take(&e, at).is_ok());
                }
            }
        }
    };
    // Eleven days: every book reaches the size it keeps (8 days of logins), June's totals exist.
    run(0, 11 * 24);
    let region = Region::new(GLOBAL);
    // Nine more days: passes charged, logins inside passes, old logins folded into the anchor.
    run(11 * 24, 9 * 24);
    let stats = region.change();
    assert_eq!(stats.allocations + stats.reallocations, 0, "{stats:?}");
}
