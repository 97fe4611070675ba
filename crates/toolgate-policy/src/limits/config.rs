//! The `rate_limits` configuration section: its types (which are the reference and the JSON
//! Schema) and [`RateLimitsConfig::problems`], which reports every problem with its path.
//!
//! Does not own: enforcing the limits (the rest of [`crate::limits`]).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Rate limits and concurrency caps, enforced on every call that reaches a source (tool calls,
/// resource reads and subscriptions, prompts, completions) whatever its transport.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitsConfig {
    /// Where the limiters keep their state: `{type: memory}` (the default: per process) or
    /// `{type: redis, url: …}` (shared by every gateway using the same Redis).
    pub backend: BackendConfig,
    /// The limits. A call must pass every limit that applies to it; the first that refuses
    /// answers the call.
    pub limits: Vec<LimitConfig>,
    /// Caps on calls in flight, per gateway process. A call over a cap is refused at once,
    /// never queued.
    pub concurrency: ConcurrencyConfig,
    /// Per-source limits, by source name. A limit here with the name of a limit above
    /// **replaces** it for that source's calls (`per-caller` at 10/min for `github` while
    /// every other source keeps 60/min); a limit with a new name applies to that source's
    /// calls only. Shown in refusals and metrics as `<limit>@<source>`.
    pub sources: std::collections::BTreeMap<String, SourceLimitsConfig>,
    /// Limits on the HTTP requests one connection or one client address may send to the MCP
    /// endpoint, refused with `429 Too Many Requests` and `Retry-After` before the request is
    /// authenticated or read (per process; see docs/traffic.md).
    pub http: HttpLimitsConfig,
}

/// Limits on raw HTTP requests to the MCP endpoint (POST, GET streams, DELETE), per process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimitsConfig {
    /// Requests one TCP connection may send (requests multiplexed on one HTTP/2 connection
    /// count together), e.g. `{rate: 50/s, burst: 100}`.
    pub per_connection: Option<HttpLimitConfig>,
    /// Requests one client IP address may send over all its connections. Behind a load
    /// balancer or proxy every request comes from its address: use `per_connection` there.
    pub per_client_ip: Option<HttpLimitConfig>,
}

impl HttpLimitsConfig {
    /// Whether any HTTP request limit is set.
    pub fn is_enabled(&self) -> bool {
        self.per_connection.is_some() || self.per_client_ip.is_some()
    }
}

/// One HTTP request limit (GCRA, like the call limits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpLimitConfig {
    /// Sustained rate: `N/s`, `N/min`, `N/h` or `N/d`.
    pub rate: String,
    /// Requests allowed at once after a quiet period (default: the rate's N).
    #[serde(default)]
    pub burst: Option<u32>,
}

/// The limits of one source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SourceLimitsConfig {
    /// Its limits (`applies_to.sources` is implied: leave it out).
    pub limits: Vec<LimitConfig>,
}

/// Where the rate limiters keep their state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BackendConfig {
    /// In this process's memory: exact and fast, but each gateway process limits on its own.
    #[default]
    Memory,
    /// In Redis, shared by every gateway process using it: one round trip (an atomic Lua
    /// script) per limit per call.
    Redis(RedisBackendConfig),
}

/// The Redis backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisBackendConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). The password never
    /// appears in logs or errors.
    pub url: String,
    /// Prefix of every Redis key this gateway writes (gateways sharing limits must use the
    /// same). Named `prefix`, not `key_prefix`: keys named like credentials are redacted
    /// from all output.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// How long one decision may wait for Redis, in milliseconds, before the call is decided
    /// as if Redis were unavailable.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// What to do when Redis is unreachable, failing or slower than `timeout_ms`:
    /// `fail_open` decides with this process's in-memory limiter (and logs and counts it),
    /// `fail_closed` refuses the call.
    #[serde(default)]
    pub on_unavailable: OnUnavailable,
}

fn default_prefix() -> String {
    "toolgate".to_owned()
}

fn default_timeout_ms() -> u64 {
    5
}

