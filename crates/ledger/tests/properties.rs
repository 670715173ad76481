//! The ledgers against reference models (PORTAL-2, PORTAL-3, PORTAL-5, PORTAL-6, AI-1, AI-2): random events in a
//! random arrival order, each at most 7 days late.

use std::collections::BTreeMap;

use entitle_ledger::{
    Answer, CreditAllowance, DAY_MS, Event, LedgerError, LocalLedger, Month, Overage, PortalLimits,
    passes_by_month,
};
use proptest::prelude::*;

/// 2024-05-29T00:00Z: three days before a month ends, so passes cross into June.
const T0: u64 = 1_716_940_800_000;
const HOUR: u64 = 3_600_000;
const OPEN: PortalLimits = PortalLimits {
    logins: 100,
    page_views: 50_000,
    overage: Overage::AllowAndReport,
};

#[derive(Debug, Clone)]
struct Login {
    portal: u8,
    user: u8,
    at: u64,
}

fn logins() -> impl Strategy<Value = Vec<Login>> {
    prop::collection::vec(
        (0u8..2, 0u8..6, 0u64..(6 * 24 * HOUR)).prop_map(|(portal, user, dt)| Login {
            portal,
            user,
            at: T0 + dt,
        }),
        1..120,
    )
}

fn portal_name(p: u8) -> String {
    format!("portal-{p}")
}

fn user_name(u: u8) -> String {
    format!("contact-{u}")
}

/// The reference: passes per portal and month, from the whole set of logins in time order.
fn reference(events: &[Login]) -> BTreeMap<(u8, Month), u64> {
    let mut by_key: BTreeMap<(u8, u8), Vec<u64>> = BTreeMap::new();
    for e in events {
        by_key.entry((e.portal, e.user)).or_default().push(e.at);
    }
    let mut out = BTreeMap::new();
    for ((portal, _), times) in by_key {
        for (m, n) in passes_by_month(&times) {
            *out.entry((portal, m)).or_insert(0) += n;
        }
    }
    out
}

fn take_login(ledger: &LocalLedger, e: &Login, id: Option<&str>, now: u64) -> Result<Answer, LedgerError> {
    let (portal, user) = (portal_name(e.portal), user_name(e.user));
    let event = Event::Login {
        tenant: "t",
        id,
        portal: &portal,
        user: &user,
        at_ms: e.at,
        limits: OPEN,
    };
    ledger.take(&event, now)
}

