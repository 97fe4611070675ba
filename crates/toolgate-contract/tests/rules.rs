//! One case per change class: an old and a new tool (or resource, template, prompt), the
//! rule the diff must report, its severity and its pointer; every fixed rule has a case
//! (`every_rule_has_a_case`). A case also fails when the diff reports any other
//! non-informational finding, so a rule cannot pass by accident.

use serde_json::{Value, json};
use toolgate_contract::{
    Contract, PromptArgumentContract, PromptContract, ResourceContract, Severity, TemplateContract,
    ToolContract, diff, diff::rules,
};

fn tool(
    name: &str,
    input: Value,
    output: Option<Value>,
    annotations: Option<Value>,
) -> ToolContract {
    ToolContract {
        name: name.into(),
        title: None,
        description: Some("does things".into()),
        input_schema: input,
        output_schema: output,
        annotations,
    }
}

fn template(uri: &str) -> TemplateContract {
    TemplateContract {
        uri_template: uri.into(),
        name: "tasks".into(),
        title: None,
        description: None,
        mime_type: Some("application/json".into()),
    }
}

fn prompt(args: &[(&str, bool)]) -> PromptContract {
    PromptContract {
        name: "p".into(),
        title: None,
        description: None,
        arguments: args
            .iter()
            .map(|(n, r)| PromptArgumentContract {
                name: (*n).into(),
                description: None,
                required: *r,
            })
            .collect(),
    }
}

fn contract(tools: Vec<ToolContract>) -> Contract {
    Contract::new(None, "test", tools, vec![], vec![], vec![])
}

