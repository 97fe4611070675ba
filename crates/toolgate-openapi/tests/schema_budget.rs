//! Regression: Microsoft Graph (APIs.guru `microsoft.com/graph-beta.json`, 47 MB, 22,000
//! operations) ran out of memory (> 23 GB): every entity links to every other, so each tool
//! schema carried nearly all ~6,000 definitions. A tool schema's `$defs` are now capped (taken
//! breadth-first; refs past the cap become their `type`), and the cap shrinks for specs with very
//! many tools.

use serde_json::{Map, Value, json};
use toolgate_openapi::{CompileOptions, NoExternalRefs, Severity, compile};

/// `n` component schemas, each ~2 KB of description, each linking to the next 5 (so one
/// tool's closure is all of them), and `ops` operations returning and taking `S0`.
fn densely_linked(n: usize, ops: usize) -> Value {
    let mut schemas = Map::new();
    for i in 0..n {
        let mut props = Map::new();
        props.insert("id".into(), json!({"type": "string"}));
        for k in 1..=5 {
            props.insert(
                format!("link{k}"),
                json!({"$ref": format!("#/components/schemas/S{}", (i + k) % n)}),
            );
        }
        schemas.insert(
            format!("S{i}"),
            json!({"type": "object", "description": "x".repeat(2000), "properties": props}),
        );
    }
    let mut paths = Map::new();
    for o in 0..ops {
        paths.insert(
            format!("/things{o}"),
            json!({"post": {
                "operationId": format!("op{o}"),
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"type": "object", "properties": {"thing": {"$ref": "#/components/schemas/S0"}}}}}},
                "responses": {"200": {"description": "ok", "content": {"application/json": {
                    "schema": {"type": "object", "properties": {"thing": {"$ref": "#/components/schemas/S0"}}}}}}}
            }}),
        );
    }
    json!({"openapi": "3.0.3", "info": {"title": "dense", "version": "1"}, "paths": paths,
        "components": {"schemas": schemas}})
}

fn defs_size(schema: &Map<String, Value>) -> usize {
    schema
        .get("$defs")
        .map_or(0, |d| serde_json::to_vec(d).unwrap().len())
}

/// Every `#/$defs/X` ref in `v` names a def that `defs` has.
fn refs_resolve(v: &Value, defs: &Map<String, Value>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                let name = r.strip_prefix("#/$defs/").expect("local ref");
                assert!(defs.contains_key(name), "dangling {r}");
            }
            m.values().for_each(|x| refs_resolve(x, defs));
        }
        Value::Array(a) => a.iter().for_each(|x| refs_resolve(x, defs)),
        _ => {}
    }
}

fn check_capped(n: usize, ops: usize, cap: usize) {
    // The spec-wide budget alone (the separate, smaller output cap is tested below).
    let options = CompileOptions {
        max_output_schema_defs_bytes: 0,
        ..Default::default()
    };
    let spec = compile(&densely_linked(n, ops), None, &options, &NoExternalRefs).unwrap();
    assert_eq!(spec.operations.len(), ops);
    for (i, op) in spec.operations.iter().enumerate() {
        for s in std::iter::once(&op.input_schema).chain(op.output_schema.as_ref()) {
            let size = defs_size(s);
            // The cap counts each `"name":def,`; the object's braces add at most 2 bytes.
            assert!(
                size <= cap + 2 && size > cap / 2,
                "{}: $defs of {size} bytes",
                op.name
            );
            if i >= 3 {
                continue; // the others are the same; validating thousands is slow in debug
            }
            let v = Value::Object(s.clone());
            refs_resolve(&v, s["$defs"].as_object().unwrap());
            let validator = jsonschema::validator_for(&v).expect("schema compiles");
            // Near the tool, defs are checked in full; past the cap, any object is accepted.
            assert!(!validator.is_valid(&json!({"thing": {"id": 1}})));
            assert!(!validator.is_valid(&json!({"thing": {"link1": {"id": 1}}})));
            let mut deep = json!({"id": 1});
            for _ in 0..n {
                deep = json!({"id": "x", "link1": deep});
            }
            assert!(validator.is_valid(&json!({"thing": deep})));
        }
    }
    let warnings = spec
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning && d.message.contains("too large"))
        .count();
    assert_eq!(warnings, 2 * ops, "{:#?}", spec.diagnostics);
}

#[test]
fn densely_linked_schemas_are_capped_per_tool() {
    // 300 × 2 KB reachable from each tool: 600 KB uncapped, capped at 128 KiB.
    check_capped(300, 3, 128 * 1024);
}

#[test]
fn many_tools_share_a_smaller_cap() {
    // 4,000 tools: 256 MiB / 8,000 schemas = 32.8 KiB each.
    check_capped(60, 4000, 256 * 1024 * 1024 / 8000);
}

#[test]
fn small_closures_are_untouched() {
    // 40 × 2 KB = 80 KB fits: every def is there in full, and no warning.
    let spec = compile(
        &densely_linked(40, 2),
        None,
        &CompileOptions::default(),
        &NoExternalRefs,
    )
    .unwrap();
    assert!(spec.diagnostics.is_empty(), "{:#?}", spec.diagnostics);
    for op in &spec.operations {
        assert_eq!(op.input_schema["$defs"].as_object().unwrap().len(), 40);
    }
}

#[test]
fn output_schemas_are_trimmed_to_the_output_cap_and_inputs_are_not() {
    // 40 × 2 KB reachable: 80 KB of defs, under the spec-wide budget but over the 4 KiB
    // default output cap.
    let spec = compile(
        &densely_linked(40, 2),
        None,
        &CompileOptions::default(),
        &NoExternalRefs,
    )
    .unwrap();
    for op in &spec.operations {
        let input = defs_size(&op.input_schema);
        let output = defs_size(op.output_schema.as_ref().unwrap());
        assert!(
            input > 40 * 2000,
            "input $defs must stay whole: {input} bytes"
        );
        assert!(
            output <= 4096 + 2,
            "output $defs over the cap: {output} bytes"
        );
        let out = Value::Object(op.output_schema.clone().unwrap());
        refs_resolve(&out, out["$defs"].as_object().unwrap());
        let validator = jsonschema::validator_for(&out).expect("schema compiles");
        let mut deep = json!({"id": "x"});
        for _ in 0..40 {
            deep = json!({"id": "x", "link1": deep});
        }
        assert!(
            validator.is_valid(&json!({"thing": deep})),
            "real responses must still validate"
        );
        assert!(
            !validator.is_valid(&json!({"thing": {"id": 1}})),
            "near the root, types are still checked"
        );
    }
    assert!(
        spec.diagnostics.is_empty(),
        "trimming to the configured output cap is policy, not a warning: {:#?}",
        spec.diagnostics
    );
    // 0 turns the cap off.
    let whole = compile(
        &densely_linked(40, 2),
        None,
        &CompileOptions {
            max_output_schema_defs_bytes: 0,
            ..Default::default()
        },
        &NoExternalRefs,
    )
    .unwrap();
    assert!(defs_size(whole.operations[0].output_schema.as_ref().unwrap()) > 40 * 2000);
}
