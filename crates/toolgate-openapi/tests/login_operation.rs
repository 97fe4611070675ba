//! The login operation of an OAuth2 password flow (FastAPI's `OAuth2PasswordBearer`
//! `tokenUrl`) is not a tool unless asked for, and says so in an info diagnostic.

mod common;

use toolgate_openapi::{
    CompileOptions, CompiledSpec, NoExternalRefs, SecuritySchemeKind, Severity, compile,
    parse_document,
};

fn compile_with(text: &str, opts: &CompileOptions) -> CompiledSpec {
    let doc = parse_document(text.as_bytes()).unwrap();
    compile(&doc, None, opts, &NoExternalRefs).unwrap()
}

fn names(spec: &CompiledSpec) -> Vec<&str> {
    spec.operations.iter().map(|o| o.name.as_str()).collect()
}

const TUTORIAL: &str = r#"
openapi: 3.1.0
info: {title: t, version: "1"}
components:
  securitySchemes:
    OAuth2PasswordBearer:
      type: oauth2
      flows: {password: {scopes: {}, tokenUrl: token}}
paths:
  /token:
    post:
      operationId: login_for_access_token_token_post
      responses: {"200": {description: ok}}
    get:
      operationId: token_info_token_get
      responses: {"200": {description: ok}}
  /users/me:
    get:
      operationId: read_users_me_users_me_get
      security: [{OAuth2PasswordBearer: []}]
      responses: {"200": {description: ok}}
"#;

#[test]
fn the_login_operation_is_left_out_with_an_info_diagnostic() {
    let spec = common::compile_fixture("fastapi_security.json");
    assert!(
        !names(&spec).contains(&"login_access_token"),
        "{:?}",
        names(&spec)
    );
    assert!(names(&spec).contains(&"read_user_me"), "{:?}", names(&spec));
    let info: Vec<_> = spec
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Info)
        .collect();
    assert_eq!(info.len(), 1, "{:?}", spec.diagnostics);
    let d = info[0];
    assert_eq!(
        d.operation.as_deref(),
        Some("POST /api/v1/login/access-token")
    );
    assert_eq!(d.pointer, "#/paths/~1api~1v1~1login~1access-token/post");
    for needle in [
        "OAuth2PasswordBearer",
        "compile.include_login_operation: true",
        "`login_access_token_api_v1_login_access_token_post` in `compile.include_operations`",
        "oauth2_password",
    ] {
        assert!(d.message.contains(needle), "missing {needle:?} in {d}");
    }
    assert!(
        d.to_string()
            .starts_with("info: POST /api/v1/login/access-token")
    );
    // Not an error: nothing was skipped.
    assert!(
        spec.diagnostics
            .iter()
            .all(|d| d.severity != Severity::Error)
    );
    assert_eq!(
        spec.security_schemes[0].kind,
        SecuritySchemeKind::OAuth2 {
            token_url: None,
            password_token_url: Some("/api/v1/login/access-token".into())
        }
    );
}

#[test]
fn a_relative_token_url_names_the_operation_below_the_server() {
    let spec = compile_with(TUTORIAL, &CompileOptions::default());
    // Only the POST is the login; the GET at the same path stays a tool.
    assert_eq!(names(&spec), ["token_info", "read_users_me"]);
    let with_server = TUTORIAL.replace("paths:", "servers: [{url: /api/}]\npaths:");
    let spec = compile_with(&with_server, &CompileOptions::default());
    assert_eq!(names(&spec), ["token_info", "read_users_me"]);
}

#[test]
fn the_login_operation_is_served_when_asked_for() {
    let opts = CompileOptions {
        include_login_operation: true,
        ..Default::default()
    };
    let spec = compile_with(TUTORIAL, &opts);
    assert_eq!(
        names(&spec),
        ["token_info", "login_for_access_token", "read_users_me"]
    );
    assert!(spec.diagnostics.is_empty(), "{:?}", spec.diagnostics);

    let opts = CompileOptions {
        include_operations: vec!["login_for_access_token_token_post".into()],
        ..Default::default()
    };
    let spec = compile_with(TUTORIAL, &opts);
    assert_eq!(names(&spec), ["login_for_access_token"]);
    assert!(spec.diagnostics.is_empty(), "{:?}", spec.diagnostics);
}

#[test]
fn an_operation_excluded_anyway_gets_no_login_diagnostic() {
    let opts = CompileOptions {
        exclude_operations: vec!["login_for_access_token_token_post".into()],
        ..Default::default()
    };
    let spec = compile_with(TUTORIAL, &opts);
    assert!(spec.diagnostics.is_empty(), "{:?}", spec.diagnostics);
}

#[test]
fn swagger_2_password_flows_are_recognised() {
    let text = r#"
swagger: "2.0"
info: {title: t, version: "1"}
basePath: /v2
securityDefinitions:
  login: {type: oauth2, flow: password, tokenUrl: /v2/oauth/token, scopes: {}}
paths:
  /oauth/token:
    post:
      operationId: token
      responses: {"200": {description: ok}}
  /pets:
    get:
      operationId: pets
      security: [{login: []}]
      responses: {"200": {description: ok}}
"#;
    let spec = compile_with(text, &CompileOptions::default());
    assert_eq!(names(&spec), ["pets"]);
    assert_eq!(spec.diagnostics.len(), 1, "{:?}", spec.diagnostics);
    assert_eq!(spec.diagnostics[0].severity, Severity::Info);
}
