//! Options of a run as a whole — its name, results folder, seed, drain
//! time and gates — shared by every run command and the top level of a
//! scenario file.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::{invalid, ConfigError};
use crate::result::DEFAULT_MIN_SUCCESS;
use crate::units::parse_duration;

/// Default drain time after the first Ctrl-C.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Where results go and what the run is judged by.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct CommonOptions {
    /// Run name; results go to OUT/NAME [default: KIND-DATE-TIME].
    #[arg(long)]
    pub name: Option<String>,
    /// Results root folder [default: results].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seed for arrivals and every random choice [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// After Ctrl-C, how long requests in flight may finish [default: 10s].
    #[arg(long, value_parser = parse_duration)]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub grace: Option<Duration>,
    /// SLO threshold checked on every stage, e.g. 'ttfa.p95<300ms', 'errors<1%', 'rtf.p99<1',
    /// or for one scenario of a mixed run 'tts:ttfa.p95<300ms' (repeatable). A failed
    /// threshold makes the exit code 3.
    #[arg(long, value_name = "EXPR")]
    pub slo: Option<Vec<String>>,
    /// Sweeps: report as best the level with the highest throughput whose
    /// success rate is at least this [default: 0.95].
    #[arg(long, value_name = "FRACTION")]
    pub min_success: Option<f64>,
    /// Goodput: a request (turn) is good when it succeeds and meets every
    /// criterion on its own value, e.g. 'ttfa<300ms', 'rtf<1' (repeatable);
    /// each stage then reports goodput (share) and goodput_rps, gateable
    /// with --slo 'goodput>90%'.
    #[arg(long, value_name = "EXPR")]
    pub goodput: Option<Vec<String>>,
    /// Sweeps: end at the first stage marked saturated (open loop: completions
    /// fall behind arrivals; closed loop: more users, no more throughput,
    /// rising latency) instead of going on past the knee.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", value_name = "BOOL", hide_possible_values = true)]
    pub stop_on_saturation: Option<bool>,
    /// A request that starts after this much idle time (nothing in flight)
    /// is tagged `cold` in requests.jsonl, and cold requests get their own
    /// row [default: 60s, or the shortest --idle-gap if shorter].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub cold_after: Option<Duration>,
    /// Cold-start test: after the stages, go idle this long, then send
    /// --cold-probes requests one after another and compare them with the
    /// warm stage before (repeatable: warm traffic, idle, probes, for each).
    #[arg(long, value_name = "DURATION")]
    pub idle_gap: Option<Vec<String>>,
    /// Requests sent one at a time after each --idle-gap [default: 5].
    #[arg(long, value_name = "N")]
    pub cold_probes: Option<u64>,
    /// A health URL (GET; any 2xx is ready) polled after each --idle-gap
    /// while the probes run, to time how long the target takes to be ready.
    #[arg(long, value_name = "URL")]
    pub ready_url: Option<String>,
    /// Sharded run: this process is shard I of N (e.g. 2/8) and takes its
    /// share of every rate and user count; merge the shards' folders with
    /// `voxload merge` [default: from a Slurm array or Kubernetes Indexed Job].
    #[arg(long, value_name = "I/N")]
    pub shard: Option<super::shard::Shard>,
    /// Sharded run: how many shards (for a Kubernetes Indexed Job, whose
    /// pods know only their JOB_COMPLETION_INDEX; or set VOXLOAD_SHARDS).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Sharded run: every shard starts at this UTC time, e.g. 2026-12-01T10:00:00Z.
    #[arg(long, value_name = "TIME", conflicts_with = "start_file")]
    pub start_at: Option<String>,
    /// Sharded run: a file on storage every shard sees; the first to
    /// arrive writes a start time 10 s ahead, the others read it.
    #[arg(long, value_name = "FILE")]
    pub start_file: Option<PathBuf>,
    /// Sharded run with a start time: stage k begins on every shard at
    /// start + the durations of the stages before + this gap after each,
    /// time for a stage's last requests to end [default: 5s].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub stage_gap: Option<Duration>,
    /// The target's own metrics: a Prometheus text endpoint (e.g.
    /// http://HOST:8000/metrics) scraped every --scrape-every from the
    /// run's start, its series saved beside the client's figures
    /// (repeatable). A failed scrape is a warning, counted in result.json.
    #[arg(long, value_name = "URL")]
    pub scrape: Option<Vec<String>>,
    /// How often --scrape URLs are read, on a fixed grid from the run's
    /// start [default: 5s]; each scrape gets at most 80 % of it (10 s at most).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub scrape_every: Option<Duration>,
    /// Metric names kept from --scrape, comma-separated (every label set of
    /// each; a histogram's name keeps its _sum and _count), or `all` (up to
    /// 500 series) [default: well-known series of vLLM, Triton, TGI,
    /// SGLang, process memory and CPU, and the mock].
    #[arg(long, value_name = "NAMES")]
    pub scrape_series: Option<String>,
    /// Serve live metrics for Prometheus at http://ADDR/metrics for the
    /// whole run: HOST:PORT (e.g. 127.0.0.1:9464), or a port alone for
    /// 127.0.0.1.
    #[arg(long, value_name = "ADDR")]
    pub prometheus: Option<String>,
    /// After the run, keep serving --prometheus until it has been scraped
    /// once more (its final counts), at most this long; Ctrl-C ends the
    /// wait [default: 15s, Prometheus's default scrape interval].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    #[serde(default, with = "crate::units::serde_duration::option")]
    pub prometheus_linger: Option<Duration>,
    /// Serve a live dashboard of the run at this address, e.g. 127.0.0.1:8089
    /// (or a bare port: on 127.0.0.1): charts per scenario, the stage, and a
    /// Stop button that acts like Ctrl-C; its numbers at GET /api/live.
    #[arg(long, value_name = "ADDR")]
    pub web: Option<String>,
}

