//! The per-host stages above `controls`: which controls a host is in force
//! for, judging and planning (`host`), apply with lockout protection
//! (`converge`, `safety`), waiting for a fresh server (`boot`) and what hosts
//! of one run learn from each other (`fleet`). They drive `engine` with the
//! resources `controls` produce.

pub mod boot;
pub mod converge;
pub mod fleet;
pub mod host;
pub mod safety;
