//! A progress bar on stderr for the long commands (`import`, and `audit` and `generate` on large inputs), drawn
//! only when stderr is a terminal: a pipe, a file or a CI log gets nothing, so that scripted runs stay silent.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Inputs with at least this many flows get a spinner on `audit` and `generate`.
pub const LARGE: usize = 10_000;

/// A bar, or nothing when stderr is not a terminal.
#[derive(Debug)]
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar of `len` steps.
    pub fn bar(len: u64) -> Progress {
        Progress(terminal().then(|| {
            let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}") {
                pb.set_style(style.progress_chars("=> "));
            }
            pb.enable_steady_tick(Duration::from_millis(120));
            pb
        }))
    }

    /// A spinner with a message, for one long step; only when `large`.
    pub fn spinner(large: bool, msg: &'static str) -> Progress {
        Progress((large && terminal()).then(|| {
            let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            pb.set_message(msg);
            pb.enable_steady_tick(Duration::from_millis(120));
            pb
        }))
    }

    /// Starts the next step, named `msg`.
    pub fn step(&self, msg: String) {
        if let Some(pb) = &self.0 {
            pb.set_message(msg);
            pb.inc(1);
        }
    }

    /// Removes the bar from the terminal.
    pub fn done(&self) {
        if let Some(pb) = &self.0 {
            pb.finish_and_clear();
        }
    }
}

fn terminal() -> bool {
    std::io::stderr().is_terminal()
}
