//! Reading an upstream's lists: tools, resources, resource templates and prompts, each to its
//! last page (a server chooses its page size, and a gateway that stops at the first page
//! silently loses entries), for the kinds the server declared. A server whose cursors never
//! end (or repeat) is cut off after [`MAX_PAGES`] pages with a warning.

use rmcp::model::{
    PaginatedRequestParams, Prompt, Resource, ResourceTemplate, ServerCapabilities, Tool,
};
use rmcp::service::ServiceError;
use rmcp::{Peer, RoleClient};

/// Pages read of one list at most.
pub(crate) const MAX_PAGES: usize = 1000;

/// Everything an upstream serves, as it said.
#[derive(Debug, Clone, Default)]
pub(crate) struct Listing {
    pub(crate) tools: Vec<Tool>,
    pub(crate) resources: Vec<Resource>,
    pub(crate) templates: Vec<ResourceTemplate>,
    pub(crate) prompts: Vec<Prompt>,
    pub(crate) capabilities: ServerCapabilities,
}

/// Reads every page of a list with `fetch(cursor) -> (items, next cursor)`.
async fn all_pages<T, F, Fut>(name: &str, what: &str, mut fetch: F) -> Result<Vec<T>, ServiceError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), ServiceError>>,
{
    let mut items = Vec::new();
    let mut cursor = None;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..MAX_PAGES {
        let (page, next) = fetch(cursor.take()).await?;
        items.extend(page);
        match next {
            None => return Ok(items),
            Some(c) if !seen.insert(c.clone()) => {
                tracing::warn!(
                    upstream = name,
                    "{what}: the server repeated cursor `{c}`; stopping there"
                );
                return Ok(items);
            }
            Some(c) => cursor = Some(c),
        }
    }
    tracing::warn!(
        upstream = name,
        "{what}: more than {MAX_PAGES} pages; the rest is left out"
    );
    Ok(items)
}

fn page(cursor: Option<String>) -> Option<PaginatedRequestParams> {
    Some(PaginatedRequestParams::default().with_cursor(cursor))
}

/// Reads the lists of the server behind `peer`, which declared `capabilities`.
pub(crate) async fn discover(
    name: &str,
    peer: &Peer<RoleClient>,
    capabilities: &ServerCapabilities,
) -> Result<Listing, ServiceError> {
    let mut listing = Listing {
        capabilities: capabilities.clone(),
        ..Listing::default()
    };
    if capabilities.tools.is_some() {
        listing.tools = all_pages(name, "tools/list", |c| async move {
            let r = peer.list_tools(page(c)).await?;
            Ok((r.tools, r.next_cursor))
        })
        .await?;
    }
    if capabilities.resources.is_some() {
        listing.resources = all_pages(name, "resources/list", |c| async move {
            let r = peer.list_resources(page(c)).await?;
            Ok((r.resources, r.next_cursor))
        })
        .await?;
        listing.templates = all_pages(name, "resources/templates/list", |c| async move {
            let r = peer.list_resource_templates(page(c)).await?;
            Ok((r.resource_templates, r.next_cursor))
        })
        .await?;
    }
    if capabilities.prompts.is_some() {
        listing.prompts = all_pages(name, "prompts/list", |c| async move {
            let r = peer.list_prompts(page(c)).await?;
            Ok((r.prompts, r.next_cursor))
        })
        .await?;
    }
    Ok(listing)
}
