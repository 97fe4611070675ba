//! `parse_for_compile` leaves out what the compiler never reads (examples, webhooks, links,
//! callbacks) and nothing else: keys of the same names inside schemas are kept, the compiled
//! result is the same as from the full document, and a `$ref` into a left-out part makes it
//! parse the document in full.

mod common;

use common::{ALL, FixtureLoader, fixtures, options_for};
use serde_json::{Value, json};
use toolgate_openapi::{CompiledSpec, compile, parse_document, parse_for_compile};

fn compiled(doc: &Value, name: &str) -> Value {
    let base = format!("file:///fixtures/{name}");
    let opts = options_for(name.rsplit('/').next().unwrap_or(name));
    let spec: CompiledSpec =
        compile(doc, Some(&base), &opts, &FixtureLoader).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::to_value(spec).unwrap()
}

/// A spec with every part that is left out, and keys of the same names where they are kept.
fn spec() -> Value {
    let example_ref = json!({"$ref": "#/components/examples/pet"});
    json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://api.example.com"}],
        "tags": [{"name": "pets"}],
        "externalDocs": {"url": "https://example.com"},
        "x-webhooks": {"pet": {"post": {"responses": {"200": {"description": "ok"}}}}},
        "webhooks": {"pet": {"post": {"responses": {"200": {"description": "ok"}}}}},
        "paths": {
            "/pets/{id}": {
                "parameters": [{
                    "name": "id", "in": "path", "required": true,
                    "schema": {"type": "integer"},
                    "examples": {"one": {"value": 1}}
                }],
                "get": {
                    "operationId": "getPet",
                    "externalDocs": {"url": "https://example.com"},
                    "callbacks": {"cb": {"{$request.body#/url}": {"post": {"responses": {}}}}},
                    "parameters": [{
                        "name": "filter", "in": "query",
                        "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Filter"},
                            "examples": {"a": example_ref.clone()}
                        }}
                    }],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "links": {"self": {"operationId": "getPet"}},
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/Pet"},
                                "example": {"id": 1},
                                "examples": {"default": example_ref}
                            }}
                        }
                    }
                },
                "put": {
                    "operationId": "putPet",
                    "requestBody": {"content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Pet"},
                        "examples": {"default": {"value": {"id": 1}}}
                    }}},
                    "responses": {"204": {"description": "ok"}}
                }
            }
        },
        "components": {
            "schemas": {
                "Pet": {
                    "type": "object",
                    "example": {"id": 1, "examples": ["x"]},
                    "properties": {
                        "id": {"type": "integer", "example": 1},
                        "examples": {"type": "array", "items": {"type": "string"}, "examples": [["a"]]},
                        "example": {"type": "string"},
                        "content": {"type": "object", "properties": {
                            "examples": {"type": "string"},
                            "links": {"type": "string"}
                        }}
                    }
                },
                "Filter": {"type": "object", "properties": {"q": {"type": "string"}}},
                "examples": {"type": "string"}
            },
            "examples": {"pet": {"value": {"id": 1}}},
            "links": {"self": {"operationId": "getPet"}},
            "callbacks": {"cb": {}},
            "responses": {"NotFound": {
                "description": "nf",
                "content": {"application/json": {"examples": {"a": {"value": 1}}}}
            }}
        }
    })
}