fn charged(a: &Answer) -> u64 {
    match a {
        Answer::Login(l) => u64::from(l.charged && !l.replayed),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// PORTAL-2: a pass is charged once per user, portal and 24 hours, whatever the arrival order; PORTAL-6: each
    /// month's passes are its own; the charged answers add up to the passes.
    #[test]
    fn portal_2_passes_are_charged_once_per_user_portal_and_24_hours_in_any_order(
        events in logins(),
        order in prop::collection::vec(any::<prop::sample::Index>(), 120),
    ) {
        // Any arrival order in which no login is more than 7 days late: all arrive within the 6 days.
        let mut arrival: Vec<usize> = (0..events.len()).collect();
        for (i, ix) in order.iter().enumerate().take(arrival.len()) {
            let j = ix.index(arrival.len());
            arrival.swap(i, j);
        }
        let ledger = LocalLedger::new();
        let now = T0 + 6 * 24 * HOUR;
        let mut total = 0;
        for &i in &arrival {
            let a = take_login(&ledger, &events[i], None, now);
            prop_assert!(a.is_ok(), "{a:?}");
            total += a.as_ref().map(charged).unwrap_or(0);
        }
        let expected = reference(&events);
        prop_assert_eq!(total, expected.values().sum::<u64>());
        let months = [Month::of_ms(T0), Month::of_ms(T0).next()];
        for p in 0..2u8 {
            for m in months {
                prop_assert_eq!(
                    ledger.logins("t", &portal_name(p), m),
                    expected.get(&(p, m)).copied().unwrap_or(0),
                    "portal {} month {}", p, m
                );
            }
        }
    }

    /// An event id sent again gets the first answer, marked replayed, and changes nothing.
    #[test]
    fn a_replayed_event_changes_nothing(events in logins(), replays in prop::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let ledger = LocalLedger::new();
        let now = T0 + 6 * 24 * HOUR;
        let ids: Vec<String> = (0..events.len()).map(|i| format!("ev-{i}")).collect();
        let mut first = Vec::new();
        for (e, id) in events.iter().zip(&ids) {
            first.push(take_login(&ledger, e, Some(id), now));
        }
        let before: Vec<u64> = (0..2u8).map(|p| ledger.logins("t", &portal_name(p), Month::of_ms(T0))).collect();
        for r in replays {
            let i = r.index(events.len());
            let again = take_login(&ledger, &events[i], Some(&ids[i]), now);
            match (&first[i], &again) {
                (Ok(Answer::Login(a)), Ok(Answer::Login(b))) => {
                    prop_assert!(b.replayed);
                    prop_assert_eq!(a.charged, b.charged);
                    prop_assert_eq!(a.pass_ends_ms, b.pass_ends_ms);
                }
                other => prop_assert!(false, "{other:?}"),
            }
            // The same id on another event is refused.
            let other = Login { at: events[i].at.saturating_sub(1), ..events[i].clone() };
            let refused = take_login(&ledger, &other, Some(&ids[i]), now);
            prop_assert!(matches!(refused, Err(LedgerError::IdReused { .. })), "{refused:?}");
        }
        let after: Vec<u64> = (0..2u8).map(|p| ledger.logins("t", &portal_name(p), Month::of_ms(T0))).collect();
        prop_assert_eq!(before, after);
    }

    /// PORTAL-3, PORTAL-5, PORTAL-6: page views per month are the sum of the events of that month; under the
    /// refuse policy a month never goes past its allocation, and a new month starts from nothing.
    #[test]
    fn portal_3_page_views_are_summed_per_month_and_never_carried_over(
        views in prop::collection::vec((0u64..(6 * 24 * HOUR), 0u64..30_000), 1..60),
        refuse in any::<bool>(),
    ) {
        let limits = PortalLimits {
            logins: 100,
            page_views: 50_000,
            overage: if refuse { Overage::Refuse } else { Overage::AllowAndReport },
        };
        let ledger = LocalLedger::new();
        let mut sums: BTreeMap<Month, u64> = BTreeMap::new();
        // In time order, so that the refusals of the reference are the ledger's.
        let mut views = views;
        views.sort_unstable();
        for (dt, count) in views {
            let at = T0 + dt;
            let month = Month::of_ms(at);
            let used = sums.get(&month).copied().unwrap_or(0);
            let fits = used + count <= limits.page_views;
            let event = Event::PageViews { tenant: "t", id: None, portal: "p", count, at_ms: at, limits };
            let a = ledger.take(&event, at);
            if refuse && !fits {
                prop_assert!(matches!(a, Err(LedgerError::OverAllocation { .. })), "{a:?}");
            } else {
                prop_assert!(a.is_ok(), "{a:?}");
                *sums.entry(month).or_insert(0) += count;
            }
        }
        for (m, n) in &sums {
            prop_assert_eq!(ledger.page_views("t", "p", *m), *n);
            if refuse {
                prop_assert!(*n <= limits.page_views);
            }
        }
    }

    /// AI-1, AI-2: credits drawn from an environment's allocation or the unallocated pool never overdraw either in
    /// any month; preview models count nothing; the accepted sums are the reference's.
    #[test]
    fn ai_1_the_credit_pool_is_never_overdrawn(
        uses in prop::collection::vec((0u8..3, 0u64..(40 * 24 * HOUR), 1u64..4_000, any::<bool>()), 1..80),
    ) {
        // env-0 has 10,000 a month allocated, env-1 and env-2 draw on the 6,000 unallocated.
        let allowance = |env: u8| CreditAllowance {
            allocated: if env == 0 { 10_000 } else { 0 },
            unallocated: 6_000,
            unallocated_use: true,
        };
        let ledger = LocalLedger::new();
        let mut alloc: BTreeMap<Month, u64> = BTreeMap::new();
        let mut pool: BTreeMap<Month, u64> = BTreeMap::new();
        let mut uses = uses;
        uses.sort_by_key(|u| u.1);
        for (env, dt, credits, preview) in uses {
            let at = T0 + dt;
            let month = Month::of_ms(at);
            let name = format!("env-{env}");
            let event = Event::Credits {
                tenant: "t", id: None, environment: &name, credits, model: "invoice", preview, at_ms: at,
                allowance: allowance(env),
            };
            let a = ledger.take(&event, at);
            let (book, cap) = if env == 0 { (&mut alloc, 10_000) } else { (&mut pool, 6_000) };
            let used = book.get(&month).copied().unwrap_or(0);
            if preview {
                prop_assert!(matches!(a, Ok(Answer::Credits(c)) if c.consumed == 0), "{a:?}");
            } else if used + credits <= cap {
                prop_assert!(matches!(a, Ok(Answer::Credits(c)) if c.used == used + credits), "{a:?}");
                *book.entry(month).or_insert(0) += credits;
            } else {
                prop_assert!(matches!(a, Err(LedgerError::Overdraft { .. })), "{a:?}");
            }
        }
        for (m, n) in &alloc {
            prop_assert!(*n <= 10_000);
            prop_assert_eq!(ledger.credits("t", "env-0", *m), *n);
        }
        for (m, n) in &pool {
            prop_assert!(*n <= 6_000);
            prop_assert_eq!(ledger.credits("t", "env-1", *m) + ledger.credits("t", "env-2", *m), *n);
        }
    }
}

/// Events more than 7 days old or in the future are refused and change nothing.
#[test]
fn late_and_future_events_are_refused() {
    let ledger = LocalLedger::new();
    let now = T0 + 10 * DAY_MS;
    let old = Login {
        portal: 0,
        user: 0,
        at: now - 7 * DAY_MS - 1,
    };
    assert!(matches!(
        take_login(&ledger, &old, None, now),
        Err(LedgerError::TooLate { .. })
    ));
    let future = Login {
        portal: 0,
        user: 0,
        at: now + 1,
    };
    assert!(matches!(
        take_login(&ledger, &future, None, now),
        Err(LedgerError::Future { .. })
    ));
    assert_eq!(ledger.logins("t", "portal-0", Month::of_ms(now)), 0);
}

/// Threads racing on the same users and portal count each pass once.
#[test]
fn portal_2_racing_threads_count_each_pass_once() {
    let ledger = std::sync::Arc::new(LocalLedger::new());
    let now = T0 + 6 * DAY_MS;
    let events: Vec<Login> = (0..4_000u64)
        .map(|i| Login {
            portal: (i % 2) as u8,
            user: ((i * 7) % 50) as u8,
            at: T0 + (i * 7_919 * 60_000) % (6 * DAY_MS),
        })
        .collect();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let ledger = std::sync::Arc::clone(&ledger);
            let mine: Vec<Login> = events.iter().skip(t).step_by(4).cloned().collect();
            std::thread::spawn(move || {
                mine.iter()
                    .map(|e| take_login(&ledger, e, None, now).map_or(0, |a| charged(&a)))
                    .sum::<u64>()
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let expected = reference(&events);
    assert_eq!(total, expected.values().sum::<u64>());
    for ((p, m), n) in expected {
        assert_eq!(ledger.logins("t", &portal_name(p), m), n);
    }
}
