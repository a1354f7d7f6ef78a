//! The provider API clients against local wiremock servers.
//!
//! Every mock listens on 127.0.0.1 and answers with the request and
//! response shapes of the providers' published API documentation; the
//! bodies live in `tests/fixtures/providers/`. No test reaches a real
//! provider.

#[path = "providers_api/support.rs"]
mod support;

#[path = "providers_api/hcloud.rs"]
mod hcloud;

#[path = "providers_api/ovh.rs"]
mod ovh;

#[path = "providers_api/robot.rs"]
mod robot;
