//! Conformance tests of the rulebook (docs/rules.md): one or more tests per rule ID, each named after
//! its rule (`flow_7_child_runs_in_parent_context`), each checking the answer the rule gives AND that the
//! decision names the rule (its trace, its `rules`, or the `rule` of a finding).
//!
//! The expected values are worked out from docs/rules.md, the seed sentences it quotes (which win over any
//! other source) and the figures docs/catalog.md cites, never copied from the engine's output. A test that fails here is a disagreement between the engine and the rules.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers (outside #[test] functions) fail the test on a bad fixture"
)]

mod rules {
    pub(crate) mod common;

    mod ai;
    mod app_ent;
    mod buy;
    mod cap;
    mod cat;
    mod consumption;
    mod enf;
    mod flow;
    mod m365_d365;
    mod portal;
    mod req;
    mod timeline;
}
