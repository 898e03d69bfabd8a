//! The integration suite: every test spawns the real service on port 0 with a fresh
//! database, once on SQLite and once on PostgreSQL (`REGISTRY_TEST_POSTGRES_URL`).

#[macro_use]
mod helpers;

mod audit;
mod auth;
mod browser;
mod cli;
mod deaths;
mod demo;
mod domains;
pub mod episodes;
mod errors;
mod exports;
mod facilities;
mod health;
mod hostile;
mod integrity;
mod linkage;
mod matrix;
mod outage;
mod permits;
mod properties;
mod reference;
mod storage;
mod subjects;
mod transport;
mod types;
pub mod web;
mod writer;
