//! A spec compiled on two threads gives exactly what one thread gives: the same operations,
//! tool names, `$defs` names and diagnostics, in the same order.

mod common;

use common::{ALL, compile_fixture, compile_fixture_with};
use serde_json::{Value, json};
use toolgate_openapi::{
    CompileOptions, CompiledSpec, NoExternalRefs, compile, compile_on_two_threads,
    two_worker_compiles,
};

fn both(doc: &Value) -> (Value, Value) {
    let opts = CompileOptions::default();
    let one = compile(doc, None, &opts, &NoExternalRefs).expect("compiles");
    let before = two_worker_compiles();
    let two = compile_on_two_threads(doc, None, &opts, &NoExternalRefs).expect("compiles");
    assert_eq!(
        two_worker_compiles(),
        before + 1,
        "the second compile must run on two workers, even on a one-core machine"
    );
    (json(&one), json(&two))
}

fn json(spec: &CompiledSpec) -> Value {
    serde_json::to_value(spec).expect("serializes")
}

#[test]
fn every_fixture_compiles_the_same_on_two_threads() {
    let mut two_workers = 0;
    for name in ALL {
        let one = compile_fixture(name);
        let before = two_worker_compiles();
        let two = compile_fixture_with(name, compile_on_two_threads);
        two_workers += two_worker_compiles() - before;
        assert_eq!(json(&one), json(&two), "{name}");
    }
    // Fixtures with one path item compile on one thread; the others must not.
    assert!(
        two_workers * 2 >= ALL.len(),
        "{two_workers} of {} on two workers",
        ALL.len()
    );
}

/// An operation with a body property `v` whose schema is `$ref: target`.
fn op(id: &str, target: &str) -> Value {
    json!({"post": {
        "operationId": id,
        "requestBody": {"content": {"application/json": {"schema": {
            "type": "object", "properties": {"v": {"$ref": target}}
        }}}},
        "responses": {"200": {"description": "ok"}}
    }})
}

#[test]
fn a_def_name_the_second_thread_cannot_know_is_taken_is_recompiled() {
    // Both halves reference a location that is not a component schema and is named after its
    // last segment, `item`: alone, the second thread would call its own `item` too, but the
    // first thread took that name. The result must still be `item` and `item_2`.
    let doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": op("a", "#/components/schemas/A/properties/item"),
            "/b": op("b", "#/components/schemas/B/properties/item"),
        },
        "components": {"schemas": {
            "A": {"type": "object", "properties": {"item": {"type": "object", "properties": {"x": {"type": "string"}}}}},
            "B": {"type": "object", "properties": {"item": {"type": "object", "properties": {"y": {"type": "integer"}}}}},
        }}
    });
    let (one, two) = both(&doc);
    assert_eq!(one, two);
    let defs = |i: usize| two["operations"][i]["input_schema"]["$defs"].clone();
    assert!(defs(0).get("item").is_some(), "{}", defs(0));
    assert!(defs(1).get("item_2").is_some(), "{}", defs(1));
}

#[test]
fn a_def_name_only_the_second_thread_meets_is_kept() {
    let doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": op("a", "#/components/schemas/A"),
            "/b": op("b", "#/components/schemas/B/properties/item"),
        },
        "components": {"schemas": {
            "A": {"type": "object", "properties": {"n": {"type": "string"}}},
            "B": {"type": "object", "properties": {"item": {"type": "object", "properties": {"y": {"type": "integer"}}}}},
        }}
    });
    let (one, two) = both(&doc);
    assert_eq!(one, two);
    assert!(two["operations"][1]["input_schema"]["$defs"]["item"].is_object());
}

#[test]
fn tool_names_are_unique_across_threads_with_warnings_in_place() {
    // The same operationId in both halves, and a warning from each operation: the renamed
    // second `dup` gets `dup_2`, and its warning comes after the first half's.
    let mut paths = serde_json::Map::new();
    for p in ["/a", "/b", "/c", "/d"] {
        paths.insert(
            p.to_owned(),
            json!({"get": {
                "operationId": "dup",
                "parameters": [{"name": "", "in": "query"}],
                "responses": {"200": {"description": "ok"}}
            }}),
        );
    }
    let doc = json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": paths,
    });
    let (one, two) = both(&doc);
    assert_eq!(one, two);
    let names: Vec<&str> = two["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dup", "dup_2", "dup_3", "dup_4"]);
    let ops: Vec<&str> = two["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        [
            "GET /a", "GET /b", "GET /b", "GET /c", "GET /c", "GET /d", "GET /d"
        ]
    );
}
