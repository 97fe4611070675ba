//! The contract with the real compiler: operations compiled from specs execute as the spec
//! says, and every compiled input schema is accepted by the validator.

use std::path::{Path, PathBuf};

use serde_json::json;
use toolgate_http::{HttpBackend, HttpSourceOptions, check_input_schemas};
use toolgate_openapi::{CompileOptions, DocumentLoader, NoExternalRefs, compile, parse_document};

use crate::common::*;

fn compile_text(text: &str) -> toolgate_openapi::CompiledSpec {
    let doc = parse_document(text.as_bytes()).unwrap();
    compile(&doc, None, &CompileOptions::default(), &NoExternalRefs).unwrap()
}

/// Loads `file:///fixtures/...` from the compiler's fixtures folder (external `$ref`s).
struct Fixtures(PathBuf);

impl DocumentLoader for Fixtures {
    fn load(&self, uri: &str) -> Result<serde_json::Value, String> {
        let rel = uri
            .strip_prefix("file:///fixtures/")
            .filter(|rel| !rel.split('/').any(|seg| seg == ".."))
            .ok_or_else(|| format!("`{uri}` is outside the fixtures folder"))?;
        let bytes = std::fs::read(self.0.join(rel)).map_err(|e| format!("{rel}: {e}"))?;
        parse_document(&bytes).map_err(|e| e.to_string())
    }
}

/// Every file under `dir`, depth first, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("the compiler's fixtures at {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Every fixture of the compiler parses, every one that is a whole spec (not a fragment
/// another one references) compiles, and every compiled input schema compiles as the
/// argument validator compiles it.
#[test]
fn every_compiled_fixture_schema_is_accepted_by_the_validator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../toolgate-openapi/tests/fixtures");
    let loader = Fixtures(dir.clone());
    let (mut specs, mut operations) = (0, 0);
    for path in files(&dir) {
        let rel = path
            .strip_prefix(&dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let doc = parse_document(&bytes).unwrap_or_else(|e| panic!("{rel} does not parse: {e}"));
        if doc.get("openapi").is_none() && doc.get("swagger").is_none() {
            continue; // a fragment, compiled through the spec that references it
        }
        let base = format!("file:///fixtures/{rel}");
        let spec = compile(&doc, Some(&base), &CompileOptions::default(), &loader)
            .unwrap_or_else(|e| panic!("{rel} does not compile: {e}"));
        assert!(!spec.operations.is_empty(), "{rel} yields no operation");
        let schemas = spec
            .operations
            .iter()
            .map(|op| (op.name.as_str(), &op.input_schema));
        let problems = check_input_schemas(schemas);
        assert!(problems.is_empty(), "{rel}: {problems:?}");
        specs += 1;
        operations += spec.operations.len();
    }
    // The 23 fixture specs at the time of writing; more only add to it.
    assert!(
        specs >= 23,
        "only {specs} fixture specs found in {}",
        dir.display()
    );
    assert!(operations >= 60, "only {operations} operations checked");
}

const SPEC: &str = r#"
openapi: 3.1.0
info: {title: Styles, version: "1"}
paths:
  /items/{id}/{coords}:
    get:
      operationId: getItem
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
        - {name: coords, in: path, required: true, style: matrix, explode: true, schema: {type: array, items: {type: integer}}}
        - {name: tags, in: query, schema: {type: array, items: {type: string}}}
        - {name: ids, in: query, style: pipeDelimited, explode: false, schema: {type: array, items: {type: integer}}}
        - {name: filter, in: query, style: deepObject, explode: true, schema: {type: object, properties: {color: {type: string}}}}
        - {name: X-Trace, in: header, schema: {type: string}}
        - {name: session, in: cookie, schema: {type: string}}
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {type: array, items: {type: object}}
  /documents:
    post:
      operationId: upload
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema:
              type: object
              required: [file]
              properties:
                title: {type: string}
                file: {type: string, format: binary}
      responses:
        "204": {description: done}
"#;

#[tokio::test]
async fn compiled_operations_execute_per_the_spec() {
    let server = server(|r| {
        if r.method == "GET" {
            Reply::json(json!([{"id": 1}]))
        } else {
            Reply::status(204)
        }
    })
    .await;
    let spec = compile_text(SPEC);
    assert!(spec.diagnostics.is_empty(), "{:?}", spec.diagnostics);
    let b = HttpBackend::new(
        server.url(),
        spec.security_schemes.clone(),
        HttpSourceOptions::default(),
    )
    .unwrap();
    let get_item = std::sync::Arc::new(
        spec.operations
            .iter()
            .find(|o| o.name == "getItem")
            .unwrap()
            .clone(),
    );
    let r = call(
        &b,
        &get_item,
        json!({"id": 7, "coords": [1, 2], "tags": ["a", "b c"], "ids": [3, 4], "filter": {"color": "red"}, "X-Trace": "t", "session": "s1"}),
    )
    .await
    .unwrap();
    let rec = server.last();
    assert_eq!(
        rec.target,
        "/items/7/;coords=1;coords=2?tags=a&tags=b%20c&ids=3|4&filter[color]=red"
    );
    assert_eq!(rec.header("x-trace").as_deref(), Some("t"));
    assert_eq!(rec.header("cookie").as_deref(), Some("session=s1"));
    let wrap = get_item
        .output_wrap
        .clone()
        .expect("array output is wrapped");
    assert_eq!(r.structured_content, Some(json!({ wrap: [{"id": 1}] })));

    let upload = std::sync::Arc::new(
        spec.operations
            .iter()
            .find(|o| o.name == "upload")
            .unwrap()
            .clone(),
    );
    let r = call(
        &b,
        &upload,
        json!({"title": "t", "file": "data:text/plain;name=a.txt;base64,aGk="}),
    )
    .await
    .unwrap();
    assert_eq!(text(&r), "204 No Content: POST /documents succeeded");
    let body = server.last().body_text();
    assert!(
        body.contains(
            "name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        ),
        "{body}"
    );

    let err = call(&b, &get_item, json!({"id": "seven", "coords": [1]}))
        .await
        .unwrap_err();
    assert_eq!(err.violations.len(), 1, "{}", err.message);
    assert_eq!(err.violations[0].path, "/id");
}
