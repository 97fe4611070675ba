//! Whole-document errors: not OpenAPI, unsupported versions, syntax errors, bad options.

use toolgate_openapi::{
    CompileOptions, NoExternalRefs, RouteMap, RouteTarget, SpecError, compile, parse_document,
};

fn compile_str(s: &str) -> Result<toolgate_openapi::CompiledSpec, SpecError> {
    let doc = parse_document(s.as_bytes())?;
    compile(&doc, None, &CompileOptions::default(), &NoExternalRefs)
}

#[test]
fn not_openapi_without_version_key() {
    assert!(matches!(
        compile_str("info: {title: x}\npaths: {}\n"),
        Err(SpecError::NotOpenApi(_))
    ));
}

#[test]
fn unsupported_versions_are_not_openapi() {
    assert!(matches!(
        compile_str("openapi: 4.0.0\n"),
        Err(SpecError::NotOpenApi(_))
    ));
    assert!(matches!(
        compile_str("swagger: '1.2'\n"),
        Err(SpecError::NotOpenApi(_))
    ));
}

#[test]
fn paths_must_be_an_object() {
    assert!(matches!(
        compile_str("openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths: []\n"),
        Err(SpecError::Invalid { .. })
    ));
}

#[test]
fn syntax_errors_name_the_line() {
    let err = parse_document(b"openapi: 3.0.0\ninfo: {title: t\n").unwrap_err();
    assert!(matches!(err, SpecError::Syntax(_)));
    assert!(err.to_string().contains("line"), "{err}");
}

#[test]
fn bad_route_map_regex_is_an_options_error() {
    let doc =
        parse_document(b"openapi: 3.0.0\ninfo: {title: t, version: '1'}\npaths: {}\n").unwrap();
    let opts = CompileOptions {
        route_maps: vec![RouteMap {
            methods: vec![],
            path: Some("[".into()),
            tags: vec![],
            to: RouteTarget::Tool,
        }],
        ..CompileOptions::default()
    };
    let err = compile(&doc, None, &opts, &NoExternalRefs).unwrap_err();
    assert!(matches!(err, SpecError::Options(_)), "{err}");
}

#[test]
fn external_refs_without_loader_skip_only_that_operation() {
    let spec = compile_str(
        r#"{"openapi":"3.0.0","info":{"title":"t","version":"1"},"paths":{
        "/a":{"get":{"parameters":[{"$ref":"other.yaml#/P"}],"responses":{"200":{"description":"ok"}}}},
        "/b":{"get":{"responses":{"200":{"description":"ok"}}}}}}"#,
    )
    .unwrap();
    assert_eq!(spec.operations.len(), 1);
    assert_eq!(spec.operations[0].name, "get_b");
    assert_eq!(spec.diagnostics.len(), 1);
    assert!(spec.diagnostics[0].pointer.starts_with("#/paths/~1a/get"));
}
