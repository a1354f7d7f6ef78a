//! The engine: desired state (resources) against facts gives the plan;
//! the plan is applied in as few round trips as possible.

pub mod apply;
pub mod host;
pub mod resource;
