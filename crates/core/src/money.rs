//! Money: a decimal amount in one currency. Never a float; never converted between currencies (CAT-13).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

/// An amount per month in one currency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Money {
    /// A decimal string in JSON (`"150.00"`).
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    pub currency: String,
}

impl Money {
    pub fn new(amount: Decimal, currency: &str) -> Money {
        let mut amount = amount.round_dp(2);
        amount.rescale(2); // always two decimals: "150.50", "0.00"
        Money {
            amount,
            currency: currency.to_owned(),
        }
    }

    pub fn zero(currency: &str) -> Money {
        Money::new(Decimal::ZERO, currency)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} {}", self.amount, self.currency)
    }
}

/// Serializes an optional amount as its decimal string alone (the currency goes in a field of its own).
pub fn amount_only<S: serde::Serializer>(m: &Option<Money>, s: S) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => s.serialize_str(&m.amount.to_string()),
        None => s.serialize_none(),
    }
}

/// Sums per currency; amounts in different currencies are never added together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Totals(#[serde(serialize_with = "totals_as_strings")] pub BTreeMap<String, Decimal>);

fn totals_as_strings<S: serde::Serializer>(m: &BTreeMap<String, Decimal>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(m.iter().map(|(k, v)| (k, format!("{:.2}", v.round_dp(2)))))
}

impl Totals {
    pub fn add(&mut self, m: &Money) {
        let slot = self.0.entry(m.currency.clone()).or_insert(Decimal::ZERO);
        *slot += m.amount;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_never_mix_currencies() {
        let mut t = Totals::default();
        t.add(&Money::new(Decimal::new(200, 0), "EUR"));
        t.add(&Money::new(Decimal::new(150, 0), "USD"));
        t.add(&Money::new(Decimal::new(15, 0), "USD"));
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::json!({"EUR": "200.00", "USD": "165.00"})
        );
    }

    #[test]
    fn money_is_a_decimal_string() {
        let m = Money::new(Decimal::new(1505, 1), "USD");
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"amount": "150.50", "currency": "USD"})
        );
        assert_eq!(m.to_string(), "150.50 USD");
    }
}
