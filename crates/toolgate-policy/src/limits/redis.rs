//! The Redis backend: GCRA decided by an atomic Lua script, one round trip per limit per
//! call, shared by every gateway process using the same Redis.
//!
//! - The script reads and writes one key (the limit's name and key inside a `{…}` hash tag,
//!   so it lives in one slot of a Redis Cluster), takes the time from Redis (`TIME`), so
//!   gateways with skewed clocks agree, and sets the key's TTL to its time to full
//!   replenishment: an idle key expires exactly when its state equals a fresh one.
//! - It is sent with `EVALSHA`, falling back to `EVAL` (which loads it) on `NOSCRIPT`, e.g.
//!   after Redis restarted (the `redis` crate's `Script`).
//! - Connections: one `ConnectionManager` (a multiplexed connection that reconnects in the
//!   background), created by a background task that keeps trying until Redis answers, so a
//!   gateway starts and serves while Redis is down.
//! - Each decision waits at most the configured budget; a slow, failing or absent Redis is
//!   reported to the caller ([`RedisFailure`]), which applies `on_unavailable`. Failures are
//!   counted and logged at most once per [`WARN_EVERY`], and the recovery is logged once.
//!   After a failure Redis is left alone for [`BACK_OFF`], so an outage costs one call per
//!   interval the budget, not every call.
//!
//! Does not own: the fallback decision (`crate::limits`) or key composition.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::config::RedisBackendConfig;
use super::memory::Verdict;
use super::metrics::{LimitMetrics, RedisFailure};

/// The GCRA script. KEYS[1]: the key. ARGV[1]: emission interval T, ARGV[2]: tolerance
/// tau = T × (burst − 1), both in µs; ARGV[3], only in tests: the time in µs instead of
/// Redis's clock. Returns {1, 0} when the call conforms (the new theoretical arrival time is
/// stored with a TTL equal to the time to full replenishment), else {0, µs to wait}. The
/// arithmetic is governor's, so both backends decide alike. Times since the epoch in µs stay
/// below 2^53, exact in Lua's doubles; `%d` writes them without an exponent.
const GCRA_LUA: &str = r"
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local now
if ARGV[3] then
  now = tonumber(ARGV[3])
else
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local earliest = tat - tau
if now < earliest then
  return {0, earliest - now}
end
local new_tat = tat + t
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, 0}
";

/// At most one warning per this interval while Redis fails.
pub(crate) const WARN_EVERY: Duration = Duration::from_secs(10);

/// After Redis failed or timed out, decisions skip it for this long (then one call probes
/// it again): during an outage only one call per interval waits out the budget, not every
/// call.
pub(crate) const BACK_OFF: Duration = Duration::from_millis(100);

/// A shared GCRA store in Redis.
pub(crate) struct RedisStore {
    conn: Arc<ArcSwapOption<ConnectionManager>>,
    script: Script,
    prefix: String,
    timeout: Duration,
    /// `host:port` of the server, for logs (never the URL: it may hold a password).
    endpoint: Arc<str>,
    metrics: LimitMetrics,
    health: Arc<Health>,
    connector: tokio::task::JoinHandle<()>,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.connector.abort();
    }
}

/// Throttled failure logging and the recovery message.
struct Health {
    started: Instant,
    /// Milliseconds since `started` of the last warning, plus one (0: never warned).
    last_warn_ms: AtomicU64,
    /// Failures since the last warning.
    suppressed: AtomicU64,
    degraded: AtomicBool,
    /// Milliseconds since `started` before which Redis is not asked (see [`BACK_OFF`]).
    skip_until_ms: AtomicU64,
}

impl Health {
    fn failed(&self, endpoint: &str, kind: RedisFailure, detail: &str) {
        self.degraded.store(true, Ordering::Relaxed);
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64;
        if due
            && self
                .last_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                redis = endpoint,
                kind = kind.as_str(),
                detail,
                failures_since_last_warning = suppressed,
                "rate limit store unavailable: deciding per `on_unavailable` (logged at most every {} s)",
                WARN_EVERY.as_secs()
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Whether Redis failed so recently that this decision should not wait for it.
    fn backing_off(&self) -> bool {
        self.now_ms() < self.skip_until_ms.load(Ordering::Relaxed)
    }

    fn back_off(&self) {
        self.skip_until_ms.store(
            self.now_ms() + BACK_OFF.as_millis() as u64,
            Ordering::Relaxed,
        );
    }

    fn succeeded(&self, endpoint: &str) {
        if self.degraded.load(Ordering::Relaxed) && self.degraded.swap(false, Ordering::Relaxed) {
            tracing::info!(redis = endpoint, "rate limit store answering again");
        }
    }
}

impl RedisStore {
    /// A store for `config`, connecting in the background. Errs (without quoting the URL)
    /// when the URL cannot be used at all.
    pub(crate) fn new(config: &RedisBackendConfig, metrics: LimitMetrics) -> Result<Self, String> {
        let client = redis::Client::open(config.url.as_str()).map_err(|e| {
            format!(
                "is not a usable Redis URL ({}); write redis://host:port",
                e.category()
            )
        })?;
        let endpoint: Arc<str> = url::Url::parse(&config.url)
            .ok()
            .map(|u| {
                format!(
                    "{}:{}",
                    u.host_str().unwrap_or("?"),
                    u.port().unwrap_or(6379)
                )
            })
            .unwrap_or_else(|| "redis".to_owned())
            .into();
        let conn = Arc::new(ArcSwapOption::empty());
        let health = Arc::new(Health {
            started: Instant::now(),
            last_warn_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            degraded: AtomicBool::new(false),
            skip_until_ms: AtomicU64::new(0),
        });
        let connector = tokio::spawn(connect(
            client,
            conn.clone(),
            endpoint.clone(),
            health.clone(),
        ));
        Ok(RedisStore {
            conn,
            script: Script::new(GCRA_LUA),
            prefix: config.prefix.clone(),
            timeout: Duration::from_millis(config.timeout_ms),
            endpoint,
            metrics,
            health,
            connector,
        })
    }