/// What a Redis-backed limit does when Redis cannot decide in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnUnavailable {
    /// Keep serving, limited by this process's in-memory limiter.
    #[default]
    FailOpen,
    /// Refuse calls until Redis answers again.
    FailClosed,
}

impl OnUnavailable {
    /// Snake-case name for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            OnUnavailable::FailOpen => "fail_open",
            OnUnavailable::FailClosed => "fail_closed",
        }
    }
}

/// One rate limit: a GCRA (cell-rate) limiter per value of its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Name of the limit, shown in refusals, logs and the `limit` metric label.
    /// `[a-z0-9_-]+`, unique.
    pub name: String,
    /// What is counted separately (the limiter's key): any combination of `subject` (the
    /// authenticated caller, else the client's IP address, else its session), `tool` (the
    /// tool, prompt or resource source called), `source`, `client_ip` and `global` (one count
    /// for everything). `[subject, tool]` reads "60/min per caller and tool".
    pub per: Vec<KeyPart>,
    /// Sustained rate: `N/s`, `N/min`, `N/h` or `N/d`, e.g. `60/min`.
    pub rate: String,
    /// Calls allowed at once after a quiet period (default: the rate's N). Over any window of
    /// length W at most `burst + W × rate` calls pass.
    #[serde(default)]
    pub burst: Option<u32>,
    /// Which calls the limit applies to (default: every call that reaches a source).
    #[serde(default)]
    pub applies_to: AppliesTo,
}

/// One dimension of a limit's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyPart {
    /// The caller: the authenticated subject; when anonymous, the client's IP address, else
    /// its MCP session, else one shared anonymous caller.
    Subject,
    /// The tool (or prompt) called; resources count under their source's name.
    Tool,
    /// The source serving the call.
    Source,
    /// The client's IP address (one shared value when unknown, e.g. on stdio).
    ClientIp,
    /// One count shared by every call the limit applies to.
    Global,
}

impl KeyPart {
    /// Snake-case name, as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPart::Subject => "subject",
            KeyPart::Tool => "tool",
            KeyPart::Source => "source",
            KeyPart::ClientIp => "client_ip",
            KeyPart::Global => "global",
        }
    }
}

/// Which calls a limit applies to; empty lists match everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AppliesTo {
    /// Tool names or globs (`create_*`, `github_*`). When set, only tool calls match.
    pub tools: Vec<String>,
    /// Source names.
    pub sources: Vec<String>,
}

/// Caps on calls in flight, per gateway process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ConcurrencyConfig {
    /// Calls one caller (see `subject` above) may have in flight at once.
    pub per_subject: Option<u32>,
    /// Calls in flight at once to one tool (or prompt), all callers together.
    pub per_tool: Option<u32>,
}

/// A sustained rate: `count` calls per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Calls per period.
    pub count: u32,
    /// The period.
    pub per: Duration,
    /// The unit as written (`s`, `min`, `h`, `d`), for messages.
    pub unit: &'static str,
}

impl Rate {
    /// Parses `N/s`, `N/min`, `N/h` or `N/d` (also `sec`, `second`, `m`, `minute`, `hour`,
    /// `day`); the error says what is accepted.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let bad = |why: &str| {
            format!(
                "`{text}` is not a rate ({why}): write N/s, N/min, N/h or N/d with N a whole number of at least 1, e.g. 60/min"
            )
        };
        let (count, unit) = text.split_once('/').ok_or_else(|| bad("no `/`"))?;
        let count: u32 = count
            .trim()
            .parse()
            .map_err(|_| bad("N is not a whole number"))?;
        if count == 0 {
            return Err(bad("N is 0; to block calls, use authorization instead"));
        }
        let (per, unit) = match unit.trim() {
            "s" | "sec" | "second" => (Duration::from_secs(1), "s"),
            "m" | "min" | "minute" => (Duration::from_secs(60), "min"),
            "h" | "hour" => (Duration::from_secs(3600), "h"),
            "d" | "day" => (Duration::from_secs(86_400), "d"),
            _ => return Err(bad("unknown unit")),
        };
        Ok(Rate { count, per, unit })
    }

    /// The time one call's cell takes to replenish (`per / count`).
    pub fn emission_interval(&self) -> Duration {
        self.per / self.count
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.count, self.unit)
    }
}

