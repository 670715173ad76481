//! The optimiser's progress bar: on stderr, and only when stderr is a terminal and the tenant is large (a
//! small tenant's plan is there before a bar would be seen; a pipe or a log gets no control characters).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Decisions (flows plus app users) from which a bar is drawn.
const LARGE: usize = 10_000;

/// A bar, or nothing.
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
