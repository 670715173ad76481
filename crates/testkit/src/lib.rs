//! The shared scenario corpus.
