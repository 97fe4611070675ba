//! HTTP request limits (`rate_limits.http`): GCRA limits on the requests one connection, or
//! one client address, may send to the MCP endpoint, enforced by the HTTP edge before the
//! request is authenticated or parsed, and answered `429 Too Many Requests` with
//! `Retry-After`.
//!
//! They complement the call limits of the rest of [`crate::limits`]: those count what a
//! caller asks of the sources (tool calls, reads) whatever the transport, and refuse with a
//! tool result the model can act on; these count raw HTTP requests (every POST, GET stream
//! and DELETE) and protect the gateway itself (authentication, JSON parsing) from a client in
//! a tight loop or a flood from one address. Counted in this process's memory: a connection
//! is to one process, and a flood is refused where it lands.
//!
//! Keys are the peer's socket address (a TCP connection while it is open; requests
//! multiplexed on one HTTP/2 connection count together) or its IP address, so a decision
//! allocates nothing. Idle keys are dropped as for the call limits.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;

use super::config::{HttpLimitConfig, HttpLimitsConfig, Problem, Rate};
use super::memory::{LocalLimiter, Verdict};
use super::metrics::LimitMetrics;

/// A request the limits refused: why, and when the client may send again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRefusal {
    /// One sentence for the client: which limit, its rate, where it is configured.
    pub message: String,
    /// How long until the request would conform.
    pub retry_after: Duration,
}

/// One configured limit and its state.
struct Limit<K: std::hash::Hash + Eq + Clone> {
    local: Arc<LocalLimiter<K>>,
    /// `100/s with bursts of 200`, for refusals.
    described: String,
    /// Where it is configured, for refusals.
    key: &'static str,
    /// What it counts, for refusals: `this connection`, `this address`.
    whose: &'static str,
    /// Its settings (a reload keeps the state of a limit whose settings did not change).
    config: HttpLimitConfig,
    refused: Counter,
}

impl<K> Limit<K>
where
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
{
    fn build(
        config: &HttpLimitConfig,
        key: &'static str,
        whose: &'static str,
        label: &'static str,
        metrics: &LimitMetrics,
        previous: Option<&Limit<K>>,
    ) -> Result<Self, Problem> {
        let rate = Rate::parse(&config.rate).map_err(|message| Problem {
            path: format!("http.{key}.rate"),
            message,
        })?;
        let burst = config
            .burst
            .and_then(NonZeroU32::new)
            .or(NonZeroU32::new(rate.count))
            .unwrap_or(NonZeroU32::MIN);
        let local = match previous {
            Some(p) if p.config == *config => p.local.clone(),
            _ => LocalLimiter::new(rate, burst),
        };
        Ok(Limit {
            local,
            described: format!("{rate} with bursts of {burst}"),
            key,
            whose,
            config: config.clone(),
            refused: metrics.http_refusals(label),
        })
    }

    fn check(&self, key: &K) -> Result<(), HttpRefusal> {
        match self.local.check(key) {
            Verdict::Allow => Ok(()),
            Verdict::Deny(retry_after) => {
                self.refused.inc();
                Err(HttpRefusal {
                    message: format!(
                        "too many requests from {}: at most {} (`rate_limits.http.{}`). Retry after {} s.",
                        self.whose,
                        self.described,
                        self.key,
                        toolgate_core::wire::retry_after_secs(retry_after),
                    ),
                    retry_after,
                })
            }
        }
    }
}

/// The compiled `rate_limits.http` section.
pub struct HttpLimits {
    per_connection: Option<Limit<SocketAddr>>,
    per_client_ip: Option<Limit<IpAddr>>,
}