/// One problem of the section: where (relative to `rate_limits`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A path below the section, like `limits[0].rate`.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl RateLimitsConfig {
    /// Whether anything is configured (no layer is built otherwise).
    pub fn is_enabled(&self) -> bool {
        !self.limits.is_empty()
            || self.sources.values().any(|s| !s.limits.is_empty())
            || self.concurrency.per_subject.is_some()
            || self.concurrency.per_tool.is_some()
    }

    /// The per-source entries naming no configured source (`source_names`), as problems.
    pub fn unknown_sources(&self, source_names: &[&str]) -> Vec<Problem> {
        self.sources
            .keys()
            .filter(|name| !source_names.contains(&name.as_str()))
            .map(|name| Problem {
                path: format!("sources.{name}"),
                message: format!(
                    "names no configured source (configured: {})",
                    source_names.join(", ")
                ),
            })
            .collect()
    }

    /// Every problem of the section, all at once.
    pub fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut push = |path: String, message: String| out.push(Problem { path, message });
        if let BackendConfig::Redis(r) = &self.backend {
            match url::Url::parse(&r.url) {
                Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host().is_some() => {}
                // The URL may hold a password: never quote it.
                _ => push(
                    "backend.url".to_owned(),
                    "is not a Redis URL such as redis://127.0.0.1:6379 (or rediss:// for TLS)"
                        .to_owned(),
                ),
            }
            if r.timeout_ms == 0 || r.timeout_ms > 10_000 {
                push(
                    "backend.timeout_ms".to_owned(),
                    format!(
                        "{} is out of range: a decision may wait 1 to 10000 ms for Redis (5 is a good start)",
                        r.timeout_ms
                    ),
                );
            }
            if r.prefix.is_empty() || r.prefix.contains(['{', '}', ' ']) {
                push(
                    "backend.prefix".to_owned(),
                    "must be non-empty without spaces or braces (braces mark Redis Cluster hash tags)".to_owned(),
                );
            }
        }
        check_limits("limits", &self.limits, &mut push);
        for (source, limits) in &self.sources {
            let at = format!("sources.{source}.limits");
            check_limits(&at, &limits.limits, &mut push);
            for (i, limit) in limits.limits.iter().enumerate() {
                if !limit.applies_to.sources.is_empty() {
                    push(
                        format!("{at}[{i}].applies_to.sources"),
                        format!("is implied by `sources.{source}`: remove it"),
                    );
                }
            }
        }
        for (field, limit) in [
            ("per_connection", &self.http.per_connection),
            ("per_client_ip", &self.http.per_client_ip),
        ] {
            let Some(limit) = limit else { continue };
            if let Err(message) = Rate::parse(&limit.rate) {
                push(format!("http.{field}.rate"), message);
            }
            if limit.burst == Some(0) {
                push(
                    format!("http.{field}.burst"),
                    "must be at least 1 (or absent for the rate's N)".to_owned(),
                );
            }
        }
        for (field, value) in [
            ("per_subject", self.concurrency.per_subject),
            ("per_tool", self.concurrency.per_tool),
        ] {
            if value == Some(0) {
                push(
                    format!("concurrency.{field}"),
                    "must be at least 1 (or absent for no cap)".to_owned(),
                );
            }
        }
        out
    }
}