/// Default `--prometheus-linger`: Prometheus's default scrape interval, so
/// a server scraping at its default reads the final counts.
pub const DEFAULT_PROMETHEUS_LINGER: Duration = Duration::from_secs(15);

/// The live metrics endpoint (`--prometheus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PrometheusPlan {
    /// Where `/metrics` is served.
    pub addr: std::net::SocketAddr,
    /// After the run, the longest wait for a final scrape.
    #[serde(with = "crate::units::serde_duration")]
    pub linger: Duration,
}

/// Validate `--prometheus` and `--prometheus-linger`.
pub(crate) fn prometheus(o: &CommonOptions) -> Result<Option<PrometheusPlan>, ConfigError> {
    let Some(text) = o.prometheus.as_deref() else {
        if o.prometheus_linger.is_some() {
            return Err(invalid(
                "--prometheus-linger",
                "is how long --prometheus is served after the run; give --prometheus ADDR too",
            ));
        }
        return Ok(None);
    };
    let addr = parse_listen_addr(text).ok_or_else(|| {
        invalid(
            "--prometheus",
            format!(
                "'{text}' is not an address to listen on: give HOST:PORT with an IP address \
                 (e.g. 127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464), localhost:PORT or a port"
            ),
        )
    })?;
    Ok(Some(PrometheusPlan {
        addr,
        linger: o.prometheus_linger.unwrap_or(DEFAULT_PROMETHEUS_LINGER),
    }))
}

/// `IP:PORT`, `[IPv6]:PORT`, `localhost:PORT` or `PORT` (on 127.0.0.1).
fn parse_listen_addr(text: &str) -> Option<SocketAddr> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let port = match text.strip_prefix("localhost:") {
        Some(port) => port,
        None => text,
    };
    let port: u16 = port.parse().ok()?;
    Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// Default `--cold-after`: long enough that a run's own pauses (probe
