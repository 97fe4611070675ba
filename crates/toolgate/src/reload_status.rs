//! The reload status of `serve --config`: the active configuration's hash, the last reload's
//! outcome and reason, as `/readyz` detail (`Gateway::with_readiness_detail`) and as metrics
//! (`toolgate_config_reloads_total{outcome}`, `toolgate_config_info{hash}`,
//! `toolgate_config_last_reload_successful`).
//!
//! Does not own: reloading ([`crate::reload`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use sha2::Digest as _;

type Labels = Vec<(String, String)>;

/// The reload metrics (registered with the gateway's registry at start).
#[derive(Clone, Default)]
pub struct ReloadMetrics {
    reloads: Family<Labels, Counter>,
    info: Family<Labels, Gauge>,
    last_success: Gauge,
}

impl ReloadMetrics {
    /// Registers `toolgate_config_reloads_total{outcome}`, `toolgate_config_info{hash}` and
    /// `toolgate_config_last_reload_successful`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "config_reloads",
            "Configuration reloads by outcome (success, failure)",
            self.reloads.clone(),
        );
        registry.register(
            "config_info",
            "The active configuration: its hash (first 16 hex digits of its SHA-256) as a label",
            self.info.clone(),
        );
        registry.register(
            "config_last_reload_successful",
            "1 when the last reload (or the start) succeeded, 0 when it was rolled back",
            self.last_success.clone(),
        );
    }
}

/// The last reload attempt.
#[derive(Clone)]
struct Attempt {
    outcome: &'static str,
    at: SystemTime,
    hash: Option<String>,
    error: Option<String>,
    duration_ms: u128,
}

struct State {
    path: Option<PathBuf>,
    active_hash: String,
    loaded_at: SystemTime,
    last: Option<Attempt>,
    successes: u64,
    failures: u64,
}

/// The active configuration and the outcome of the last reload.
pub struct ReloadStatus {
    metrics: ReloadMetrics,
    state: Mutex<State>,
}

impl ReloadStatus {
    /// The status at start, before [`ReloadStatus::started_from`] names the file.
    pub fn new() -> Arc<Self> {
        let metrics = ReloadMetrics::default();
        metrics.last_success.set(1);
        Arc::new(ReloadStatus {
            metrics,
            state: Mutex::new(State {
                path: None,
                active_hash: "none".to_owned(),
                loaded_at: SystemTime::now(),
                last: None,
                successes: 0,
                failures: 0,
            }),
        })
    }

    /// Records that the gateway started from the configuration file at `path`.
    pub fn started_from(&self, path: &Path) {
        let hash = std::fs::read(path)
            .map(|b| hash_of(&b))
            .unwrap_or_else(|_| "unreadable".to_owned());
        let mut s = self.lock();
        self.metrics.info.clear();
        self.metrics
            .info
            .get_or_create(&vec![("hash".into(), hash.clone())])
            .set(1);
        s.path = Some(path.to_path_buf());
        s.active_hash = hash;
    }

    /// The metrics to register.
    pub fn metrics(&self) -> &ReloadMetrics {
        &self.metrics
    }

    /// The hash of the active configuration.
    pub fn active_hash(&self) -> String {
        self.lock().active_hash.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn succeeded(&self, hash: String, duration_ms: u128) {
        let mut s = self.lock();
        self.metrics.info.clear();
        self.metrics
            .info
            .get_or_create(&vec![("hash".into(), hash.clone())])
            .set(1);
        self.metrics.last_success.set(1);
        self.metrics
            .reloads
            .get_or_create(&vec![("outcome".into(), "success".into())])
            .inc();
        s.successes += 1;
        s.active_hash = hash.clone();
        s.loaded_at = SystemTime::now();
        s.last = Some(Attempt {
            outcome: "success",
            at: s.loaded_at,
            hash: Some(hash),
            error: None,
            duration_ms,
        });
    }

    pub(crate) fn failed(&self, hash: Option<String>, error: String, duration_ms: u128) {
        let mut s = self.lock();
        self.metrics.last_success.set(0);
        self.metrics
            .reloads
            .get_or_create(&vec![("outcome".into(), "failure".into())])
            .inc();
        s.failures += 1;
        s.last = Some(Attempt {
            outcome: "failure",
            at: SystemTime::now(),
            hash,
            error: Some(error),
            duration_ms,
        });
    }

    /// The `config` detail of `/readyz`.
    pub fn detail(&self) -> Value {
        let s = self.lock();
        let mut v = json!({
            "hash": s.active_hash,
            "loaded_at_unix": unix(s.loaded_at),
            "reloads": { "success": s.successes, "failure": s.failures },
        });
        if let Some(p) = &s.path {
            v["path"] = json!(p.display().to_string());
        }
        if let Some(a) = &s.last {
            let mut last = json!({
                "outcome": a.outcome,
                "at_unix": unix(a.at),
                "duration_ms": a.duration_ms as u64,
            });
            if let Some(h) = &a.hash {
                last["hash"] = json!(h);
            }
            if let Some(e) = &a.error {
                // `/readyz` is open: nothing registered as a secret leaves the process.
                last["error"] = json!(crate::redact::scrub(e));
            }
            v["last_reload"] = last;
        }
        v
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The first 16 hex digits of the SHA-256 of `bytes`.
pub fn hash_of(bytes: &[u8]) -> String {
    let digest = sha2::Sha256::digest(bytes);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
