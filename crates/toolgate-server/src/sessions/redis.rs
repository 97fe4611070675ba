//! Sessions in Redis: `<prefix>:session:<id>` holds a session's [`Record`] (JSON), with a
//! TTL of the idle timeout that the replicas using the session keep pushing back.
//!
//! - a new session: one `SET … PX` before the `initialize` answer leaves (so the client
//!   cannot reach another replica before its record exists);
//! - a replica seeing a session for the first time: one `GET`, within `timeout_ms`;
//! - every sync (about once a second, from the table's reaper): one pipelined round trip,
//!   `PEXPIRE` for the sessions this replica used since the last sync (they stay alive for
//!   the fleet) and `EXISTS` for the others it holds (a session deleted or expired elsewhere
//!   is dropped here);
//! - `DELETE`: one `DEL`.
//!
//! Connections: one `ConnectionManager` (multiplexed, reconnecting), created in the
//! background until Redis answers, so a replica starts and serves while Redis is down
//! (sessions it does not know are then answered 503).
//!
//! Does not own: the session table ([`super::Sessions`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::config::RedisSessionsConfig;
use super::shared::{Lookup, Record};

/// At most one warning per this interval while Redis fails.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Extra TTL on top of the idle timeout: a sync may be that late.
const TTL_MARGIN: Duration = Duration::from_secs(2);

/// The Redis session store.
pub(crate) struct RedisSessions {
    conn: Arc<OnceLock<ConnectionManager>>,
    prefix: String,
    timeout: Duration,
    ttl_ms: u64,
    /// `host:port`, for logs (never the URL: it may hold a password).
    endpoint: Arc<str>,
    started: Instant,
    /// Milliseconds since `started` of the last warning, plus one (0: never warned).
    last_warn_ms: AtomicU64,
    connector: tokio::task::JoinHandle<()>,
}

impl Drop for RedisSessions {
    fn drop(&mut self) {
        self.connector.abort();
    }
}

