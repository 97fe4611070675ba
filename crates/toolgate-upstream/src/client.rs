//! The client side of one upstream connection: rmcp's `ClientHandler`, which takes what the
//! server sends (progress, log messages, list changes, resource updates, and requests for
//! sampling, elicitation and roots) and passes it to the client it belongs to
//! (`routing.rs`), or handles it for the gateway (list changes trigger a refresh).
//!
//! A server request that belongs to no client, or to one that did not declare the feature,
//! is refused with a JSON-RPC error naming why, so the server can go on; nothing is ever sent
//! to the wrong client. During a `tools/call`, `prompts/get` or `resources/read` of a
//! 2026-07-28 client the client is a relay (`mrtr/`) that turns the request into an
//! `input_required` round; during its other requests such a request is refused. Does not own: connecting (`connect.rs`) or the connection's lifecycle.

// Sampling, roots and logging are deprecated by SEP-2577 (2026-07-28) but remain part of
// 2025-11-25, which toolgate passes through.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use rmcp::model::{
    CancelledNotificationParam, ClientConfig as ClientInfo, ClientResult, CreateMessageRequest,
    CreateMessageRequestParams, CreateMessageResult, ElicitRequest, ElicitRequestParams,
    ElicitResult, ListRootsResult, LoggingMessageNotificationParam, ProgressNotificationParam,
    RequestNoParam, ResourceUpdatedNotificationParam, Root, ServerNotification, ServerRequest,
};
use rmcp::service::{InboundStreamOrigin, NotificationContext, RequestContext, RoleClient};
use rmcp::{ClientHandler, ErrorData};
use tokio::sync::Notify;
use toolgate_core::ClientChannel;

use crate::routing::Routes;
use crate::uris::UriMap;

/// What every connection of one upstream shares: its name, how its URIs are served, the
/// clients subscribed to its resources, and the refresh signal.
pub(crate) struct Hub {
    pub(crate) name: Arc<str>,
    pub(crate) uris: UriMap,
    pub(crate) roots: Vec<Root>,
    pub(crate) refresh: Notify,
    subscriptions: Mutex<HashMap<String, Vec<Arc<dyn ClientChannel>>>>,
}

impl Hub {
    pub(crate) fn new(name: Arc<str>, uris: UriMap, roots: Vec<Root>) -> Self {
        Hub {
            name,
            uris,
            roots,
            refresh: Notify::new(),
            subscriptions: Mutex::default(),
        }
    }

    /// Records that `client` wants updates of upstream URI `uri` (or no longer does).
    /// Returns whether the upstream must be told: the first subscriber subscribes it, the
    /// last one leaving unsubscribes it.
    pub(crate) fn subscribe(&self, uri: &str, client: Arc<dyn ClientChannel>, on: bool) -> bool {
        let mut all = self
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let list = all.entry(uri.to_owned()).or_default();
        list.retain(|c| !c.is_closed());
        let before = list.len();
        list.retain(|c| c.session_key() != client.session_key());
        if on {
            list.push(client);
        }
        let after = list.len();
        if after == 0 {
            all.remove(uri);
        }
        (before == 0) != (after == 0)
    }

    /// Passes `notifications/resources/updated` to the clients subscribed to its URI, with
    /// the URI in served form.
    pub(crate) async fn resource_updated(&self, params: ResourceUpdatedNotificationParam) {
        let exposed = self.uris.expose(&params.uri);
        for client in self.subscribers(&params.uri) {
            let mut p = params.clone();
            p.uri = exposed.clone();
            client
                .notify(ServerNotification::ResourceUpdatedNotification(
                    rmcp::model::ResourceUpdatedNotification::new(p),
                ))
                .await;
        }
    }

    fn subscribers(&self, uri: &str) -> Vec<Arc<dyn ClientChannel>> {
        self.subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(uri)
            .map(|l| l.iter().filter(|c| !c.is_closed()).cloned().collect())
            .unwrap_or_default()
    }
}