/// gaps, think time) do not count, short enough for scale-to-zero timeouts.
pub const DEFAULT_COLD_AFTER: Duration = Duration::from_secs(60);

/// Default `--cold-probes`: the first request after idle and the next few.
pub const DEFAULT_COLD_PROBES: u64 = 5;

/// Validate `--idle-gap`s, `--cold-after`, `--cold-probes` and `--ready-url`.
pub(crate) fn cold_starts(o: &CommonOptions) -> Result<ColdStarts, ConfigError> {
    let gaps = o
        .idle_gap
        .iter()
        .flatten()
        .map(|g| match parse_duration(g) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => Err(invalid("--idle-gap", format!("'{g}' must be above 0"))),
            Err(e) => Err(invalid("--idle-gap", format!("'{g}': {e}"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let after = match o.cold_after {
        Some(d) if d.is_zero() => return Err(invalid("--cold-after", "must be above 0")),
        Some(d) => d,
        None => gaps
            .iter()
            .copied()
            .min()
            .map_or(DEFAULT_COLD_AFTER, |g| g.min(DEFAULT_COLD_AFTER)),
    };
    let probes = o.cold_probes.unwrap_or(DEFAULT_COLD_PROBES);
    if probes == 0 {
        return Err(invalid("--cold-probes", "must be at least 1"));
    }
    if gaps.is_empty() && o.cold_probes.is_some() {
        return Err(invalid(
            "--cold-probes",
            "probes follow an --idle-gap; give one (e.g. --idle-gap 5m)",
        ));
    }
    if o.ready_url.is_some() && gaps.is_empty() {
        return Err(invalid(
            "--ready-url",
            "is polled after an --idle-gap; give one (e.g. --idle-gap 5m), or for a scaling test use `voxload scale --ready-url URL …`",
        ));
    }
    if let Some(u) = &o.ready_url {
        crate::protocol::target::parse_http_uri(u)
            .map_err(|e| invalid("--ready-url", e.to_string()))?;
    }
    Ok(ColdStarts {
        after,
        gaps,
        probes,
        ready_url: o.ready_url.clone(),
    })
}

/// Cold starts: which requests are cold, and the idle gaps a cold-start
/// test goes through.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColdStarts {
    /// A request after this much idle time is cold.
    #[serde(with = "crate::units::serde_duration")]
    pub after: Duration,
    /// After the stages, for each gap: idle this long, then probes.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "crate::units::serde_duration::list::serialize"
    )]
    pub gaps: Vec<Duration>,
    /// Probes after each gap, one at a time.
    pub probes: u64,
    /// Polled after each gap until it answers 2xx.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "redacted_url"
    )]
    pub ready_url: Option<String>,
}

fn redacted_url<S: serde::Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => crate::protocol::target::serialize_url_redacted(u, s),
        None => s.serialize_none(),
    }
}

/// Validate `--web`: `HOST:PORT` with an IP address or `localhost`, or a
/// bare port (on 127.0.0.1). Whether the port is free is learnt when the
/// run binds it, before any request.
pub(crate) fn web_addr(v: Option<&str>) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(v) = v.map(str::trim) else {
        return Ok(None);
    };
    parse_listen_addr(v).map(Some).ok_or_else(|| {
        invalid(
            "--web",
            format!("'{v}' is not an address and port to listen on (e.g. 127.0.0.1:8089 or 8089)"),
        )
    })
}

/// Validate `--min-success` (a fraction in 0..=1).
pub(crate) fn min_success(v: Option<f64>) -> Result<f64, ConfigError> {
    match v {
        None => Ok(DEFAULT_MIN_SUCCESS),
        Some(x) if (0.0..=1.0).contains(&x) => Ok(x),
        Some(x) => Err(invalid(
            "--min-success",
            format!("{x} is not a fraction between 0 and 1 (e.g. 0.95)"),
        )),
    }
}