impl RedisSessions {
    /// A store for `config` whose records outlive `idle_timeout` of disuse by no more than a
    /// sync; connects in the background.
    pub(crate) fn new(
        config: &RedisSessionsConfig,
        idle_timeout: Duration,
    ) -> Result<Self, String> {
        let client = redis::Client::open(config.url.as_str()).map_err(|e| {
            format!(
                "http.sessions.url is not a usable Redis URL ({}); write redis://host:port",
                e.category()
            )
        })?;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(
                "the Redis session store must be created inside a tokio runtime".to_owned(),
            );
        };
        let info = client.get_connection_info();
        let endpoint: Arc<str> = info.addr.to_string().into();
        let conn = Arc::new(OnceLock::new());
        let connector = runtime.spawn(connect(client, conn.clone(), endpoint.clone()));
        Ok(RedisSessions {
            conn,
            prefix: config.prefix.clone(),
            timeout: Duration::from_millis(config.timeout_ms),
            ttl_ms: u64::try_from((idle_timeout + TTL_MARGIN).as_millis()).unwrap_or(u64::MAX),
            endpoint,
            started: Instant::now(),
            last_warn_ms: AtomicU64::new(0),
            connector,
        })
    }

    fn key(&self, id: &str) -> String {
        format!("{}:session:{id}", self.prefix)
    }

    /// A connection, if one was ever made (it reconnects by itself afterwards).
    fn connection(&self) -> Option<ConnectionManager> {
        self.conn.get().cloned()
    }

    /// Logs a failure, at most once per [`WARN_EVERY`].
    fn failed(&self, what: &str, detail: &str) {
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.last_warn_ms.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= WARN_EVERY.as_millis() as u64)
            && self
                .last_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                redis = %self.endpoint,
                detail,
                "session store: {what} failed (logged at most every {} s)",
                WARN_EVERY.as_secs()
            );
        }
    }

    /// Runs `cmd` within the budget.
    async fn query<T: redis::FromRedisValue>(&self, what: &str, cmd: &redis::Cmd) -> Option<T> {
        let Some(mut conn) = self.connection() else {
            self.failed(what, "not connected (connecting in the background)");
            return None;
        };
        match tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                self.failed(what, &e.to_string());
                None
            }
            Err(_) => {
                self.failed(what, "timed out");
                None
            }
        }
    }

    /// The record of session `id`.
    pub(crate) async fn get(&self, id: &str) -> Lookup {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(id));
        match self
            .query::<Option<Vec<u8>>>("a session lookup", &cmd)
            .await
        {
            None => Lookup::Unavailable,
            Some(None) => Lookup::Missing,
            Some(Some(bytes)) => match serde_json::from_slice(&bytes) {
                Ok(record) => Lookup::Found(Box::new(record)),
                Err(e) => {
                    tracing::warn!(error = %e, "session store: an unreadable session record; treating the session as unknown");
                    Lookup::Missing
                }
            },
        }
    }

    /// Writes session `id`'s record; false if Redis did not take it.
    pub(crate) async fn put(&self, id: &str, record: &Record) -> bool {
        let Ok(json) = serde_json::to_vec(record) else {
            return false;
        };
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(id)).arg(json).arg("PX").arg(self.ttl_ms);
        self.query::<()>("publishing a new session", &cmd)
            .await
            .is_some()
    }

    /// Removes session `id`'s record.
    pub(crate) async fn delete(&self, id: &str) {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(id));
        let _ = self.query::<i64>("deleting a session", &cmd).await;
    }

    /// Pushes back the expiry of the `used` sessions and checks that the `held` ones still
    /// exist: the ids of those that do not (deleted or expired elsewhere), or `None` if Redis
    /// could not answer.
    pub(crate) async fn sync(&self, used: &[String], held: &[String]) -> Option<Vec<String>> {
        if used.is_empty() && held.is_empty() {
            return Some(Vec::new());
        }
        let Some(mut conn) = self.connection() else {
            self.failed("a sync", "not connected (connecting in the background)");
            return None;
        };
        let mut pipe = redis::pipe();
        for id in used {
            pipe.cmd("PEXPIRE").arg(self.key(id)).arg(self.ttl_ms);
        }
        for id in held {
            pipe.cmd("EXISTS").arg(self.key(id));
        }
        // A sync is not on any request's path: it may take longer than a request's budget.
        let budget = self.timeout.max(Duration::from_secs(1));
        let answers =
            match tokio::time::timeout(budget, pipe.query_async::<Vec<i64>>(&mut conn)).await {
                Ok(Ok(a)) if a.len() == used.len() + held.len() => a,
                Ok(Ok(_)) => {
                    self.failed("a sync", "an answer of the wrong length");
                    return None;
                }
                Ok(Err(e)) => {
                    self.failed("a sync", &e.to_string());
                    return None;
                }
                Err(_) => {
                    self.failed("a sync", "timed out");
                    return None;
                }
            };
        Some(
            used.iter()
                .chain(held)
                .zip(answers)
                .filter(|(_, n)| *n == 0)
                .map(|(id, _)| id.clone())
                .collect(),
        )
    }
}

/// Connects until Redis answers, then leaves the (self-reconnecting) manager in `slot`.
async fn connect(
    client: redis::Client,
    slot: Arc<OnceLock<ConnectionManager>>,
    endpoint: Arc<str>,
) {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(1))
        .set_response_timeout(Duration::from_secs(1))
        .set_factor(10)
        .set_number_of_retries(4)
        .set_max_delay(1000);
    let mut backoff = Duration::from_millis(50);
    let mut warned = false;
    loop {
        match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
            Ok(manager) => {
                let _ = slot.set(manager);
                tracing::info!(redis = %endpoint, "session store connected");
                return;
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(redis = %endpoint, error = %e, "session store: cannot connect to Redis yet; retrying in the background");
                    warned = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}
