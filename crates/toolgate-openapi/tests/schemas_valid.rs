//! Every emitted input/output schema of every fixture compiles as JSON Schema 2020-12, and
//! accepts a few obviously valid instances.

mod common;

use serde_json::{Value, json};

#[test]
fn every_emitted_schema_compiles() {
    let mut checked = 0;
    for fixture in common::ALL {
        let spec = common::compile_fixture(fixture);
        for op in &spec.operations {
            let mut schemas = vec![("input", &op.input_schema)];
            if let Some(o) = &op.output_schema {
                schemas.push(("output", o));
            }
            for (which, s) in schemas {
                assert_eq!(
                    s.get("type"),
                    Some(&json!("object")),
                    "{fixture} {} {which} schema is not an object schema",
                    op.name
                );
                let v = Value::Object(s.clone());
                assert!(
                    jsonschema::meta::is_valid(&v),
                    "{fixture} {} {which} schema is not valid against its meta-schema: {v}",
                    op.name
                );
                jsonschema::validator_for(&v).unwrap_or_else(|e| {
                    panic!(
                        "{fixture} {} {which} schema does not compile: {e}\n{v}",
                        op.name
                    )
                });
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} schemas checked");
}

#[test]
fn recursive_input_validates_nested_instances() {
    let spec = common::compile_fixture("self_ref.yaml");
    let op = &spec.operations[0];
    let v = jsonschema::validator_for(&Value::Object(op.input_schema.clone())).unwrap();
    assert!(v.is_valid(&json!({"value": "a", "children": [{"value": "b", "children": []}]})));
    assert!(!v.is_valid(&json!({"value": "a", "children": [{"children": []}]})));
}

#[test]
fn nullable_fields_accept_null() {
    let spec = common::compile_fixture("nullable.yaml");
    let op = &spec.operations[0];
    let v = jsonschema::validator_for(&Value::Object(op.input_schema.clone())).unwrap();
    assert!(v.is_valid(&json!({"q": null, "name": null, "color": null, "ref": null, "count": 2})));
    assert!(
        !v.is_valid(&json!({"count": 1})),
        "exclusiveMinimum 1 must reject 1"
    );
    assert!(!v.is_valid(&json!({"color": "green"})));
}

#[test]
fn readonly_props_are_not_inputs_and_writeonly_not_outputs() {
    let spec = common::compile_fixture("petstore.yaml");
    let put = spec
        .operations
        .iter()
        .find(|o| o.name == "updatePet")
        .unwrap();
    let props = put.input_schema["properties"].as_object().unwrap();
    assert!(!props.contains_key("id") && props.contains_key("secret"));
    let out = put.output_schema.as_ref().unwrap()["properties"]
        .as_object()
        .unwrap();
    assert!(out.contains_key("id") && !out.contains_key("secret"));
}
