//! The core of toolgate: the catalog of tools, resources and prompts (and its assembly from
//! the sources' contributions), the call context and its channel back to the client, the call
//! pipeline's request/response types, the error types and their single mapping to the wire,
//! and the naming rules every source shares.
//!
//! Does not own: how tools are executed (sources such as `toolgate-http` implement
//! [`handler::ToolHandler`]), cross-cutting policies (`toolgate-policy`), or transports
//! (`toolgate-server`).

pub mod assembly;
pub mod auth;
pub mod catalog;
pub mod client;
pub mod context;
pub mod curation;
pub mod endpoint;
pub mod error;
pub mod handler;
pub mod meta;
pub mod naming;
pub mod pipeline;
pub mod resolve;
pub mod trace;
pub mod uri_template;
pub mod wire;

pub use assembly::{Assembly, Contribution, ListsChanged};
pub use auth::{Authenticator, BearerError, Refusal, RefusalStatus};
pub use catalog::{
    Catalog, CatalogBuilder, PromptEntry, SharedCatalog, SourceCapabilities, SourceEntry,
    ToolEntry, ToolMeta,
};
pub use client::{ClientChannel, InputRetry};
pub use context::{
    AuthMethod, CallContext, CorrelationId, Credential, EdgePath, Principal, Transport,
};
pub use endpoint::{EndpointAccess, EndpointView, Selector};
pub use error::{ArgumentViolation, Delivery, ErrorOrigin, GatewayError, ToolError, ToolErrorKind};
pub use handler::{PromptHandler, ReadinessProbe, SourceControl, ToolHandler};
pub use meta::{MetaState, MetaTool, ToolMode, ToolView};
pub use pipeline::{
    Decision, DecisionSlot, Dispatcher, McpCall, McpRequest, McpResponse, Pipeline, ToolOutcome,
};
pub use resolve::{ResolveLayer, Resolved, Target};
