//! The flow decision on a tenant of 100,000 flows, 20,000 users and 1,000 environments
//! (`generate::synthetic(100_000, 20_000, 1_000, 1)`), against the same decision written as Cedar policies over
//! the same data (`entitle_bench::CedarModel`), in one criterion group:
//!
//! - `entitle/mix`: `decide_flow` over a fixed pseudo-random sample of 10,000 decisions (flows drawn uniformly;
//!   half of the instant ones asked with an invoking user), one decision per iteration, cycling;
//! - `entitle/single`: `decide_flow` on one fixed flow (the first premium automated top-level flow);
//! - `cedar/mix`: `Authorizer::is_authorized` over the Cedar requests of the same sample, one request per
//!   iteration (an instant flow asked without an invoking user needs one request per user in its `run_by`);
//! - `cedar/mix-decision`: all the requests of one decision of the sample per iteration, so that it compares
//!   with `entitle/mix` decision for decision;
//! - `cedar/single`: the request of the fixed flow.
//!
//! Building the snapshot, the Cedar entity store and the requests is not timed. Before timing, the setup
//! checks that Cedar's allow/deny equals entitle's `allowed` on every flow and on the sample, and prints the
//! agreement.
//!
//! Run: `cargo bench -p entitle-bench --bench decide`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use cedar_policy::Request;
use chrono::NaiveDate;
use criterion::{Criterion, criterion_group, criterion_main};
use entitle_bench::{CedarModel, Error, agreement, sample, single_flow};
use entitle_core::flows::decide_flow;
use entitle_core::generate::synthetic;
use entitle_core::snapshot::{FlowIdx, UserIdx};
use entitle_core::{Catalog, Snapshot};

const FLOWS: u32 = 100_000;
const USERS: u32 = 20_000;
const ENVIRONMENTS: u32 = 1_000;
const SAMPLE: usize = 10_000;

struct Setup {
    snap: Snapshot,
    model: CedarModel,
    mix: Vec<(FlowIdx, Option<UserIdx>)>,
    mix_requests: Vec<Vec<Request>>,
    flat_requests: Vec<Request>,
    single: FlowIdx,
    single_requests: Vec<Request>,
}

fn setup() -> Result<Setup, Error> {
    let t = Instant::now();
    let scenario = synthetic(FLOWS, USERS, ENVIRONMENTS, 1);
    let at = scenario
        .tenant
        .at
        .or(NaiveDate::from_ymd_opt(2024, 6, 1))
        .ok_or("no evaluation day")?;
    let snap = Snapshot::new(Arc::new(Catalog::seed()?), scenario, at)?;
    eprintln!(
        "snapshot of {FLOWS} flows, {USERS} users, {ENVIRONMENTS} environments built in {:.2?}",
        t.elapsed()
    );

    let t = Instant::now();
    let model = CedarModel::new(&snap)?;
    eprintln!(
        "Cedar entity store ({} entities) built in {:.2?}",
        snap.flows().len() + snap.users().len(),
        t.elapsed()
    );

    let mix = sample(&snap, SAMPLE, 7);
    let mix_requests = mix
        .iter()
        .map(|&(f, u)| model.requests(&snap, f, u))
        .collect::<Result<Vec<_>, _>>()?;
    let flat_requests: Vec<Request> = mix_requests.iter().flatten().cloned().collect();
    let with_as = mix.iter().filter(|(_, u)| u.is_some()).count();
    eprintln!(
        "mix: {} decisions ({with_as} with an invoking user), {} Cedar requests ({:.3} per decision)",
        mix.len(),
        flat_requests.len(),
        flat_requests.len() as f64 / mix.len() as f64
    );
    let single = single_flow(&snap).ok_or("no premium automated flow")?;
    let single_requests = model.requests(&snap, single, None)?;
    eprintln!(
        "single: flow `{}`, allowed: {}, {} Cedar request(s)",
        snap.flow_id(single),
        decide_flow(&snap, single, None).allowed,
        single_requests.len()
    );

    let t = Instant::now();
    let every: Vec<(FlowIdx, Option<UserIdx>)> = snap.flows().map(|(i, _)| (i, None)).collect();
    let all = agreement(&snap, &model, &every)?;
    let mixed = agreement(&snap, &model, &mix)?;
    for (what, a) in [("every flow", &all), ("the mix", &mixed)] {
        eprintln!(
            "agreement on {what}: {} of {} ({:.4} %), entitle allowed {}; first disagreements: {:?}",
            a.agreed,
            a.compared,
            a.rate() * 100.0,
            a.allowed,
            a.disagreements.get(..a.disagreements.len().min(5)).unwrap_or(&[])
        );
    }
    eprintln!("agreement checked in {:.2?}", t.elapsed());
    Ok(Setup {
        snap,
        model,
        mix,
        mix_requests,
        flat_requests,
        single,
        single_requests,
    })
}

fn bench(c: &mut Criterion, s: &Setup) {
    let mut g = c.benchmark_group("decide");
    let snap = &s.snap;

    let mut mix = s.mix.iter().cycle();
    g.bench_function("entitle/mix", |b| {
        b.iter(|| {
            let &(f, u) = mix.next().unwrap_or(&(FlowIdx(0), None));
            black_box(decide_flow(black_box(snap), black_box(f), black_box(u)))
        })
    });
    g.bench_function("entitle/single", |b| {
        b.iter(|| black_box(decide_flow(black_box(snap), black_box(s.single), black_box(None))))
    });

    let model = &s.model;
    let mut flat = s.flat_requests.iter().cycle();
    g.bench_function("cedar/mix", |b| {
        b.iter(|| {
            let r = flat.next();
            r.map(|r| {
                black_box(
                    model
                        .authorizer
                        .is_authorized(black_box(r), &model.policies, &model.entities),
                )
            })
        })
    });
    let mut decisions = s.mix_requests.iter().cycle();
    g.bench_function("cedar/mix-decision", |b| {
        b.iter(|| {
            let requests = decisions.next().map_or(&[][..], |r| &r[..]);
            black_box(model.allows(black_box(requests)))
        })
    });
    g.bench_function("cedar/single", |b| {
        b.iter(|| black_box(model.allows(black_box(&s.single_requests))))
    });
    g.finish();
}

fn benches(c: &mut Criterion) -> Result<(), Error> {
    let s = setup()?;
    bench(c, &s);
    Ok(())
}

criterion_group! {
    name = group;
    config = Criterion::default();
    targets = run
}

fn run(c: &mut Criterion) {
    if let Err(e) = benches(c) {
        eprintln!("benchmark setup failed: {e}");
        std::process::exit(1);
    }
}

criterion_main!(group);