/// `--name`, or `PREFIX-YYYYMMDD-HHMMSS` in UTC; a name must be one folder.
pub(crate) fn run_name(name: Option<&str>, prefix: &str) -> Result<String, ConfigError> {
    match name {
        Some(n) if n.is_empty() || n.contains(['/', '\\']) || n == "." || n == ".." => {
            Err(invalid("--name", format!("'{n}' is not a folder name")))
        }
        Some(n) => Ok(n.to_string()),
        None => Ok(default_name(prefix)),
    }
}

/// `PREFIX-YYYYMMDD-HHMMSS` in UTC.
pub fn default_name(prefix: &str) -> String {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let digits: String = stamp.chars().filter(|c| c.is_ascii_digit()).collect();
    format!(
        "{prefix}-{}-{}",
        &digits[..8.min(digits.len())],
        &digits[8.min(digits.len())..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_success_is_a_fraction() {
        assert_eq!(min_success(None).ok(), Some(DEFAULT_MIN_SUCCESS));
        assert_eq!(min_success(Some(0.9)).ok(), Some(0.9));
        let e = min_success(Some(95.0))
            .expect_err("percent, not fraction")
            .to_string();
        assert!(e.contains("--min-success") && e.contains("0.95"), "{e}");
    }

    #[test]
    fn prometheus_addresses() {
        let of = |addr: &str| CommonOptions {
            prometheus: Some(addr.into()),
            ..CommonOptions::default()
        };
        let addr = |a: &str| {
            prometheus(&of(a))
                .ok()
                .flatten()
                .map(|p| p.addr.to_string())
        };
        assert_eq!(addr("127.0.0.1:9464").as_deref(), Some("127.0.0.1:9464"));
        assert_eq!(addr("[::1]:9464").as_deref(), Some("[::1]:9464"));
        assert_eq!(addr("localhost:9464").as_deref(), Some("127.0.0.1:9464"));
        assert_eq!(addr("9464").as_deref(), Some("127.0.0.1:9464"));
        for bad in ["nonsense", "127.0.0.1", "127.0.0.1:99999", "host:9464", ""] {
            let e = prometheus(&of(bad)).expect_err(bad).to_string();
            assert!(e.contains("--prometheus") && e.contains(bad), "{e}");
        }
        let p = prometheus(&of("9464")).ok().flatten().expect("plan");
        assert_eq!(p.linger, DEFAULT_PROMETHEUS_LINGER);
        let lone = CommonOptions {
            prometheus_linger: Some(Duration::from_secs(1)),
            ..CommonOptions::default()
        };
        let e = prometheus(&lone)
            .expect_err("needs --prometheus")
            .to_string();
        assert!(e.contains("--prometheus-linger"), "{e}");
    }

    #[test]
    fn web_takes_an_address_or_a_port() {
        let at = |v| web_addr(Some(v)).map_err(|e| e.to_string());
        assert_eq!(
            at("8089"),
            Ok(Some("127.0.0.1:8089".parse().expect("addr")))
        );
        assert_eq!(
            at("localhost:9000"),
            Ok(Some("127.0.0.1:9000".parse().expect("addr")))
        );
        assert_eq!(at("[::1]:0"), Ok(Some("[::1]:0".parse().expect("addr"))));
        assert_eq!(web_addr(None).ok(), Some(None));
        for bad in ["", "127.0.0.1", "host:80", "localhost:x", "127.0.0.1:99999"] {
            let e = at(bad).expect_err(bad);
            assert!(e.contains("--web") && e.contains("8089"), "{bad}: {e}");
        }
    }

    #[test]
    fn names_are_one_folder() {
        assert_eq!(run_name(Some("a"), "tts").ok().as_deref(), Some("a"));
        assert!(run_name(None, "tts").is_ok_and(|n| n.starts_with("tts-")));
        for bad in ["", "a/b", "..", "."] {
            assert!(run_name(Some(bad), "tts").is_err(), "{bad}");
        }
    }
}
