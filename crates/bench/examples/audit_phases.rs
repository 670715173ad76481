//! Where `entitle audit --scenario FILE --format json` spends its time, phase by phase, on one scenario file:
//! reading the file, deserialising it (serde alone), the scenario's semantic checks, `Scenario::parse` as the
//! CLI calls it (deserialisation and checks together), building the snapshot, the audit's parts (every
//! `decide_flow`, `buying::usage`, `portals::check`, `ai::credits`), the whole audit, and the JSON output.
//!
//! Run: `cargo run --release -p entitle-bench --example audit_phases -- FILE` (`scripts/scale.sh` does).

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

fn run(path: &str) -> Result<(), Error> {
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
    timed("  audit part: buying::usage", &mut rows, || {
        black_box(entitle_core::buying::usage(&snap))
    });
    timed("  audit part: portals::check", &mut rows, || {
        black_box(entitle_core::portals::check(&snap))
    });
    timed("  audit part: ai::credits", &mut rows, || {
        black_box(entitle_core::ai::credits(&snap))
    });
    let audit = timed("audit() (all of it)", &mut rows, || {
        entitle_core::audit::audit(&snap)
    });
    let json = timed("JSON output (serde_json::to_string_pretty)", &mut rows, || {
        serde_json::to_string_pretty(&audit)
    })?;
    println!(
        "{path}: {} flows, {} users, {} environments; {allowed} allowed, {} at risk; {} bytes of JSON",
        snap.flows().len(),
        snap.users().len(),
        snap.envs().len(),
        audit.summary.at_risk,
        json.len()
    );
    for (what, d) in rows {
        println!("  {what:<45} {:>10.3} s", d.as_secs_f64());
    }
    Ok(())
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: audit_phases SCENARIO_FILE");
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
