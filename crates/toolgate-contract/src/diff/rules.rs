//! Every rule id the diff emits, with its severity and a one-line summary: the single source
//! of truth for severities (findings look theirs up here) and for the docs' rule table.
//!
//! Bound rules (`maximum-decreased`, `output-min-length-decreased`, …) are generated: ten
//! keywords × four changes × two directions.

use super::Severity::{self, Breaking, Compatible, Info};

/// A rule: id, severity, summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Stable id.
    pub id: String,
    /// Severity of its findings.
    pub severity: Severity,
    /// What it detects.
    pub summary: String,
}

/// The fixed rules (the bound rules are in [`all`]).
pub const RULES: &[(&str, Severity, &str)] = &[
    // Components.
    ("tool-removed", Breaking, "a tool is no longer served"),
    (
        "tool-renamed",
        Breaking,
        "a tool is served under another name (only with a rename migration note)",
    ),
    ("tool-added", Compatible, "a new tool"),
    (
        "description-changed",
        Info,
        "a tool's, argument's, field's, resource's or prompt's description changed",
    ),
    ("title-changed", Info, "a display title changed"),
    (
        "output-schema-removed",
        Breaking,
        "a tool no longer declares an output schema",
    ),
    (
        "output-schema-added",
        Compatible,
        "a tool now declares an output schema",
    ),
    (
        "resource-removed",
        Breaking,
        "a resource is no longer served",
    ),
    ("resource-added", Compatible, "a new resource"),
    (
        "resource-template-removed",
        Breaking,
        "a resource template is no longer served",
    ),
    (
        "resource-template-added",
        Compatible,
        "a new resource template",
    ),
    (
        "resource-mime-type-changed",
        Breaking,
        "a resource's MIME type changed",
    ),
    ("prompt-removed", Breaking, "a prompt is no longer served"),
    ("prompt-added", Compatible, "a new prompt"),
    (
        "prompt-required-argument-added",
        Breaking,
        "a prompt gained a required argument",
    ),
    (
        "prompt-optional-argument-added",
        Compatible,
        "a prompt gained an optional argument",
    ),
    (
        "prompt-argument-became-required",
        Breaking,
        "a prompt argument became required",
    ),
    (
        "prompt-argument-removed",
        Breaking,
        "a prompt argument is no longer accepted",
    ),
    // Annotations (effective values, MCP defaults applied).
    (
        "read-only-hint-removed",
        Breaking,
        "a read-only tool now may write",
    ),
    (
        "read-only-hint-added",
        Compatible,
        "a tool is now read-only",
    ),
    (
        "destructive-hint-added",
        Breaking,
        "a tool may now destroy data",
    ),
    (
        "destructive-hint-removed",
        Compatible,
        "a tool no longer destroys data",
    ),
    (
        "idempotent-hint-removed",
        Breaking,
        "repeating a call is no longer safe",
    ),
    (
        "idempotent-hint-added",
        Compatible,
        "repeating a call is now safe",
    ),
    (
        "open-world-hint-added",
        Breaking,
        "a closed-world tool now reaches outside systems",
    ),
    (
        "open-world-hint-removed",
        Compatible,
        "a tool no longer reaches outside systems",
    ),
    // Input schemas (contravariant).
    (
        "required-argument-added",
        Breaking,
        "a new required argument (input property at any depth)",
    ),
    (
        "optional-argument-added",
        Compatible,
        "a new optional argument",
    ),
    (
        "argument-removed",
        Breaking,
        "an argument is no longer accepted (refused, or silently ignored)",
    ),
    (
        "argument-became-required",
        Breaking,
        "an optional argument became required",
    ),
    (
        "argument-became-optional",
        Compatible,
        "a required argument became optional",
    ),
    (
        "argument-type-narrowed",
        Breaking,
        "an argument accepts fewer types",
    ),
    (
        "argument-type-widened",
        Compatible,
        "an argument accepts more types",
    ),
    (
        "nullable-removed",
        Breaking,
        "an argument no longer accepts null",
    ),
    ("nullable-added", Compatible, "an argument now accepts null"),
    (
        "enum-value-removed",
        Breaking,
        "an argument no longer accepts an enum value",
    ),
    (
        "enum-value-added",
        Compatible,
        "an argument accepts a new enum value",
    ),
    (
        "enum-added",
        Breaking,
        "an argument is now restricted to an enum",
    ),
    (
        "enum-constraint-removed",
        Compatible,
        "an argument is no longer restricted to an enum",
    ),
    (
        "format-added",
        Breaking,
        "an argument must now match a format (toolgate asserts uuid, date-time, email, …)",
    ),
    (
        "format-changed",
        Breaking,
        "an argument must match another format",
    ),
    (
        "number-format-changed",
        Info,
        "a number's storage hint (int32, int64, float, double) changed: no JSON value changes",
    ),
    (
        "format-removed",
        Compatible,
        "an argument no longer needs a format",
    ),
    (
        "pattern-added",
        Breaking,
        "an argument must now match a pattern",
    ),
    (
        "pattern-changed",
        Breaking,
        "an argument must match another pattern",
    ),
    (
        "pattern-removed",
        Compatible,
        "an argument no longer needs a pattern",
    ),
    (
        "multiple-of-changed",
        Breaking,
        "an argument's multipleOf was added or changed",
    ),
    (
        "multiple-of-removed",
        Compatible,
        "an argument's multipleOf was removed",
    ),
    (
        "unique-items-added",
        Breaking,
        "an array argument must now hold unique items",
    ),
    (
        "unique-items-removed",
        Compatible,
        "an array argument may now repeat items",
    ),
    (
        "additional-properties-disallowed",
        Breaking,
        "an object argument no longer accepts unlisted properties",
    ),
    (
        "additional-properties-narrowed",
        Breaking,
        "unlisted properties of an object argument must match a schema now",
    ),
    (
        "additional-properties-allowed",
        Compatible,
        "an object argument accepts unlisted properties",
    ),
    (
        "any-of-branch-removed",
        Breaking,
        "an argument's anyOf lost an alternative",
    ),
    (
        "any-of-branch-added",
        Compatible,
        "an argument's anyOf gained an alternative",
    ),
    (
        "one-of-branch-removed",
        Breaking,
        "an argument's oneOf lost an alternative",
    ),
    (
        "one-of-branch-added",
        Compatible,
        "an argument's oneOf gained an alternative",
    ),
    (
        "all-of-added",
        Breaking,
        "an argument must also match a new allOf schema",
    ),
    (
        "all-of-removed",
        Compatible,
        "an argument no longer has to match an allOf schema",
    ),
    (
        "default-changed",
        Breaking,
        "an argument's default changed: callers that omit it get other behaviour",
    ),
    ("default-added", Info, "an argument now documents a default"),
    (
        "default-removed",
        Info,
        "an argument no longer documents a default",
    ),
    (
        "argument-deprecated",
        Info,
        "an argument is now marked deprecated",
    ),
    // Output schemas (covariant).
    ("output-field-removed", Breaking, "an output field is gone"),
    ("output-field-added", Compatible, "a new output field"),
    (
        "output-field-became-optional",
        Breaking,
        "a required output field may now be missing",
    ),
    (
        "output-field-became-required",
        Compatible,
        "an optional output field is now always present",
    ),
    (
        "output-type-changed",
        Breaking,
        "an output value may now be of another type",
    ),
    (
        "output-type-narrowed",
        Compatible,
        "an output value has fewer possible types",
    ),
    (
        "output-nullable-added",
        Breaking,
        "an output value may now be null",
    ),
    (
        "output-nullable-removed",
        Compatible,
        "an output value is never null now",
    ),
    (
        "output-enum-value-added",
        Compatible,
        "an output enum gained a value (consumers that match every value must handle it)",
    ),
    (
        "output-enum-value-removed",
        Compatible,
        "an output enum lost a value",
    ),
    (
        "output-enum-constraint-removed",
        Breaking,
        "an output value is no longer restricted to an enum",
    ),
    (
        "output-enum-added",
        Compatible,
        "an output value is now restricted to an enum",
    ),
    (
        "output-format-changed",
        Breaking,
        "an output value has another format",
    ),
    (
        "output-format-removed",
        Breaking,
        "an output value no longer promises its format",
    ),
    (
        "output-format-added",
        Compatible,
        "an output value now promises a format",
    ),
    (
        "output-pattern-changed",
        Info,
        "an output value's pattern was added, changed or removed",
    ),
    (
        "output-any-of-branch-added",
        Breaking,
        "an output value may take a new anyOf alternative",
    ),
    (
        "output-any-of-branch-removed",
        Compatible,
        "an output value lost an anyOf alternative",
    ),
    (
        "output-one-of-branch-added",
        Breaking,
        "an output value may take a new oneOf alternative",
    ),
    (
        "output-one-of-branch-removed",
        Compatible,
        "an output value lost a oneOf alternative",
    ),
    (
        "output-all-of-removed",
        Breaking,
        "an output value no longer promises an allOf schema",
    ),
    (
        "output-all-of-added",
        Compatible,
        "an output value promises another allOf schema",
    ),
    (
        "output-additional-properties-changed",
        Compatible,
        "an output object's unlisted properties changed",
    ),
    (
        "output-field-deprecated",
        Info,
        "an output field is now marked deprecated",
    ),
    (
        "ref-changed",
        Info,
        "a $ref that cannot be followed points elsewhere",
    ),
];

