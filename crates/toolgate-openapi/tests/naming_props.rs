//! Property tests for tool naming: every name is sanitized, within the cap, and unique.

use std::collections::HashSet;

use proptest::prelude::*;
use toolgate_openapi::naming::{Namer, derived_base};
use toolgate_openapi::{CompileOptions, NoExternalRefs, compile};

fn valid(name: &str, cap: usize) -> bool {
    !name.is_empty()
        && name.len() <= cap
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

proptest! {
    #[test]
    fn namer_names_are_valid_capped_and_unique(
        ids in prop::collection::vec(prop::option::of("\\PC{0,80}"), 1..40),
        paths in prop::collection::vec("(/[a-z{}_.~-]{0,12}){0,6}", 1..40),
        namespace in prop::option::of("\\PC{0,20}"),
        cap in 16usize..90,
    ) {
        let mut namer = Namer::new(cap);
        let mut seen = HashSet::new();
        for (i, id) in ids.iter().enumerate() {
            let path = &paths[i % paths.len()];
            let base = derived_base(id.as_deref(), path, "get");
            let (name, _) = namer.assign(namespace.as_deref(), &base, &format!("get_{path}"));
            prop_assert!(valid(&name, cap), "invalid name {name:?} (cap {cap})");
            prop_assert!(seen.insert(name.clone()), "duplicate name {name:?}");
        }
    }

    #[test]
    fn compiled_spec_names_are_valid_capped_and_unique(
        ids in prop::collection::vec(prop::option::of("[A-Za-z0-9 ._/{}-]{0,90}"), 1..25),
        namespace in prop::option::of("[a-z_ -]{0,24}"),
        cap in 16usize..70,
    ) {
        let mut paths = serde_json::Map::new();
        for (i, id) in ids.iter().enumerate() {
            let mut op = serde_json::json!({"responses": {"200": {"description": "ok"}}});
            if let Some(id) = id {
                op["operationId"] = id.clone().into();
            }
            paths.insert(format!("/p{i}"), serde_json::json!({"get": op.clone(), "post": op}));
        }
        let doc = serde_json::json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "1"},
            "paths": paths,
        });
        let opts = CompileOptions { namespace, max_name_length: cap, ..CompileOptions::default() };
        let spec = compile(&doc, None, &opts, &NoExternalRefs).unwrap();
        prop_assert_eq!(spec.operations.len(), ids.len() * 2);
        let mut seen = HashSet::new();
        for op in &spec.operations {
            prop_assert!(valid(&op.name, cap), "invalid name {:?} (cap {})", op.name, cap);
            prop_assert!(seen.insert(op.name.clone()), "duplicate name {:?}", op.name);
        }
    }
}
