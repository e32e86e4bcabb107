//! The integration tests: the real binaries, run end to end, one module
//! per concern. One test binary, so the shared harness is compiled once
//! and every test of it runs in one process (only `tests/hot_path.rs`, which
//! replaces the global allocator, is a binary of its own).

mod harness;

// The four approaches.
mod ack;
mod agent;
mod pull;
mod push;
mod quorum;
mod quorum_size;
mod relay;

// What they share.
mod bench;
mod confirm;
mod cron;
mod demo;
mod detector;
mod detector_flags;
mod docs_story;
mod forget;
mod generated;
mod haproxy;
mod hooks;
mod hostile_addr;
mod hostile_checks;
mod hostile_hooks;
mod hostile_input;
mod hostile_names;
mod hostile_notices;
mod hostile_probes;
mod hostile_state;
mod jobs;
mod lifecycle;
mod listener;
mod metrics;
mod nginx;
mod observer;
mod pacing;
mod package;
mod perfdata;
mod poller;
mod recipes;
mod reload;
mod responder;
mod routing;
mod samples;
mod security;
mod sender;
mod signals;
mod state_file;
mod units;
mod unwinder;
mod web;
mod web_page;
mod web_tls;
