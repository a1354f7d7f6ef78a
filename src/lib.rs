//! rampart: make a fleet of European servers provably hardened.
//!
//! The data flow is inventory → facts → plan → apply → verify → report;
//! see ARCHITECTURE.md for where each stage lives.

pub mod access;
pub mod ca;
pub mod calendar;
pub mod cli;
pub mod controls;
pub mod engine;
pub mod facts;
pub mod inventory;
pub mod lab;
pub mod ops;
pub mod providers;
pub mod report;
pub mod seal;
pub mod sites;
pub mod transport;
