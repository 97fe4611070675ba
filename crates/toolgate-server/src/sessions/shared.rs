//! What the replicas of a fleet share about a legacy session, and the two ways of sharing it.
//!
//! A replica that receives a request for a session it does not know needs what rmcp needs to
//! re-create the session's worker (the client's `initialize` parameters, replayed as on a
//! hibernation wake-up) and what the HTTP edge needs to refuse strangers (the caller that
//! opened it). That is a [`Record`]; [`Shared`] keeps it in Redis ([`super::redis`]) or seals
//! it into the session id itself ([`super::sealed`]).
//!
//! The caller opening a session and its `initialize` parameters reach the session table
//! through [`OPENING`], a task-local the HTTP edge sets around rmcp's handling of a request
//! without a session id: rmcp creates the session (and persists it) inside that request's
//! task, and its `create_session` takes no arguments.
//!
//! Does not own: the local table and its reaper ([`super::Sessions`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmcp::model::InitializeRequestParams;
use serde::{Deserialize, Serialize};

use super::config::SessionsConfig;
use super::redis::RedisSessions;
use super::sealed::Sealer;

tokio::task_local! {
    /// Set by the HTTP edge while rmcp handles a request that may open a session.
    pub(crate) static OPENING: Opening;
}

/// The request that may open a session: who sends it and, if it is an `initialize`, its
/// parameters.
#[derive(Clone, Default)]
pub(crate) struct Opening {
    /// The caller's owner key (authentication on).
    pub(crate) owner: Option<Arc<str>>,
    /// The `initialize` parameters, parsed by the edge.
    pub(crate) init: Option<InitializeRequestParams>,
}

impl Opening {
    /// What the edge knows of a POST without session id: `owner` and the `initialize`
    /// parameters in `body`, if it is one.
    pub(crate) fn of(owner: Option<Arc<str>>, body: &[u8]) -> Self {
        #[derive(Deserialize)]
        struct Initialize {
            method: String,
            params: Option<InitializeRequestParams>,
        }
        let init = serde_json::from_slice::<Initialize>(body)
            .ok()
            .filter(|m| m.method == "initialize")
            .and_then(|m| m.params);
        Opening { owner, init }
    }

    /// The opening of the current task, if the edge set one.
    pub(crate) fn current() -> Option<Opening> {
        OPENING.try_with(Clone::clone).ok()
    }
}

/// What any replica needs to serve a session it did not open. Short field names: a sealed
/// session id carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The client's `initialize` parameters.
    #[serde(rename = "i")]
    pub(crate) init: InitializeRequestParams,
    /// The owner key of the caller that opened it (authentication on).
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub(crate) owner: Option<String>,
    /// When it was opened, in seconds since the Unix epoch.
    #[serde(rename = "t")]
    pub(crate) issued: u64,
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Where the fleet's sessions are shared.
pub(crate) enum Shared {
    /// In Redis.
    Redis(RedisSessions),
    /// Sealed into the session ids.
    Sealed(Sealer),
}

/// What looking a session up in the shared store found.
pub(crate) enum Lookup {
    /// The session's record.
    Found(Box<Record>),
    /// No such session (unknown, ended, expired, or an id that does not open).
    Missing,
    /// The store could not answer in time (Redis down or slow).
    Unavailable,
}

impl Shared {
    /// The shared store `config` asks for (`None`: memory); errs when it cannot be used.
    /// Starts connecting to Redis in the background (call inside the runtime).
    pub(crate) fn from_config(
        config: &SessionsConfig,
        idle_timeout: Duration,
    ) -> Result<Option<Self>, String> {
        if let Some((at, problem)) = config.problems().into_iter().next() {
            return Err(format!("http.sessions.{at} {problem}"));
        }
        Ok(match config {
            SessionsConfig::Memory => None,
            SessionsConfig::Redis(r) => Some(Shared::Redis(RedisSessions::new(r, idle_timeout)?)),
            SessionsConfig::Sealed(s) => Some(Shared::Sealed(Sealer::new(s))),
        })
    }

    /// The record of session `id`.
    pub(crate) async fn lookup(&self, id: &str) -> Lookup {
        match self {
            Shared::Redis(r) => r.get(id).await,
            Shared::Sealed(s) => s.open(id),
        }
    }

    /// A new session's id (sealed: the record itself), if this store mints ids.
    pub(crate) fn mint(&self, record: &Record) -> Option<String> {
        match self {
            Shared::Redis(_) => None,
            Shared::Sealed(s) => s.seal(record),
        }
    }

    /// Publishes a new session's record (Redis); false if it could not be.
    pub(crate) async fn publish(&self, id: &str, record: &Record) -> bool {
        match self {
            Shared::Redis(r) => r.put(id, record).await,
            Shared::Sealed(_) => true,
        }
    }

    /// Ends session `id` for the fleet (Redis) or for this replica (sealed: the id is refused
    /// here until it expires).
    pub(crate) async fn delete(&self, id: &str) {
        match self {
            Shared::Redis(r) => r.delete(id).await,
            Shared::Sealed(s) => s.revoke(id),
        }
    }

    /// When a session issued at `issued` (Unix seconds) expires whatever its use, in Unix
    /// seconds (`None`: only when idle).
    pub(crate) fn expires(&self, issued: u64) -> Option<u64> {
        match self {
            Shared::Redis(_) => None,
            Shared::Sealed(s) => Some(issued.saturating_add(s.max_age_seconds())),
        }
    }
}
