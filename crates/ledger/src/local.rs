//! The ledgers held in this process: one lock per portal and per tenant's credit pool, no allocation for a login
//! by a user the portal has seen (the books grow only when a user's logins do).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::answer::{
    Answer, CreditAllowance, CreditAnswer, CreditSource, Event, LedgerError, LoginAnswer, MonthUsage,
    Overage, PortalLimits, ViewsAnswer,
};
use crate::month::Month;
use crate::pass::PassBook;
use crate::{LATE_MS, RETAIN_MS};

type Hasher_ = foldhash::fast::FixedState;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One portal's books and monthly totals.
#[derive(Debug, Default)]
struct Portal {
    users: HashMap<String, PassBook, Hasher_>,
    /// Passes charged per month (signed while a late login moves one between months; never below 0 in sum).
    logins: BTreeMap<Month, i64>,
    page_views: BTreeMap<Month, u64>,
    /// The month of the last login and its bounds, so that a login in the same month skips the calendar.
    last_month: Option<(Month, u64, u64)>,
}

impl Portal {
    fn month_of(&mut self, at: u64) -> Month {
        if let Some((m, from, to)) = self.last_month
            && (from..to).contains(&at)
        {
            return m;
        }
        let m = Month::of_ms(at);
        self.last_month = Some((m, m.start_ms(), m.end_ms()));
        m
    }

    fn logins_in(&self, month: Month) -> u64 {
        self.logins
            .get(&month)
            .map_or(0, |n| u64::try_from(*n).unwrap_or(0))
    }
}

/// One tenant's AI Builder credits consumed, per environment and from the unallocated pool, per month.
#[derive(Debug, Default)]
struct Credits {
    environments: HashMap<String, BTreeMap<Month, u64>, Hasher_>,
    pool: BTreeMap<Month, u64>,
}

/// One tenant's portals.
type Portals = RwLock<HashMap<String, Arc<Mutex<Portal>>, Hasher_>>;

/// What was answered for an event id, with a fingerprint of the event, for replays.
#[derive(Debug, Clone)]
struct Seen {
    stamp_ms: u64,
    fingerprint: u64,
    answer: Answer,
}

/// Shards of the event ids seen.
const SHARDS: usize = 64;

/// The consumption ledgers of every tenant on this node.
#[derive(Debug)]
pub struct LocalLedger {
    /// Tenant, then portal.
    portals: RwLock<HashMap<String, Arc<Portals>, Hasher_>>,
    credits: RwLock<HashMap<String, Arc<Mutex<Credits>>, Hasher_>>,
    seen: Vec<Mutex<HashMap<String, Seen, Hasher_>>>,
    /// Never used: `shard` answers it only if the index were out of range, which `% SHARDS` rules out.
    seen_fallback: Mutex<HashMap<String, Seen, Hasher_>>,
}

impl Default for LocalLedger {
    fn default() -> Self {
        Self {
            portals: RwLock::default(),
            credits: RwLock::default(),
            seen: (0..SHARDS).map(|_| Mutex::default()).collect(),
            seen_fallback: Mutex::default(),
        }
    }
}

fn entry<T: Default>(map: &RwLock<HashMap<String, Arc<T>, Hasher_>>, key: &str) -> Arc<T> {
    if let Some(found) = map.read().unwrap_or_else(PoisonError::into_inner).get(key) {
        return Arc::clone(found);
    }
    let mut w = map.write().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(w.entry(key.to_owned()).or_default())
}

/// The time checks every event gets: not in the future, at most [`LATE_MS`] old.
///
/// # Errors
/// [`LedgerError::Future`] or [`LedgerError::TooLate`].
pub fn check_time(at_ms: u64, now_ms: u64) -> Result<(), LedgerError> {
    if at_ms > now_ms {
        return Err(LedgerError::Future { at_ms, now_ms });
    }
    if at_ms < now_ms.saturating_sub(LATE_MS) {
        return Err(LedgerError::TooLate { at_ms, now_ms });
    }
    Ok(())
}

