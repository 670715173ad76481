//! `entitle`: licensing decisions over a scenario file, from the command line.

mod args;
mod commands;
mod import;
mod input;
mod progress;
mod server;

use std::io::{BufWriter, ErrorKind, Write};
use std::process::ExitCode;

use clap::Parser;

use commands::Out;

/// mimalloc: the server allocates a little per request on every core; the system allocator's locking showed
/// as about a tenth of a decision's time under load.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let out = match commands::run(cli) {
        Ok(out) => out,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let stdout = std::io::stdout();
    let mut w = BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = match out {
        Out::Text(text) => w.write_all(text.as_bytes()),
        Out::Json(write) => write(&mut w),
    }
    .and_then(|()| w.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`entitle audit | head`): nothing more to say.
        Err(e) if e.kind() == ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: writing the answer: {e}");
            ExitCode::from(1)
        }
    }
}
