//! The audit of a big tenant after one write, as the server's first view after a write needs it (issue 13):
//! `cargo run --release -p entitle-bench --example audit_write -- FILE`. Times the audit of the built snapshot
//! (with its memo, `audit_since`), one `assignLicense` of a premium licence to the owner of the first flow at
//! risk (`Snapshot::advance`, patched), then the audit of the patched snapshot worked out from the one before,
//! and a full audit of it to compare with.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use entitle_core::audit::{audit, audit_since};
use entitle_core::scenario::Format;
use entitle_core::{Catalog, Scenario, Snapshot};

type Error = Box<dyn std::error::Error>;

/// This thread's CPU time (user and system) in seconds, from /proc (0 where there is none): what a step cost
/// when other work shares the cores, as wall time does not tell.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // The fields after the command (which is in parentheses and may hold spaces): utime and stime are the 12th
    // and 13th of them, in clock ticks (100 a second on Linux).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Wall and CPU seconds since `(t, c)`.
fn since((t, c): (Instant, f64)) -> String {
    format!("{:.3} s (CPU {:.2} s)", t.elapsed().as_secs_f64(), cpu() - c)
}

fn run(path: &str) -> Result<(), Error> {
    let catalog = Catalog::seed()?;
    let text = std::fs::read_to_string(path)?;
    let scenario = Scenario::parse(&text, Format::from_path(path), path, &catalog)?;
    let at = scenario.tenant.at.ok_or("the scenario has no tenant.at")?;
    let snap = Snapshot::new(Arc::new(catalog), scenario, at)?;
    let t = (Instant::now(), cpu());
    let (before, memo) = audit_since(&snap, None);
    println!(
        "audit of the built snapshot, with its memo: {}, {} flows at risk",
        since(t),
        before.flows.len()
    );
    let owner = before
        .flows
        .first()
        .map(|f| f.owner.clone())
        .ok_or("no flow at risk")?;
    let mut next = snap.scenario().clone();
    let i = next.users.iter().position(|u| u.id == owner).ok_or("no owner")?;
    if let Some(u) = next.users.get_mut(i) {
        u.licenses.push("power-automate-premium".to_owned());
    }
    let t = (Instant::now(), cpu());
    let after = snap.advance(next, at, "write").map_err(|e| format!("{e:?}"))?;
    println!(
        "advance (assign a premium licence to {owner}): {}, patched: {}",
        since(t),
        after.patched_from().is_some()
    );
    let t = (Instant::now(), cpu());
    let (from_before, memo) = audit_since(&after, Some((&before, memo)));
    let (reused, computed) = memo.reused();
    println!(
        "audit of the patched snapshot from the one before: {}, {} flows at risk; {reused} computations taken over, {computed} done",
        since(t),
        from_before.flows.len()
    );
    let t = (Instant::now(), cpu());
    let full = audit(&after);
    println!("full audit of the patched snapshot: {}", since(t));
    if full != from_before {
        return Err("the audit worked out from the one before differs from the full audit".into());
    }
    println!("the two are equal");
    Ok(())
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: audit_write SCENARIO_FILE");
        return ExitCode::from(2);
    };
    match run(&path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
