//! The engine: desired state as resources, their diff against facts, the
//! apply script that enforces them and the secrets it carries. It sits below
//! `controls` (controls produce `Resource`s); the per-host stages that run
//! controls through it live above, in `ops`.

pub mod apply;
pub mod resource;
pub mod secret;
