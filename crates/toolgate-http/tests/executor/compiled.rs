//! The contract with the real compiler: operations compiled from specs execute as the spec
//! says, and every compiled input schema is accepted by the validator.

use std::path::Path;

use serde_json::json;
use toolgate_http::{HttpBackend, HttpSourceOptions, check_input_schema};
use toolgate_openapi::{CompileOptions, NoExternalRefs, compile, parse_document};

use crate::common::*;

fn compile_text(text: &str) -> toolgate_openapi::CompiledSpec {
    let doc = parse_document(text.as_bytes()).unwrap();
    compile(&doc, None, &CompileOptions::default(), &NoExternalRefs).unwrap()
}

#[test]
fn every_compiled_fixture_schema_is_accepted_by_the_validator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../toolgate-openapi/tests/fixtures");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("no compiler fixtures at {}; skipped", dir.display());
        return;
    };
    let mut checked = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let Ok(doc) = parse_document(&bytes) else {
            continue;
        };
        let Ok(spec) = compile(&doc, None, &CompileOptions::default(), &NoExternalRefs) else {
            continue;
        };
        for op in &spec.operations {
            check_input_schema(op).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} operations checked");
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
