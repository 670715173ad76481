//! The flow decision's work, counted: builds the benchmark's tenant (100,000 flows) and decides its sample of
//! 10,000 (flow, invoking user) pairs once. Run under `valgrind --tool=callgrind
//! --toggle-collect='entitle_core::flows::decide_flow'` to count the instructions of the decisions alone, a
//! figure that does not move with the machine's load (BENCHMARKS.md §15).
//!
//!     cargo build --profile bench -p entitle-bench --example decide_count
use std::hint::black_box;
use std::sync::Arc;

use entitle_bench::sample;
use entitle_core::flows::decide_flow;
use entitle_core::generate::synthetic;
use entitle_core::{Catalog, Snapshot};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scenario = synthetic(100_000, 20_000, 1_000, 1);
    let at = scenario
        .tenant
        .at
        .or(chrono::NaiveDate::from_ymd_opt(2024, 6, 1))
        .ok_or("no evaluation day")?;
    let snap = Snapshot::new(Arc::new(Catalog::seed()?), scenario, at)?;
    let mix = sample(&snap, 10_000, 7);
    let mut allowed = 0usize;
    for &(f, u) in &mix {
        allowed += usize::from(black_box(decide_flow(black_box(&snap), f, u)).allowed);
    }
    println!("{} decisions, {allowed} allowed", mix.len());
    Ok(())
}
