//! The flag groups more than one tool takes, each defined once with its
//! help; a tool flattens the groups it needs into its own `Args`.
//!
//! Defaults are named constants, shown by clap from the same constant that
//! sets them. Where tools differ (the port a receiver listens on, the
//! --misses of the fixed detector) the group takes the tool's default as a
//! const parameter: `ListenArgs<DEFAULT_ACK_PORT>`, `DetectorArgs<3>`.
//! Durations are spelled as a user would type them, since clap parses a
//! default like any value given. Every duration flag takes a value
//! starting with '-' (`allow_hyphen_values`), so `--every -1s` is told that
//! durations cannot be negative instead of "unexpected argument '-1'".

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::builder::{ArgPredicate, OsStringValueParser, Resettable, TypedValueParser};

use super::parse::{
    parse_chance, parse_duration, parse_interval, parse_node, parse_pause, parse_phi,
};
use super::{host_name, UsageError};
use crate::clock::{duration_ms, Millis};
use crate::nagios::{Range, Thresholds};
use crate::net::HostPort;

mod hooks;
mod job;

pub use hooks::HookArgs;
pub use job::{JobArgs, CRON_GRACE};

/// The beat interval hb-send sends at, and the one hb-listen assumes for
/// beats that do not state theirs, unless told otherwise.
pub const BEAT_EVERY: &str = "1s";

/// `--node NAME`: the name this node gives itself in what it sends.
/// `LAST_WINS`: a second `--node` replaces the first instead of being an
/// error (hb-send: its systemd unit names the node after the host, and a
/// `--node` in the operator's options still renames it).
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs<const LAST_WINS: bool> {
    // The help and the override depend on LAST_WINS, so they are built.
    #[arg(long, value_name = "NAME", value_parser = parse_node,
          help = Self::help(), overrides_with = Self::overrides())]
    node: Option<String>,
}

impl<const LAST_WINS: bool> NodeArgs<LAST_WINS> {
    /// The name given, or the host name.
    pub fn name(&self) -> String {
        self.node.clone().unwrap_or_else(host_name)
    }

    /// The help, which says when a second --node wins.
    fn help() -> String {
        let repeated = if LAST_WINS {
            "; given twice, the last wins"
        } else {
            ""
        };
        format!("Name this node in what it sends (default: the host name{repeated})")
    }

    /// `--node` overriding itself, or nothing (clap's default: an error).
    fn overrides() -> Resettable<clap::Id> {
        if LAST_WINS {
            Resettable::Value("node".into())
        } else {
            Resettable::Reset
        }
    }
}

/// `--listen ADDR`: where a receiver binds. `PORT` is the tool's own port
/// (`wire::DEFAULT_BEAT_PORT` for hb-listen, `DEFAULT_ACK_PORT` for hb-ack):
/// the default address's, and the one an address without a port gets.
#[derive(Debug, Clone, clap::Args)]
pub struct ListenArgs<const PORT: u16> {
    /// Address to receive on (IPv6 too: [::]; port 0 picks a free one)
    #[arg(long, value_name = "ADDR", default_value = Self::any_address(),
          value_parser = |s: &str| HostPort::parse(s, PORT))]
    pub listen: HostPort,
}

impl<const PORT: u16> ListenArgs<PORT> {
    /// `0.0.0.0:PORT`, every IPv4 address of this host. Leaked: clap takes
    /// a default value as `&'static str` only (`default_value_t` would keep
    /// it in a static shared by every `PORT`), and a tool builds its command
    /// once or twice a run.
    fn any_address() -> &'static str {
        format!("{}:{PORT}", Ipv4Addr::UNSPECIFIED).leak()
    }

    /// Binds --listen. A listener that joins `multicast` groups shares its
    /// port with others. Said on stderr by [`say_listening`] once the tool
    /// is ready: binding comes first, so that no crowd of web clients
    /// takes the descriptor it needs.
    pub fn bind(&self, multicast: &[IpAddr]) -> anyhow::Result<UdpSocket> {
        use crate::net;
        let addr = &self.listen;
        let resolved = addr
            .resolve()
            .with_context(|| format!("resolving --listen {addr}"))?;
        let socket = if multicast.is_empty() {
            net::bind_udp(resolved)
        } else {
            net::bind_udp_shared(resolved)
        }
        .with_context(|| format!("listening on {resolved}"))?;
        for group in multicast {
            net::join_multicast(&socket, *group)
                .with_context(|| format!("joining multicast group {group}"))?;
        }
        Ok(socket)
    }
}

