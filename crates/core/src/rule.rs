//! Rule identifiers of the rulebook (`docs/rules.md`, embedded as [`crate::rulebook`]).
//!
//! Every decision carries the rules it applied, in order, as [`Rule`] values: a `u8`-sized enum so that a trace
//! is a fixed array and recording a step never allocates.

use std::fmt;

macro_rules! rules {
    ($($variant:ident => $id:literal),+ $(,)?) => {
        /// One rule of the rulebook, named by its stable ID (`FLOW-7`, `CAP-3`, …).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule { $($variant),+ }

        impl Rule {
            /// Every rule, in rulebook order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),+];

            /// The rule's ID as the rulebook writes it.
            pub const fn id(self) -> &'static str {
                match self { $(Rule::$variant => $id),+ }
            }

            /// Parses an ID such as `FLOW-7`.
            pub fn parse(id: &str) -> Option<Rule> {
                match id { $($id => Some(Rule::$variant),)+ _ => None }
            }
        }
    };
}

rules! {
    Cat1 => "CAT-1", Cat2 => "CAT-2", Cat3 => "CAT-3", Cat4 => "CAT-4", Cat5 => "CAT-5", Cat6 => "CAT-6",
    Cat7 => "CAT-7", Cat8 => "CAT-8", Cat9 => "CAT-9", Cat10 => "CAT-10", Cat11 => "CAT-11", Cat12 => "CAT-12",
    Cat13 => "CAT-13", Cat14 => "CAT-14",
    Cap1 => "CAP-1", Cap2 => "CAP-2", Cap3 => "CAP-3", Cap4 => "CAP-4", Cap5 => "CAP-5", Cap6 => "CAP-6",
    Req1 => "REQ-1", Req2 => "REQ-2", Req3 => "REQ-3", Req4 => "REQ-4", Req5 => "REQ-5", Req6 => "REQ-6",
    Req7 => "REQ-7", Req8 => "REQ-8",
    Flow1 => "FLOW-1", Flow2 => "FLOW-2", Flow3 => "FLOW-3", Flow4 => "FLOW-4", Flow5 => "FLOW-5",
    Flow6 => "FLOW-6", Flow7 => "FLOW-7", Flow8 => "FLOW-8", Flow9 => "FLOW-9", Flow10 => "FLOW-10",
    Flow11 => "FLOW-11", Flow12 => "FLOW-12", Flow13 => "FLOW-13", Flow14 => "FLOW-14", Flow15 => "FLOW-15",
    Flow16 => "FLOW-16", Flow17 => "FLOW-17", Flow18 => "FLOW-18", Flow19 => "FLOW-19", Flow20 => "FLOW-20",
    Flow21 => "FLOW-21", Flow22 => "FLOW-22", Flow23 => "FLOW-23", Flow24 => "FLOW-24", Flow25 => "FLOW-25",
    M365_1 => "M365-1", M365_2 => "M365-2", M365_3 => "M365-3",
    D365_1 => "D365-1", D365_2 => "D365-2", D365_3 => "D365-3",
    App1 => "APP-1", App2 => "APP-2", App3 => "APP-3",
    Ent1 => "ENT-1", Ent2 => "ENT-2", Ent3 => "ENT-3", Ent4 => "ENT-4", Ent5 => "ENT-5",
    Portal1 => "PORTAL-1", Portal2 => "PORTAL-2", Portal3 => "PORTAL-3", Portal4 => "PORTAL-4",
    Portal5 => "PORTAL-5", Portal6 => "PORTAL-6",
    Ai1 => "AI-1", Ai2 => "AI-2",
    Enf1 => "ENF-1", Enf2 => "ENF-2", Enf3 => "ENF-3", Enf4 => "ENF-4", Enf5 => "ENF-5", Enf6 => "ENF-6",
    Enf7 => "ENF-7",
    Buy1 => "BUY-1", Buy2 => "BUY-2", Buy3 => "BUY-3", Buy4 => "BUY-4", Buy5 => "BUY-5", Buy6 => "BUY-6",
    Buy7 => "BUY-7", Buy8 => "BUY-8",
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for rule in Rule::ALL {
            assert_eq!(Rule::parse(rule.id()), Some(*rule));
        }
        assert_eq!(Rule::parse("FLOW-99"), None);
        assert_eq!(Rule::Flow7.to_string(), "FLOW-7");
    }
}
