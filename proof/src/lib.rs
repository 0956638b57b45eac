//! How Frontdesk proves its guarantees, kept out of the library the desktop app
//! links: the benchmark against a floor measured in the same run ([`bench`]), many
//! desk processes hammering a few slots with kills ([`stress`]), the history
//! checker both use ([`linearizability`]), and the power-cut simulator
//! ([`stress::power_cut`]). The `frontdesk` command offers them as `bench` and
//! `stress`; the tests in `cli/tests` drive them.
#![deny(missing_docs)]

pub mod bench;
pub mod linearizability;
pub mod stress;
