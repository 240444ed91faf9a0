//! Integration tests: real servers on 127.0.0.1, real HTTP.

mod cases;
mod frameworks;
mod support;
