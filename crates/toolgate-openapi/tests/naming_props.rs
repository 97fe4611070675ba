//! Property tests for tool naming: every name is sanitized, within the cap, and unique;
//! derived names use one separator; tag-prefixed FastAPI ids get their short name unless it
//! collides, then the tag is kept, whatever the document order.

use std::collections::{HashMap, HashSet};

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
        let ns_has_dash = namespace.as_deref().is_some_and(|n| n.contains('-'));
        let opts = CompileOptions { namespace, max_name_length: cap, ..CompileOptions::default() };
        let spec = compile(&doc, None, &opts, &NoExternalRefs).unwrap();
        prop_assert_eq!(spec.operations.len(), ids.len() * 2);
        let mut seen = HashSet::new();
        for op in &spec.operations {
            prop_assert!(valid(&op.name, cap), "invalid name {:?} (cap {})", op.name, cap);
            prop_assert!(seen.insert(op.name.clone()), "duplicate name {:?}", op.name);
            prop_assert!(
                ns_has_dash || !op.name.contains('-'),
                "a derived name with two separator styles: {:?}",
                op.name
            );
        }
    }

    #[test]
    fn tag_prefixed_ids_get_short_names_unless_they_collide(
        ops in prop::collection::vec((0usize..TAGS.len(), 0usize..FUNCTIONS.len(), any::<bool>()), 1..20),
    ) {
        let doc = tagged_spec(&ops, false);
        let spec = compile(&doc, None, &CompileOptions::default(), &NoExternalRefs).unwrap();
        let names: HashMap<String, String> = spec
            .operations
            .iter()
            .map(|o| (o.path.clone(), o.name.clone()))
            .collect();
        prop_assert_eq!(names.len(), ops.len());
        // The short name each operation's id yields.
        let short = |&(_, f, own): &(usize, usize, bool)| {
            if own { FUNCTIONS[f].to_owned() } else { format!("other_{}", FUNCTIONS[f]) }
        };
        let mut uses: HashMap<String, usize> = HashMap::new();
        for op in &ops {
            *uses.entry(short(op)).or_default() += 1;
        }
        let renamed = spec.diagnostics.iter().any(|d| d.message.contains("renamed"));
        for (i, op @ &(t, f, own)) in ops.iter().enumerate() {
            let name = &names[&format!("/p{i}")];
            let tag = TAGS[t].replace(['-', ' '], "_");
            if !own {
                // Not the operation's own tag: the whole id, one separator style.
                prop_assert!(name.starts_with(&format!("other_{}", FUNCTIONS[f])), "{name}");
            } else if uses[&short(op)] == 1 {
                prop_assert_eq!(name, &FUNCTIONS[f].to_owned(), "a unique short name is kept");
            } else {
                // Colliding: the tag is kept (and a residual collision numbered).
                let long = format!("{tag}_{}", FUNCTIONS[f]);
                prop_assert!(
                    name == &long || (renamed && name.starts_with(&format!("{long}_"))),
                    "{name} (expected {long})"
                );
            }
        }
        // Which form an operation gets does not depend on document order.
        if !renamed {
            let reversed = compile(&tagged_spec(&ops, true), None, &CompileOptions::default(), &NoExternalRefs).unwrap();
            for o in &reversed.operations {
                prop_assert_eq!(&o.name, &names[&o.path], "{} in reversed order", o.path);
            }
        }
    }
}

const TAGS: &[&str] = &["items", "users", "login", "My Items", "user-admin"];
const FUNCTIONS: &[&str] = &[
    "read_items",
    "create_user",
    "read",
    "delete_user",
    "health_check",
];

/// One `GET /p{i}` per `(tag, function, own)`, tagged `TAGS[tag]`, whose id is
/// `{TAGS[tag]}-{FUNCTIONS[function]}` when `own`, else `other-{function}` (a prefix that is
/// not one of its tags); paths in reverse document order when `reversed`.
fn tagged_spec(ops: &[(usize, usize, bool)], reversed: bool) -> serde_json::Value {
    let mut paths: Vec<(String, serde_json::Value)> = ops
        .iter()
        .enumerate()
        .map(|(i, &(t, f, own))| {
            let id = if own {
                format!("{}-{}", TAGS[t], FUNCTIONS[f])
            } else {
                format!("other-{}", FUNCTIONS[f])
            };
            let op = serde_json::json!({"get": {"operationId": id, "tags": [TAGS[t]],
                "responses": {"200": {"description": "ok"}}}});
            (format!("/p{i}"), op)
        })
        .collect();
    if reversed {
        paths.reverse();
    }
    serde_json::json!({
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": serde_json::Map::from_iter(paths),
    })
}
