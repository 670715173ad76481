//! Day passes (PORTAL-2): an authenticated login opens a 24-hour pass for one user on one portal, and later
//! logins by that user to that portal inside the pass are free.
//!
//! # One answer whatever the order
//! Logins may arrive late (up to [`crate::LATE_MS`]) and out of order, from several devices and nodes. The passes
//! charged are defined on the *set* of logins, not on their arrival order: walk the logins in time order; a login
//! not inside the current pass opens a new one at its own time. That greedy walk is also the fewest 24-hour
//! passes that cover every login, so adding a login never lowers the count and raises it by at most one.
//! A login is answered `charged` when it raised the count: the charged answers of all logins add up to the
//! passes, whatever the order they came in.
//!
//! A late login can open a pass that swallows the next one (a login at 10:00 arriving after one at 20:00 that
//! opened a pass): the count stays, the late login is not charged, and the pass moves to the earlier time, and
//! possibly to the earlier month. Only open months move: a login is at most 7 days late, and a month closes 7 days
//! after it ends.
//!
//! # Memory
//! A book keeps the logins of the last [`RETAIN_MS`] (8 days: the lateness window and one pass); older logins
//! are folded into `anchor`, the end of the pass they opened last. A login older than what was kept is refused
//! ([`PassError::TooLate`]), never guessed. At most [`MAX_LOGINS`] logins are kept per user and portal.

use std::collections::VecDeque;

use crate::month::Month;
use crate::{DAY_MS, LATE_MS};

/// Logins kept per book: the lateness window plus one pass.
pub const RETAIN_MS: u64 = LATE_MS + DAY_MS;
/// At most this many logins by one user to one portal within [`RETAIN_MS`] (one every 69 s for 8 days).
pub const MAX_LOGINS: usize = 10_000;

/// Why a login was not taken; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PassError {
    #[error("the login is older than the logins kept for this user and portal (from {kept_from_ms} ms)")]
    TooLate { kept_from_ms: u64 },
    #[error("more than {MAX_LOGINS} logins by one user to one portal in 8 days")]
    TooMany,
}

/// What one login did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Login {
    /// It added a pass.
    pub charged: bool,
    /// The end (exclusive, ms) of the pass the login is in.
    pub pass_ends_ms: u64,
}

/// Changes to passes per month made by one login: at most the login's month and the next (a login is at most
/// 7 days old, and passes it moves start at or after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MonthDeltas {
    entries: [(Option<Month>, i64); 2],
}

impl MonthDeltas {
    fn add(&mut self, month: Month, n: i64) {
        for e in &mut self.entries {
            match e.0 {
                Some(m) if m == month => {
                    e.1 += n;
                    return;
                }
                None => {
                    *e = (Some(month), n);
                    return;
                }
                Some(_) => {}
            }
        }
        // Three months within 8 days cannot happen; keep the last entry's month exact by folding into it.
        if let Some(last) = self.entries.last_mut() {
            last.1 += n;
        }
    }

    /// The non-zero changes.
    pub fn iter(&self) -> impl Iterator<Item = (Month, i64)> + '_ {
        self.entries
            .iter()
            .filter_map(|(m, n)| m.filter(|_| *n != 0).map(|m| (m, *n)))
    }
}

/// The logins of one user on one portal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassBook {
    /// Logins at or after `kept_from`, ascending, without duplicates.
    points: VecDeque<u64>,
    /// Logins before this time were folded into `anchor`.
    kept_from: u64,
    /// End (exclusive) of the last pass opened by a folded login: folded logins' passes cover up to here.
    anchor: u64,
    /// End (exclusive) of the last pass over every login.
    cover: u64,
}

/// A login worked out but not yet applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub login: Login,
    pub months: MonthDeltas,
    at: u64,
    /// The book's `cover` once applied.
    cover: u64,
    duplicate: bool,
}

impl PassBook {
    /// Folds logins older than `now - RETAIN_MS` into the anchor: their passes can no longer change.
    pub fn prune(&mut self, now_ms: u64) {
        let cutoff = now_ms.saturating_sub(RETAIN_MS);
        if cutoff <= self.kept_from {
            return;
        }
        while let Some(&p) = self.points.front() {
            if p >= cutoff {
                break;
            }
            if p >= self.anchor {
                self.anchor = p.saturating_add(DAY_MS);
            }
            self.points.pop_front();
        }
        self.kept_from = cutoff;
    }

    /// Whether nothing is kept and no pass is open at `now`: the book can be dropped.
    #[must_use]
    pub fn idle(&self, now_ms: u64) -> bool {
        self.points.is_empty() && self.cover <= now_ms.saturating_sub(RETAIN_MS)
    }

