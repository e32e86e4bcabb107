//! The pull monitor behind `hb-poll`: one socket asks every target "are you
//! alive?" at once, matches replies by nonce, retries the silent ones, and
//! judges the round against Nagios thresholds.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::auth::Codec;
use crate::checks::{CheckResult, CheckStatus};
use crate::clock::{duration_ms, Cadence, Clock, Millis};
use crate::detector::{Config, Detector};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::nagios::{PerfDatum, State, Thresholds};
use crate::net::{self, AddrError, HostPort};
use crate::output::{ms, round, wall_ms, Output};
use crate::wire::{self, Beat, Message, Probe, DEFAULT_ACK_PORT};

/// Probes sent back to back before the poller drains replies: enough to
/// keep a round about one round trip long, few enough that neither side's
/// socket buffer overflows when a thousand targets share one responder.
const SEND_BATCH: usize = 64;

/// What to check and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Probe an hb-ack responder over UDP.
    Probe(HostPort),
    /// A TCP connect, for services that run no hb-ack.
    Tcp(HostPort),
}

/// One target as the user named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub check: Check,
}

impl Target {
    /// `HOST[:PORT]` (default port 26723) or `tcp://HOST:PORT`.
    pub fn parse(s: &str) -> Result<Target, AddrError> {
        let check = match s.strip_prefix("tcp://") {
            Some(rest) => Check::Tcp(rest.parse()?),
            None => Check::Probe(HostPort::parse(s, DEFAULT_ACK_PORT)?),
        };
        Ok(Target {
            name: s.to_owned(),
            check,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// What one round found out about one target.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub target: String,
    pub addr: Option<SocketAddr>,
    /// The responder's own name (probes only).
    pub node: Option<String>,
    pub boot: Option<String>,
    /// Round-trip time of the answered attempt; `Some` exactly when up.
    pub rtt: Option<Duration>,
    pub attempts: u32,
    pub health: Option<Box<RawValue>>,
    pub error: Option<String>,
    /// The relay whose probe got the answer, when the direct ones failed.
    pub via: Option<String>,
    /// The reply's plugin checks (`hb-ack --check`).
    pub checks: Option<Vec<CheckResult>>,
}

impl Outcome {
    pub fn is_up(&self) -> bool {
        self.rtt.is_some()
    }

    /// The reply's health, when it is hb's health object.
    pub fn parsed_health(&self) -> Option<Health> {
        serde_json::from_str(self.health.as_ref()?.get()).ok()
    }
}

struct Resolved {
    target: Target,
    addr: Result<SocketAddr, String>,
}

/// Polls a fixed set of targets, one round at a time.
pub struct Prober {
    /// Set by SIGINT/SIGTERM: a round in progress stops waiting.
    stop: Arc<AtomicBool>,
    node: String,
    targets: Vec<Resolved>,
    timeout: Duration,
    retries: u32,
    socket: UdpSocket,
    /// Where the socket sends each target's probes (IPv4-mapped on a
    /// dual-stack socket); None for TCP and unresolved targets.
    send_to: Vec<Option<SocketAddr>>,
    /// hb-ack relays asked to probe a target the direct probes did not
    /// reach: as named, and where the socket sends to them.
    relays: Vec<(String, SocketAddr)>,
    codec: Codec,
    datagram: Vec<u8>,
    nonces: Nonces,
    receiver: net::Receiver,
}

/// Probe nonces: unpredictable to anyone who does not see the probes
/// (so a spoofed reply cannot guess one), without a syscall per probe: a
/// SplitMix64 sequence from one random seed.
struct Nonces(u64);

impl Nonces {
    fn new() -> io::Result<Self> {
        Ok(Nonces(getrandom::u64().map_err(io::Error::other)?))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A probe awaiting its reply: for which target, since when, through which
/// relay (None: direct).
type Outstanding = HashMap<u64, (usize, Instant, Option<usize>)>;

impl Prober {
    /// Resolves the targets (once: a name that does not resolve makes its
    /// target down with the error, not the whole poll fail). `relays`
    /// (hb-ack addresses, already resolved) are asked to probe the targets
    /// that do not answer directly.
    pub fn new(
        node: String,
        targets: Vec<Target>,
        relays: Vec<(String, SocketAddr)>,
        timeout: Duration,
        retries: u32,
        codec: Codec,
    ) -> io::Result<Self> {
        let targets: Vec<Resolved> = targets
            .into_iter()
            .map(|target| {
                let hp = match &target.check {
                    Check::Probe(hp) | Check::Tcp(hp) => hp,
                };
                let addr = hp
                    .resolve()
                    .map_err(|e| format!("cannot resolve {}: {e}", hp.host));
                Resolved { target, addr }
            })
            .collect();
        let mut addrs: Vec<SocketAddr> = targets
            .iter()
            .filter(|r| matches!(r.target.check, Check::Probe(_)))
            .filter_map(|r| r.addr.clone().ok())
            .collect();
        addrs.extend(relays.iter().map(|(_, a)| *a));
        let (socket, mut mapped) = net::sending_socket(&addrs)?;
        let relay_to = mapped.split_off(mapped.len() - relays.len());
        let relays = relays
            .into_iter()
            .zip(relay_to)
            .map(|((name, _), to)| (name, to))
            .collect();
        let mut mapped = mapped.into_iter();
        let send_to = targets
            .iter()
            .map(|r| match (&r.target.check, &r.addr) {
                (Check::Probe(_), Ok(_)) => mapped.next(),
                _ => None,
            })
            .collect();
        Ok(Prober {
            stop: Arc::new(AtomicBool::new(false)),
            node,
            targets,
            timeout,
            retries,
            socket,
            send_to,
            relays,
            codec,
            datagram: Vec::with_capacity(wire::MAX_DATAGRAM),
            nonces: Nonces::new()?,
            receiver: net::Receiver::default(),
        })
    }

    /// Rounds stop waiting for replies once `stop` is set.
    pub fn stop_on(&mut self, stop: Arc<AtomicBool>) {
        self.stop = stop;
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn targets(&self) -> impl Iterator<Item = &Target> {
        self.targets.iter().map(|r| &r.target)
    }

    /// One round: every target checked concurrently, silent ones retried
    /// up to `retries` times, each attempt waiting `timeout`. A round costs
    /// about one round trip when all answer, plus the timeouts of the dead.
    pub fn round(&mut self) -> io::Result<Vec<Outcome>> {
        let mut outcomes: Vec<Outcome> = self
            .targets
            .iter()
            .map(|r| Outcome {
                target: r.target.name.clone(),
                addr: r.addr.clone().ok(),
                node: None,
                boot: None,
                rtt: None,
                attempts: 0,
                health: None,
                error: r.addr.clone().err(),
                via: None,
                checks: None,
            })
            .collect();
        let (timeout, tries) = (self.timeout, self.retries + 1);
        std::thread::scope(|scope| -> io::Result<()> {
            let tcp: Vec<_> = self
                .targets
                .iter()
                .enumerate()
                .filter(|(_, r)| matches!(r.target.check, Check::Tcp(_)))
                .filter_map(|(i, r)| Some((i, r.addr.clone().ok()?)))
                .map(|(i, addr)| {
                    let handle = std::thread::Builder::new()
                        .stack_size(64 << 10)
                        .spawn_scoped(scope, move || tcp_connect(addr, timeout, tries))?;
                    Ok((i, handle))
                })
                .collect::<io::Result<_>>()?;
            self.probe_waves(&mut outcomes)?;
            for (i, handle) in tcp {
                let (rtt, attempts, error) = handle.join().expect("tcp check thread panicked");
                let o = &mut outcomes[i];
                (o.rtt, o.attempts, o.error) = (rtt, attempts, error);
            }
            Ok(())
        })?;
        Ok(outcomes)
    }

    /// UDP probes in waves: all pending targets, then wait for replies;
    /// the silent ones again, up to `retries` more times; then, if relays
    /// are given, each relay is asked to probe the targets still silent.
    fn probe_waves(&mut self, outcomes: &mut [Outcome]) -> io::Result<()> {
        let mut pending: Vec<usize> = (0..outcomes.len())
            .filter(|&i| self.send_to[i].is_some())
            .collect();
        let mut outstanding = Outstanding::new();
        for attempt in 1..=self.retries + 1 {
            if pending.is_empty() {
                break;
            }
            for (sent, &i) in pending.iter().enumerate() {
                outcomes[i].attempts = attempt;
                let to = self.send_to[i].expect("pending targets have an address");
                if let Err(e) = self.send_probe(i, None, to, &mut outstanding) {
                    outcomes[i].error = Some(format!("send: {e}"));
                }
                if (sent + 1) % SEND_BATCH == 0 {
                    // Take what has already come back before sending more,
                    // so our own receive buffer never fills up.
                    while self.take_replies(Duration::ZERO, &outstanding, outcomes)? {}
                }
            }
            self.await_replies(self.timeout, &pending, &outstanding, outcomes)?;
            pending.retain(|&i| !outcomes[i].is_up());
        }
        if !pending.is_empty() && !self.relays.is_empty() {
            for &i in &pending {
                for r in 0..self.relays.len() {
                    // Best effort: a relay we cannot reach is a failed path.
                    let _ = self.send_probe(i, Some(r), self.relays[r].1, &mut outstanding);
                }
            }
            // Two hops each way.
            self.await_replies(2 * self.timeout, &pending, &outstanding, outcomes)?;
            pending.retain(|&i| !outcomes[i].is_up());
        }
        let timeout = humantime::format_duration(self.timeout);
        let relays = match self.relays.len() {
            0 => String::new(),
            n => format!(", nor through {n} relays"),
        };
        for &i in &pending {
            let o = &mut outcomes[i];
            if o.error.is_none() {
                o.error = Some(format!(
                    "no reply to {} probes, {timeout} each{relays}",
                    o.attempts
                ));
            }
        }
        Ok(())
    }

    /// Sends one probe for target `i`, directly or (`relay`) as a relay
    /// request naming the target's address.
    fn send_probe(
        &mut self,
        i: usize,
        relay: Option<usize>,
        to: SocketAddr,
        outstanding: &mut Outstanding,
    ) -> io::Result<()> {
        let nonce = self.nonces.next();
        let target = match relay {
            Some(_) => self.targets[i].addr.clone().ok(),
            None => None,
        };
        let probe = Message::Probe(Probe {
            node: self.node.as_str().into(),
            nonce,
            target,
        });
        self.codec
            .encode_request(&probe, &mut self.datagram)
            .map_err(io::Error::other)?;
        self.socket.send_to(&self.datagram, to)?;
        outstanding.insert(nonce, (i, Instant::now(), relay));
        Ok(())
    }

    /// Takes replies for up to `wait`, or until every pending target answered.
    fn await_replies(
        &mut self,
        wait: Duration,
        pending: &[usize],
        outstanding: &Outstanding,
        outcomes: &mut [Outcome],
    ) -> io::Result<()> {
        let deadline = Instant::now() + wait;
        while pending.iter().any(|&i| !outcomes[i].is_up()) && !self.stopped() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.take_replies(left, outstanding, outcomes)?;
        }
        Ok(())
    }

    /// Takes the replies that arrive within `wait` (one batch); false if
    /// none did.
    fn take_replies(
        &mut self,
        wait: Duration,
        outstanding: &Outstanding,
        outcomes: &mut [Outcome],
    ) -> io::Result<bool> {
        let Prober {
            receiver,
            socket,
            codec,
            relays,
            ..
        } = self;
        let mut any = false;
        for (datagram, _) in receiver.recv(socket, wait)? {
            any = true;
            accept_reply(codec, relays, datagram, outstanding, outcomes);
        }
        Ok(any)
    }
}

/// Records a reply if its nonce is one we sent and its target is not
/// answered yet; anything else (late duplicates, strangers) is ignored.
fn accept_reply(
    codec: &Codec,
    relays: &[(String, SocketAddr)],
    datagram: &[u8],
    outstanding: &Outstanding,
    outcomes: &mut [Outcome],
) {
    let Ok(Message::Reply(reply)) = codec.decode(datagram) else {
        return;
    };
    let Some(&(i, sent, relay)) = outstanding.get(&reply.nonce) else {
        return;
    };
    let o = &mut outcomes[i];
    if o.is_up() {
        return;
    }
    o.rtt = Some(sent.elapsed());
    o.node = Some(reply.node.into_owned());
    o.boot = reply.boot.map(|b| b.into_owned());
    o.health = reply.health.map(ToOwned::to_owned);
    o.error = None;
    o.via = relay.map(|r| relays[r].0.clone());
    o.checks = reply.checks;
}

fn tcp_connect(
    addr: SocketAddr,
    timeout: Duration,
    tries: u32,
) -> (Option<Duration>, u32, Option<String>) {
    let mut error = String::new();
    for attempt in 1..=tries {
        let start = Instant::now();
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return (Some(start.elapsed()), attempt, None),
            Err(e) => error = format!("tcp connect: {e}"),
        }
    }
    (None, tries, Some(error))
}

/// The thresholds a round is judged by.
#[derive(Debug, Clone, Default)]
pub struct Limits {
    /// On the number of targets down.
    pub down: Thresholds,
    /// On each reply's round-trip time, in seconds.
    pub rtt: Thresholds,
    /// On each reply's `cpu_pct`.
    pub cpu: Thresholds,
    /// On each reply's memory in use, percent.
    pub mem: Thresholds,
}

/// A round judged.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub state: State,
    /// Each target's own state: CRITICAL when down, else its metrics'.
    pub states: Vec<State>,
    pub up: usize,
    pub down: usize,
    pub rtt_max: Option<f64>,
    pub cpu_max: Option<f64>,
    pub mem_max: Option<f64>,
    /// What is wrong, one phrase per problem, worst first.
    pub problems: Vec<String>,
}

fn is_set(t: &Thresholds) -> bool {
    t.warning.is_some() || t.critical.is_some()
}

/// Judges a round: the count of down targets against `limits.down`, and
/// each answered target's metrics against the others.
pub fn judge(outcomes: &[Outcome], limits: &Limits) -> Verdict {
    let mut problems: Vec<(State, String)> = Vec::new();
    let mut states = Vec::with_capacity(outcomes.len());
    let (mut rtt_max, mut cpu_max, mut mem_max) = (None::<f64>, None::<f64>, None::<f64>);
    let max = |m: &mut Option<f64>, v: f64| *m = Some(m.map_or(v, |x| x.max(v)));
    for o in outcomes {
        let Some(rtt) = o.rtt else {
            let why = o.error.as_deref().unwrap_or("down");
            problems.push((State::Critical, format!("{} down ({why})", o.target)));
            states.push(State::Critical);
            continue;
        };
        let mut state = State::Ok;
        let mut check =
            |state: &mut State, what: &str, value: Option<f64>, t: &Thresholds, unit: &str| {
                match value {
                    Some(v) => {
                        let s = t.state(v);
                        if s != State::Ok {
                            problems.push((s, format!("{} {what} {}{unit}", o.target, trim(v))));
                        }
                        *state = state.worst(s);
                    }
                    None if is_set(t) => {
                        problems.push((State::Unknown, format!("{} sent no {what}", o.target)));
                        *state = state.worst(State::Unknown);
                    }
                    None => {}
                }
            };
        let secs = rtt.as_secs_f64();
        max(&mut rtt_max, secs);
        check(&mut state, "rtt", Some(secs), &limits.rtt, "s");
        let health = o.parsed_health();
        let cpu = health.as_ref().and_then(|h| h.cpu_pct).map(f64::from);
        let mem = health.as_ref().and_then(Health::mem_used_pct);
        if o.node.is_some() {
            // TCP targets have no health to judge.
            check(&mut state, "cpu", cpu, &limits.cpu, "%");
            check(&mut state, "mem", mem, &limits.mem, "%");
        }
        cpu.inspect(|&v| max(&mut cpu_max, v));
        mem.inspect(|&v| max(&mut mem_max, v));
        // A failing plugin check counts as its own Nagios state.
        for c in o
            .checks
            .iter()
            .flatten()
            .filter(|c| c.status != CheckStatus::Ok)
        {
            let s = match c.status {
                CheckStatus::Ok => State::Ok,
                CheckStatus::Warning => State::Warning,
                CheckStatus::Critical => State::Critical,
                CheckStatus::Unknown => State::Unknown,
            };
            problems.push((s, format!("{} check {}: {}", o.target, c.name, c.output)));
            state = state.worst(s);
        }
        states.push(state);
    }
    let down = outcomes.iter().filter(|o| !o.is_up()).count();
    let count_state = limits.down.state(down as f64);
    // Down targets count through the down thresholds, not as CRITICAL each.
    let state = outcomes
        .iter()
        .zip(&states)
        .filter(|(o, _)| o.is_up())
        .fold(count_state, |acc, (_, s)| acc.worst(*s));
    problems.sort_by_key(|(s, _)| std::cmp::Reverse(severity(*s)));
    Verdict {
        state,
        states,
        up: outcomes.len() - down,
        down,
        rtt_max,
        cpu_max,
        mem_max,
        problems: problems.into_iter().map(|(_, p)| p).collect(),
    }
}

fn severity(s: State) -> u8 {
    match s {
        State::Ok => 0,
        State::Unknown => 1,
        State::Warning => 2,
        State::Critical => 3,
    }
}

/// A number without needless digits: 0.0004, 12.5, 3.
fn trim(v: f64) -> String {
    round(v, 4).to_string()
}

/// The one-line Nagios plugin output:
/// `HB OK - 3/3 up | up=3;;;0;3 down=0;;0;0;3 rtt_max=0.0004s;0.5;1;0;`
pub fn nagios_line(v: &Verdict, limits: &Limits) -> String {
    let total = v.up + v.down;
    let mut text = format!("HB {} - {}/{total} up", v.state, v.up);
    const SHOWN: usize = 5;
    if !v.problems.is_empty() {
        text.push_str(": ");
        text.push_str(&v.problems[..v.problems.len().min(SHOWN)].join(", "));
        if v.problems.len() > SHOWN {
            text.push_str(&format!(" and {} more", v.problems.len() - SHOWN));
        }
    }
    let datum = |label: &str, value: f64, uom, t: &Thresholds, max| PerfDatum {
        label: label.to_owned(),
        value,
        uom,
        warn: t.warning,
        crit: t.critical,
        min: Some(0.0),
        max,
    };
    let none = Thresholds::default();
    let mut perf = vec![
        datum("up", v.up as f64, "", &none, Some(total as f64)),
        datum("down", v.down as f64, "", &limits.down, Some(total as f64)),
        datum(
            "rtt_max",
            v.rtt_max.map_or(f64::NAN, |s| round(s, 6)),
            "s",
            &limits.rtt,
            None,
        ),
    ];
    if let Some(cpu) = v.cpu_max {
        perf.push(datum(
            "cpu_max",
            round(cpu, 1),
            "%",
            &limits.cpu,
            Some(100.0),
        ));
    }
    if let Some(mem) = v.mem_max {
        perf.push(datum(
            "mem_max",
            round(mem, 1),
            "%",
            &limits.mem,
            Some(100.0),
        ));
    }
    let perf: Vec<String> = perf.iter().map(ToString::to_string).collect();
    // Plugin output must not contain '|' before the perfdata separator.
    format!("{} | {}", text.replace('|', "/"), perf.join(" "))
}

/// A `poll` line: one target's outcome.
#[derive(Serialize)]
#[serde(tag = "type", rename = "poll")]
struct PollLine<'a> {
    target: &'a str,
    addr: Option<SocketAddr>,
    node: Option<&'a str>,
    status: &'static str,
    rtt_ms: Option<f64>,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    boot: Option<&'a str>,
    health: Option<&'a RawValue>,
    error: Option<&'a str>,
    /// Which path answered: "direct", or the relay; null when down.
    path: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<&'a [CheckResult]>,
    state: &'static str,
}

/// The `summary` line closing a round.
#[derive(Serialize)]
#[serde(tag = "type", rename = "summary")]
struct SummaryLine<'a> {
    up: usize,
    down: usize,
    total: usize,
    state: &'static str,
    rtt_max_ms: Option<f64>,
    problems: &'a [String],
}

/// Writes a round as `poll` lines and a `summary` line.
pub fn emit_round<W: Write>(
    out: &mut Output<W>,
    outcomes: &[Outcome],
    v: &Verdict,
) -> io::Result<()> {
    let at = wall_ms();
    for (o, state) in outcomes.iter().zip(&v.states) {
        out.emit(
            at,
            &PollLine {
                target: &o.target,
                addr: o.addr,
                node: o.node.as_deref(),
                status: if o.is_up() { "up" } else { "down" },
                rtt_ms: o.rtt.map(ms),
                attempts: o.attempts,
                boot: o.boot.as_deref(),
                health: o.health.as_deref(),
                error: o.error.as_deref(),
                path: o.is_up().then(|| o.via.as_deref().unwrap_or("direct")),
                checks: o.checks.as_deref(),
                state: state.as_str(),
            },
        )?;
    }
    out.emit(
        at,
        &SummaryLine {
            up: v.up,
            down: v.down,
            total: v.up + v.down,
            state: v.state.as_str(),
            rtt_max_ms: v.rtt_max.map(|secs| round(secs * 1000.0, 3)),
            problems: &v.problems,
        },
    )
}

/// `hb-poll --every`: polls on a fixed cadence and reports transitions as
/// hb-listen does. Each answered round counts as a beat to the same
/// failure detector, on a clock that advances one interval per round, so
/// `suspect` follows one failed round and `down` exactly `misses` failed
/// rounds, however long the rounds themselves take.
pub fn watch<W: Write>(
    prober: &mut Prober,
    every: Duration,
    detector: Config,
    limits: Option<&Limits>,
    metrics: Option<&Metrics>,
    out: &mut Output<W>,
    stop: &AtomicBool,
) -> io::Result<()> {
    let every_ms = duration_ms(every);
    let names: Vec<String> = prober.targets().map(|t| t.name.clone()).collect();
    let mut detector = Detector::new(
        Config {
            default_every_ms: every_ms,
            emit_beats: false,
            max_nodes: names.len(),
            ..detector
        },
        0,
    );
    for name in &names {
        detector
            .expect(name)
            .expect("the node limit is the number of targets");
    }
    let clock = Clock::new();
    let mut events = Vec::new();
    // `rounds` schedules rounds on the monotonic clock (skipping slots a slow
    // round overran); `judged` counts rounds for the detector, whose clock
    // advances exactly one interval per round.
    let mut rounds = Cadence::new(0, every_ms);
    let mut judged: Millis = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = rounds.due();
        if clock.now() < due {
            // Stray late replies are read here, keeping the wait interruptible.
            let stray = prober.receiver.recv(&prober.socket, clock.until(due))?;
            stray.for_each(drop);
            continue;
        }
        let outcomes = prober.round()?;
        // Round k is judged at virtual time (k + 1) intervals, so a target
        // that never answers is down after exactly `misses` rounds too.
        judged += 1;
        let now = judged * every_ms;
        let wall = wall_ms();
        for o in outcomes.iter().filter(|o| o.is_up()) {
            let beat = Beat {
                node: o.target.as_str().into(),
                seq: None,
                boot: o.boot.as_deref().map(Into::into),
                every_ms: Some(every_ms),
                ts_ms: None,
                health: o.health.as_deref(),
                ack: false,
                checks: o.checks.clone(),
            };
            detector.observe(now, wall, o.addr, &beat, &mut events);
            if let Some(m) = metrics {
                m.node_beat(&o.target, wall, o.health.as_deref());
            }
        }
        detector.expire(now + every_ms / 2, &mut events);
        if let Some(m) = metrics {
            m.node_states(&detector, &events);
        }
        for event in events.drain(..) {
            if let Some(m) = metrics {
                m.event(event.kind());
            }
            out.emit(wall, &event)?;
        }
        if let Some(limits) = limits {
            emit_round(out, &outcomes, &judge(&outcomes, limits))?;
        }
        rounds.advance(clock.now());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(name: &str, rtt_ms: u64, health: Option<&str>) -> Outcome {
        Outcome {
            target: name.into(),
            addr: None,
            node: Some(name.into()),
            boot: None,
            rtt: Some(Duration::from_millis(rtt_ms)),
            attempts: 1,
            health: health.map(|h| RawValue::from_string(h.into()).unwrap()),
            error: None,
            via: None,
            checks: None,
        }
    }

    fn down(name: &str) -> Outcome {
        Outcome {
            rtt: None,
            node: None,
            attempts: 3,
            error: Some("no reply".into()),
            ..up(name, 0, None)
        }
    }

    fn t(w: Option<&str>, c: Option<&str>) -> Thresholds {
        Thresholds {
            warning: w.map(|s| s.parse().unwrap()),
            critical: c.map(|s| s.parse().unwrap()),
        }
    }

    fn default_limits() -> Limits {
        Limits {
            down: t(None, Some("0")),
            ..Limits::default()
        }
    }

    #[test]
    fn targets_parse() {
        assert_eq!(
            Target::parse("web-1").unwrap().check,
            Check::Probe(HostPort::parse("web-1", 26723).unwrap())
        );
        assert!(matches!(
            Target::parse("tcp://db:5432").unwrap().check,
            Check::Tcp(_)
        ));
        assert!(Target::parse("tcp://db").is_err(), "tcp needs a port");
    }

    #[test]
    fn all_up_is_ok_and_the_line_matches_the_issue() {
        let outs = [up("a", 0, None), up("b", 0, None), up("c", 0, None)];
        let limits = Limits {
            rtt: t(Some("0.5"), Some("1")),
            ..default_limits()
        };
        let v = judge(&outs, &limits);
        assert_eq!(v.state, State::Ok);
        assert_eq!(
            nagios_line(&v, &limits),
            "HB OK - 3/3 up | up=3;;;0;3 down=0;;0;0;3 rtt_max=0s;0.5;1;0;"
        );
    }

    #[test]
    fn any_down_is_critical_by_default() {
        let outs = [up("a", 1, None), down("b")];
        let v = judge(&outs, &default_limits());
        assert_eq!(v.state, State::Critical);
        assert_eq!((v.up, v.down), (1, 1));
        assert_eq!(v.problems, vec!["b down (no reply)"]);
        assert!(nagios_line(&v, &default_limits())
            .starts_with("HB CRITICAL - 1/2 up: b down (no reply) | "));
    }

    #[test]
    fn down_count_thresholds_can_make_it_a_warning() {
        let limits = Limits {
            down: t(Some("0"), Some("1")),
            ..Limits::default()
        };
        let v = judge(&[up("a", 1, None), up("b", 1, None), down("c")], &limits);
        assert_eq!(v.state, State::Warning, "one down of three: warning only");
        let v = judge(&[up("a", 1, None), down("b"), down("c")], &limits);
        assert_eq!(v.state, State::Critical);
    }

    #[test]
    fn metrics_are_judged_per_reply() {
        let h = |cpu: f64| {
            format!(
                r#"{{"cpu_pct":{cpu},"mem_total":100,"mem_avail":10,"swap_used":0,"load1":0,"load5":0,"load15":0,"uptime_s":1}}"#
            )
        };
        let limits = Limits {
            cpu: t(Some("80"), Some("95")),
            mem: t(Some("95"), None),
            rtt: t(Some("0.5"), None),
            ..default_limits()
        };
        let outs = [up("a", 1, Some(&h(85.0))), up("b", 600, Some(&h(10.0)))];
        let v = judge(&outs, &limits);
        assert_eq!(v.state, State::Warning);
        assert_eq!(v.states, vec![State::Warning, State::Warning]);
        assert_eq!(v.cpu_max, Some(85.0));
        assert_eq!(v.mem_max, Some(90.0));
        assert!(
            v.problems.contains(&"a cpu 85%".to_owned()),
            "{:?}",
            v.problems
        );
        assert!(
            v.problems.contains(&"b rtt 0.6s".to_owned()),
            "{:?}",
            v.problems
        );
        let line = nagios_line(&v, &limits);
        assert!(
            line.ends_with("cpu_max=85%;80;95;0;100 mem_max=90%;95;;0;100"),
            "{line}"
        );
    }

    #[test]
    fn missing_health_under_a_health_threshold_is_unknown() {
        let limits = Limits {
            cpu: t(None, Some("90")),
            ..default_limits()
        };
        let v = judge(&[up("a", 1, None)], &limits);
        assert_eq!(v.state, State::Unknown);
        assert_eq!(v.problems, vec!["a sent no cpu"]);
    }

    #[test]
    fn nothing_up_gives_unknown_rtt_perfdata() {
        let v = judge(&[down("a")], &default_limits());
        assert!(nagios_line(&v, &default_limits()).contains("rtt_max=U"));
    }
}
