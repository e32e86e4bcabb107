//! hb: heartbeats and health checks for distributed systems.
//!
//! The four approaches each have a folder that tells their whole story:
//!
//! - [`push`]: `hb-send` beats, `hb-listen` judges the silence.
//! - [`pull`]: `hb-poll` asks, `hb-ack` answers; Nagios judging.
//! - [`ack`]: `hb-send --ack` beats, `hb-ack` acknowledges; both ends judge
//!   the path.
//! - [`quorum`]: several `hb-listen` observers agree before a verdict.
//!
//! They stand on a shared ground floor, which never looks up at them:
//!
//! - [`wire`]: the datagram format (messages, codec).
//! - [`auth`]: HMAC keys and signed datagrams.
//! - [`replay`]: what receivers remember of each sender, against replays.
//! - [`intake`]: what receivers check, count and log before a message
//!   counts, and the rule that no answer is larger than its request.
//! - [`net`]: addresses, UDP sockets and batched receives, with the local
//!   address each datagram came to, to answer from.
//! - [`clock`]: monotonic milliseconds for deadlines, the wall clock for
//!   display, one [`clock::Moment`] holding both, and cadences.
//! - [`output`]: NDJSON events on stdout, through one [`output::Sink`]
//!   per tool that hands every line to its subscribers (metrics, hooks);
//!   [`say!`]: diagnostics on stderr, named after the program.
//! - [`detector`]: turns beats and time into up/suspect/down verdicts,
//!   and jobs' runs and deadlines into theirs (with the phi accrual rule
//!   it may use, [`detector::phi`]).
//! - [`schedule`]: when a job's next run is due: cron expressions in a
//!   time zone, or an interval.
//! - [`health`]: CPU, memory and load readings carried in beats.
//! - [`checks`]: plugin checks (any command, any Nagios plugin).
//! - [`pipe`]: what a child process writes, read in bounded pieces
//!   without blocking: a check's first line, the last line of a hook's or
//!   a job's standard error.
//! - [`nagios`]: threshold ranges, states and perfdata of Nagios plugins.
//! - [`metrics`]: Prometheus metrics over HTTP (`--metrics`), node series
//!   computed at scrape.
//! - [`self_watch`]: a loop watching itself: its stalls and its socket's
//!   drops, never the nodes' failures (its lines are `observer` lines).
//! - [`export`]: threads that export beside a loop (a scrape, the state
//!   file), at a lower priority, handing back what they freed.
//! - [`reload`]: files read again on SIGHUP, and the `reloaded` event.
//! - [`hooks`]: commands run on events (`--on`), in the background, in
//!   order per node, and `still-down` reminders while a node stays down.
//!
//! The binaries (`src/bin/hb-*.rs`) parse flags and wire these pieces
//! together; [`cli`] is what they share: flags defined once, exit codes,
//! signals, man pages and completions.

pub mod ack;
pub mod auth;
pub mod checks;
pub mod cli;
pub mod clock;
pub mod detector;
pub mod export;
pub mod health;
pub mod hooks;
pub mod intake;
pub mod metrics;
pub mod nagios;
pub mod net;
pub mod output;
pub mod pipe;
pub mod pull;
pub mod push;
pub mod quorum;
pub mod reload;
pub mod replay;
pub mod schedule;
pub mod self_watch;
pub mod text;
pub mod web;
pub mod wire;
