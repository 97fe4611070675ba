//! Snapshots of `toolgate access` on the example role matrix (examples/configs/authz-roles.yaml)
//! over the example Todo API's catalog.

use super::*;
use crate::config::{SourceConfig, SpecLocation};

async fn setup() -> (Policy, AuthorizationConfig, Arc<Catalog>) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/configs/authz-roles.yaml"
    );
    let mut config = run::load_config_file(std::path::Path::new(path)).unwrap();
    // The example's API, compiled from its spec in-process (no server needed to list).
    match config.sources.as_mut_slice() {
        [SourceConfig::OpenApi(s)] => {
            s.spec = SpecLocation::Inline {
                inline: todo_api::openapi(),
            }
        }
        other => panic!("{other:?}"),
    }
    let section = config.authorization.clone().unwrap();
    let policy = Policy::compile(&section, true).unwrap();
    let assembled = run::assemble(&config, std::path::Path::new("."))
        .await
        .unwrap();
    let catalog = assembled.gateway.catalog().load_full();
    (policy, section, catalog)
}

fn with_roles(roles: &[&str]) -> Caller {
    let mut p = Principal::new("alice", vec![], AuthMethod::Configured);
    p.roles = roles.iter().map(|s| s.to_string()).collect();
    Caller {
        principal: Some(p),
        origin: "command line",
    }
}

#[tokio::test]
async fn a_reader_gets_the_read_only_tools() {
    let (policy, _, catalog) = setup().await;
    let r = report(&policy, &catalog, &with_roles(&["reader"]), true);
    insta::assert_snapshot!(r.to_text());
}

#[tokio::test]
async fn the_role_matrix_as_a_table_and_json() {
    let (policy, section, catalog) = setup().await;
    let m = matrix(&policy, &section, &catalog);
    insta::assert_snapshot!(m.to_text());
    insta::assert_json_snapshot!(m.to_json());
}

#[tokio::test]
async fn a_token_is_decoded_without_verification_and_a_deny_rule_wins() {
    let (policy, _, catalog) = setup().await;
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let token = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"alg": "RS256"})),
        b64(json!({"sub": "carol", "scope": "todo:read todo:write",
                   "realm_access": {"roles": ["admin"]}, "employment": "contractor"}))
    );
    let caller = Caller {
        principal: Some(principal_from_jwt(&token, "realm_access.roles").unwrap()),
        origin: "token claims, decoded WITHOUT verifying the signature",
    };
    let r = report(&policy, &catalog, &caller, true);
    let json = r.to_json();
    assert!(!json.to_string().contains(&token));
    insta::assert_json_snapshot!(json);
    assert!(principal_from_jwt("not-a-jwt", "roles").is_err());
}
