//! Where `entitle audit --scenario FILE --format json` spends its time, phase by phase, on one scenario file:
//! reading the file, deserialising it (serde alone), the scenario's semantic checks, `Scenario::parse` as the
//! CLI calls it (deserialisation and checks together), building the snapshot, the audit's parts (every
//! `decide_flow`, the fixes and messages of each flow, `buying::usage`, `portals::check`, `ai::credits`), the
//! whole audit, and the JSON output.
//!
//! Run: `cargo run --release -p entitle-bench --example audit_phases -- [--skip-usage] FILE` (`scripts/scale.sh`
//! does, with `SCALE_PHASES=1`). `--skip-usage` leaves out `buying::usage` and what calls it (the audit and its
//! JSON), which are quadratic in the number of users today: the other phases of a large tenant in seconds.

use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use entitle_core::flows::decide_flow;
use entitle_core::scenario::Format;
use entitle_core::{Catalog, Scenario, Snapshot};

type Error = Box<dyn std::error::Error>;

fn timed<T>(what: &str, rows: &mut Vec<(String, Duration)>, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    rows.push((what.to_owned(), t.elapsed()));
    out
}

fn run(path: &str, skip_usage: bool) -> Result<(), Error> {
    let mut rows = Vec::new();
    let catalog = timed("catalog (embedded seed)", &mut rows, Catalog::seed)?;
    let text = timed("read file", &mut rows, || std::fs::read_to_string(path))?;
    let format = Format::from_path(path);
    let raw: Scenario = timed(
        "deserialise (serde only)",
        &mut rows,
        || -> Result<Scenario, Error> {
            Ok(match format {
                Format::Json => serde_json::from_str(&text)?,
                Format::Toml => toml::from_str(&text)?,
            })
        },
    )?;
    timed("semantic checks (Scenario::validate)", &mut rows, || {
        raw.validate(&catalog, path)
    })
    .map_err(|e| format!("{} problem(s)", e.len()))?;
    drop(raw);
    let scenario = timed("Scenario::parse (as the CLI: both above)", &mut rows, || {
        Scenario::parse(&text, format, path, &catalog)
    })?;
    let at = scenario.tenant.at.ok_or("the scenario has no tenant.at")?;
    let snap = timed("Snapshot::new", &mut rows, || {
        Snapshot::new(Arc::new(catalog), scenario, at)
    })?;
    let allowed = timed("decide_flow on every flow", &mut rows, || {
        snap.flows()
            .filter(|(i, _)| black_box(decide_flow(&snap, *i, None)).allowed)
            .count()
    });
    timed("  audit part: fixes and messages of each flow", &mut rows, || {
        for (i, _) in snap.flows() {
            let d = decide_flow(&snap, i, None);
            for w in d.warnings.iter() {
                black_box(entitle_core::report::message(&snap, &w));
            }
            if !d.allowed {
                black_box(entitle_core::fixes::flow_fixes(&snap, &d));
                for p in d.problems.iter() {
                    black_box(entitle_core::report::message(&snap, &p));
                }
            }
        }
    });
    timed("  audit part: portals::check", &mut rows, || {
        black_box(entitle_core::portals::check(&snap))
    });
    timed("  audit part: ai::credits", &mut rows, || {
        black_box(entitle_core::ai::credits(&snap))
    });
    if skip_usage {
        println!("(--skip-usage: buying::usage, audit() and the JSON output are not run)");
        print(path, &snap, allowed, None, rows);
        return Ok(());
    }
    timed("  audit part: buying::usage", &mut rows, || {
        black_box(entitle_core::buying::usage(&snap))
    });
    let audit = timed("audit() (all of it)", &mut rows, || {
        entitle_core::audit::audit(&snap)
    });
    let json = timed("JSON output (serde_json::to_string_pretty)", &mut rows, || {
        serde_json::to_string_pretty(&audit)
    })?;
    print(
        path,
        &snap,
        allowed,
        Some((audit.summary.at_risk, json.len())),
        rows,
    );
    Ok(())
}

fn print(
    path: &str,
    snap: &Snapshot,
    allowed: usize,
    out: Option<(usize, usize)>,
    rows: Vec<(String, Duration)>,
) {
    print!(
        "{path}: {} flows, {} users, {} environments; {allowed} allowed",
        snap.flows().len(),
        snap.users().len(),
        snap.envs().len()
    );
    match out {
        Some((at_risk, bytes)) => println!(", {at_risk} at risk; {bytes} bytes of JSON"),
        None => println!(),
    }
    for (what, d) in rows {
        println!("  {what:<45} {:>10.3} s", d.as_secs_f64());
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let skip_usage = args.iter().any(|a| a == "--skip-usage");
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: audit_phases [--skip-usage] SCENARIO_FILE");
        return ExitCode::from(2);
    };
    match run(path, skip_usage) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