/// Says where `socket` listens (`TOOL: listening on 127.0.0.1:40000`),
/// which matters when port 0 let the system pick: the last line of a
/// receiver's start, which scripts wait for.
pub fn say_listening(socket: &UdpSocket) -> anyhow::Result<()> {
    crate::say!("listening on {}", socket.local_addr()?);
    Ok(())
}

/// `--status-every DURATION`: a receiver's periodic `status` line.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// Print a `status` line every DURATION (10ms to 7d): what the tool received and refused (hb-listen: and its membership)
    #[arg(long, value_name = "DURATION", value_parser = parse_interval, allow_hyphen_values = true)]
    status_every: Option<Duration>,
}

impl StatusArgs {
    /// The interval, if one was given.
    pub fn every_ms(&self) -> Option<Millis> {
        self.status_every.map(duration_ms)
    }
}

/// The number of targets down that is CRITICAL unless -w or -c says
/// otherwise: any.
const DOWN_CRITICAL: &str = "0";

/// hb-poll's thresholds, in Nagios range syntax: on the number of targets
/// down, and on what each reply carries.
#[derive(Debug, Clone, clap::Args)]
pub struct LimitsArgs {
    /// WARNING when the number of targets down is outside RANGE (Nagios syntax; quote ~:N in a shell)
    #[arg(short = 'w', long, value_name = "RANGE")]
    warning: Option<Range>,

    /// CRITICAL when the number down is outside RANGE (none when only -w is given)
    #[arg(short = 'c', long, value_name = "RANGE", default_value = DOWN_CRITICAL,
          default_value_if("warning", ArgPredicate::IsPresent, None))]
    critical: Option<Range>,

    /// WARNING when a reply's round trip (seconds) is outside RANGE
    #[arg(long, value_name = "RANGE")]
    rtt_warning: Option<Range>,

    /// CRITICAL when a reply's round trip (seconds) is outside RANGE
    #[arg(long, value_name = "RANGE")]
    rtt_critical: Option<Range>,

    /// WARNING when a reply's cpu_pct is outside RANGE
    #[arg(long, value_name = "RANGE")]
    cpu_warning: Option<Range>,

    /// CRITICAL when a reply's cpu_pct is outside RANGE
    #[arg(long, value_name = "RANGE")]
    cpu_critical: Option<Range>,

    /// WARNING when a reply's memory in use (percent) is outside RANGE
    #[arg(long, value_name = "RANGE")]
    mem_warning: Option<Range>,

    /// CRITICAL when a reply's memory in use (percent) is outside RANGE
    #[arg(long, value_name = "RANGE")]
    mem_critical: Option<Range>,
}

impl LimitsArgs {
    /// On the number of targets down.
    pub fn down(&self) -> Thresholds {
        Thresholds {
            warning: self.warning,
            critical: self.critical,
        }
    }

    /// On each reply's round-trip time, in seconds.
    pub fn rtt(&self) -> Thresholds {
        Thresholds {
            warning: self.rtt_warning,
            critical: self.rtt_critical,
        }
    }

    /// On each reply's `cpu_pct`.
    pub fn cpu(&self) -> Thresholds {
        Thresholds {
            warning: self.cpu_warning,
            critical: self.cpu_critical,
        }
    }

    /// On each reply's memory in use, percent.
    pub fn mem(&self) -> Thresholds {
        Thresholds {
            warning: self.mem_warning,
            critical: self.mem_critical,
        }
    }
}

/// `--key-file`: the one flag every tool has for authentication.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Security")]
pub struct KeyArgs {
    /// Sign every message and accept only signed ones, with the keys in FILE (HMAC-SHA256; one key per line, the first signs, any verifies; mode 600); read again on SIGHUP
    // An empty path is taken here and refused by `codec`, which can say
    // whether it came from HB_KEY_FILE: clap would blame --key-file.
    #[arg(long, value_name = "FILE", env = KEY_FILE_ENV, hide_env_values = true,
          value_parser = OsStringValueParser::new().map(PathBuf::from))]
    pub key_file: Option<PathBuf>,
}

impl KeyArgs {
    pub fn codec(&self) -> anyhow::Result<crate::auth::Codec> {
        if self
            .key_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            let env_empty = std::env::var_os(KEY_FILE_ENV).is_some_and(|v| v.is_empty());
            let msg = match env_empty {
                true => format!("{KEY_FILE_ENV} is empty: unset it, or set it to a key file"),
                false => "--key-file needs a file name".to_owned(),
            };
            return Err(UsageError(msg).into());
        }
        match self.key_file.as_deref() {
            Some(path) => Ok(crate::auth::Codec::load(path)?),
            None => Ok(crate::auth::Codec::default()),
        }
    }
}