/// The rmcp client handler of one upstream connection.
#[derive(Clone)]
pub(crate) struct UpstreamClient {
    pub(crate) hub: Arc<Hub>,
    pub(crate) routes: Arc<Routes>,
    pub(crate) info: ClientInfo,
}

fn refused(why: String) -> ErrorData {
    ErrorData::new(rmcp::model::ErrorCode::METHOD_NOT_FOUND, why, None)
}

impl UpstreamClient {
    /// The client a server request belongs to, if it may receive it.
    fn requester(
        &self,
        cx: &RequestContext<RoleClient>,
        what: &str,
        supported: impl Fn(&rmcp::model::ClientCapabilities) -> bool,
    ) -> Result<Arc<dyn ClientChannel>, ErrorData> {
        let origin = cx.extensions.get::<InboundStreamOrigin>();
        let Some(client) = self.routes.client_for(origin) else {
            tracing::warn!(
                upstream = %self.hub.name,
                "{what} request from the upstream refused: no single client it belongs to (use `session: per_client` for servers that ask outside calls or serve several clients at once)"
            );
            return Err(refused(format!(
                "{what} is not available: the gateway cannot tell which client this request belongs to"
            )));
        };
        if !client.accepts_requests() {
            return Err(refused(format!(
                "{what} is not available: the client speaks 2026-07-28, which takes server requests only as input_required rounds of tools/call, prompts/get and resources/read"
            )));
        }
        if !client.capabilities().is_some_and(supported) {
            return Err(refused(format!(
                "{what} is not available: the client did not declare it"
            )));
        }
        Ok(client)
    }
}

fn unexpected(what: &str) -> ErrorData {
    ErrorData::internal_error(
        format!("the client answered {what} with another kind of result"),
        None,
    )
}

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientInfo {
        self.info.clone()
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        cx: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let client = self.requester(&cx, "sampling", |c| c.sampling.is_some())?;
        let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        match client.request(request).await? {
            ClientResult::CreateMessageResult(r) => Ok(*r),
            _ => Err(unexpected("sampling/createMessage")),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        cx: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let client = self.requester(&cx, "elicitation", |c| c.elicitation.is_some())?;
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match client.request(request).await? {
            ClientResult::ElicitResult(r) => Ok(r),
            _ => Err(unexpected("elicitation/create")),
        }
    }

    async fn list_roots(
        &self,
        cx: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let origin = cx.extensions.get::<InboundStreamOrigin>();
        let Some(client) = self.routes.client_for(origin) else {
            // Outside any call (e.g. right after initialize): the configured roots.
            return Ok(ListRootsResult::new(self.hub.roots.clone()));
        };
        if !client.accepts_requests() || client.capabilities().is_none_or(|c| c.roots.is_none()) {
            return Ok(ListRootsResult::new(self.hub.roots.clone()));
        }
        let request = ServerRequest::ListRootsRequest(RequestNoParam {
            method: Default::default(),
            extensions: Default::default(),
        });
        match client.request(request).await? {
            ClientResult::ListRootsResult(r) => Ok(r),
            _ => Err(unexpected("roots/list")),
        }
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        if let Some((client, _forwarding)) = self.routes.by_token(&params.progress_token) {
            client.notify_progress(params).await;
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        tracing::debug!(upstream = %self.hub.name, level = ?params.level, "log message from the upstream");
        if let Some((client, _forwarding)) = self.routes.notification_client() {
            client.log(params).await;
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        self.hub.resource_updated(params).await;
    }

    async fn on_tool_list_changed(&self, _cx: NotificationContext<RoleClient>) {
        self.hub.refresh.notify_one();
    }

    async fn on_prompt_list_changed(&self, _cx: NotificationContext<RoleClient>) {
        self.hub.refresh.notify_one();
    }

    async fn on_resource_list_changed(&self, _cx: NotificationContext<RoleClient>) {
        self.hub.refresh.notify_one();
    }

    async fn on_cancelled(
        &self,
        params: CancelledNotificationParam,
        _cx: NotificationContext<RoleClient>,
    ) {
        tracing::debug!(upstream = %self.hub.name, request = ?params.request_id, "the upstream cancelled a request it sent");
    }
}
