//! Integration tests of the executor against real HTTP backends on 127.0.0.1.

mod auth;
mod bodies;
mod common;
mod compiled;
mod oauth2;
mod requests;
mod responses;
mod safety;
mod statuses;