impl LocalLedger {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one event: the answer, or why it was refused (then nothing changed). An event with an id that was
    /// seen in the last [`RETAIN_MS`] gets the first answer again, marked replayed, and changes nothing; the same
    /// id on a different event is refused.
    ///
    /// # Errors
    /// [`LedgerError`]: a bad time, an over-allocation under [`Overage::Refuse`], an overdraft of credits, a reused id.
    pub fn take(&self, event: &Event<'_>, now_ms: u64) -> Result<Answer, LedgerError> {
        check_time(event.at_ms(), now_ms)?;
        let Some(id) = event.id() else {
            return self.apply(event, now_ms, false);
        };
        let key = seen_key(event.tenant(), id);
        let fingerprint = event.fingerprint();
        // The id's shard stays locked while the event is applied, so two racing sightings of one id count once.
        let mut seen = lock(self.shard(&key));
        if let Some(s) = seen.get(&key) {
            return if s.fingerprint == fingerprint {
                Ok(s.answer.replayed())
            } else {
                Err(LedgerError::IdReused { id: id.to_owned() })
            };
        }
        let answer = self.apply(event, now_ms, false)?;
        seen.insert(
            key,
            Seen {
                stamp_ms: now_ms,
                fingerprint,
                answer,
            },
        );
        Ok(answer)
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Seen, Hasher_>> {
        let h = foldhash::fast::FixedState::with_seed(1).hash_one(key);
        let i = usize::try_from(h % SHARDS as u64).unwrap_or(0);
        self.seen.get(i).unwrap_or(&self.seen_fallback)
    }

    /// Applies an event that was taken before (a replay of the stored log at start): no time, allocation or
    /// pool checks, ids remembered.
    pub fn restore(&self, event: &Event<'_>, now_ms: u64) {
        if let Ok(answer) = self.apply(event, now_ms.max(event.at_ms()), true)
            && let Some(id) = event.id()
        {
            let seen = Seen {
                stamp_ms: event.at_ms(),
                fingerprint: event.fingerprint(),
                answer,
            };
            let key = seen_key(event.tenant(), id);
            lock(self.shard(&key)).insert(key, seen);
        }
    }

    fn apply(&self, event: &Event<'_>, now_ms: u64, force: bool) -> Result<Answer, LedgerError> {
        match *event {
            Event::Login {
                tenant,
                portal,
                user,
                at_ms,
                limits,
                ..
            } => {
                let cell = self.portal(tenant, portal);
                login(&mut lock(&cell), user, at_ms, now_ms, limits, force).map(Answer::Login)
            }
            Event::PageViews {
                tenant,
                portal,
                count,
                at_ms,
                limits,
                ..
            } => {
                let cell = self.portal(tenant, portal);
                page_views(&mut lock(&cell), count, at_ms, limits, force).map(Answer::PageViews)
            }
            Event::Credits {
                tenant,
                environment,
                credits,
                preview,
                at_ms,
                allowance,
                ..
            } => self
                .consume(tenant, environment, credits, preview, at_ms, allowance, force)
                .map(Answer::Credits),
        }
    }

    fn portal(&self, tenant: &str, portal: &str) -> Arc<Mutex<Portal>> {
        entry(&entry(&self.portals, tenant), portal)
    }
    #[expect(clippy::too_many_arguments, reason = "the fields of one credits event")]
    fn consume(
        &self,
        tenant: &str,
        environment: &str,
        credits: u64,
        preview: bool,
        at: u64,
        allowance: CreditAllowance,
        force: bool,
    ) -> Result<CreditAnswer, LedgerError> {
        let month = Month::of_ms(at);
        let cell = entry(&self.credits, tenant);
        let mut c = lock(&cell);
        let source = if allowance.allocated > 0 {
            CreditSource::Allocation
        } else {
            CreditSource::Pool
        };
        let (available, used) = match source {
            CreditSource::Allocation => (
                allowance.allocated,
                c.environments
                    .get(environment)
                    .and_then(|m| m.get(&month))
                    .copied()
                    .unwrap_or(0),
            ),
            CreditSource::Pool => (allowance.unallocated, c.pool.get(&month).copied().unwrap_or(0)),
        };
        // AI-2: preview models need no paid capacity.
        let charge = if preview { 0 } else { credits };
        if !force && charge > 0 {
            if source == CreditSource::Pool && !allowance.unallocated_use {
                return Err(LedgerError::NoAllocation {
                    environment: environment.to_owned(),
                });
            }
            if used.saturating_add(charge) > available {
                return Err(LedgerError::Overdraft {
                    pool: source,
                    month,
                    used,
                    available,
                    requested: charge,
                });
            }
        }
        let after = used.saturating_add(charge);
        if charge > 0 {
            *c.environments
                .entry(environment.to_owned())
                .or_default()
                .entry(month)
                .or_insert(0) += charge;
            if source == CreditSource::Pool {
                c.pool.insert(month, after);
            }
        }
        Ok(CreditAnswer {
            month,
            source,
            consumed: charge,
            used: after,
            available,
            replayed: false,
        })
    }

    /// Passes charged on `portal` of `tenant` in `month`.
    #[must_use]
    pub fn logins(&self, tenant: &str, portal: &str, month: Month) -> u64 {
        self.portal_read(tenant, portal, |p| p.logins_in(month))
    }

    /// Page views counted on `portal` of `tenant` in `month`.
    #[must_use]
    pub fn page_views(&self, tenant: &str, portal: &str, month: Month) -> u64 {
        self.portal_read(tenant, portal, |p| p.page_views.get(&month).copied().unwrap_or(0))
    }

    /// Credits `environment` of `tenant` consumed in `month` (from its allocation or the pool).
    #[must_use]
    pub fn credits(&self, tenant: &str, environment: &str, month: Month) -> u64 {
        let found = self
            .credits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned();
        found.map_or(0, |c| {
            lock(&c)
                .environments
                .get(environment)
                .and_then(|m| m.get(&month))
                .copied()
                .unwrap_or(0)
        })
    }

    /// What `tenant` used in `month` on the portals and environments named (named ones with nothing used
    /// are listed with zeros).
    #[must_use]
    pub fn usage(&self, tenant: &str, portals: &[&str], environments: &[&str], month: Month) -> MonthUsage {
        let mut u = MonthUsage {
            month: Some(month),
            ..MonthUsage::default()
        };
        for p in portals {
            let (logins, views) = self.portal_read(tenant, p, |x| {
                (x.logins_in(month), x.page_views.get(&month).copied().unwrap_or(0))
            });
            u.portals.insert((*p).to_owned(), (logins, views));
        }
        let found = self
            .credits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned();
        let c = found.as_deref().map(lock);
        for e in environments {
            let n = c
                .as_ref()
                .and_then(|c| c.environments.get(*e))
                .and_then(|m| m.get(&month))
                .copied()
                .unwrap_or(0);
            u.credits.insert((*e).to_owned(), n);
        }
        u.pool = c.as_ref().and_then(|c| c.pool.get(&month)).copied().unwrap_or(0);
        u
    }

    fn portal_read<T: Default>(&self, tenant: &str, portal: &str, f: impl FnOnce(&Portal) -> T) -> T {
        let portals = self
            .portals
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .cloned();
        let found = portals.and_then(|ps| {
            ps.read()
                .unwrap_or_else(PoisonError::into_inner)
                .get(portal)
                .cloned()
        });
        found.map_or_else(T::default, |p| f(&lock(&p)))
    }

    /// Drops books with nothing kept and ids older than [`RETAIN_MS`]; returns how many books remain.
    pub fn sweep(&self, now_ms: u64) -> usize {
        let tenants: Vec<_> = self
            .portals
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let portals: Vec<_> = tenants
            .iter()
            .flat_map(|t| {
                t.read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut left = 0;
        for p in portals {
            let mut p = lock(&p);
            p.users.retain(|_, b| {
                b.prune(now_ms);
                !b.idle(now_ms)
            });
            left += p.users.len();
        }
        let cutoff = now_ms.saturating_sub(RETAIN_MS);
        for shard in self.seen.iter().chain([&self.seen_fallback]) {
            lock(shard).retain(|_, s| s.stamp_ms >= cutoff);
        }
        left
    }
}

fn login(
    p: &mut Portal,
    user: &str,
    at: u64,
    now: u64,
    limits: PortalLimits,
    force: bool,
) -> Result<LoginAnswer, LedgerError> {
    let month = p.month_of(at);
    let plan = match p.users.get_mut(user) {
        Some(book) => {
            book.prune(now);
            book.plan(at)?
        }
        None => PassBook::default().plan(at)?,
    };
    if !force && limits.overage == Overage::Refuse {
        for (m, n) in plan.months.iter() {
            let used = p.logins_in(m);
            if n > 0 && used.saturating_add(n.unsigned_abs()) > limits.logins {
                return Err(LedgerError::OverAllocation {
                    what: "logins",
                    month: m,
                    used,
                    allocated: limits.logins,
                });
            }
        }
    }
    match p.users.get_mut(user) {
        Some(book) => book.apply(&plan),
        None => {
            let mut book = PassBook::default();
            book.apply(&plan);
            p.users.insert(user.to_owned(), book);
        }
    }
    for (m, n) in plan.months.iter() {
        *p.logins.entry(m).or_insert(0) += n;
    }
    let used = p.logins_in(month);
    Ok(LoginAnswer {
        charged: plan.login.charged,
        pass_ends_ms: plan.login.pass_ends_ms,
        month,
        allocated: limits.logins,
        used,
        replayed: false,
    })
}

fn page_views(
    p: &mut Portal,
    count: u64,
    at: u64,
    limits: PortalLimits,
    force: bool,
) -> Result<ViewsAnswer, LedgerError> {
    let month = p.month_of(at);
    let used = p.page_views.get(&month).copied().unwrap_or(0);
    let after = used.saturating_add(count);
    if !force && limits.overage == Overage::Refuse && after > limits.page_views {
        return Err(LedgerError::OverAllocation {
            what: "page views",
            month,
            used,
            allocated: limits.page_views,
        });
    }
    p.page_views.insert(month, after);
    Ok(ViewsAnswer {
        month,
        counted: count,
        allocated: limits.page_views,
        used: after,
        replayed: false,
    })
}

fn seen_key(scope: &str, id: &str) -> String {
    let mut k = String::with_capacity(scope.len() + id.len() + 1);
    k.push_str(scope);
    k.push('\u{1f}');
    k.push_str(id);
    k
}

/// A stable fingerprint (fixed seed) of the fields that make an event what it is.
pub(crate) fn fingerprint(parts: &[&dyn HashPart]) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(0x5eed).build_hasher();
    for p in parts {
        p.feed(&mut h);
    }
    h.finish()
}

/// A field of an event fed to the fingerprint.
pub(crate) trait HashPart {
    fn feed(&self, h: &mut foldhash::fast::FoldHasher);
}

impl<T: Hash> HashPart for T {
    fn feed(&self, h: &mut foldhash::fast::FoldHasher) {
        self.hash(h);
    }
}