    /// Waits up to `within` for the first connection.
    pub(crate) async fn connected(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.conn.load().is_some() {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The Redis key of `key` under limit `limit`: `<prefix>:rl:{<limit>:<key>}`.
    pub(crate) fn redis_key(&self, limit: &str, key: &str) -> String {
        format!("{}:rl:{{{limit}:{key}}}", self.prefix)
    }

    /// Decides one call against one limit (`t`, `tau` as in the script), within the budget.
    pub(crate) async fn decide(
        &self,
        limit: &str,
        key: &str,
        t: Duration,
        tau: Duration,
    ) -> Result<Verdict, RedisFailure> {
        self.decide_at(limit, key, t, tau, None).await
    }

    /// [`RedisStore::decide`], with the time given instead of Redis's (tests).
    pub(crate) async fn decide_at(
        &self,
        limit: &str,
        key: &str,
        t: Duration,
        tau: Duration,
        now_us: Option<u64>,
    ) -> Result<Verdict, RedisFailure> {
        let Some(conn) = self.conn.load_full() else {
            let failure = RedisFailure::NotConnected;
            self.metrics.redis_failure(failure);
            self.health.failed(
                &self.endpoint,
                failure,
                "not connected (connecting in the background)",
            );
            return Err(failure);
        };
        if self.health.backing_off() {
            let failure = RedisFailure::BackingOff;
            self.metrics.redis_failure(failure);
            return Err(failure);
        }
        let mut conn = ConnectionManager::clone(&conn);
        let redis_key = self.redis_key(limit, key);
        let mut invocation = self.script.key(&redis_key);
        invocation
            .arg(t.as_micros().max(1) as u64)
            .arg(tau.as_micros() as u64);
        if let Some(now) = now_us {
            invocation.arg(now);
        }
        let started = Instant::now();
        let answer = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<(i64, i64)>(&mut conn),
        )
        .await;
        match answer {
            Ok(Ok((allowed, wait_us))) => {
                self.metrics
                    .redis_latency
                    .observe(started.elapsed().as_secs_f64());
                self.health.succeeded(&self.endpoint);
                Ok(if allowed == 1 {
                    Verdict::Allow
                } else {
                    Verdict::Deny(Duration::from_micros(wait_us.max(0) as u64))
                })
            }
            Ok(Err(e)) => {
                let failure = RedisFailure::Error;
                self.metrics.redis_failure(failure);
                self.health.back_off();
                self.health.failed(&self.endpoint, failure, &e.to_string());
                Err(failure)
            }
            Err(_elapsed) => {
                let failure = RedisFailure::Timeout;
                self.metrics.redis_failure(failure);
                self.health.back_off();
                self.health.failed(
                    &self.endpoint,
                    failure,
                    &format!("no answer within {} ms", self.timeout.as_millis()),
                );
                Err(failure)
            }
        }
    }
}

/// Creates the connection manager, retrying with a capped backoff until Redis answers; from
/// then on the manager reconnects by itself.
async fn connect(
    client: redis::Client,
    slot: Arc<ArcSwapOption<ConnectionManager>>,
    endpoint: Arc<str>,
    health: Arc<Health>,
) {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(1))
        .set_response_timeout(Duration::from_secs(1))
        // Reconnect attempts: quick (tens of ms apart, at most 1 s), so the gateway is
        // back on the shared limits soon after Redis is.
        .set_factor(10)
        .set_number_of_retries(4)
        .set_max_delay(1000);
    let mut backoff = Duration::from_millis(50);
    loop {
        match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
            Ok(manager) => {
                slot.store(Some(Arc::new(manager)));
                tracing::info!(redis = %endpoint, "rate limit store connected");
                return;
            }
            Err(e) => {
                health.failed(&endpoint, RedisFailure::NotConnected, &e.to_string());
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