    /// Logins kept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.points.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Works out a login at `at` without changing the book.
    ///
    /// # Errors
    /// [`PassError`] when the login is older than what is kept or the book is full.
    pub fn plan(&self, at: u64) -> Result<Plan, PassError> {
        if at < self.kept_from {
            return Err(PassError::TooLate {
                kept_from_ms: self.kept_from,
            });
        }
        let mut months = MonthDeltas::default();
        // In time order (the usual case): one comparison.
        if self.points.back().is_none_or(|&last| at > last) {
            let charged = at >= self.cover;
            let cover = if charged {
                at.saturating_add(DAY_MS)
            } else {
                self.cover
            };
            if charged {
                months.add(Month::of_ms(at), 1);
            } else if self.points.len() >= MAX_LOGINS {
                return Err(PassError::TooMany);
            }
            let login = Login {
                charged,
                pass_ends_ms: cover,
            };
            return Ok(Plan {
                login,
                months,
                at,
                cover,
                duplicate: false,
            });
        }
        // Out of order: the passes before `at` stand; walk the rest once as they are and once with `at`.
        let split = self.points.partition_point(|&p| p < at);
        let mut cover = self.anchor;
        for &p in self.points.range(..split) {
            if p >= cover {
                cover = p.saturating_add(DAY_MS);
            }
        }
        let duplicate = self.points.get(split) == Some(&at);
        if at < cover || duplicate {
            // Inside a pass, or a login at the same millisecond: nothing moves.
            let pass_ends_ms = if at < cover {
                cover
            } else {
                at.saturating_add(DAY_MS)
            };
            let login = Login {
                charged: false,
                pass_ends_ms,
            };
            return Ok(Plan {
                login,
                months,
                at,
                cover: self.cover,
                duplicate,
            });
        }
        if self.points.len() >= MAX_LOGINS {
            return Err(PassError::TooMany);
        }
        let (mut old_cover, mut old_n) = (cover, 0i64);
        let (mut new_cover, mut new_n) = (at.saturating_add(DAY_MS), 1i64);
        months.add(Month::of_ms(at), 1);
        for &p in self.points.range(split..) {
            if p >= old_cover {
                old_cover = p.saturating_add(DAY_MS);
                old_n += 1;
                months.add(Month::of_ms(p), -1);
            }
            if p >= new_cover {
                new_cover = p.saturating_add(DAY_MS);
                new_n += 1;
                months.add(Month::of_ms(p), 1);
            }
        }
        let login = Login {
            charged: new_n > old_n,
            pass_ends_ms: at.saturating_add(DAY_MS),
        };
        Ok(Plan {
            login,
            months,
            at,
            cover: new_cover,
            duplicate: false,
        })
    }

    /// Applies a plan made by [`Self::plan`] on this book with nothing in between.
    pub fn apply(&mut self, plan: &Plan) {
        if plan.duplicate {
            return;
        }
        let at = plan.at;
        if self.points.back().is_none_or(|&last| at > last) {
            self.points.push_back(at);
        } else {
            let i = self.points.partition_point(|&p| p < at);
            self.points.insert(i, at);
        }
        self.cover = plan.cover;
    }

    /// [`Self::plan`] then [`Self::apply`].
    ///
    /// # Errors
    /// As [`Self::plan`]; nothing changed.
    pub fn login(&mut self, at: u64) -> Result<Plan, PassError> {
        let plan = self.plan(at)?;
        self.apply(&plan);
        Ok(plan)
    }
}

/// The passes a set of logins costs, by month: the reference the books are tested against (sorts a copy).
#[must_use]
pub fn passes_by_month(logins: &[u64]) -> std::collections::BTreeMap<Month, u64> {
    let mut sorted = logins.to_vec();
    sorted.sort_unstable();
    let mut cover = 0u64;
    let mut out = std::collections::BTreeMap::new();
    for p in sorted {
        if p >= cover {
            cover = p.saturating_add(DAY_MS);
            *out.entry(Month::of_ms(p)).or_insert(0) += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 3_600_000;
    const T0: u64 = 1_717_200_000_000; // 2024-06-01T00:00Z

    fn charged(book: &mut PassBook, at: u64) -> bool {
        book.login(at).map(|p| p.login.charged).unwrap_or(false)
    }

    #[test]
    fn portal_2_a_login_inside_the_pass_is_free_and_the_first_after_it_is_charged() {
        let mut b = PassBook::default();
        assert!(charged(&mut b, T0));
        assert!(!charged(&mut b, T0 + 23 * H));
        assert!(charged(&mut b, T0 + 24 * H));
        assert_eq!(b.len(), 3);
    }

    #[test]
    fn portal_2_a_late_login_that_swallows_the_next_pass_is_not_charged_and_moves_it() {
        let mut b = PassBook::default();
        assert!(charged(&mut b, T0 + 20 * H));
        // At 10:00, late: it opens the pass 10:00..34:00, which holds 20:00; still one pass.
        let p = b.login(T0 + 10 * H).unwrap_or_else(|_| unreachable!());
        assert!(!p.login.charged);
        assert_eq!(p.login.pass_ends_ms, T0 + 34 * H);
        assert!(charged(&mut b, T0 + 40 * H)); // 40:00 is past 34:00 now
        assert_eq!(
            passes_by_month(&[T0 + 20 * H, T0 + 10 * H, T0 + 40 * H])
                .values()
                .sum::<u64>(),
            2
        );
    }

    #[test]
    fn portal_6_a_late_login_moves_a_pass_to_the_month_before() {
        let mut b = PassBook::default();
        let june = Month::of_ms(T0);
        let may = june.previous();
        b.login(T0 + 10 * H).unwrap_or_else(|_| unreachable!());
        let p = b.login(T0 - 2 * H).unwrap_or_else(|_| unreachable!());
        assert!(!p.login.charged);
        assert_eq!(p.months.iter().collect::<Vec<_>>(), vec![(may, 1), (june, -1)]);
    }

    #[test]
    fn pruned_logins_keep_their_pass_and_older_logins_are_refused() {
        let mut b = PassBook::default();
        b.login(T0).unwrap_or_else(|_| unreachable!());
        b.prune(T0 + RETAIN_MS + 1);
        assert!(b.is_empty());
        assert_eq!(b.plan(T0), Err(PassError::TooLate { kept_from_ms: T0 + 1 }));
        // The pass of the folded login ended long ago: the next login is charged.
        assert!(charged(&mut b, T0 + RETAIN_MS + 2));
    }
}
