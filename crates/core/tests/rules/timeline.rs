//! ENF-3 (admins, makers 30 days later, the turn-off after the grace), ENF-2's dates for every kind and for flows
//! found late, ENF-6 (a fix before the date means nothing happens), BUY-7 and CAT-10 (trials end on day 90 with a
//! notice 7 days before), and terms that renew or lapse, day by day (`entitle timeline`, the server's jobs).
//!
//! Every expected date below is worked out from docs/rules.md's ENF-2 table (first region), ENF-2's own timeline
//! (admins the day a flow is found, makers 30 days later, then the kind's grace) and BUY-7's 90 days.

use super::common::*;

use entitle_core::scenario::{Format, Scenario};
use entitle_core::timeline::{self, Happening};

const EXAMPLE: &str = include_str!("../../../../examples/enforcement-timeline.toml");

fn day(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, Format::Toml, "example", &catalog()).unwrap()
}

/// (date, type, subject) of every happening from `from` to `to`.
fn run(text: &str, from: &str, to: &str) -> Vec<(String, &'static str, String)> {
    timeline::run(catalog(), scenario(text), day(from), day(to))
        .unwrap()
        .into_iter()
        .flat_map(|d| {
            d.happenings
                .into_iter()
                .map(move |h| (d.on.to_string(), h.kind(), h.subject()))
        })
        .collect()
}

fn row(on: &str, kind: &'static str, subject: &str) -> (String, &'static str, String) {
    (on.to_owned(), kind, subject.to_owned())
}

#[test]
fn enf_3_every_kind_notified_then_turned_off_on_the_tables_dates() {
    let got = run(EXAMPLE, "2022-08-01", "2024-09-01");
    let admin = "enforcement.admin_notice";
    let maker = "enforcement.maker_notice";
    let off = "flow.suspended";
    let want = vec![
        // (a) and (b): 2022-09-01, 2022-10-01, 2022-10-15.
        row("2022-09-01", admin, "owner-left"),
        row("2022-09-01", admin, "owner-without-premium"),
        row("2022-10-01", maker, "orders"),
        row("2022-10-01", maker, "sync"),
        row("2022-10-15", off, "orders"),
        row("2022-10-15", off, "sync"),
        row("2023-01-01", "subscription.renewed", "premium-annual"),
        // (a) found after the rollout: its own timeline from the day the owner left (30 days, then 14).
        row("2023-05-01", admin, "owner-left"),
        row("2023-05-31", maker, "reports"),
        row("2023-06-14", off, "reports"),
        // (c) and (d): 2023-10-13, 2023-11-13, 2024-03-13 (120 days of grace).
        row("2023-10-13", admin, "outside-d365-context"),
        row("2023-10-13", admin, "outside-power-apps-context"),
        row("2023-11-13", maker, "cleanup"),
        row("2023-11-13", maker, "leads"),
        row("2024-01-01", "subscription.renewed", "premium-annual"),
        // (b) from a lapse after the rollout: its own timeline.
        row("2024-03-01", admin, "owner-without-premium"),
        row("2024-03-01", "subscription.lapsed", "carl-rpa"),
        row("2024-03-13", off, "cleanup"),
        row("2024-03-13", off, "leads"),
        // (e): 2024-03-15, 2024-04-15, 2024-08-15.
        row("2024-03-15", admin, "service-principal-without-process"),
        row("2024-03-31", maker, "carl-sync"),
        row("2024-04-14", off, "carl-sync"),
        row("2024-04-15", maker, "etl"),
        // BUY-7: assigned 2024-05-01, ends on day 90, told 7 days before; then (b) from that day.
        row("2024-07-23", "trial.expiring", "pilot-trial"),
        row("2024-07-30", admin, "owner-without-premium"),
        row("2024-07-30", "trial.expired", "pilot-trial"),
        row("2024-08-15", off, "etl"),
        row("2024-08-29", maker, "tina-sync"),
    ];
    assert_eq!(got, want);
}

