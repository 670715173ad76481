//! Calendar months in UTC: every consumption event is attributed to the month of its time (PORTAL-6, AI-2).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar month in UTC, as months since year 0 (so months order and subtract as numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month(u32);

/// Why a `YYYY-MM` did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a month: expected YYYY-MM, e.g. 2024-06")]
pub struct BadMonth(pub String);

impl Month {
    /// The month `year`-`month` (1..=12), or `None` outside years 1..=9999.
    #[must_use]
    pub fn new(year: i32, month: u32) -> Option<Month> {
        if !(1..=9999).contains(&year) || !(1..=12).contains(&month) {
            return None;
        }
        u32::try_from(year).ok().map(|y| Month(y * 12 + month - 1))
    }

    /// The month holding `ms` (ms since the Unix epoch, UTC); times outside chrono's range clamp to its ends.
    #[must_use]
    pub fn of_ms(ms: u64) -> Month {
        let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
        let date = chrono::DateTime::from_timestamp(secs, 0).map_or(NaiveDate::MAX, |d| d.date_naive());
        Month::of_date(date)
    }

    /// The month holding `date`.
    #[must_use]
    pub fn of_date(date: NaiveDate) -> Month {
        Month::new(date.year(), date.month()).unwrap_or(Month(if date.year() < 1 {
            12
        } else {
            9999 * 12 + 11
        }))
    }

    #[must_use]
    pub fn year(self) -> i32 {
        i32::try_from(self.0 / 12).unwrap_or(i32::MAX)
    }

    /// 1..=12.
    #[must_use]
    pub fn month(self) -> u32 {
        self.0 % 12 + 1
    }

    /// The first day.
    #[must_use]
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year(), self.month(), 1).unwrap_or(NaiveDate::MIN)
    }

    #[must_use]
    pub fn next(self) -> Month {
        Month(self.0.saturating_add(1))
    }

    #[must_use]
    pub fn previous(self) -> Month {
        Month(self.0.saturating_sub(1))
    }

    /// Its first millisecond (ms since the epoch; 0 before 1970).
    #[must_use]
    pub fn start_ms(self) -> u64 {
        let secs = self
            .first_day()
            .and_hms_opt(0, 0, 0)
            .map_or(0, |d| d.and_utc().timestamp());
        u64::try_from(secs).unwrap_or(0).saturating_mul(1000)
    }

    /// The first millisecond after it.
    #[must_use]
    pub fn end_ms(self) -> u64 {
        self.next().start_ms()
    }

    /// The month numbered `i` months since year 0 (`year * 12 + month - 1`, as the Redis script names months in
    /// its answers), if it is one of years 1..=9999.
    pub(crate) fn from_index(i: u32) -> Option<Month> {
        (12..=9999 * 12 + 11).contains(&i).then_some(Month(i))
    }

    /// When late events stop being taken for it: [`crate::LATE_MS`] after it ends.
    #[must_use]
    pub fn closes_ms(self) -> u64 {
        self.end_ms().saturating_add(crate::LATE_MS)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

impl FromStr for Month {
    type Err = BadMonth;

    fn from_str(s: &str) -> Result<Month, BadMonth> {
        let bad = || BadMonth(s.to_owned());
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        Month::new(year, month).ok_or_else(bad)
    }
}

impl Serialize for Month {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Month {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Month, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_print_and_bound_their_milliseconds() {
        let m: Month = "2024-06".parse().unwrap_or(Month(0));
        assert_eq!(m.to_string(), "2024-06");
        assert_eq!(m.start_ms(), 1_717_200_000_000);
        assert_eq!(m.end_ms(), 1_719_792_000_000);
        assert_eq!(Month::of_ms(m.end_ms() - 1), m);
        assert_eq!(Month::of_ms(m.end_ms()), m.next());
        assert_eq!(
            "2024-12".parse::<Month>().map(Month::next).map(|m| m.to_string()),
            Ok("2025-01".into())
        );
        for bad in [
            "2024-13",
            "2024-00",
            "24-06",
            "2024-6",
            "2024/06",
            "",
            "2024-06-01",
            "+024-06",
        ] {
            assert_eq!(bad.parse::<Month>(), Err(BadMonth(bad.into())), "{bad}");
        }
    }
}