impl HttpLimits {
    /// Compiles `config` (`None` when it sets no limit), carrying over the state of each limit
    /// of `previous` whose settings did not change (a reload); counts refusals in `metrics`.
    /// Problems have paths relative to `rate_limits`.
    pub fn new(
        config: &HttpLimitsConfig,
        metrics: &LimitMetrics,
        previous: Option<&HttpLimits>,
    ) -> Result<Option<Arc<Self>>, Vec<Problem>> {
        if !config.is_enabled() {
            return Ok(None);
        }
        let mut problems = Vec::new();
        let per_connection = config.per_connection.as_ref().and_then(|c| {
            Limit::build(
                c,
                "per_connection",
                "this connection",
                "connection",
                metrics,
                previous.and_then(|p| p.per_connection.as_ref()),
            )
            .map_err(|p| problems.push(p))
            .ok()
        });
        let per_client_ip = config.per_client_ip.as_ref().and_then(|c| {
            Limit::build(
                c,
                "per_client_ip",
                "this address",
                "client_ip",
                metrics,
                previous.and_then(|p| p.per_client_ip.as_ref()),
            )
            .map_err(|p| problems.push(p))
            .ok()
        });
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Some(Arc::new(HttpLimits {
            per_connection,
            per_client_ip,
        })))
    }

    /// Decides one request from `peer` (the connection's remote address). Without an address
    /// (an app served without connection info) there is nothing to count by, and the request
    /// passes.
    pub fn check(&self, peer: Option<SocketAddr>) -> Result<(), HttpRefusal> {
        let Some(peer) = peer else {
            return Ok(());
        };
        if let Some(limit) = &self.per_client_ip {
            limit.check(&peer.ip())?;
        }
        if let Some(limit) = &self.per_connection {
            limit.check(&peer)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(config: &str) -> Arc<HttpLimits> {
        let config: HttpLimitsConfig = serde_norway::from_str(config).unwrap();
        HttpLimits::new(&config, &LimitMetrics::default(), None)
            .unwrap()
            .unwrap()
    }

    fn peer(text: &str) -> Option<SocketAddr> {
        Some(text.parse().unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn each_connection_is_counted_apart_and_refused_with_a_delay() {
        let l = limits("per_connection: { rate: 2/s, burst: 2 }");
        let a = peer("127.0.0.1:40000");
        let b = peer("127.0.0.1:40001");
        assert!(l.check(a).is_ok());
        assert!(l.check(a).is_ok());
        let refusal = l.check(a).unwrap_err();
        assert_eq!(refusal.retry_after, Duration::from_millis(500));
        assert_eq!(
            refusal.message,
            "too many requests from this connection: at most 2/s with bursts of 2 (`rate_limits.http.per_connection`). Retry after 1 s."
        );
        // Another connection from the same address has its own allowance.
        assert!(l.check(b).is_ok());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(l.check(a).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_address_limit_counts_every_connection_of_an_address() {
        let l = limits("per_client_ip: { rate: 3/min }");
        for port in 0..3 {
            assert!(l.check(peer(&format!("10.0.0.1:{}", 50000 + port))).is_ok());
        }
        let refusal = l.check(peer("10.0.0.1:50009")).unwrap_err();
        assert_eq!(refusal.retry_after, Duration::from_secs(20));
        assert!(
            refusal.message.contains("this address"),
            "{}",
            refusal.message
        );
        assert!(l.check(peer("10.0.0.2:50000")).is_ok());
        // No address, nothing to count by.
        assert!(l.check(None).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_reload_keeps_the_state_of_an_unchanged_limit_only() {
        let config: HttpLimitsConfig =
            serde_norway::from_str("per_connection: { rate: 1/min }").unwrap();
        let metrics = LimitMetrics::default();
        let first = HttpLimits::new(&config, &metrics, None).unwrap().unwrap();
        let a = peer("127.0.0.1:40000");
        assert!(first.check(a).is_ok());
        let same = HttpLimits::new(&config, &metrics, Some(&first))
            .unwrap()
            .unwrap();
        assert!(same.check(a).is_err(), "the used cell is carried over");
        let changed: HttpLimitsConfig =
            serde_norway::from_str("per_connection: { rate: 2/min }").unwrap();
        let fresh = HttpLimits::new(&changed, &metrics, Some(&same))
            .unwrap()
            .unwrap();
        assert!(fresh.check(a).is_ok(), "a changed limit starts empty");
    }

    #[test]
    fn a_bad_rate_names_its_path_and_an_empty_section_builds_nothing() {
        let config: HttpLimitsConfig =
            serde_norway::from_str("per_client_ip: { rate: lots }").unwrap();
        let problems = HttpLimits::new(&config, &LimitMetrics::default(), None)
            .err()
            .unwrap();
        assert_eq!(problems[0].path, "http.per_client_ip.rate");
        assert!(
            HttpLimits::new(&HttpLimitsConfig::default(), &LimitMetrics::default(), None)
                .unwrap()
                .is_none()
        );
    }
}