/// The bound keywords: (JSON Schema keyword, rule stem, is an upper bound).
pub(crate) const BOUNDS: [(&str, &str, bool); 10] = [
    ("maximum", "maximum", true),
    ("exclusiveMaximum", "exclusive-maximum", true),
    ("maxLength", "max-length", true),
    ("maxItems", "max-items", true),
    ("maxProperties", "max-properties", true),
    ("minimum", "minimum", false),
    ("exclusiveMinimum", "exclusive-minimum", false),
    ("minLength", "min-length", false),
    ("minItems", "min-items", false),
    ("minProperties", "min-properties", false),
];

/// Whether a bound change (`added`, `removed`, `increased`, `decreased`) tightens the bound.
pub(crate) fn tightens(upper: bool, change: &str) -> bool {
    match change {
        "added" => true,
        "removed" => false,
        "decreased" => upper,
        _ => !upper,
    }
}

/// The severity of `rule` (an id from [`all`]; unknown ids are breaking, to fail safe).
pub fn severity(rule: &str) -> Severity {
    if let Some((_, s, _)) = RULES.iter().find(|(id, ..)| *id == rule) {
        return *s;
    }
    let (output, rest) = match rule.strip_prefix("output-") {
        Some(rest) => (true, rest),
        None => (false, rule),
    };
    for (_, stem, upper) in BOUNDS {
        if let Some(change) = rest.strip_prefix(stem).and_then(|c| c.strip_prefix('-')) {
            // Inputs: tightening breaks. Outputs: loosening breaks.
            return if tightens(upper, change) != output {
                Breaking
            } else {
                Compatible
            };
        }
    }
    Breaking
}

