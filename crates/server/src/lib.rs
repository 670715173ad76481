//! `entitle serve`: the HTTP API over the engine, with the tenants in memory and every change in SQLite or
//! PostgreSQL.

pub mod auth;
pub mod config;
pub mod consumption;
pub mod events;
pub mod hooks;
pub mod http;
pub mod jobs;
pub mod keys;
pub mod limits;
pub mod mail;
pub mod meter;
pub mod metrics;
pub mod openapi;
pub mod policy;
pub mod problem;
pub mod routes;
pub mod serve;
pub mod state;
pub mod store;
pub mod ui;
pub mod write;