/// The environment variable that gives `--key-file`.
const KEY_FILE_ENV: &str = "HB_KEY_FILE";

/// How far a new boot's clock may be from this one's, with --key-file.
const MAX_SKEW: &str = "30s";

/// Nodes a receiver tracks at most.
const MAX_NODES: u64 = 100_000;

/// What receivers (hb-listen, hb-ack) take from whom, and how much.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Security")]
pub struct IntakeArgs {
    /// Accept messages only from this address range (repeatable: 10.0.0.0/8, 2001:db8::/32, 192.0.2.7) [default: from anywhere]
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<crate::intake::Cidr>,

    /// Print a `rejected` line for every refused message (at most 10 a second)
    #[arg(long)]
    pub log_rejects: bool,

    /// With --key-file: how far from this host's clock a sender's new boot may be (a restart; every hb-send --run and --away is one); beyond, refused as `skew`
    #[arg(long, value_name = "DURATION", default_value = MAX_SKEW, value_parser = parse_duration,
          allow_hyphen_values = true)]
    pub max_skew: Duration,

    /// Nodes tracked at most; beats from new ones beyond are refused (too-many-nodes)
    #[arg(long, value_name = "N", default_value_t = MAX_NODES,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_nodes: u64,
}

impl IntakeArgs {
    pub fn intake(&self, codec: crate::auth::Codec) -> crate::intake::Intake {
        crate::intake::Intake::new(codec, self.allow.clone(), self.log_rejects)
    }
}

/// How often plugin checks run.
const CHECK_EVERY: &str = "10s";

/// How long a plugin check may run.
const CHECK_TIMEOUT: &str = "10s";

/// `--check`: plugin checks carried in beats (hb-send) or replies (hb-ack).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Checks")]
pub struct CheckArgs {
    /// Run CMD (through sh -c; any Nagios plugin works) and carry its status and first output line; NAME=CMD names it, else it is named after its plugin's file name, or checkN (its place) for shell code (repeatable)
    #[arg(long = "check", value_name = "[NAME=]CMD")]
    pub checks: Vec<crate::checks::CheckSpec>,

    /// How often the checks run (10ms to 7d; in the background, the first round before the first beat)
    #[arg(long, value_name = "DURATION", default_value = CHECK_EVERY, value_parser = parse_interval,
          allow_hyphen_values = true)]
    pub check_every: Duration,

    /// A check still running after this is killed and unknown
    #[arg(long, value_name = "DURATION", default_value = CHECK_TIMEOUT, value_parser = parse_duration,
          allow_hyphen_values = true)]
    pub check_timeout: Duration,
}

impl CheckArgs {
    /// The running checks, if any were given.
    pub fn start(&self) -> Option<crate::checks::Checks> {
        (!self.checks.is_empty()).then(|| {
            crate::checks::Checks::start(self.checks.clone(), self.check_every, self.check_timeout)
        })
    }
}

/// The port of `--metrics HOST` without one: hb's own, next to its UDP
/// ports (26722 beats, 26723 acks). The exporters' range of Prometheus's
/// port allocations (9100-9999) is all taken, 9100 by node_exporter, which
/// runs on the same hosts.
const METRICS_PORT: u16 = 26724;

/// `--metrics ADDR`: Prometheus metrics over HTTP.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Metrics")]
pub struct MetricsArgs {
    // Help from the port constant, which a doc comment cannot name.
    #[arg(long, value_name = "ADDR", value_parser = |s: &str| HostPort::parse(s, METRICS_PORT),
          help = format!("Serve the web side on ADDR: Prometheus metrics on /metrics, and from hb-listen a live status page on /, the membership on /status and the events on /events (HOST alone: port {METRICS_PORT}; port 0 picks a free one)"))]
    pub metrics: Option<HostPort>,

    /// TLS and basic auth for --metrics, from a file in the format of Prometheus' exporters' --web.config.file (tls_server_config, basic_auth_users); read again on SIGHUP
    #[arg(long, value_name = "FILE", requires = "metrics")]
    pub web_config: Option<PathBuf>,
}

