//! What a call is counted under: the facts a limit's key is made of (caller, tool, source,
//! client address), read once per call from its context and resolved target, and the key
//! string of one limit, written so that different facts never give the same key.
//!
//! Does not own: deciding (the limiters) or which limits apply (`crate::limits`).

use std::fmt::Write as _;
use std::net::IpAddr;

use toolgate_core::{McpCall, McpRequest, Principal};

use super::config::KeyPart;

/// Who is calling, as far as limits are concerned (borrowed from the call).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Caller<'a> {
    /// The authenticated subject.
    Subject(&'a Principal),
    /// An anonymous caller known by its IP address.
    Ip(IpAddr),
    /// An anonymous caller known by its MCP session (rmcp's path without a peer address).
    Session(&'a str),
    /// Nothing tells anonymous callers apart (stdio, in-process): one shared caller.
    Anonymous,
}

impl Caller<'_> {
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

/// The facts of one call that limits are keyed by and matched on, borrowed from the call (so
/// reading them allocates nothing and touches no reference count). Only calls that reach a
/// source have them: listings, `logging/setLevel` and unknown names are never limited (they
/// are answered from the catalog).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    pub(crate) caller: Caller<'a>,
    pub(crate) client_ip: Option<IpAddr>,
    pub(crate) kind: TargetKind,
    /// The catalog's name of the tool or prompt; for a resource, its source's name.
    pub(crate) name: &'a str,
    pub(crate) source: &'a str,
}

impl<'a> Facts<'a> {
    /// The facts of `call`, if it addresses a tool, prompt or resource of the catalog.
    pub(crate) fn of(call: &'a McpCall) -> Option<Facts<'a>> {
        let resolved = call.resolved.as_ref()?;
        let source: &str = resolved.source()?;
        let (kind, name): (TargetKind, &str) = match &call.request {
            McpRequest::CallTool { .. } => (TargetKind::Tool, resolved.tool()?.tool.name.as_ref()),
            McpRequest::GetPrompt { .. } => {
                (TargetKind::Prompt, resolved.prompt()?.prompt.name.as_str())
            }
            McpRequest::Complete { .. } => match resolved.prompt() {
                Some(p) => (TargetKind::Prompt, p.prompt.name.as_str()),
                None => (TargetKind::Resource, source),
            },
            McpRequest::ReadResource { .. } | McpRequest::Subscribe { .. } => {
                (TargetKind::Resource, source)
            }
            McpRequest::ListTools { .. }
            | McpRequest::ListResources { .. }
            | McpRequest::ListResourceTemplates { .. }
            | McpRequest::ListPrompts { .. }
            | McpRequest::SetLogLevel { .. } => return None,
        };
        let client_ip = call.ctx.peer.map(|p| p.ip());
        let caller = match (&call.ctx.principal, client_ip, &call.ctx.client) {
            (Some(p), _, _) => Caller::Subject(p),
            (None, Some(ip), _) => Caller::Ip(ip),
            (None, None, Some(client)) => Caller::Session(client.session_key()),
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
        match self.caller {
            Caller::Subject(p) => part(out, &p.subject),
            Caller::Ip(ip) => {
                push_ip(out, ip);
                out.push(';');
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
                    part(out, self.name);
                }
                KeyPart::Source => {
                    out.push('s');
                    part(out, self.source);
                }
                KeyPart::ClientIp => match self.client_ip {
                    Some(ip) => {
                        out.push('i');
                        push_ip(out, ip);
                        out.push(';');
                    }
                    None => out.push_str("i;"),
                },
                KeyPart::Global => out.push_str("g;"),
            }
        }
    }
}

/// Appends `value` as `<len>:<value>`. Written without `core::fmt` (as [`push_ip`]): keys
/// are built on every call, and formatting machinery was most of their cost under callgrind.
fn part(out: &mut String, value: &str) {
    out.push_str(itoa::Buffer::new().format(value.len()));
    out.push(':');
    out.push_str(value);
}

/// Appends `ip` as its usual text (`192.0.2.7`; IPv6 through `Display`, which is rarer).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let mut digits = itoa::Buffer::new();
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(digits.format(octet));
            }
        }
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
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

    fn facts(caller: Caller<'_>) -> Facts<'_> {
        Facts {
            caller,
            client_ip: Some("192.0.2.7".parse().unwrap()),
            kind: TargetKind::Tool,
            name: "create_issue",
            source: "github",
        }
    }

    fn principal(subject: &str) -> Principal {
        Principal::new(subject, vec![], toolgate_core::AuthMethod::ApiKey)
    }

    #[test]
    fn keys_compose_the_parts_in_order() {
        let alice = principal("alice");
        let f = facts(Caller::Subject(&alice));
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
            facts(Caller::Session("abc")).key(&[KeyPart::Subject]),
            "ss3:abc"
        );
    }

    #[test]
    fn a_subject_cannot_impersonate_another_key() {
        // Without length prefixes, subject "a" + tool "bt1:c" and subject "at1:b"… could meet.
        let parts = [KeyPart::Subject, KeyPart::Tool];
        let (a, a1xt, ip) = (principal("a"), principal("a1:xt"), principal("192.0.2.7"));
        let mut one = facts(Caller::Subject(&a));
        one.name = "x";
        let two = facts(Caller::Subject(&a1xt));
        assert_ne!(one.key(&parts), two.key(&parts));
        // An IP-keyed anonymous caller never shares a key with a subject that looks like one.
        assert_ne!(
            facts(Caller::Subject(&ip)).key(&[KeyPart::Subject]),
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
