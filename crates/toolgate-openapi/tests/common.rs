//! Shared fixture helpers for the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use toolgate_openapi::{
    CompileOptions, CompiledSpec, DocumentLoader, HttpMethod, RouteMap, RouteTarget, SpecError,
    compile, parse_document, parse_for_compile,
};

/// The fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Loads `file://` URIs, confined to the fixtures folder.
pub struct FixtureLoader;

impl DocumentLoader for FixtureLoader {
    fn load(&self, uri: &str) -> Result<Value, String> {
        // Specs are addressed as `file:///fixtures/...` so snapshots do not depend on where the
        // repository is checked out.
        let rel = uri
            .strip_prefix("file:///fixtures/")
            .ok_or_else(|| format!("`{uri}` is outside the fixtures folder"))?;
        if rel.split('/').any(|seg| seg == "..") {
            return Err(format!("`{uri}` is outside the fixtures folder"));
        }
        let bytes = std::fs::read(fixtures().join(rel))
            .map_err(|e| format!("cannot read `{rel}`: {}", e.kind()))?;
        parse_document(&bytes).map_err(|e| e.to_string())
    }
}

/// The options a fixture is compiled with.
pub fn options_for(name: &str) -> CompileOptions {
    let mut o = CompileOptions::default();
    match name {
        // The full-stack FastAPI template's ids, served under a namespace.
        "fastapi_tags.json" => o.namespace = Some("fsft".into()),
        "long_names.yaml" => {
            o.max_name_length = 24;
            o.namespace = Some("svc".into());
        }
        "petstore.yaml" => {
            o.max_description_length = 40;
            o.overrides.insert(
                "PUT /pets/{petId}".into(),
                toolgate_openapi::OperationOverride {
                    title: Some("Replace a pet".into()),
                    open_world: Some(false),
                    ..Default::default()
                },
            );
        }
        "route_maps.yaml" => {
            o.route_maps = vec![
                RouteMap {
                    methods: vec![],
                    path: Some("^/admin/".into()),
                    tags: vec![],
                    to: RouteTarget::Exclude,
                },
                RouteMap {
                    methods: vec![HttpMethod::Get],
                    path: None,
                    tags: vec![],
                    to: RouteTarget::Resource,
                },
                RouteMap {
                    methods: vec![HttpMethod::Post],
                    path: Some("^/users".into()),
                    tags: vec!["users".into()],
                    to: RouteTarget::Resource,
                },
            ];
            o.overrides.insert(
                "health".into(),
                toolgate_openapi::OperationOverride {
                    hidden: true,
                    ..Default::default()
                },
            );
        }
        "tags_filter.yaml" => {
            o.include_tags = vec!["public".into()];
            o.exclude_tags = vec!["beta".into()];
            o.exclude_operations = vec!["d".into()];
        }
        "fastapi.json" => {
            o.names.insert(
                "delete_user_users__user_id__delete".into(),
                "remove user".into(),
            );
            o.namespace = Some("todo".into());
        }
        _ => {}
    }
    o
}

/// All fixture specs (relative to the fixtures folder) that are compiled as roots.
pub const ALL: &[&str] = &[
    "petstore.yaml",
    "openapi31.yaml",
    "swagger2.yaml",
    "swagger2_formdata.yaml",
    "self_ref.yaml",
    "mutual_recursion.yaml",
    "external/main.yaml",
    "paths_ref.yaml",
    "discriminator.yaml",
    "nullable.yaml",
    "allof_body.yaml",
    "collisions.yaml",
    "non_object_bodies.yaml",
    "multipart.yaml",
    "form_urlencoded.yaml",
    "fastapi.json",
    "fastapi_security.json",
    "fastapi_tags.json",
    "long_names.yaml",
    "duplicate_names.yaml",
    "route_maps.yaml",
    "tags_filter.yaml",
    "broken_op.yaml",
    "unnamed_params.yaml",
    "fragment_without_slash.yaml",
];

/// Compiles a fixture with its options and the fixture loader.
pub fn compile_fixture(name: &str) -> CompiledSpec {
    compile_fixture_with(name, compile)
}

/// The signature of [`compile`].
pub type CompileFn = fn(
    &Value,
    Option<&str>,
    &CompileOptions,
    &dyn DocumentLoader,
) -> Result<CompiledSpec, SpecError>;

/// Compiles a fixture with its options and the fixture loader, through `compile`.
pub fn compile_fixture_with(name: &str, compile: CompileFn) -> CompiledSpec {
    let path = fixtures().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    // As the binary does: the root document without the parts the compiler never reads (the
    // snapshots show that this changes nothing), external ones in full through the loader.
    let doc = parse_for_compile(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    let base = format!("file:///fixtures/{name}");
    let opts = options_for(name.rsplit('/').next().unwrap_or(name));
    compile(&doc, Some(&base), &opts, &FixtureLoader).unwrap_or_else(|e| panic!("{name}: {e}"))
}