#[test]
fn left_out_parts_are_skipped_and_same_named_schema_keys_kept() {
    let full = spec();
    let doc = parse_for_compile(full.to_string().as_bytes()).unwrap();

    // Left out.
    for ptr in [
        "/tags",
        "/externalDocs",
        "/x-webhooks",
        "/webhooks",
        "/components/examples",
        "/components/links",
        "/components/callbacks",
        "/paths/~1pets~1{id}/get/externalDocs",
        "/paths/~1pets~1{id}/get/callbacks",
        "/paths/~1pets~1{id}/get/responses/200/links",
        "/paths/~1pets~1{id}/get/responses/200/content/application~1json/example",
        "/paths/~1pets~1{id}/get/responses/200/content/application~1json/examples",
        "/paths/~1pets~1{id}/get/parameters/0/content/application~1json/examples",
        "/paths/~1pets~1{id}/put/requestBody/content/application~1json/examples",
        "/components/responses/NotFound/content/application~1json/examples",
    ] {
        assert!(full.pointer(ptr).is_some(), "{ptr} is in the fixture");
        assert!(doc.pointer(ptr).is_none(), "{ptr} should be left out");
    }

    // Kept, though named like left-out parts: everything in schemas, parameter-level examples.
    for ptr in [
        "/components/schemas/Pet",
        "/components/schemas/examples",
        "/paths/~1pets~1{id}/parameters/0/examples",
        "/paths/~1pets~1{id}/get/responses/200/content/application~1json/schema",
        "/paths/~1pets~1{id}/get/parameters/0/content/application~1json/schema",
    ] {
        assert_eq!(doc.pointer(ptr), full.pointer(ptr), "{ptr} should be kept");
    }

    // Nothing else is left out: with those parts removed, the documents are equal.
    let mut expected = full.clone();
    let root = expected.as_object_mut().unwrap();
    for k in ["tags", "externalDocs", "x-webhooks", "webhooks"] {
        root.remove(k);
    }
    let components = root["components"].as_object_mut().unwrap();
    for k in ["examples", "links", "callbacks"] {
        components.remove(k);
    }
    components["responses"]["NotFound"]["content"]["application/json"]
        .as_object_mut()
        .unwrap()
        .remove("examples");
    let item = &mut root["paths"]["/pets/{id}"];
    let get = item["get"].as_object_mut().unwrap();
    get.remove("externalDocs");
    get.remove("callbacks");
    get["parameters"][0]["content"]["application/json"]
        .as_object_mut()
        .unwrap()
        .remove("examples");
    let ok = get["responses"]["200"].as_object_mut().unwrap();
    ok.remove("links");
    let media = ok["content"]["application/json"].as_object_mut().unwrap();
    media.remove("example");
    media.remove("examples");
    item["put"]["requestBody"]["content"]["application/json"]
        .as_object_mut()
        .unwrap()
        .remove("examples");
    assert_eq!(doc, expected);

    // And the compiled result is the same.
    assert_eq!(
        compiled(&doc, "inline.json"),
        compiled(&full, "inline.json")
    );
}

#[test]
fn yaml_leaves_out_the_same_parts() {
    let full = spec();
    let yaml = serde_norway::to_string(&full).unwrap();
    let from_yaml = parse_for_compile(yaml.as_bytes()).unwrap();
    let from_json = parse_for_compile(full.to_string().as_bytes()).unwrap();
    assert_eq!(from_yaml, from_json);
}

#[test]
fn a_ref_into_a_left_out_part_parses_the_document_in_full() {
    let mut full = spec();
    // A schema whose property is the value of a named example: valid, if unusual.
    full["components"]["schemas"]["Filter"]["properties"]["sample"] =
        json!({"$ref": "#/components/examples/pet/value"});
    let doc = parse_for_compile(full.to_string().as_bytes()).unwrap();
    assert_eq!(doc, full);
    let yaml = serde_norway::to_string(&full).unwrap();
    assert_eq!(parse_for_compile(yaml.as_bytes()).unwrap(), full);
}

#[test]
fn a_ref_inside_an_example_does_not_force_a_full_parse() {
    // GitHub's description has a schema `example` that is a `$ref` object: a literal value the
    // compiler copies and never follows.
    let mut full = spec();
    full["components"]["schemas"]["Filter"]["example"] =
        json!({"$ref": "#/components/examples/pet"});
    let doc = parse_for_compile(full.to_string().as_bytes()).unwrap();
    assert!(doc.pointer("/components/examples").is_none());
    assert_eq!(
        doc.pointer("/components/schemas/Filter/example"),
        full.pointer("/components/schemas/Filter/example")
    );
    assert_eq!(
        compiled(&doc, "inline.json"),
        compiled(&full, "inline.json")
    );
}

#[test]
fn every_fixture_compiles_the_same_as_json_and_yaml_with_parts_left_out() {
    for name in ALL {
        let bytes = std::fs::read(fixtures().join(name)).unwrap();
        let full = parse_document(&bytes).unwrap();
        let expected = compiled(&full, name);
        assert_eq!(
            compiled(&parse_for_compile(&bytes).unwrap(), name),
            expected,
            "{name}"
        );
        // The JSON parser (most fixtures are YAML).
        let json = serde_json::to_vec(&full).unwrap();
        assert_eq!(parse_document(&json).unwrap(), full, "{name}");
        assert_eq!(
            compiled(&parse_for_compile(&json).unwrap(), name),
            expected,
            "{name} as JSON"
        );
    }
}

#[test]
fn full_parse_without_a_loader_matches_serde_json() {
    let text = spec().to_string();
    let ours = parse_document(text.as_bytes()).unwrap();
    let theirs: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(ours, theirs);
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        serde_json::to_string(&theirs).unwrap()
    );
}
