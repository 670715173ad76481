//! `entitle import`: reads the export files, lets the core assemble the scenario, checks it by reading it back,
//! compares Microsoft's at-risk list with the audit, writes the file and prints the summary on stderr.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use entitle_core::import::{self, ExportKind};
use entitle_core::{Catalog, Snapshot};

use crate::args::ImportArgs;
use crate::commands::Out;
use crate::input::CliError;
use crate::progress::Progress;

/// Runs the import. Malformed exports are bad input (exit 2) naming file, line or record, and field.
pub fn run(args: ImportArgs, at: Option<NaiveDate>, catalog: Catalog) -> Result<Out, CliError> {
    let flagged: [(&[PathBuf], Option<ExportKind>, &str); 10] = [
        (&args.flows, Some(ExportKind::Flows), "--flows"),
        (&args.apps, Some(ExportKind::Apps), "--apps"),
        (
            &args.environments,
            Some(ExportKind::Environments),
            "--environments",
        ),
        (&args.users, Some(ExportKind::Users), "--users"),
        (&args.skus, Some(ExportKind::Skus), "--skus"),
        (&args.allocations, Some(ExportKind::Allocations), "--allocations"),
        (&args.at_risk, Some(ExportKind::AtRisk), "--at-risk"),
        (&args.capacity, Some(ExportKind::Capacity), "--capacity"),
        (&args.connectors, Some(ExportKind::Connectors), "--connectors"),
        (&args.files, None, "FILE"),
    ];
    let mut exports = Vec::new();
    let mut notes = Vec::new();
    let files: usize = flagged.iter().map(|(p, _, _)| p.len()).sum();
    // One step per file, then assembling, checking (and auditing, with an at-risk list) and writing.
    let progress = Progress::bar(u64::try_from(files + 3).unwrap_or(u64::MAX));
    for (paths, hint, flag) in flagged {
        for path in paths {
            let name = path.display().to_string();
            progress.step(format!("reading {name}"));
            let bytes =
                std::fs::read(path).map_err(|e| CliError::Input(format!("{name}: cannot read: {e}")))?;
            let index = exports.len();
            let export = import::read_export(&name, &bytes, hint, index)
                .map_err(|e| CliError::Input(e.to_string()))?;
            if let (Some(want), Some(got)) = (hint, export.kind)
                && want != got
                && !(want == ExportKind::Flows && matches!(got, ExportKind::CoeFlows | ExportKind::Inventory))
            {
                notes.push(format!("{name}: given as {flag} but reads as {}", got.as_str()));
            }
            exports.push(export);
        }
    }
    if exports.is_empty() {
        return Err(CliError::Input(
            "import: give at least one export (--flows, --users, --skus, … or FILE)".to_owned(),
        ));
    }
    progress.step("assembling the scenario".to_owned());
    let day = at.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let mut imported = import::assemble(&exports, &catalog, day, args.tenant.as_deref());
    imported.summary.warnings.extend(notes);
    let out_name = args
        .out
        .as_ref()
        .map_or_else(|| "<stdout>".to_owned(), |p| p.display().to_string());
    let text = imported
        .to_toml()
        .map_err(|e| CliError::Internal(e.to_string()))?;
    progress.step("checking".to_owned());
    // Check what is written as a read would (references, ids, quantities): an import that writes a file entitle
    // refuses is a bug, not bad input. The text itself comes from the scenario's own serializer.
    imported
        .scenario
        .validate(&catalog, &out_name)
        .map_err(|errors| {
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            CliError::Internal(format!("import built a scenario that does not validate: {first}"))
        })?;
    if !imported.at_risk.is_empty() {
        let snap = Snapshot::new(Arc::new(catalog), imported.scenario.clone(), day)
            .map_err(|e| CliError::Internal(format!("import: {e}")))?;
        let audit = entitle_core::audit::audit(&snap);
        imported.summary.at_risk_disagreements = import::compare_at_risk(&imported.at_risk, &audit);
    }
    progress.step("writing".to_owned());
    progress.done();
    if args.summary_json {
        let json =
            serde_json::to_string_pretty(&imported.summary).map_err(|e| CliError::Internal(e.to_string()))?;
        eprintln!("{json}");
    } else {
        eprint!("{}", imported.summary);
    }
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| CliError::Input(format!("{out_name}: cannot write: {e}")))?;
            eprintln!("wrote {out_name}");
            Ok(Out::Text(String::new()))
        }
        None => Ok(Out::Text(text)),
    }
}