/// Every rule, the bound rules included.
pub fn all() -> Vec<Rule> {
    let mut out: Vec<Rule> = RULES
        .iter()
        .map(|(id, severity, summary)| Rule {
            id: (*id).to_owned(),
            severity: *severity,
            summary: (*summary).to_owned(),
        })
        .collect();
    for output in [false, true] {
        for (keyword, stem, _) in BOUNDS {
            for change in ["added", "removed", "increased", "decreased"] {
                let id = format!("{}{stem}-{change}", if output { "output-" } else { "" });
                let side = if output {
                    "an output value"
                } else {
                    "an argument"
                };
                out.push(Rule {
                    severity: severity(&id),
                    summary: format!("`{keyword}` of {side} {change}"),
                    id,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_bounds_follow_variance() {
        let all = all();
        let mut ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate rule ids");
        assert_eq!(severity("maximum-decreased"), Breaking);
        assert_eq!(severity("maximum-increased"), Compatible);
        assert_eq!(severity("min-length-increased"), Breaking);
        assert_eq!(severity("min-items-added"), Breaking);
        assert_eq!(severity("max-items-removed"), Compatible);
        assert_eq!(severity("output-maximum-increased"), Breaking);
        assert_eq!(severity("output-maximum-removed"), Breaking);
        assert_eq!(severity("output-minimum-increased"), Compatible);
        assert_eq!(severity("output-min-length-decreased"), Breaking);
        assert_eq!(severity("no-such-rule"), Breaking);
    }
}
