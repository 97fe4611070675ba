//! Versioned tool contracts: what a gateway serves, as a canonical, hashed document
//! ([`Contract`]), and the consumer-side comparison of two of them ([`diff`]).
//!
//! A contract holds every tool's name, title, description, input and output schemas and
//! annotations, and the resources, resource templates and prompts, exactly as MCP clients
//! receive them from `tools/list` and friends (taken from a [`toolgate_core::Catalog`]),
//! canonicalized so the same catalog always gives the same bytes and the same hash.
//!
//! [`diff`] judges each change from the side of the agent that was written against the old
//! contract: inputs are contravariant (the new tool must accept every call the old one did),
//! outputs covariant (the new tool must answer only what the old one could). Each
//! [`Finding`] has a severity, a stable rule id, the component, a JSON pointer into the new
//! definition and a one-line reason. [`Migrations`] (a sidecar file of notes: renames,
//! defaults, deprecation windows) mark breaking findings as covered. [`render`] writes a
//! [`DiffReport`] as text, Markdown or JSON.
//!
//! [`shape`] is the shape of a JSON value (types and fields, no values) and the lenient
//! comparison recording and replay use to check answers against earlier ones.
//!
//! Does not own: building a catalog from a configuration or spec (the `toolgate` binary does
//! that with the same code `serve` runs), file I/O, or exit codes.

mod canonical;
mod contract;
pub mod diff;
mod migrations;
pub mod render;
pub mod shape;

pub use contract::{
    Contract, ContractError, FORMAT, PromptArgumentContract, PromptContract, ResourceContract,
    TemplateContract, ToolContract,
};
pub use diff::{ComponentKind, DiffReport, Finding, Severity, Side, diff, diff_with};
pub use migrations::{Migration, MigrationError, Migrations, is_date, today_utc};