fn input(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

fn args(props: Value) -> Value {
    input(props, &[])
}

fn out(props: Value, required: &[&str]) -> Option<Value> {
    Some(json!({"type": "object", "properties": props, "required": required}))
}

struct Case {
    name: &'static str,
    old: Contract,
    new: Contract,
    rule: &'static str,
    severity: Severity,
    pointer: &'static str,
}

fn in_case(
    name: &'static str,
    old: Value,
    new: Value,
    rule: &'static str,
    severity: Severity,
    pointer: &'static str,
) -> Case {
    Case {
        name,
        old: contract(vec![tool("t", old, None, None)]),
        new: contract(vec![tool("t", new, None, None)]),
        rule,
        severity,
        pointer,
    }
}

fn out_case(
    name: &'static str,
    old: Value,
    new: Value,
    rule: &'static str,
    severity: Severity,
    pointer: &'static str,
) -> Case {
    Case {
        name,
        old: contract(vec![tool("t", args(json!({})), Some(old), None)]),
        new: contract(vec![tool("t", args(json!({})), Some(new), None)]),
        rule,
        severity,
        pointer,
    }
}

fn ann_case(
    name: &'static str,
    old: Value,
    new: Value,
    rule: &'static str,
    severity: Severity,
    pointer: &'static str,
) -> Case {
    Case {
        name,
        old: contract(vec![tool("t", args(json!({})), None, Some(old))]),
        new: contract(vec![tool("t", args(json!({})), None, Some(new))]),
        rule,
        severity,
        pointer,
    }
}

fn s(t: &str) -> Value {
    json!({"type": t})
}

fn cases() -> Vec<Case> {
    use Severity::{Breaking as B, Compatible as C, Info as I};
    let one = |v: Value| args(json!({"a": v}));
    let o1 = |v: Value| json!({"type": "object", "properties": {"f": v}, "required": ["f"]});
    vec![
        // Components.
        Case {
            name: "tool removed",
            old: contract(vec![
                tool("t", args(json!({})), None, None),
                tool("gone", args(json!({})), None, None),
            ]),
            new: contract(vec![tool("t", args(json!({})), None, None)]),
            rule: "tool-removed",
            severity: B,
            pointer: "",
        },
        Case {
            name: "tool added",
            old: contract(vec![tool("t", args(json!({})), None, None)]),
            new: contract(vec![
                tool("t", args(json!({})), None, None),
                tool("new", args(json!({})), None, None),
            ]),
            rule: "tool-added",
            severity: C,
            pointer: "",
        },
        Case {
            name: "description changed",
            old: contract(vec![tool("t", args(json!({})), None, None)]),
            new: contract(vec![ToolContract {
                description: Some("does other things".into()),
                ..tool("t", args(json!({})), None, None)
            }]),
            rule: "description-changed",
            severity: I,
            pointer: "/description",
        },
        Case {
            name: "output schema removed",
            old: contract(vec![tool("t", args(json!({})), out(json!({}), &[]), None)]),
            new: contract(vec![tool("t", args(json!({})), None, None)]),
            rule: "output-schema-removed",
            severity: B,
            pointer: "/outputSchema",
        },
        Case {
            name: "output schema added",
            old: contract(vec![tool("t", args(json!({})), None, None)]),
            new: contract(vec![tool("t", args(json!({})), out(json!({}), &[]), None)]),
            rule: "output-schema-added",
            severity: C,
            pointer: "/outputSchema",
        },
        // Arguments.
        in_case(
            "required argument added",
            args(json!({})),
            input(json!({"a": s("string")}), &["a"]),
            "required-argument-added",
            B,
            "/inputSchema/properties/a",
        ),
        in_case(
            "optional argument added",
            args(json!({})),
            args(json!({"a": s("string")})),
            "optional-argument-added",
            C,
            "/inputSchema/properties/a",
        ),
        in_case(
            "argument removed",
            args(json!({"a": s("string")})),
            args(json!({})),
            "argument-removed",
            B,
            "/inputSchema/properties/a",
        ),
        in_case(
            "argument became required",
            one(s("string")),
            input(json!({"a": s("string")}), &["a"]),
            "argument-became-required",
            B,
            "/inputSchema/properties/a",
        ),
        in_case(
            "argument became optional",
            input(json!({"a": s("string")}), &["a"]),
            one(s("string")),
            "argument-became-optional",
            C,
            "/inputSchema/properties/a",
        ),
        in_case(
            "nested required argument added",
            one(json!({"type": "object", "properties": {}})),
            one(json!({"type": "object", "properties": {"b": s("integer")}, "required": ["b"]})),
            "required-argument-added",
            B,
            "/inputSchema/properties/a/properties/b",
        ),
        in_case(
            "argument type narrowed",
            one(json!({"type": ["string", "integer"]})),
            one(s("string")),
            "argument-type-narrowed",
            B,
            "/inputSchema/properties/a/type",
        ),
        in_case(
            "number narrowed to integer",
            one(s("number")),
            one(s("integer")),
            "argument-type-narrowed",
            B,
            "/inputSchema/properties/a/type",
        ),
        in_case(
            "argument type changed",
            one(s("string")),
            one(s("integer")),
            "argument-type-narrowed",
            B,
            "/inputSchema/properties/a/type",
        ),
        in_case(
            "argument type widened",
            one(s("integer")),
            one(s("number")),
            "argument-type-widened",
            C,
            "/inputSchema/properties/a/type",
        ),
        in_case(
            "nullable removed (type array)",
            one(json!({"type": ["string", "null"]})),
            one(s("string")),
            "nullable-removed",
            B,
            "/inputSchema/properties/a",
        ),
        in_case(
            "nullable removed (anyOf null)",
            one(json!({"anyOf": [{"type": "string"}, {"type": "null"}]})),
            one(s("string")),
            "nullable-removed",
            B,
            "/inputSchema/properties/a",
        ),
        in_case(
            "nullable added",
            one(s("string")),
            one(json!({"type": ["string", "null"]})),
            "nullable-added",
            C,
            "/inputSchema/properties/a",
        ),
        in_case(
            "enum value removed",
            one(json!({"type": "string", "enum": ["a", "b"]})),
            one(json!({"type": "string", "enum": ["a"]})),
            "enum-value-removed",
            B,
            "/inputSchema/properties/a/enum",
        ),
        in_case(
            "enum value added",
            one(json!({"type": "string", "enum": ["a"]})),
            one(json!({"type": "string", "enum": ["a", "b"]})),
            "enum-value-added",
            C,
            "/inputSchema/properties/a/enum",
        ),
        in_case(
            "argument became enum",
            one(s("string")),
            one(json!({"type": "string", "enum": ["a"]})),
            "enum-added",
            B,
            "/inputSchema/properties/a/enum",
        ),
        in_case(
            "enum constraint removed",
            one(json!({"type": "string", "enum": ["a"]})),
            one(s("string")),
            "enum-constraint-removed",
            C,
            "/inputSchema/properties/a",
        ),
        in_case(
            "const changed",
            one(json!({"const": "a"})),
            one(json!({"const": "b"})),
            "enum-value-removed",
            B,
            "/inputSchema/properties/a/const",
        ),
        in_case(
            "format added",
            one(s("string")),
            one(json!({"type": "string", "format": "uuid"})),
            "format-added",
            B,
            "/inputSchema/properties/a/format",
        ),
        in_case(
            "format changed",
            one(json!({"type": "string", "format": "date"})),
            one(json!({"type": "string", "format": "date-time"})),
            "format-changed",
            B,
            "/inputSchema/properties/a/format",
        ),
        in_case(
            "anyOf collapsed to one of its alternatives",
            one(
                json!({"anyOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}}]}),
            ),
            one(json!({"type": "object", "properties": {"x": s("string")}})),
            "any-of-branch-removed",
            B,
            "/inputSchema/properties/a/anyOf",
        ),
        in_case(
            "a schema became one of several alternatives",
            one(json!({"type": "object", "properties": {"x": s("string")}})),
            one(
                json!({"oneOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}}]}),
            ),
            "one-of-branch-added",
            C,
            "/inputSchema/properties/a/oneOf/1",
        ),
        in_case(
            "number storage format added",
            one(s("integer")),
            one(json!({"type": "integer", "format": "int64"})),
            "number-format-changed",
            I,
            "/inputSchema/properties/a/format",
        ),
        in_case(
            "format removed",
            one(json!({"type": "string", "format": "date"})),
            one(s("string")),
            "format-removed",
            C,
            "/inputSchema/properties/a/format",
        ),
        in_case(
            "pattern added",
            one(s("string")),
            one(json!({"type": "string", "pattern": "^[a-z]+$"})),
            "pattern-added",
            B,
            "/inputSchema/properties/a/pattern",
        ),
        in_case(
            "pattern changed",
            one(json!({"type": "string", "pattern": "^a"})),
            one(json!({"type": "string", "pattern": "^b"})),
            "pattern-changed",
            B,
            "/inputSchema/properties/a/pattern",
        ),
        in_case(
            "pattern removed",
            one(json!({"type": "string", "pattern": "^a"})),
            one(s("string")),
            "pattern-removed",
            C,
            "/inputSchema/properties/a/pattern",
        ),
        in_case(
            "maximum decreased",
            one(json!({"type": "integer", "maximum": 100})),
            one(json!({"type": "integer", "maximum": 50})),
            "maximum-decreased",
            B,
            "/inputSchema/properties/a/maximum",
        ),
        in_case(
            "maximum increased",
            one(json!({"type": "integer", "maximum": 50})),
            one(json!({"type": "integer", "maximum": 100})),
            "maximum-increased",
            C,
            "/inputSchema/properties/a/maximum",
        ),
        in_case(
            "maximum added",
            one(s("integer")),
            one(json!({"type": "integer", "maximum": 100})),
            "maximum-added",
            B,
            "/inputSchema/properties/a/maximum",
        ),
        in_case(
            "maximum removed",
            one(json!({"type": "integer", "maximum": 100})),
            one(s("integer")),
            "maximum-removed",
            C,
            "/inputSchema/properties/a/maximum",
        ),
        in_case(
            "minimum increased",
            one(json!({"type": "integer", "minimum": 0})),
            one(json!({"type": "integer", "minimum": 1})),
            "minimum-increased",
            B,
            "/inputSchema/properties/a/minimum",
        ),
        in_case(
            "exclusive minimum added",
            one(s("number")),
            one(json!({"type": "number", "exclusiveMinimum": 0})),
            "exclusive-minimum-added",
            B,
            "/inputSchema/properties/a/exclusiveMinimum",
        ),
        in_case(
            "max length decreased",
            one(json!({"type": "string", "maxLength": 200})),
            one(json!({"type": "string", "maxLength": 100})),
            "max-length-decreased",
            B,
            "/inputSchema/properties/a/maxLength",
        ),
        in_case(
            "min length increased",
            one(json!({"type": "string", "minLength": 0})),
            one(json!({"type": "string", "minLength": 3})),
            "min-length-increased",
            B,
            "/inputSchema/properties/a/minLength",
        ),
        in_case(
            "max items decreased",
            one(json!({"type": "array", "maxItems": 10})),
            one(json!({"type": "array", "maxItems": 5})),
            "max-items-decreased",
            B,
            "/inputSchema/properties/a/maxItems",
        ),
        in_case(
            "min items added",
            one(s("array")),
            one(json!({"type": "array", "minItems": 1})),
            "min-items-added",
            B,
            "/inputSchema/properties/a/minItems",
        ),
        in_case(
            "multipleOf added",
            one(s("integer")),
            one(json!({"type": "integer", "multipleOf": 5})),
            "multiple-of-changed",
            B,
            "/inputSchema/properties/a/multipleOf",
        ),
        in_case(
            "uniqueItems added",
            one(s("array")),
            one(json!({"type": "array", "uniqueItems": true})),
            "unique-items-added",
            B,
            "/inputSchema/properties/a/uniqueItems",
        ),
        in_case(
            "array items narrowed",
            one(json!({"type": "array", "items": {"type": ["string", "integer"]}})),
            one(json!({"type": "array", "items": {"type": "string"}})),
            "argument-type-narrowed",
            B,
            "/inputSchema/properties/a/items/type",
        ),
        in_case(
            "additional properties disallowed",
            one(json!({"type": "object"})),
            one(json!({"type": "object", "additionalProperties": false})),
            "additional-properties-disallowed",
            B,
            "/inputSchema/properties/a/additionalProperties",
        ),
        in_case(
            "additional properties narrowed",
            one(json!({"type": "object"})),
            one(json!({"type": "object", "additionalProperties": {"type": "string"}})),
            "additional-properties-narrowed",
            B,
            "/inputSchema/properties/a/additionalProperties",
        ),
        in_case(
            "additional properties schema narrowed",
            one(json!({"type": "object", "additionalProperties": {"type": ["string", "integer"]}})),
            one(json!({"type": "object", "additionalProperties": {"type": "string"}})),
            "argument-type-narrowed",
            B,
            "/inputSchema/properties/a/additionalProperties/type",
        ),
        in_case(
            "additional properties allowed",
            one(json!({"type": "object", "additionalProperties": false})),
            one(json!({"type": "object"})),
            "additional-properties-allowed",
            C,
            "/inputSchema/properties/a/additionalProperties",
        ),
        in_case(
            "anyOf branch removed",
            one(json!({"anyOf": [s("string"), s("integer"), s("boolean")]})),
            one(json!({"anyOf": [s("string"), s("integer")]})),
            "argument-type-narrowed",
            B,
            "/inputSchema/properties/a/type",
        ),
        in_case(
            "anyOf object branch removed",
            one(
                json!({"anyOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}}]}),
            ),
            one(json!({"anyOf": [{"type": "object", "properties": {"x": s("string")}}]})),
            "any-of-branch-removed",
            B,
            "/inputSchema/properties/a/anyOf",
        ),
        in_case(
            "oneOf branch added",
            one(json!({"oneOf": [{"type": "object", "properties": {"x": s("string")}}]})),
            one(
                json!({"oneOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}}]}),
            ),
            "one-of-branch-added",
            C,
            "/inputSchema/properties/a/oneOf/1",
        ),
        in_case(
            "allOf added",
            one(json!({"allOf": [{"type": "object", "properties": {"x": s("string")}}]})),
            one(
                json!({"allOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}, "required": ["y"]}]}),
            ),
            "all-of-added",
            B,
            "/inputSchema/properties/a/allOf/1",
        ),
        in_case(
            "anyOf branch narrowed inside",
            one(json!({"anyOf": [{"type": "string", "maxLength": 10}, s("integer")]})),
            one(json!({"anyOf": [{"type": "string", "maxLength": 5}, s("integer")]})),
            "max-length-decreased",
            B,
            "/inputSchema/properties/a/anyOf/0/maxLength",
        ),
        in_case(
            "default changed",
            one(json!({"type": "integer", "default": 10})),
            one(json!({"type": "integer", "default": 20})),
            "default-changed",
            B,
            "/inputSchema/properties/a/default",
        ),
        in_case(
            "argument description changed",
            one(json!({"type": "string", "description": "x"})),
            one(json!({"type": "string", "description": "y"})),
            "description-changed",
            I,
            "/inputSchema/properties/a/description",
        ),
        in_case(
            "argument deprecated",
            one(s("string")),
            one(json!({"type": "string", "deprecated": true})),
            "argument-deprecated",
            I,
            "/inputSchema/properties/a/deprecated",
        ),
        in_case(
            "ref target narrowed",
            json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "string", "enum": ["x", "y"]}}}),
            json!({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}}, "$defs": {"A": {"type": "string", "enum": ["x"]}}}),
            "enum-value-removed",
            B,
            "/inputSchema/properties/a/enum",
        ),
        // Outputs.
        out_case(
            "output field removed",
            o1(s("string")),
            json!({"type": "object", "properties": {}}),
            "output-field-removed",
            B,
            "/outputSchema/properties/f",
        ),
        out_case(
            "optional output field removed",
            json!({"type": "object", "properties": {"f": s("string")}}),
            json!({"type": "object", "properties": {}}),
            "output-field-removed",
            B,
            "/outputSchema/properties/f",
        ),
        out_case(
            "output field added",
            json!({"type": "object", "properties": {}}),
            json!({"type": "object", "properties": {"g": s("string")}}),
            "output-field-added",
            C,
            "/outputSchema/properties/g",
        ),
        out_case(
            "output type changed",
            o1(s("string")),
            o1(s("integer")),
            "output-type-changed",
            B,
            "/outputSchema/properties/f/type",
        ),
        out_case(
            "output integer widened to number",
            o1(s("integer")),
            o1(s("number")),
            "output-type-changed",
            B,
            "/outputSchema/properties/f/type",
        ),
        out_case(
            "output type narrowed",
            o1(json!({"type": ["string", "integer"]})),
            o1(s("string")),
            "output-type-narrowed",
            C,
            "/outputSchema/properties/f/type",
        ),
        out_case(
            "output became nullable",
            o1(s("string")),
            o1(json!({"anyOf": [s("string"), s("null")]})),
            "output-nullable-added",
            B,
            "/outputSchema/properties/f",
        ),
        out_case(
            "output no longer nullable",
            o1(json!({"type": ["string", "null"]})),
            o1(s("string")),
            "output-nullable-removed",
            C,
            "/outputSchema/properties/f",
        ),
        out_case(
            "output field became optional",
            o1(s("string")),
            json!({"type": "object", "properties": {"f": s("string")}}),
            "output-field-became-optional",
            B,
            "/outputSchema/properties/f",
        ),
        out_case(
            "output field became required",
            json!({"type": "object", "properties": {"f": s("string")}}),
            o1(s("string")),
            "output-field-became-required",
            C,
            "/outputSchema/properties/f",
        ),
        out_case(
            "output enum value added",
            o1(json!({"type": "string", "enum": ["a"]})),
            o1(json!({"type": "string", "enum": ["a", "b"]})),
            "output-enum-value-added",
            C,
            "/outputSchema/properties/f/enum",
        ),
        out_case(
            "output enum constraint removed",
            o1(json!({"type": "string", "enum": ["a"]})),
            o1(s("string")),
            "output-enum-constraint-removed",
            B,
            "/outputSchema/properties/f",
        ),
        out_case(
            "output format changed",
            o1(json!({"type": "string", "format": "date"})),
            o1(json!({"type": "string", "format": "date-time"})),
            "output-format-changed",
            B,
            "/outputSchema/properties/f/format",
        ),
        out_case(
            "output maximum increased",
            o1(json!({"type": "integer", "maximum": 10})),
            o1(json!({"type": "integer", "maximum": 20})),
            "output-maximum-increased",
            B,
            "/outputSchema/properties/f/maximum",
        ),
        out_case(
            "output max length removed",
            o1(json!({"type": "string", "maxLength": 10})),
            o1(s("string")),
            "output-max-length-removed",
            B,
            "/outputSchema/properties/f/maxLength",
        ),
        out_case(
            "output min items decreased",
            o1(json!({"type": "array", "minItems": 2})),
            o1(json!({"type": "array", "minItems": 1})),
            "output-min-items-decreased",
            B,
            "/outputSchema/properties/f/minItems",
        ),
        out_case(
            "output maximum decreased",
            o1(json!({"type": "integer", "maximum": 20})),
            o1(json!({"type": "integer", "maximum": 10})),
            "output-maximum-decreased",
            C,
            "/outputSchema/properties/f/maximum",
        ),
        out_case(
            "output array item field removed",
            o1(
                json!({"type": "array", "items": {"type": "object", "properties": {"id": s("integer")}, "required": ["id"]}}),
            ),
            o1(json!({"type": "array", "items": {"type": "object", "properties": {}}})),
            "output-field-removed",
            B,
            "/outputSchema/properties/f/items/properties/id",
        ),
        out_case(
            "output oneOf branch added",
            o1(json!({"oneOf": [{"type": "object", "properties": {"x": s("string")}}]})),
            o1(
                json!({"oneOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}}]}),
            ),
            "output-one-of-branch-added",
            B,
            "/outputSchema/properties/f/oneOf/1",
        ),
        out_case(
            "output became one of several shapes",
            o1(json!({"type": "object", "properties": {"x": s("string")}})),
            o1(
                json!({"anyOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("integer")}}]}),
            ),
            "output-any-of-branch-added",
            B,
            "/outputSchema/properties/f/anyOf/1",
        ),
        out_case(
            "output ref target retyped",
            json!({"type": "object", "properties": {"f": {"$ref": "#/$defs/F"}}, "$defs": {"F": {"type": "string"}}}),
            json!({"type": "object", "properties": {"f": {"$ref": "#/$defs/F"}}, "$defs": {"F": {"type": "integer"}}}),
            "output-type-changed",
            B,
            "/outputSchema/properties/f/type",
        ),
        // More classes, one case each.
        in_case(
            "multipleOf removed",
            one(json!({"type": "integer", "multipleOf": 5})),
            one(s("integer")),
            "multiple-of-removed",
            C,
            "/inputSchema/properties/a/multipleOf",
        ),
        in_case(
            "uniqueItems removed",
            one(json!({"type": "array", "uniqueItems": true})),
            one(s("array")),
            "unique-items-removed",
            C,
            "/inputSchema/properties/a/uniqueItems",
        ),
        in_case(
            "anyOf branch added",
            one(json!({"anyOf": [{"type": "object", "properties": {"x": s("string")}}]})),
            one(
                json!({"anyOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}}]}),
            ),
            "any-of-branch-added",
            C,
            "/inputSchema/properties/a/anyOf/1",
        ),
        in_case(
            "oneOf branch removed",
            one(
                json!({"oneOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}}]}),
            ),
            one(json!({"oneOf": [{"type": "object", "properties": {"x": s("string")}}]})),
            "one-of-branch-removed",
            B,
            "/inputSchema/properties/a/oneOf",
        ),
        in_case(
            "allOf removed",
            one(
                json!({"allOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}, "required": ["y"]}]}),
            ),
            one(json!({"allOf": [{"type": "object", "properties": {"x": s("string")}}]})),
            "all-of-removed",
            C,
            "/inputSchema/properties/a/allOf",
        ),
        in_case(
            "default added",
            one(s("integer")),
            one(json!({"type": "integer", "default": 1})),
            "default-added",
            I,
            "/inputSchema/properties/a/default",
        ),
        in_case(
            "default removed",
            one(json!({"type": "integer", "default": 1})),
            one(s("integer")),
            "default-removed",
            I,
            "/inputSchema/properties/a/default",
        ),
        in_case(
            "unfollowable ref changed",
            one(json!({"$ref": "https://example.com/a.json"})),
            one(json!({"$ref": "https://example.com/b.json"})),
            "ref-changed",
            I,
            "/inputSchema/properties/a/$ref",
        ),
        out_case(
            "output enum value removed",
            o1(json!({"type": "string", "enum": ["a", "b"]})),
            o1(json!({"type": "string", "enum": ["a"]})),
            "output-enum-value-removed",
            C,
            "/outputSchema/properties/f/enum",
        ),
        out_case(
            "output became enum",
            o1(s("string")),
            o1(json!({"type": "string", "enum": ["a"]})),
            "output-enum-added",
            C,
            "/outputSchema/properties/f/enum",
        ),
        out_case(
            "output format removed",
            o1(json!({"type": "string", "format": "date"})),
            o1(s("string")),
            "output-format-removed",
            B,
            "/outputSchema/properties/f/format",
        ),
        out_case(
            "output format added",
            o1(s("string")),
            o1(json!({"type": "string", "format": "date"})),
            "output-format-added",
            C,
            "/outputSchema/properties/f/format",
        ),
        out_case(
            "output pattern changed",
            o1(json!({"type": "string", "pattern": "^a"})),
            o1(json!({"type": "string", "pattern": "^b"})),
            "output-pattern-changed",
            I,
            "/outputSchema/properties/f/pattern",
        ),
        out_case(
            "output anyOf branch removed",
            o1(
                json!({"anyOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}}]}),
            ),
            o1(json!({"anyOf": [{"type": "object", "properties": {"x": s("string")}}]})),
            "output-any-of-branch-removed",
            C,
            "/outputSchema/properties/f/anyOf",
        ),
        out_case(
            "output oneOf branch removed",
            o1(
                json!({"oneOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}}]}),
            ),
            o1(json!({"oneOf": [{"type": "object", "properties": {"x": s("string")}}]})),
            "output-one-of-branch-removed",
            C,
            "/outputSchema/properties/f/oneOf",
        ),
        out_case(
            "output allOf removed",
            o1(
                json!({"allOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}, "required": ["y"]}]}),
            ),
            o1(json!({"allOf": [{"type": "object", "properties": {"x": s("string")}}]})),
            "output-all-of-removed",
            B,
            "/outputSchema/properties/f/allOf",
        ),
        out_case(
            "output allOf added",
            o1(json!({"allOf": [{"type": "object", "properties": {"x": s("string")}}]})),
            o1(
                json!({"allOf": [{"type": "object", "properties": {"x": s("string")}}, {"type": "object", "properties": {"y": s("string")}, "required": ["y"]}]}),
            ),
            "output-all-of-added",
            C,
            "/outputSchema/properties/f/allOf/1",
        ),
        out_case(
            "output additional properties changed",
            o1(json!({"type": "object", "additionalProperties": false})),
            o1(json!({"type": "object"})),
            "output-additional-properties-changed",
            C,
            "/outputSchema/properties/f/additionalProperties",
        ),
        out_case(
            "output field deprecated",
            o1(s("string")),
            o1(json!({"type": "string", "deprecated": true})),
            "output-field-deprecated",
            I,
            "/outputSchema/properties/f/deprecated",
        ),
        ann_case(
            "idempotent hint added",
            json!({"idempotentHint": false, "destructiveHint": false}),
            json!({"idempotentHint": true, "destructiveHint": false}),
            "idempotent-hint-added",
            C,
            "/annotations/idempotentHint",
        ),
        ann_case(
            "open world hint removed",
            json!({"destructiveHint": false}),
            json!({"openWorldHint": false, "destructiveHint": false}),
            "open-world-hint-removed",
            C,
            "/annotations/openWorldHint",
        ),
        Case {
            name: "title changed",
            old: contract(vec![ToolContract {
                title: Some("Old".into()),
                ..tool("t", args(json!({})), None, None)
            }]),
            new: contract(vec![ToolContract {
                title: Some("New".into()),
                ..tool("t", args(json!({})), None, None)
            }]),
            rule: "title-changed",
            severity: I,
            pointer: "/title",
        },
        Case {
            name: "resource template removed",
            old: Contract::new(
                None,
                "t",
                vec![],
                vec![],
                vec![template("api://tasks/{id}")],
                vec![],
            ),
            new: Contract::new(None, "t", vec![], vec![], vec![], vec![]),
            rule: "resource-template-removed",
            severity: B,
            pointer: "",
        },
        Case {
            name: "resource template added",
            old: Contract::new(None, "t", vec![], vec![], vec![], vec![]),
            new: Contract::new(
                None,
                "t",
                vec![],
                vec![],
                vec![template("api://tasks/{id}")],
                vec![],
            ),
            rule: "resource-template-added",
            severity: C,
            pointer: "",
        },
        Case {
            name: "prompt removed",
            old: Contract::new(None, "t", vec![], vec![], vec![], vec![prompt(&[])]),
            new: Contract::new(None, "t", vec![], vec![], vec![], vec![]),
            rule: "prompt-removed",
            severity: B,
            pointer: "",
        },
        Case {
            name: "prompt added",
            old: Contract::new(None, "t", vec![], vec![], vec![], vec![]),
            new: Contract::new(None, "t", vec![], vec![], vec![], vec![prompt(&[])]),
            rule: "prompt-added",
            severity: C,
            pointer: "",
        },
        Case {
            name: "prompt optional argument added",
            old: Contract::new(None, "t", vec![], vec![], vec![], vec![prompt(&[])]),
            new: Contract::new(
                None,
                "t",
                vec![],
                vec![],
                vec![],
                vec![prompt(&[("topic", false)])],
            ),
            rule: "prompt-optional-argument-added",
            severity: C,
            pointer: "/arguments/0",
        },
        // Annotations.
        ann_case(
            "destructive hint added",
            json!({"destructiveHint": false}),
            json!({"destructiveHint": true}),
            "destructive-hint-added",
            B,
            "/annotations/destructiveHint",
        ),
        ann_case(
            "destructive by default once the explicit false is dropped",
            json!({"destructiveHint": false}),
            json!({}),
            "destructive-hint-added",
            B,
            "/annotations/destructiveHint",
        ),
        ann_case(
            "destructive hint removed",
            json!({"destructiveHint": true}),
            json!({"destructiveHint": false}),
            "destructive-hint-removed",
            C,
            "/annotations/destructiveHint",
        ),
        ann_case(
            "read-only hint added",
            json!({"readOnlyHint": false, "destructiveHint": false}),
            json!({"readOnlyHint": true}),
            "read-only-hint-added",
            C,
            "/annotations/readOnlyHint",
        ),
        ann_case(
            "idempotent hint removed",
            json!({"idempotentHint": true, "destructiveHint": false}),
            json!({"idempotentHint": false, "destructiveHint": false}),
            "idempotent-hint-removed",
            B,
            "/annotations/idempotentHint",
        ),
        ann_case(
            "open world hint added",
            json!({"openWorldHint": false, "destructiveHint": false}),
            json!({"openWorldHint": true, "destructiveHint": false}),
            "open-world-hint-added",
            B,
            "/annotations/openWorldHint",
        ),
    ]
}

/// Findings a case may also report, because one edit is two changes.
fn also(case: &str) -> &'static [&'static str] {
    match case {
        // `const: a` → `const: b` removes a and adds b.
        "const changed" => &["enum-value-added"],
        // The lost alternative is also a lost type.
        "anyOf branch removed" => &["any-of-branch-removed"],
        _ => &[],
    }
}

#[test]
fn each_change_class_is_reported_by_its_rule() {
    let mut failures = Vec::new();
    for case in cases() {
        let findings = diff(&case.old, &case.new);
        let hit = findings
            .iter()
            .find(|f| f.rule == case.rule && f.pointer == case.pointer);
        match hit {
            None => failures.push(format!(
                "{}: no `{}` at `{}` in {findings:#?}",
                case.name, case.rule, case.pointer
            )),
            Some(f) if f.severity != case.severity => failures.push(format!(
                "{}: `{}` is {:?}, expected {:?}",
                case.name, case.rule, f.severity, case.severity
            )),
            Some(f) => {
                assert!(!f.reason.is_empty());
                assert_eq!(f.severity, rules::severity(&f.rule));
            }
        }
        // Nothing else of weight: one change, one finding (informational ones aside).
        let others: Vec<_> = findings
            .iter()
            .filter(|f| {
                !(f.rule == case.rule && f.pointer == case.pointer)
                    && f.severity != Severity::Info
                    && !also(case.name).contains(&f.rule.as_str())
            })
            .collect();
        if !others.is_empty() {
            failures.push(format!(
                "{}: unexpected extra findings {others:#?}",
                case.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn read_only_hint_removed_is_breaking() {
    // Read-only implies non-destructive; dropping read-only (with destructive false kept) is
    // the read-only rule alone.
    let old = contract(vec![tool(
        "t",
        args(json!({})),
        None,
        Some(json!({"readOnlyHint": true})),
    )]);
    let new = contract(vec![tool(
        "t",
        args(json!({})),
        None,
        Some(json!({"readOnlyHint": false, "destructiveHint": false})),
    )]);
    let f = diff(&old, &new);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].rule, "read-only-hint-removed");
    assert_eq!(f[0].severity, Severity::Breaking);
}

#[test]
fn an_unchanged_contract_has_no_findings() {
    for case in cases() {
        assert!(diff(&case.old, &case.old).is_empty(), "{}", case.name);
        assert!(diff(&case.new, &case.new).is_empty(), "{}", case.name);
    }
}

#[test]
fn recursive_refs_terminate() {
    let node = |t: &str| {
        json!({
            "type": "object",
            "properties": {"tree": {"$ref": "#/$defs/Node"}},
            "$defs": {"Node": {"type": "object", "properties": {"value": s(t), "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}}
        })
    };
    let old = contract(vec![tool("t", node("string"), None, None)]);
    let new = contract(vec![tool("t", node("integer"), None, None)]);
    let f = diff(&old, &new);
    assert!(
        f.iter().any(|f| f.rule == "argument-type-narrowed"
            && f.pointer == "/inputSchema/properties/tree/properties/value/type"),
        "{f:#?}"
    );
}

#[test]
fn resources_and_prompts() {
    let res = |uri: &str, mime: &str| ResourceContract {
        uri: uri.into(),
        name: "r".into(),
        title: None,
        description: None,
        mime_type: Some(mime.into()),
    };
    let prompt = |args: Vec<(&str, bool)>| PromptContract {
        name: "p".into(),
        title: None,
        description: None,
        arguments: args
            .into_iter()
            .map(|(n, r)| PromptArgumentContract {
                name: n.into(),
                description: None,
                required: r,
            })
            .collect(),
    };
    let old = Contract::new(
        None,
        "t",
        vec![],
        vec![
            res("api://a", "application/json"),
            res("api://b", "application/json"),
        ],
        vec![],
        vec![prompt(vec![("x", false), ("y", false)])],
    );
    let new = Contract::new(
        None,
        "t",
        vec![],
        vec![
            res("api://a", "text/plain"),
            res("api://c", "application/json"),
        ],
        vec![],
        vec![prompt(vec![("x", true), ("z", true)])],
    );
    let f = diff(&old, &new);
    let rules: Vec<(&str, &str)> = f
        .iter()
        .map(|f| (f.rule.as_str(), f.component.as_str()))
        .collect();
    for expected in [
        ("resource-removed", "api://b"),
        ("resource-added", "api://c"),
        ("resource-mime-type-changed", "api://a"),
        ("prompt-argument-became-required", "p"),
        ("prompt-required-argument-added", "p"),
        ("prompt-argument-removed", "p"),
    ] {
        assert!(rules.contains(&expected), "{expected:?} not in {rules:?}");
    }
}

#[test]
fn every_rule_is_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/gate.md"))
        .expect("docs/gate.md");
    let missing: Vec<&str> = rules::RULES
        .iter()
        .map(|(id, ..)| *id)
        .filter(|id| !doc.contains(&format!("`{id}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "rules missing from docs/gate.md: {missing:?}"
    );
    // The generated bound rules are documented by their keywords.
    for stem in [
        "maximum",
        "exclusive-maximum",
        "max-length",
        "max-items",
        "max-properties",
        "minimum",
        "exclusive-minimum",
        "min-length",
        "min-items",
        "min-properties",
    ] {
        assert!(
            rules::all().iter().any(|r| r.id == format!("{stem}-added")),
            "{stem} is not a bound rule"
        );
        assert!(
            doc.contains(&format!("`{stem}`")),
            "bound keyword {stem} missing from docs/gate.md"
        );
    }
}

#[test]
fn every_rule_has_a_case() {
    let covered: Vec<&str> = cases().iter().map(|c| c.rule).collect();
    let other_tests = [
        "tool-renamed",
        "read-only-hint-removed",
        "resource-removed",
        "resource-added",
        "resource-mime-type-changed",
        "prompt-required-argument-added",
        "prompt-argument-became-required",
        "prompt-argument-removed",
    ];
    let missing: Vec<&str> = rules::RULES
        .iter()
        .map(|(id, ..)| *id)
        .filter(|id| !covered.contains(id) && !other_tests.contains(id))
        .collect();
    assert!(missing.is_empty(), "rules without a case: {missing:?}");
}
