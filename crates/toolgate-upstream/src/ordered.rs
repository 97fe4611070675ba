//! The transport wrapper that keeps request routing in step with the wire, whatever the
//! transport (stdio, streamable HTTP): a request toolgate forwards is registered before its
//! bytes leave, and a progress notification is counted when it arrives, in the order the
//! server sent it, before the answer that follows it is handled. rmcp handles each
//! notification in a task of its own, so without this a client could see a call's answer
//! before its progress, or lose progress sent before the request was registered.
//!
//! Does not own: where messages go (`routing.rs`), the transports themselves.

use std::future::Future;
use std::sync::Arc;

use rmcp::RoleClient;
use rmcp::model::{GetExtensions as _, GetMeta as _, JsonRpcMessage, ServerNotification};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;

use crate::routing::{RouteMarker, Routes};

/// `inner`, with the upstream connection's routes kept in step with its messages.
pub(crate) struct Ordered<T> {
    inner: T,
    routes: Arc<Routes>,
}

impl<T> Ordered<T> {
    pub(crate) fn new(inner: T, routes: Arc<Routes>) -> Self {
        Ordered { inner, routes }
    }
}

impl<T: Transport<RoleClient>> Transport<RoleClient> for Ordered<T> {
    type Error = T::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let JsonRpcMessage::Request(r) = &item
            && let Some(marker) = r.request.extensions().get::<RouteMarker>()
            && let Some(token) = r.request.get_meta().get_progress_token()
        {
            self.routes.sending(r.id.clone(), token, marker);
        }
        self.inner.send(item)
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let message = self.inner.receive().await?;
        if let JsonRpcMessage::Notification(n) = &message
            && let ServerNotification::ProgressNotification(p) = &n.notification
        {
            self.routes.received_progress(&p.params.progress_token);
        }
        Some(message)
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.inner.close()
    }
}
