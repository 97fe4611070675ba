//! The core of toolgate: the catalog of tools and resources, the call context, the call
//! pipeline's request/response types, the error types and their single mapping to the wire.
//!
//! Does not own: how tools are executed (sources such as `toolgate-http` implement
//! [`handler::ToolHandler`]), cross-cutting policies (`toolgate-policy`), or transports
//! (`toolgate-server`).

pub mod catalog;
pub mod context;
pub mod error;
pub mod handler;
pub mod pipeline;
pub mod resolve;
pub mod uri_template;
pub mod wire;

pub use catalog::{Catalog, CatalogBuilder, SharedCatalog, ToolEntry};
pub use context::{CallContext, CorrelationId, EdgePath, Principal, Transport};
pub use error::{ArgumentViolation, Delivery, ErrorOrigin, GatewayError, ToolError, ToolErrorKind};
pub use handler::{ReadinessProbe, ToolHandler};
pub use pipeline::{Dispatcher, McpCall, McpRequest, McpResponse, Pipeline, ToolOutcome};
pub use resolve::{ResolveLayer, Resolved, Target};
