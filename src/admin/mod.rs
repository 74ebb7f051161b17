//! The admin side: HTTP endpoints ([`http`]), the Prometheus registry
//! ([`metrics`]), and a small HTTP client for `pgsplit check` / `status`
//! ([`client`]).

pub mod client;
mod histogram;
pub mod http;
pub mod metrics;
