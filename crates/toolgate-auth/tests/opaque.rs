//! Opaque credentials: RFC 7662 introspection against a real HTTP endpoint (client
//! authentication checked by the server, answers cached until `exp`), and static API keys.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use serde_json::json;
use sha2::{Digest, Sha256};
use toolgate_core::{AuthMethod, RefusalStatus};

fn introspection_yaml(idp: &Idp, secret: &str, extra: &str) -> String {
    format!(
        "issuer: {}\nintrospection:\n  endpoint: {}/introspect\n  client_id: {CLIENT_ID}\n  client_secret: '{secret}'\n{extra}",
        idp.issuer(),
        idp.base
    )
}

#[tokio::test]
async fn active_tokens_are_accepted_and_cached_until_exp() {
    let idp = Idp::start(json!({"keys": []})).await;
    idp.state.opaque.lock().unwrap().insert(
        "opaque-token-1".into(),
        json!({"active": true, "sub": "bob", "scope": "tools:read", "exp": now() + 600,
               "iss": idp.issuer(), "aud": RESOURCE, "client_id": "cli"}),
    );
    let auth = auth(&introspection_yaml(&idp, CLIENT_SECRET, "")).await;
    for _ in 0..5 {
        let p = bearer(&auth, "opaque-token-1").await.unwrap();
        assert_eq!(p.subject, "bob");
        assert_eq!(p.method, AuthMethod::Introspection);
        assert_eq!(p.scopes, ["tools:read"]);
        assert_eq!(p.credential.as_ref().unwrap().expose(), "opaque-token-1");
    }
    assert_eq!(idp.state.introspections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn inactive_unknown_and_mismatched_tokens_are_refused() {
    let idp = Idp::start(json!({"keys": []})).await;
    {
        let mut opaque = idp.state.opaque.lock().unwrap();
        opaque.insert("revoked".into(), json!({"active": false}));
        opaque.insert(
            "expired".into(),
            json!({"active": true, "sub": "x", "exp": now() - 600}),
        );
        opaque.insert(
            "other-aud".into(),
            json!({"active": true, "sub": "x", "aud": "https://elsewhere"}),
        );
        opaque.insert(
            "no-exp".into(),
            json!({"active": true, "username": "carol"}),
        );
    }
    let auth = auth(&introspection_yaml(&idp, CLIENT_SECRET, "")).await;
    for (token, reason) in [
        ("revoked", "inactive"),
        ("never-issued", "inactive"),
        ("expired", "expired"),
        ("other-aud", "wrong_audience"),
    ] {
        let r = refused(&auth, token).await;
        assert_eq!(
            (r.status, r.reason),
            (RefusalStatus::Unauthorized, reason),
            "{token}: {}",
            r.description
        );
    }
    // No exp: accepted (the answer is cached for `cache_seconds` at most); subject from username.
    assert_eq!(bearer(&auth, "no-exp").await.unwrap().subject, "carol");
    // "Not active" is remembered for a short while: a flood of one bad token asks once.
    let before = idp.state.introspections.load(Ordering::SeqCst);
    for _ in 0..20 {
        assert_eq!(refused(&auth, "revoked").await.reason, "inactive");
    }
    assert_eq!(idp.state.introspections.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn concurrent_requests_with_one_new_token_share_one_introspection() {
    let idp = Idp::start(json!({"keys": []})).await;
    idp.state.opaque.lock().unwrap().insert(
        "shared".into(),
        json!({"active": true, "sub": "dora", "exp": now() + 600}),
    );
    let auth = auth(&introspection_yaml(&idp, CLIENT_SECRET, "")).await;
    let all = futures::future::join_all((0..50).map(|_| bearer(&auth, "shared"))).await;
    assert!(
        all.iter()
            .all(|p| p.as_ref().is_ok_and(|p| p.subject == "dora"))
    );
    assert_eq!(idp.state.introspections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn wrong_client_credentials_are_reported_as_configuration() {
    let idp = Idp::start(json!({"keys": []})).await;
    idp.state
        .opaque
        .lock()
        .unwrap()
        .insert("t".into(), json!({"active": true, "sub": "x"}));
    let auth = auth(&introspection_yaml(&idp, "wrong-secret", "")).await;
    let r = refused(&auth, "t").await;
    assert_eq!(r.reason, "introspection_failed");
    // Failures are not remembered: the next request asks again.
    refused(&auth, "t").await;
    assert_eq!(idp.state.introspections.load(Ordering::SeqCst), 2);
    assert!(r.description.contains("client_secret"), "{}", r.description);
    assert!(!r.description.contains("wrong-secret"));
}

#[tokio::test]
async fn jwts_and_opaque_tokens_can_share_one_endpoint() {
    let key = Key::p256();
    let idp = Idp::start(json!({"keys": [key.jwk("k", None)]})).await;
    idp.state
        .opaque
        .lock()
        .unwrap()
        .insert("opaque".into(), json!({"active": true, "sub": "svc"}));
    let yaml = introspection_yaml(&idp, CLIENT_SECRET, "jwt:\n  discovery: true\n");
    let auth = auth(&yaml).await;
    let jwt = token(&key, "ES256", "k", &claims(&idp.issuer()));
    assert_eq!(bearer(&auth, &jwt).await.unwrap().method, AuthMethod::Jwt);
    assert_eq!(
        bearer(&auth, "opaque").await.unwrap().method,
        AuthMethod::Introspection
    );
    assert_eq!(idp.state.introspections.load(Ordering::SeqCst), 1);
}

fn sha256_hex(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn api_keys_are_matched_by_their_hash() {
    let yaml = format!(
        "api_keys:\n  - id: ci\n    sha256: {}\n    subject: ci-bot\n    scopes: [tools:read]\n  - id: ops\n    sha256: {}\n    roles: [admin]\napi_key_header: X-API-Key\n",
        sha256_hex("tg_live_ci_0123456789"),
        sha256_hex("tg_live_ops_9876543210").to_uppercase()
    );
    let auth = auth(&yaml).await;
    let p = bearer(&auth, "tg_live_ci_0123456789").await.unwrap();
    assert_eq!(
        (p.subject.as_str(), p.method),
        ("ci-bot", AuthMethod::ApiKey)
    );
    assert_eq!(p.scopes, ["tools:read"]);
    let p = bearer(&auth, "tg_live_ops_9876543210").await.unwrap();
    assert_eq!(
        (p.subject.as_str(), p.roles.clone()),
        ("api-key:ops", vec!["admin".to_owned()])
    );
    let r = refused(&auth, "tg_live_ci_0123456788").await;
    assert_eq!(
        (r.status, r.reason),
        (RefusalStatus::Unauthorized, "unknown_api_key")
    );
    // The configured header works too; an unknown key there is refused.
    let with_header = |value: &str| {
        http::Request::builder()
            .uri("/mcp")
            .header("x-api-key", value)
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    let ok = auth
        .authenticate_parts(&with_header("tg_live_ci_0123456789"))
        .await
        .unwrap();
    assert_eq!(ok.subject, "ci-bot");
    let r = auth
        .authenticate_parts(&with_header("nope-nope-nope"))
        .await
        .unwrap_err();
    assert_eq!(r.reason, "unknown_api_key");
    assert!(!r.description.contains("nope-nope"));
    let text = metrics_text(&auth);
    assert!(
        text.contains(r#"toolgate_auth_decisions_total{method="api_key",outcome="accepted",reason="verified"} 3"#),
        "{text}"
    );
}

#[tokio::test]
async fn configuration_problems_are_all_reported_with_their_paths() {
    let config: toolgate_auth::AuthConfig = serde_norway::from_str(
        "issuer: not a url\nleeway_seconds: 100000\nroles_claim: a..b\njwt:\n  jwks_uri: https://x/jwks\n  jwks: {keys: []}\n  hs_secret: short\n  algorithms: [RS256, none]\napi_keys:\n  - {id: a, sha256: plaintext}\n",
    )
    .unwrap();
    let err = toolgate_auth::ResourceAuth::new(&config, RESOURCE)
        .await
        .unwrap_err();
    let paths: Vec<String> = err.problems().into_iter().map(|p| p.0).collect();
    for want in [
        "auth.issuer",
        "auth.leeway_seconds",
        "auth.roles_claim",
        "auth.api_keys[0].sha256",
        "auth.jwt.hs_secret",
        "auth.jwt.algorithms[1]",
        "auth.jwt",
    ] {
        assert!(
            paths.iter().any(|p| p == want),
            "{want} missing from {paths:?}"
        );
    }
    assert!(!err.to_string().contains("short"), "{err}");
    let empty: toolgate_auth::AuthConfig = serde_norway::from_str("issuer: https://x\n").unwrap();
    let err = toolgate_auth::ResourceAuth::new(&empty, RESOURCE)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("auth.jwt"), "{err}");
}