/// The problems of one list of limits (`list` is its path: `limits`, `sources.x.limits`).
fn check_limits(list: &str, limits: &[LimitConfig], push: &mut impl FnMut(String, String)) {
    let mut names = std::collections::BTreeMap::new();
    for (i, limit) in limits.iter().enumerate() {
        let at = format!("{list}[{i}]");
        if !valid_name(&limit.name) {
            push(
                format!("{at}.name"),
                format!(
                    "`{}` is not a limit name: use lower-case letters, digits, `_` and `-`",
                    limit.name.escape_debug()
                ),
            );
        } else if let Some(first) = names.insert(limit.name.clone(), i) {
            push(
                format!("{at}.name"),
                format!(
                    "`{}` is already the name of {list}[{first}]; names must be unique",
                    limit.name
                ),
            );
        }
        if limit.per.is_empty() {
            push(
                format!("{at}.per"),
                "is empty: list what is counted separately, e.g. [subject, tool], or [global]"
                    .to_owned(),
            );
        }
        for (j, part) in limit.per.iter().enumerate() {
            if limit.per[..j].contains(part) {
                push(
                    format!("{at}.per[{j}]"),
                    format!("`{}` is listed twice", part.as_str()),
                );
            }
        }
        let rate = Rate::parse(&limit.rate);
        if let Err(e) = &rate {
            push(format!("{at}.rate"), e.clone());
        }
        if limit.burst == Some(0) {
            push(
                format!("{at}.burst"),
                "must be at least 1 (or absent for the rate's N)".to_owned(),
            );
        }
        if let Ok(rate) = rate
            && rate.emission_interval().is_zero()
        {
            push(
                format!("{at}.rate"),
                format!("{rate} is too fast to measure; use at most 1000000000/s"),
            );
        }
        for (j, glob) in limit.applies_to.tools.iter().enumerate() {
            if let Err(e) = globset::Glob::new(glob) {
                push(
                    format!("{at}.applies_to.tools[{j}]"),
                    format!("`{}` is not a glob: {}", glob.escape_debug(), e.kind()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_their_units() {
        let r = Rate::parse("60/min").unwrap();
        assert_eq!((r.count, r.per), (60, Duration::from_secs(60)));
        assert_eq!(r.emission_interval(), Duration::from_secs(1));
        assert_eq!(r.to_string(), "60/min");
        assert_eq!(Rate::parse("10/s").unwrap().per, Duration::from_secs(1));
        assert_eq!(
            Rate::parse(" 5 / hour ").unwrap().per,
            Duration::from_secs(3600)
        );
        assert_eq!(Rate::parse("1000/d").unwrap().unit, "d");
    }

    #[test]
    fn bad_rates_say_what_is_accepted() {
        for (text, why) in [
            ("60", "no `/`"),
            ("x/min", "not a whole number"),
            ("-1/min", "not a whole number"),
            ("0/s", "N is 0"),
            ("60/mn", "unknown unit"),
            ("1.5/s", "not a whole number"),
        ] {
            let e = Rate::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
            assert!(e.contains("e.g. 60/min"), "{e}");
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let config: RateLimitsConfig = serde_json::from_value(serde_json::json!({
            "backend": {"type": "redis", "url": "http://:hunter2@x", "timeout_ms": 0},
            "limits": [
                {"name": "Bad Name", "per": [], "rate": "5/fortnight", "burst": 0},
                {"name": "a", "per": ["subject", "subject"], "rate": "1/s",
                 "applies_to": {"tools": ["[unclosed"]}},
                {"name": "a", "per": ["global"], "rate": "1/s"}
            ],
            "concurrency": {"per_tool": 0}
        }))
        .unwrap();
        let problems = config.problems();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "backend.url",
                "backend.timeout_ms",
                "limits[0].name",
                "limits[0].per",
                "limits[0].rate",
                "limits[0].burst",
                "limits[1].per[1]",
                "limits[1].applies_to.tools[0]",
                "limits[2].name",
                "concurrency.per_tool"
            ]
        );
        let all = format!("{problems:?}");
        assert!(!all.contains("hunter2"), "{all}");
    }

    #[test]
    fn the_backend_is_memory_unless_redis_is_configured() {
        let c: RateLimitsConfig = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(c.backend, BackendConfig::Memory);
        assert!(!c.is_enabled());
        let c: RateLimitsConfig = serde_json::from_value(serde_json::json!({
            "backend": {"type": "redis", "url": "redis://127.0.0.1:6379"}
        }))
        .unwrap();
        let BackendConfig::Redis(r) = c.backend else {
            panic!()
        };
        assert_eq!(
            (r.prefix.as_str(), r.timeout_ms, r.on_unavailable),
            ("toolgate", 5, OnUnavailable::FailOpen)
        );
    }
}
