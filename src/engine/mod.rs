//! The engine: desired state (resources) against facts gives the plan;
//! the plan is applied in as few round trips as possible, with lockout
//! protection before and after.

pub mod apply;
pub mod boot;
pub mod converge;
pub mod fleet;
pub mod host;
pub mod resource;
pub mod safety;
pub mod secret;
