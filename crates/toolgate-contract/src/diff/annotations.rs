//! Tool annotations compared by their effective values: an absent hint means the MCP
//! default (`readOnlyHint` false, `destructiveHint` true unless read-only, `idempotentHint`
//! false, `openWorldHint` true), so dropping an explicit `destructiveHint: false` is seen as
//! the tool becoming destructive.

use serde_json::Value;

use super::{ComponentKind, Sink};

#[derive(Clone, Copy)]
struct Hints {
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    open_world: bool,
}

fn hints(a: Option<&Value>) -> Hints {
    let get = |k: &str| a.and_then(|a| a.get(k)).and_then(Value::as_bool);
    let read_only = get("readOnlyHint").unwrap_or(false);
    Hints {
        read_only,
        // The destructive hint means nothing for a read-only tool.
        destructive: !read_only && get("destructiveHint").unwrap_or(true),
        idempotent: get("idempotentHint").unwrap_or(false),
        open_world: get("openWorldHint").unwrap_or(true),
    }
}

pub(super) fn compare(old: Option<&Value>, new: Option<&Value>, tool: &str, out: &mut Sink) {
    let (o, n) = (hints(old), hints(new));
    let kind = ComponentKind::Tool;
    let mut push = |rule: &str, hint: &str, reason: &str| {
        out.push(
            kind,
            tool,
            rule,
            format!("/annotations/{hint}"),
            reason.to_owned(),
        );
    };
    match (o.read_only, n.read_only) {
        (true, false) => push(
            "read-only-hint-removed",
            "readOnlyHint",
            "the tool was read-only and now may modify its environment: hosts that auto-approve read-only tools must ask again",
        ),
        (false, true) => push(
            "read-only-hint-added",
            "readOnlyHint",
            "the tool is now read-only",
        ),
        _ => {}
    }
    match (o.destructive, n.destructive) {
        (false, true) => push(
            "destructive-hint-added",
            "destructiveHint",
            "the tool may now delete or overwrite data: agents and hosts that call it unattended must confirm first",
        ),
        (true, false) => push(
            "destructive-hint-removed",
            "destructiveHint",
            "the tool no longer destroys data",
        ),
        _ => {}
    }
    match (o.idempotent, n.idempotent) {
        (true, false) => push(
            "idempotent-hint-removed",
            "idempotentHint",
            "repeating a call is no longer safe: clients that retry it may act twice",
        ),
        (false, true) => push(
            "idempotent-hint-added",
            "idempotentHint",
            "repeating a call is now safe",
        ),
        _ => {}
    }
    match (o.open_world, n.open_world) {
        (false, true) => push(
            "open-world-hint-added",
            "openWorldHint",
            "the tool now reaches systems outside the gateway's closed world",
        ),
        (true, false) => push(
            "open-world-hint-removed",
            "openWorldHint",
            "the tool no longer reaches outside systems",
        ),
        _ => {}
    }
    let title = |a: Option<&Value>| a.and_then(|a| a.get("title")).cloned();
    if title(old) != title(new) {
        push(
            "title-changed",
            "title",
            "the annotations' display title changed",
        );
    }
}
