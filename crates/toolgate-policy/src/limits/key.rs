//! What a call is counted under: the facts a limit's key is made of (caller, tool, source,
//! client address), read once per call from its context and resolved target, and the key
//! string of one limit, written so that different facts never give the same key.
//!
//! Does not own: deciding (the limiters) or which limits apply (`crate::limits`).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use toolgate_core::{McpCall, McpRequest, Principal};

use super::config::KeyPart;

/// Who is calling, as far as limits are concerned.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// The authenticated subject.
    Subject(Arc<Principal>),
    /// An anonymous caller known by its IP address.
    Ip(IpAddr),
    /// An anonymous caller known by its MCP session (rmcp's path without a peer address).
    Session(Arc<str>),
    /// Nothing tells anonymous callers apart (stdio, in-process): one shared caller.
    Anonymous,
}

impl Caller {
    /// A short description for refusals and logs, without the subject itself (the message
    /// goes to the model; the subject is in the call log already).
    fn tag(&self) -> &'static str {
        match self {
            Caller::Subject(_) => "u",
            Caller::Ip(_) => "ip",
            Caller::Session(_) => "ss",
            Caller::Anonymous => "anon",
        }
    }
}

/// What kind of target a call addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetKind {
    /// `tools/call`.
    Tool,
    /// `prompts/get` or a completion of a prompt.
    Prompt,
    /// A resource read, subscription or template completion.
    Resource,
}

/// The facts of one call that limits are keyed by and matched on. Only calls that reach a
/// source have them: listings, `logging/setLevel` and unknown names are never limited (they
/// are answered from the catalog).
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    pub(crate) caller: Caller,
    pub(crate) client_ip: Option<IpAddr>,
    pub(crate) kind: TargetKind,
    /// The catalog's name of the tool or prompt; for a resource, its source's name.
    pub(crate) name: Arc<str>,
    pub(crate) source: Arc<str>,
}

impl Facts {
    /// The facts of `call`, if it addresses a tool, prompt or resource of the catalog.
    pub(crate) fn of(call: &McpCall) -> Option<Facts> {
        let resolved = call.resolved.as_ref()?;
        let source = resolved.source()?.clone();
        let (kind, name): (TargetKind, Arc<str>) = match &call.request {
            McpRequest::CallTool { .. } => (
                TargetKind::Tool,
                Arc::from(resolved.tool()?.tool.name.as_ref()),
            ),
            McpRequest::GetPrompt { .. } => (
                TargetKind::Prompt,
                Arc::from(resolved.prompt()?.prompt.name.as_str()),
            ),
            McpRequest::Complete { .. } => match resolved.prompt() {
                Some(p) => (TargetKind::Prompt, Arc::from(p.prompt.name.as_str())),
                None => (TargetKind::Resource, source.clone()),
            },
            McpRequest::ReadResource { .. } | McpRequest::Subscribe { .. } => {
                (TargetKind::Resource, source.clone())
            }
            McpRequest::ListTools { .. }
            | McpRequest::ListResources { .. }
            | McpRequest::ListResourceTemplates { .. }
            | McpRequest::ListPrompts { .. }
            | McpRequest::SetLogLevel { .. } => return None,
        };
        let client_ip = call.ctx.peer.map(|p| p.ip());
        let caller = match (&call.ctx.principal, client_ip, &call.ctx.client) {
            (Some(p), _, _) => Caller::Subject(p.clone()),
            (None, Some(ip), _) => Caller::Ip(ip),
            (None, None, Some(client)) => Caller::Session(client.session_key().clone()),
            (None, None, None) => Caller::Anonymous,
        };
        Some(Facts {
            caller,
            client_ip,
            kind,
            name,
            source,
        })
    }

    /// The caller's key (also the per-subject concurrency key).
    pub(crate) fn caller_key(&self) -> String {
        let mut out = String::new();
        self.write_caller(&mut out);
        out
    }

    fn write_caller(&self, out: &mut String) {
        out.push_str(self.caller.tag());
        match &self.caller {
            Caller::Subject(p) => part(out, &p.subject),
            Caller::Ip(ip) => {
                let _ = write!(out, "{ip};");
            }
            Caller::Session(s) => part(out, s),
            Caller::Anonymous => out.push(';'),
        }
    }

