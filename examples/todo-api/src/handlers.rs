//! HTTP handlers: extraction, validation errors and status codes.
//!
//! Owns how requests map onto the store and how every failure becomes a JSON `{"detail": ...}`
//! body (the FastAPI convention, so the Rust and Python examples answer alike). Does not own the
//! shapes themselves (`model`) or the route table (`lib.rs`).

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use axum::{
    Json,
    extract::{FromRequest, Path, RawQuery, Request, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::model::{
    self, LIMIT_DEFAULT, LIMIT_MAX, Status, Store, Task, TaskCreate, TaskPage, TaskQuery,
    TaskUpdate, User, UserCreate,
};

/// Shared in-memory state; handlers never hold the lock across an `.await`.
#[derive(Clone, Default)]
pub struct AppState(Arc<RwLock<Store>>);

impl AppState {
    fn read(&self) -> RwLockReadGuard<'_, Store> {
        // A panic while holding the lock cannot leave the store half-updated in a way that
        // matters for an example, so keep serving instead of failing every later request.
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An error answer: a status and a human-readable `detail`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
}

impl ApiError {
    fn not_found(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            detail: detail.into(),
        }
    }

    fn invalid(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            detail: detail.into(),
        }
    }
}

impl From<String> for ApiError {
    /// Validation messages from `model` are 422s.
    fn from(detail: String) -> Self {
        Self::invalid(detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "detail": self.detail }))).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// `Json<T>` whose rejections (bad syntax, wrong types, missing content type) are all 422 with a
/// JSON detail, as FastAPI does, instead of axum's plain-text 400/415/422.
pub struct Body<T>(T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::invalid(format!(
                "request body: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// Path ids are UUIDs; anything else is a 422 naming the parameter.
fn parse_id(param: &str, raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ApiError::invalid(format!("{param}: {raw:?} is not a UUID")))
}

fn task_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("task {id} not found"))
}

fn user_not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("user {id} not found"))
}

pub async fn create_user(
    State(state): State<AppState>,
    Body(body): Body<UserCreate>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let user = User {
        id: Uuid::new_v4(),
        name: model::non_blank("name", &body.name)?,
        email: model::check_email(&body.email)?,
        created_at: model::now_rfc3339(),
    };
    state.write().users.push(user.clone());
    Ok((StatusCode::CREATED, Json(user)))
}

pub async fn list_users(State(state): State<AppState>) -> Json<Vec<User>> {
    Json(state.read().users.clone())
}

pub async fn get_user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> ApiResult<Json<User>> {
    let id = parse_id("user_id", &user_id)?;
    let store = state.read();
    store
        .user(id)
        .cloned()
        .map(Json)
        .ok_or_else(|| user_not_found(id))
}

pub async fn create_task(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Body(body): Body<TaskCreate>,
) -> ApiResult<(StatusCode, Json<Task>)> {
    let user_id = parse_id("user_id", &user_id)?;
    let task = Task {
        id: Uuid::new_v4(),
        user_id,
        title: model::non_blank("title", &body.title)?,
        description: body.description,
        status: Status::Pending,
        priority: body.priority.unwrap_or_default(),
        tags: model::check_tags(body.tags.unwrap_or_default())?,
        due_date: body
            .due_date
            .map(|d| model::check_date("due_date", &d))
            .transpose()?,
        created_at: model::now_rfc3339(),
        completed_at: None,
    };
    let mut store = state.write();
    if store.user(user_id).is_none() {
        return Err(user_not_found(user_id));
    }
    store.tasks.push(task.clone());
    Ok((StatusCode::CREATED, Json(task)))
}

