//! What a verification costs: a cold RS256 and ES256 check (signature + claims, a new token each
//! time so the cache misses) against a cached lookup (the same token again: one SHA-256 and a
//! map lookup). Prints the median of N runs of each. Not a test; figures go to BENCHMARKS.md.
//!
//!     cargo run --release -p toolgate-auth --example verify_cost [-- N]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Key, RESOURCE, now, token};
use serde_json::json;
use toolgate_auth::{AuthConfig, ResourceAuth};

const ISSUER: &str = "https://idp.example.com";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn measure(auth: &ResourceAuth, tokens: &[String]) -> Duration {
    let mut samples = Vec::with_capacity(tokens.len());
    for t in tokens {
        let start = Instant::now();
        let principal = auth.authenticate_token(t).await;
        samples.push(start.elapsed());
        assert!(principal.is_ok(), "{principal:?}");
    }
    median(samples)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let (rsa, ec) = (Key::rsa(), Key::p256());
    let jwks = json!({"keys": [rsa.jwk("rsa", None), ec.jwk("ec", None)]});
    let config: AuthConfig = serde_json::from_value(json!({
        "issuer": ISSUER,
        "jwt": {"jwks": jwks},
        "cache_entries": 100_000,
    }))
    .expect("config");
    let auth = ResourceAuth::new(&config, RESOURCE).await.expect("auth");
    let claims = |i: usize| {
        json!({"iss": ISSUER, "aud": RESOURCE, "sub": "alice", "exp": now() + 3600,
               "scope": "tools:read tools:call", "jti": i})
    };
    let rs: Vec<String> = (0..n)
        .map(|i| token(&rsa, "RS256", "rsa", &claims(i)))
        .collect();
    let es: Vec<String> = (0..n)
        .map(|i| token(&ec, "ES256", "ec", &claims(n + i)))
        .collect();
    let cold_rs = measure(&auth, &rs).await;
    let cold_es = measure(&auth, &es).await;
    let same = vec![rs[0].clone(); n];
    let cached = measure(&auth, &same).await;
    assert_eq!(
        auth.signature_checks(),
        2 * n as u64,
        "every cold token was verified once"
    );
    println!("median of {n} (RSA-2048, P-256):");
    println!(
        "  cold RS256 verification: {:>8.1} µs",
        cold_rs.as_secs_f64() * 1e6
    );
    println!(
        "  cold ES256 verification: {:>8.1} µs",
        cold_es.as_secs_f64() * 1e6
    );
    println!(
        "  cached token lookup:     {:>8.2} µs",
        cached.as_secs_f64() * 1e6
    );
}
