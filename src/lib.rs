//! rampart: make a fleet of European servers provably hardened.
//!
//! The data flow is inventory → facts → plan → apply → verify → report;
//! see ARCHITECTURE.md for where each stage lives.

pub mod providers;
