//! A progress bar on stderr for the long commands (`import`, `optimise`, and `audit` and `generate` on large inputs), drawn
//! only when stderr is a terminal: a pipe, a file or a CI log gets nothing, so that scripted runs stay silent.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Inputs with at least this many flows (or, for `optimise`, decisions) get a spinner or a bar.
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

/// The optimiser's bar, staged by the optimiser itself ([`entitle_core::optimise::Progress`]), or nothing: drawn
/// only for a large tenant (a small one's plan is there before a bar would be seen) on a terminal.
#[derive(Debug)]
pub struct Bar(Option<ProgressBar>);

impl Bar {
    pub fn new(size: usize) -> Bar {
        if size < LARGE || !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        Bar(Some(bar))
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

impl entitle_core::optimise::Progress for Bar {
    fn stage(&self, name: &'static str, total: u64) {
        let Some(b) = &self.0 else { return };
        let style = if total == 0 {
            ProgressStyle::with_template("{spinner} {msg} {elapsed}")
        } else {
            ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {elapsed}")
        };
        if let Ok(s) = style {
            b.set_style(s.progress_chars("=> "));
        }
        b.set_message(name);
        b.set_length(total);
        b.set_position(0);
        if total == 0 {
            b.enable_steady_tick(std::time::Duration::from_millis(120));
        } else {
            b.disable_steady_tick();
        }
    }

    fn advance(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
}
