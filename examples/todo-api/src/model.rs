//! Wire types and the in-memory store of the Todo API.
//!
//! Owns the JSON shapes (requests and responses), their validation and the store. Does not own
//! routing or HTTP status mapping (`handlers`) nor the OpenAPI description of these shapes
//! (`openapi`), which must be kept in step with this file by hand; `tests/api.rs` checks it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// A registered user.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    #[serde(serialize_with = "hyphenated")]
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub created_at: String,
}

/// Task importance; `medium` when not given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
}

/// Task lifecycle state; a task only moves from `pending` to `completed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Completed,
}

/// A task owned by one user.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    #[serde(serialize_with = "hyphenated")]
    pub id: Uuid,
    #[serde(serialize_with = "hyphenated")]
    pub user_id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub status: Status,
    pub priority: Priority,
    pub tags: Vec<String>,
    pub due_date: Option<String>,
    pub created_at: String,
    pub completed_at: Option<String>,
}

/// Body of `POST /users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    pub name: String,
    pub email: String,
}

/// Body of `POST /users/{user_id}/tasks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskCreate {
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub due_date: Option<String>,
    #[serde(default)]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// Body of `PATCH /tasks/{task_id}`: absent fields are left alone; `null` clears the nullable
/// fields (`description`, `due_date`) and is refused for the others.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskUpdate {
    #[serde(default, deserialize_with = "present")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub priority: Option<Option<Priority>>,
    #[serde(default, deserialize_with = "present")]
    pub due_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub tags: Option<Option<Vec<String>>>,
}

/// Writes a UUID as its lowercase hyphenated string (uuid's `serde` feature is not enabled in
/// the workspace, and this is the only place that needs it).
fn hyphenated<S: serde::Serializer>(id: &Uuid, ser: S) -> Result<S::Ok, S::Error> {
    ser.collect_str(&id.hyphenated())
}

/// Distinguishes a field sent as `null` (`Some(None)`) from an absent one (`None`, via `default`).
fn present<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

/// Filters of `GET /tasks`, already validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskQuery {
    pub user_id: Option<Uuid>,
    pub status: Option<Status>,
    pub tags: Vec<String>,
    pub limit: usize,
    pub offset: usize,
}

/// One page of `GET /tasks`.
#[derive(Debug, Serialize)]
pub struct TaskPage {
    pub items: Vec<Task>,
    pub total: usize,
}

/// Default and bounds of the `limit` query parameter.
pub const LIMIT_DEFAULT: usize = 50;
pub const LIMIT_MAX: usize = 500;

/// Everything the API knows, in creation order (lists are returned in that order).
#[derive(Debug, Default)]
pub struct Store {
    pub users: Vec<User>,
    pub tasks: Vec<Task>,
}

impl Store {
    pub fn user(&self, id: Uuid) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn task(&self, id: Uuid) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }

    pub fn task_mut(&mut self, id: Uuid) -> Option<&mut Task> {
        self.tasks.iter_mut().find(|t| t.id == id)
    }

    /// Tasks matching every filter; a task must carry all of the requested tags.
    pub fn query(&self, q: &TaskQuery) -> TaskPage {
        let matching: Vec<&Task> = self
            .tasks
            .iter()
            .filter(|t| q.user_id.is_none_or(|u| t.user_id == u))
            .filter(|t| q.status.is_none_or(|s| t.status == s))
            .filter(|t| q.tags.iter().all(|tag| t.tags.contains(tag)))
            .collect();
        TaskPage {
            total: matching.len(),
            items: matching
                .into_iter()
                .skip(q.offset)
                .take(q.limit)
                .cloned()
                .collect(),
        }
    }
}

/// Returns the trimmed value, or a message naming the field when it is blank.
pub fn non_blank(field: &str, value: &str) -> Result<String, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        Err(format!("{field}: must not be empty"))
    } else {
        Ok(trimmed.to_owned())
    }
}

/// A deliberately loose email check: something on both sides of one `@`.
pub fn check_email(email: &str) -> Result<String, String> {
    let email = email.trim();
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(email.to_owned())
        }
        _ => Err(format!(
            "email: {email:?} is not an email address (expected name@domain)"
        )),
    }
}

/// Accepts a calendar date `YYYY-MM-DD` (the OpenAPI `date` format).
pub fn check_date(field: &str, value: &str) -> Result<String, String> {
    let err = || format!("{field}: {value:?} is not a date (expected YYYY-MM-DD)");
    let bytes = value.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(err());
    }
    let num = |s: &str| {
        if s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u32>().ok()
        } else {
            None
        }
    };
    let (Some(y), Some(m), Some(d)) = (num(&value[..4]), num(&value[5..7]), num(&value[8..]))
    else {
        return Err(err());
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(err()),
    };
    if d == 0 || d > days {
        return Err(err());
    }
    Ok(value.to_owned())
}

/// Tags are trimmed; blank tags are refused rather than silently dropped.
pub fn check_tags(tags: Vec<String>) -> Result<Vec<String>, String> {
    tags.iter()
        .enumerate()
        .map(|(i, t)| non_blank(&format!("tags[{i}]"), t))
        .collect()
}

/// The current time as RFC 3339 UTC with millisecond precision, e.g. `2025-01-31T09:30:00.123Z`.
pub fn now_rfc3339() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(since.as_secs(), since.subsec_millis())
}

/// Formats seconds since the Unix epoch; kept dependency-free (no chrono) on purpose.
fn rfc3339(secs: u64, millis: u32) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400, 7), "2000-02-29T00:00:00.007Z");
        assert_eq!(rfc3339(1_735_689_599, 999), "2024-12-31T23:59:59.999Z");
    }

    #[test]
    fn dates_are_checked_against_the_calendar() {
        assert!(check_date("due_date", "2024-02-29").is_ok());
        assert!(check_date("due_date", "2023-02-29").is_err());
        assert!(check_date("due_date", "2024-13-01").is_err());
        assert!(check_date("due_date", "2024-1-01").is_err());
        assert!(check_date("due_date", "tomorrow").is_err());
        assert!(check_date("due_date", "+024-01-01").is_err());
    }

    #[test]
    fn emails_need_one_at_with_both_sides() {
        assert!(check_email("ada@example.com").is_ok());
        assert!(check_email("ada.example.com").is_err());
        assert!(check_email("@example.com").is_err());
        assert!(check_email("ada@").is_err());
        assert!(check_email("a@b@c").is_err());
    }
}