impl MetricsArgs {
    /// The web side asked for, if any: its address resolved and its
    /// config read, so that their errors come before anything binds.
    pub fn plan(&self) -> anyhow::Result<Option<WebPlan>> {
        let Some(addr) = &self.metrics else {
            return Ok(None);
        };
        let addr = addr
            .resolve()
            .with_context(|| format!("resolving --metrics {addr}"))?;
        let path = self.web_config.clone();
        let config = match &path {
            Some(path) => crate::web::WebConfig::read(path)
                .map_err(|e| UsageError(format!("--web-config {e:#}")))?,
            None => crate::web::WebConfig::default(),
        };
        Ok(Some(WebPlan { addr, config, path }))
    }

    /// Starts the web side if asked: [`MetricsArgs::plan`], then
    /// [`WebPlan::serve`].
    pub fn serve(
        &self,
        series: crate::metrics::Series,
        pages: crate::web::Pages,
    ) -> anyhow::Result<Option<Arc<crate::web::WebSide>>> {
        self.plan()?
            .map(|plan| plan.serve(series, pages))
            .transpose()
    }
}

/// A web side checked and ready to serve.
pub struct WebPlan {
    addr: std::net::SocketAddr,
    config: crate::web::WebConfig,
    path: Option<PathBuf>,
}

impl WebPlan {
    /// Serves the web side (its metrics counting `series`, and `pages`
    /// beside them), saying where on stderr.
    pub fn serve(
        self,
        series: crate::metrics::Series,
        pages: crate::web::Pages,
    ) -> anyhow::Result<Arc<crate::web::WebSide>> {
        let metrics = crate::metrics::Metrics::new(crate::output::program(), series);
        let web = crate::web::WebSide::serve(self.addr, metrics, pages, self.config, self.path)?;
        crate::say!("metrics on {}/metrics", web.url());
        if pages == crate::web::Pages::Membership {
            crate::say!("status page on {}/", web.url());
        }
        Ok(Arc::new(web))
    }
}

/// `--no-node-series`: the node series of the tools that track nodes.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Metrics")]
pub struct NodeSeriesArgs {
    /// Export the count of nodes in each state (hb_nodes) but no series per node: for a fleet so large that per-node series cost Prometheus too much (12 a node: 1.2 million at 100,000 nodes)
    #[arg(long, requires = "metrics")]
    pub no_node_series: bool,
}

impl NodeSeriesArgs {
    /// The series a node-tracking tool exports.
    pub fn series(&self) -> crate::metrics::Series {
        crate::metrics::Series::CountersAndNodes {
            per_node: !self.no_node_series,
        }
    }
}

/// The phi level a node is down at: a 1e-8 chance that it is only late.
const PHI_THRESHOLD: f64 = 8.0;
/// The phi level a node is suspect at: a 1e-5 chance that it is only late.
const PHI_SUSPECT: f64 = 5.0;
/// Floor of the inter-arrival standard deviation, so a node beating like
/// clockwork is not down at its first late beat.
const MIN_STD_DEV: &str = "100ms";
/// Silence always tolerated on top of the mean interval.
const ACCEPTABLE_PAUSE: &str = "0ms";
/// Inter-arrival times remembered per node.
const PHI_WINDOW: u32 = 1000;
/// Consecutive beats a down node needs to be up again: no damping.
const UP_AFTER: u32 = 1;
/// A node changing between up and down more often than this within
/// FLAP_WINDOW is `flapping`.
const FLAP_CHANGES: u32 = 4;
const FLAP_WINDOW: &str = "1m";

/// How hb-listen and `hb-poll --every` judge silence: the flags both share.
/// `MISSES` is the tool's default for --misses.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Failure detector")]
pub struct DetectorArgs<const MISSES: u32> {
    /// fixed: down after --misses intervals of silence; phi: the adaptive phi accrual detector
    #[arg(long, value_enum, default_value_t = DetectorKind::Fixed)]
    pub detector: DetectorKind,

    // `None` when not given, so --misses with --detector phi can be refused;
    // clap then shows no default, and the help states `MISSES` itself.
    #[arg(long, value_name = "N", help = Self::misses_help(),
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub misses: Option<u32>,

    /// Phi detector: down when phi reaches this
    #[arg(long, value_name = "PHI", default_value_t = PHI_THRESHOLD, value_parser = parse_phi)]
    pub phi_threshold: f64,

    /// Phi detector: suspect when phi reaches this
    #[arg(long, value_name = "PHI", default_value_t = PHI_SUSPECT, value_parser = parse_phi)]
    pub phi_suspect: f64,