pub async fn list_tasks(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<TaskPage>> {
    let query = parse_task_query(raw.as_deref().unwrap_or(""))?;
    let store = state.read();
    if let Some(id) = query.user_id
        && store.user(id).is_none()
    {
        return Err(ApiError::invalid(format!("user_id: no user with id {id}")));
    }
    Ok(Json(store.query(&query)))
}

pub async fn get_task(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
) -> ApiResult<Json<Task>> {
    let id = parse_id("task_id", &task_id)?;
    let store = state.read();
    store
        .task(id)
        .cloned()
        .map(Json)
        .ok_or_else(|| task_not_found(id))
}

pub async fn update_task(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
    Body(patch): Body<TaskUpdate>,
) -> ApiResult<Json<Task>> {
    let id = parse_id("task_id", &task_id)?;
    // Validate the whole patch before touching the task so a 422 changes nothing.
    let title = match patch.title {
        None => None,
        Some(None) => return Err(ApiError::invalid("title: must not be null")),
        Some(Some(t)) => Some(model::non_blank("title", &t)?),
    };
    let priority = match patch.priority {
        None => None,
        Some(None) => return Err(ApiError::invalid("priority: must not be null")),
        Some(Some(p)) => Some(p),
    };
    let tags = match patch.tags {
        None => None,
        Some(None) => {
            return Err(ApiError::invalid(
                "tags: must not be null (send [] to clear)",
            ));
        }
        Some(Some(t)) => Some(model::check_tags(t)?),
    };
    let due_date = match patch.due_date {
        Some(Some(d)) => Some(Some(model::check_date("due_date", &d)?)),
        other => other,
    };

    let mut store = state.write();
    let task = store.task_mut(id).ok_or_else(|| task_not_found(id))?;
    if let Some(title) = title {
        task.title = title;
    }
    if let Some(description) = patch.description {
        task.description = description;
    }
    if let Some(priority) = priority {
        task.priority = priority;
    }
    if let Some(tags) = tags {
        task.tags = tags;
    }
    if let Some(due_date) = due_date {
        task.due_date = due_date;
    }
    Ok(Json(task.clone()))
}

/// Idempotent: completing a completed task returns it unchanged (original `completed_at`).
pub async fn complete_task(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
) -> ApiResult<Json<Task>> {
    let id = parse_id("task_id", &task_id)?;
    let mut store = state.write();
    let task = store.task_mut(id).ok_or_else(|| task_not_found(id))?;
    if task.status == Status::Pending {
        task.status = Status::Completed;
        task.completed_at = Some(model::now_rfc3339());
    }
    Ok(Json(task.clone()))
}

pub async fn delete_task(
    State(state): State<AppState>,
    Path(task_id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id("task_id", &task_id)?;
    let mut store = state.write();
    let before = store.tasks.len();
    store.tasks.retain(|t| t.id != id);
    if store.tasks.len() == before {
        return Err(task_not_found(id));
    }
    Ok(StatusCode::NO_CONTENT)
}

pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn openapi_json() -> Json<Value> {
    Json(crate::openapi())
}

/// Unknown paths answer like FastAPI: 404 `{"detail": "Not Found"}`.
pub async fn not_found() -> ApiError {
    ApiError::not_found("Not Found")
}

/// Known paths with an unsupported method: 405 `{"detail": "Method Not Allowed"}`.
pub async fn method_not_allowed() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        detail: "Method Not Allowed".into(),
    }
}

/// Parses the `GET /tasks` query string by hand because `tag` repeats (`?tag=a&tag=b`), which
/// axum's `Query` (serde_urlencoded) cannot collect into a list. Unknown keys are ignored;
/// every invalid value is reported at once.
fn parse_task_query(raw: &str) -> ApiResult<TaskQuery> {
    let mut query = TaskQuery {
        user_id: None,
        status: None,
        tags: Vec::new(),
        limit: LIMIT_DEFAULT,
        offset: 0,
    };
    let mut errors = Vec::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (key, value) = (form_decode(key), form_decode(value));
        match key.as_str() {
            "user_id" => match Uuid::parse_str(&value) {
                Ok(id) => query.user_id = Some(id),
                Err(_) => errors.push(format!("user_id: {value:?} is not a UUID")),
            },
            "status" => match value.as_str() {
                "pending" => query.status = Some(Status::Pending),
                "completed" => query.status = Some(Status::Completed),
                _ => errors.push(format!(
                    "status: {value:?} is not one of \"pending\", \"completed\""
                )),
            },
            "tag" => query.tags.push(value),
            "limit" => match value.parse::<usize>() {
                Ok(n) if (1..=LIMIT_MAX).contains(&n) => query.limit = n,
                _ => errors.push(format!(
                    "limit: {value:?} is not an integer between 1 and {LIMIT_MAX}"
                )),
            },
            "offset" => match value.parse::<usize>() {
                Ok(n) => query.offset = n,
                Err(_) => errors.push(format!("offset: {value:?} is not a non-negative integer")),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::invalid(errors.join("; ")))
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; malformed escapes
/// are kept literally and invalid UTF-8 is replaced rather than refused.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match hex_pair(bytes[i + 1], bytes[i + 2]) {
                Some(byte) => {
                    out.push(byte);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    Some(digit(hi)? * 16 + digit(lo)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decode_handles_plus_escapes_and_garbage() {
        assert_eq!(form_decode("a+b%20c"), "a b c");
        assert_eq!(form_decode("%E2%9C%93"), "\u{2713}");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%zz%4"), "%zz%4");
        assert_eq!(form_decode("%41"), "A");
    }

    #[test]
    fn task_query_collects_repeated_tags_and_reports_every_error() {
        let q = parse_task_query("tag=a&tag=b+c&status=pending&limit=5&offset=2&x=1").unwrap();
        assert_eq!(q.tags, ["a", "b c"]);
        assert_eq!(q.status, Some(Status::Pending));
        assert_eq!((q.limit, q.offset), (5, 2));

        let err = parse_task_query("limit=0&status=done&offset=-1").unwrap_err();
        assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(err.detail.contains("limit"), "{}", err.detail);
        assert!(err.detail.contains("status"), "{}", err.detail);
        assert!(err.detail.contains("offset"), "{}", err.detail);
    }
}