    /// The key of a limit keyed by `parts`: each part tagged and length-prefixed, so that no
    /// two different sets of facts give the same string whatever a subject contains.
    pub(crate) fn key(&self, parts: &[KeyPart]) -> String {
        let mut out = String::with_capacity(48);
        self.write_key(parts, &mut out);
        out
    }

    /// [`Facts::key`], written into `out` (which the in-memory limiter reuses from call to
    /// call, so a decision allocates nothing).
    pub(crate) fn write_key(&self, parts: &[KeyPart], out: &mut String) {
        let out = &mut *out;
        for p in parts {
            match p {
                KeyPart::Subject => self.write_caller(out),
                KeyPart::Tool => {
                    out.push('t');
                    part(out, &self.name);
                }
                KeyPart::Source => {
                    out.push('s');
                    part(out, &self.source);
                }
                KeyPart::ClientIp => match self.client_ip {
                    Some(ip) => {
                        let _ = write!(out, "i{ip};");
                    }
                    None => out.push_str("i;"),
                },
                KeyPart::Global => out.push_str("g;"),
            }
        }
    }
}

/// Appends `value` as `<len>:<value>`.
fn part(out: &mut String, value: &str) {
    let _ = write!(out, "{}:{value}", value.len());
}

/// How a limit keyed by `parts` reads in a refusal: "per caller and tool", "in total".
pub(crate) fn describe(parts: &[KeyPart]) -> String {
    let words: Vec<&str> = parts
        .iter()
        .filter(|p| **p != KeyPart::Global)
        .map(|p| match p {
            KeyPart::Subject => "caller",
            KeyPart::Tool => "tool",
            KeyPart::Source => "source",
            KeyPart::ClientIp => "client address",
            KeyPart::Global => "",
        })
        .collect();
    if words.is_empty() {
        "in total".to_owned()
    } else {
        format!("per {}", words.join(" and "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(caller: Caller) -> Facts {
        Facts {
            caller,
            client_ip: Some("192.0.2.7".parse().unwrap()),
            kind: TargetKind::Tool,
            name: Arc::from("create_issue"),
            source: Arc::from("github"),
        }
    }

    fn alice(subject: &str) -> Caller {
        Caller::Subject(Arc::new(Principal::new(
            subject,
            vec![],
            toolgate_core::AuthMethod::ApiKey,
        )))
    }

    #[test]
    fn keys_compose_the_parts_in_order() {
        let f = facts(alice("alice"));
        assert_eq!(
            f.key(&[KeyPart::Subject, KeyPart::Tool]),
            "u5:alicet12:create_issue"
        );
        assert_eq!(f.key(&[KeyPart::Source]), "s6:github");
        assert_eq!(f.key(&[KeyPart::Global]), "g;");
        assert_eq!(f.key(&[KeyPart::ClientIp]), "i192.0.2.7;");
        assert_eq!(
            facts(Caller::Ip("192.0.2.7".parse().unwrap())).key(&[KeyPart::Subject]),
            "ip192.0.2.7;"
        );
        assert_eq!(facts(Caller::Anonymous).key(&[KeyPart::Subject]), "anon;");
        assert_eq!(
            facts(Caller::Session(Arc::from("abc"))).key(&[KeyPart::Subject]),
            "ss3:abc"
        );
    }

    #[test]
    fn a_subject_cannot_impersonate_another_key() {
        // Without length prefixes, subject "a" + tool "bt1:c" and subject "at1:b"… could meet.
        let parts = [KeyPart::Subject, KeyPart::Tool];
        let mut one = facts(alice("a"));
        one.name = Arc::from("x");
        let two = facts(alice("a1:xt"));
        assert_ne!(one.key(&parts), two.key(&parts));
        // An IP-keyed anonymous caller never shares a key with a subject that looks like one.
        assert_ne!(
            facts(alice("192.0.2.7")).key(&[KeyPart::Subject]),
            facts(Caller::Ip("192.0.2.7".parse().unwrap())).key(&[KeyPart::Subject])
        );
    }

    #[test]
    fn descriptions_read_as_english() {
        assert_eq!(
            describe(&[KeyPart::Subject, KeyPart::Tool]),
            "per caller and tool"
        );
        assert_eq!(describe(&[KeyPart::Global]), "in total");
        assert_eq!(describe(&[KeyPart::ClientIp]), "per client address");
    }
}