    /// Phi detector: floor of the inter-arrival standard deviation
    #[arg(long, value_name = "DURATION", default_value = MIN_STD_DEV, value_parser = parse_duration,
          allow_hyphen_values = true)]
    pub min_std_dev: Duration,

    /// Phi detector: silence always tolerated on top of the mean interval
    #[arg(long, value_name = "DURATION", default_value = ACCEPTABLE_PAUSE,
          value_parser = parse_pause, allow_hyphen_values = true)]
    pub acceptable_pause: Duration,

    /// Phi detector: inter-arrival times remembered per node
    #[arg(long, value_name = "N", default_value_t = PHI_WINDOW,
          value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub phi_window: u32,

    /// Flap damping: a down node needs N consecutive beats before it is up again
    #[arg(long, value_name = "N", default_value_t = UP_AFTER,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub up_after: u32,

    /// Report `flapping` when a node changes between up and down more than K times within --flap-window (0: never)
    #[arg(long, value_name = "K", default_value_t = FLAP_CHANGES)]
    pub flap_changes: u32,

    /// The window of --flap-changes
    #[arg(long, value_name = "DURATION", default_value = FLAP_WINDOW, value_parser = parse_duration,
          allow_hyphen_values = true)]
    pub flap_window: Duration,
}

/// `--confirm`, `--no-confirm`, `--trust-unreachable`: whether hb-listen
/// asks a suspect node before declaring it down.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Confirmation")]
pub struct ConfirmArgs {
    /// Probe a suspect node whose beats say it answers (hb-send's do): an answer refutes the suspicion, a closed port (ICMP port unreachable) is `down` at once [default]
    #[arg(long, overrides_with = "no_confirm")]
    confirm: bool,

    /// Judge by silence alone: no probes, no early down
    #[arg(long, overrides_with = "confirm")]
    no_confirm: bool,

    /// With --key-file: let an ICMP port unreachable, which no key signs, declare a suspect node down before its deadline
    #[arg(long)]
    pub trust_unreachable: bool,
    /// The chance, per suspicion, of declaring a live node down because its probes went unanswered (`"cause":"no-answer"`), weighed by the loss measured on its path; 0: only --misses declares a silent node down
    #[arg(long, value_name = "P", default_value_t = FALSE_DOWN_CHANCE, value_parser = parse_chance)]
    pub false_down_chance: f64,
}

/// A live node declared down by unanswered probes once in a million
/// suspicions: at a suspicion a minute, once in two years.
const FALSE_DOWN_CHANCE: f64 = 1e-6;

impl ConfirmArgs {
    /// Whether suspicions are confirmed: unless --no-confirm came last
    /// (each overrides the other).
    pub fn enabled(&self) -> bool {
        self.confirm || !self.no_confirm
    }
}

/// `--detector`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DetectorKind {
    Fixed,
    Phi,
}

impl<const MISSES: u32> DetectorArgs<MISSES> {
    /// --misses's help, ending in the tool's default.
    fn misses_help() -> String {
        format!(
            "Fixed detector: down after N of a node's intervals of silence (hb-poll: N failed rounds) [default: {MISSES}]"
        )
    }

    /// The detector configuration.
    pub fn config(
        &self,
        default_every_ms: Millis,
        emit_beats: bool,
        max_nodes: usize,
    ) -> Result<crate::detector::Config, UsageError> {
        use crate::detector::{Config, Flap, Rule};
        if self.phi_suspect > self.phi_threshold {
            return Err(UsageError(format!(
                "--phi-suspect {} is above --phi-threshold {}",
                self.phi_suspect, self.phi_threshold
            )));
        }
        let rule = match self.detector {
            DetectorKind::Fixed => Rule::Fixed {
                misses: self.misses.unwrap_or(MISSES),
            },
            DetectorKind::Phi if self.misses.is_some() => {
                return Err(UsageError("--misses is for --detector fixed".into()))
            }
            DetectorKind::Phi => Rule::Phi(crate::detector::phi::PhiConfig {
                suspect: self.phi_suspect,
                threshold: self.phi_threshold,
                min_std_dev_ms: self.min_std_dev.as_secs_f64() * 1000.0,
                acceptable_pause_ms: self.acceptable_pause.as_secs_f64() * 1000.0,
                window: self.phi_window as usize,
            }),
        };
        Ok(Config {
            rule,
            default_every_ms,
            emit_beats,
            up_after: self.up_after,
            flap: (self.flap_changes > 0).then(|| Flap {
                changes: self.flap_changes,
                window_ms: duration_ms(self.flap_window),
            }),
            max_nodes,
        })
    }
}
