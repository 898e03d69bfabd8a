//! The national registry of drug treatment and drug-related deaths for Kosovo.
//!
//! A privacy-preserving backend: pseudonymised records, field-level encryption,
//! role-based access from policy files, and anonymised aggregate export only.
//! See the README for how to run it and `DESIGN.md` in the shared folder for why.

pub mod audit;
pub mod auth;
pub mod authz;
pub mod cli;
pub mod cli_outputs;
pub mod config;
pub mod crypto;
pub mod deaths;
pub mod demo;
pub mod domain;
pub mod episodes;
pub mod export;
pub mod files;
pub mod http;
pub mod identity;
pub mod import;
pub mod keys;
pub mod server;
pub mod social;
pub mod store;
pub mod subjects;
pub mod telemetry;
pub mod users;
