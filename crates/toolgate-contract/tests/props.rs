//! Properties of contracts and the diff over generated schemas: a contract never differs from
//! itself, the diff terminates and never panics on any pair (recursive `$ref`s included),
//! snapshots are byte-stable whatever the order of keys and set-valued keywords, and every
//! finding has a known rule whose severity it carries.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use toolgate_contract::{Contract, ToolContract, diff, diff::rules};

const NAMES: [&str; 4] = ["a", "b", "c", "d"];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"type": "string"})),
        Just(json!({"type": "integer", "maximum": 10})),
        Just(json!({"type": "number", "minimum": 0})),
        Just(json!({"type": ["string", "null"]})),
        Just(json!({"type": "string", "format": "uuid"})),
        Just(json!({"type": "string", "enum": ["x", "y"]})),
        Just(json!({"type": "string", "pattern": "^a"})),
        Just(json!({"$ref": "#/$defs/Node"})),
        Just(json!({})),
        Just(json!(true)),
    ]
}

fn schema() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (
                prop::collection::btree_map(prop::sample::select(&NAMES[..]), inner.clone(), 0..4),
                prop::collection::vec(prop::sample::select(&NAMES[..]), 0..3),
                prop::option::of(any::<bool>()),
            )
                .prop_map(|(props, required, extra)| {
                    let mut m = Map::new();
                    m.insert("type".into(), json!("object"));
                    m.insert(
                        "properties".into(),
                        Value::Object(props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
                    );
                    m.insert("required".into(), json!(required));
                    if let Some(e) = extra {
                        m.insert("additionalProperties".into(), json!(e));
                    }
                    Value::Object(m)
                }),
            inner
                .clone()
                .prop_map(|i| json!({"type": "array", "items": i})),
            prop::collection::vec(inner.clone(), 1..4).prop_map(|b| json!({"anyOf": b})),
            prop::collection::vec(inner, 1..3).prop_map(|b| json!({"oneOf": b})),
        ]
    })
}

/// A root schema with a recursive `$defs` entry the leaves may point to.
fn root() -> impl Strategy<Value = Value> {
    (schema(), schema()).prop_map(|(s, node)| {
        let mut s = match s {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let node = json!({"type": "object", "properties": {"value": node, "next": {"$ref": "#/$defs/Node"}}});
        s.insert("$defs".into(), json!({ "Node": node }));
        Value::Object(s)
    })
}

fn contract(input: Value, output: Value) -> Contract {
    Contract::new(
        None,
        "test",
        vec![ToolContract {
            name: "t".into(),
            title: None,
            description: None,
            input_schema: input,
            output_schema: Some(output),
            annotations: None,
        }],
        vec![],
        vec![],
        vec![],
    )
}

/// `v` with every object's keys and every set-valued array reversed.
fn shuffled(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .rev()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("required" | "enum" | "type", Value::Array(a)) => {
                            Value::Array(a.iter().rev().cloned().collect())
                        }
                        _ => shuffled(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(shuffled).collect()),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_contract_never_differs_from_itself(input in root(), output in root()) {
        let c = contract(input.clone(), output.clone());
        prop_assert!(diff(&c, &c).is_empty());
        // Nor from the same schemas written in another order.
        let other = contract(shuffled(&input), shuffled(&output));
        prop_assert_eq!(&c.to_pretty_json(), &other.to_pretty_json());
        prop_assert!(diff(&c, &other).is_empty(), "{:#?}", diff(&c, &other));
    }

    #[test]
    fn any_pair_diffs_with_known_rules(a in root(), b in root(), c in root(), d in root()) {
        let old = contract(a, c);
        let new = contract(b, d);
        for f in diff(&old, &new).into_iter().chain(diff(&new, &old)) {
            prop_assert!(rules::all().iter().any(|r| r.id == f.rule), "unknown rule {}", f.rule);
            prop_assert_eq!(f.severity, rules::severity(&f.rule));
            prop_assert!(f.pointer.is_empty() || f.pointer.starts_with('/'));
            prop_assert!(!f.reason.is_empty());
        }
    }

    #[test]
    fn a_snapshot_reads_back_to_itself(input in root(), output in root()) {
        let c = contract(input, output);
        let text = c.to_pretty_json();
        let back = Contract::from_json(serde_json::from_str(&text).unwrap()).unwrap();
        prop_assert_eq!(back.to_pretty_json(), text);
    }
}