#[test]
fn enf_3_admin_notices_name_the_flows_and_the_admins() {
    let days = timeline::run(catalog(), scenario(EXAMPLE), day("2022-09-01"), day("2022-09-01")).unwrap();
    let notices: Vec<_> = days.iter().flat_map(|d| &d.happenings).collect();
    let Some(Happening::AdminNotice {
        flows,
        admins,
        turn_off,
        rules,
        ..
    }) = notices.first()
    else {
        panic!("an admin notice first: {notices:?}");
    };
    assert_eq!(flows, &vec!["orders".to_owned()]);
    assert_eq!(admins, &vec!["adele".to_owned()]);
    assert_eq!(*turn_off, day("2022-10-15"));
    assert!(rules.iter().any(|r| r.id() == "ENF-3"));
}

#[test]
fn enf_6_a_flow_fixed_before_its_turn_off_date_stays_on() {
    // `etl` gets a process licence (its fix) before 2024-08-15: no turn-off.
    let fixed = EXAMPLE.replace(
        "owner = \"etl-app\"\nconnectors = [\"shared_salesforce\"]\ncreated = \"2022-01-01\"",
        "owner = \"etl-app\"\nconnectors = [\"shared_salesforce\"]\ncreated = \"2022-01-01\"\nlicense = \"process\"",
    ) + "\n[[subscriptions]]\nsku = \"power-automate-process\"\nquantity = 1\nstart = \"2022-01-01\"\n";
    let fixed = fixed.replace(
        "[[environments]]\nid = \"default\"\ndefault = true",
        "[[environments]]\nid = \"default\"\ndefault = true\nallocations = { \"power-automate-process\" = 1 }",
    );
    let got = run(&fixed, "2024-03-01", "2024-09-01");
    assert!(
        !got.iter()
            .any(|(_, _, s)| s == "etl" || s == "service-principal-without-process"),
        "{got:?}"
    );
}

#[test]
fn enf_2_the_day_after_the_turn_off_a_suspended_flow_is_off_and_says_why() {
    let mut s = scenario(EXAMPLE);
    let days = timeline::run(catalog(), s.clone(), day("2022-08-01"), day("2022-10-15")).unwrap();
    for d in &days {
        timeline::apply(&mut s, d.on, &d.happenings);
    }
    let orders = s.flows.iter().find(|f| f.id == "orders").unwrap();
    assert!(!orders.enabled);
    let why = orders.suspended.as_ref().unwrap();
    assert_eq!(
        (why.on, why.kind.as_str(), why.rule.as_str()),
        (day("2022-10-15"), "owner-left", "ENF-3")
    );
    assert_eq!(s.tenant.jobs_through, Some(day("2022-10-15")));
}

#[test]
fn buy_7_a_trial_notice_goes_out_once_and_the_expiry_on_day_90() {
    let got = run(EXAMPLE, "2024-07-01", "2024-08-01");
    let trial: Vec<_> = got.iter().filter(|(_, k, _)| k.starts_with("trial.")).collect();
    assert_eq!(
        trial,
        vec![
            &row("2024-07-23", "trial.expiring", "pilot-trial"),
            &row("2024-07-30", "trial.expired", "pilot-trial"),
        ]
    );
}

#[test]
fn subscriptions_renew_for_a_term_of_the_same_length_or_lapse() {
    assert_eq!(
        timeline::next_term_end(Some(day("2022-01-01")), day("2023-01-01")),
        Some(day("2024-01-01"))
    );
    assert_eq!(
        timeline::next_term_end(Some(day("2024-01-31")), day("2024-02-29")),
        Some(day("2024-03-29"))
    );
    assert_eq!(
        timeline::next_term_end(None, day("2024-05-01")),
        Some(day("2025-05-01"))
    );
    // Cancelled: it lapses at term end instead of renewing.
    let cancelled = EXAMPLE.replace(
        "auto_renew = true",
        "auto_renew = true\ncancelled = \"2022-06-01\"",
    );
    let got = run(&cancelled, "2022-12-31", "2023-01-01");
    let terms: Vec<_> = got
        .iter()
        .filter(|(_, k, _)| k.starts_with("subscription."))
        .collect();
    assert_eq!(
        terms,
        vec![&row("2023-01-01", "subscription.lapsed", "premium-annual")]
    );
}
