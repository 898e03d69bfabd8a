//! The use cases: one entry point per thing a user or operator does, called alike
//! by the HTTP handlers, the command line and the demo. Below them sit the domain
//! rules, identity, crypto and the store; above them only `http` and `cli`.

pub mod access;
pub mod deaths;
pub mod episodes;
pub mod import;
pub mod keys;
pub mod social;
pub mod subjects;
pub mod users;
