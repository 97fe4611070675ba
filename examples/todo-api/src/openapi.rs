//! The hand-written OpenAPI 3.1 document served at `GET /openapi.json`.
//!
//! Owns the description only; it must match `model` (shapes) and `handlers` (status codes), and
//! `tests/api.rs` checks that every `$ref` resolves, every documented route is served and every
//! answer's status is documented. `/healthz` and `/openapi.json` are deliberately left out: they
//! are operational endpoints, not tools a model should call.
//!
//! The document uses a few features on purpose so toolgate's compiler meets them: path-level
//! parameters, `$ref`s to `components/parameters` and `components/responses`, a `$ref` with a
//! sibling `default`, 3.1 type arrays for nullable fields and an exploded array query parameter.

use serde_json::{Value, json};

use crate::model::{LIMIT_DEFAULT, LIMIT_MAX};

/// Builds the document; cheap enough to rebuild per request.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Todo API",
            "version": "1.0.0",
            "description": "A small in-memory Todo API: users own tasks; tasks can be tagged, \
                prioritised, filtered, completed and deleted. All data is lost on restart. \
                Errors are JSON objects with a `detail` message.",
        },
        "servers": [{ "url": "/", "description": "The server that serves this document" }],
        "tags": [
            { "name": "users", "description": "People who own tasks" },
            { "name": "tasks", "description": "Things to do, owned by a user" },
        ],
        "paths": {
            "/api/v1/users": {
                "post": {
                    "tags": ["users"],
                    "operationId": "create_user",
                    "summary": "Create a user",
                    "description": "Registers a user. The email must contain an `@`; the name must not be blank.",
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/UserCreate" } } },
                    },
                    "responses": {
                        "201": {
                            "description": "The created user",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/User" } } },
                        },
                        "422": { "$ref": "#/components/responses/ValidationError" },
                    },
                },
                "get": {
                    "tags": ["users"],
                    "operationId": "list_users",
                    "summary": "List users",
                    "description": "Returns every user, oldest first.",
                    "responses": {
                        "200": {
                            "description": "All users",
                            "content": { "application/json": { "schema": {
                                "type": "array",
                                "items": { "$ref": "#/components/schemas/User" },
                            } } },
                        },
                    },
                },
            },
            "/api/v1/users/{user_id}": {
                "parameters": [{ "$ref": "#/components/parameters/UserId" }],
                "get": {
                    "tags": ["users"],
                    "operationId": "get_user",
                    "summary": "Get a user",
                    "description": "Returns one user by id.",
                    "responses": {
                        "200": {
                            "description": "The user",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/User" } } },
                        },
                        "404": { "$ref": "#/components/responses/NotFound" },
                        "422": { "$ref": "#/components/responses/ValidationError" },
                    },
                },
            },
            "/api/v1/users/{user_id}/tasks": {
                "parameters": [{ "$ref": "#/components/parameters/UserId" }],
                "post": {
                    "tags": ["tasks"],
                    "operationId": "create_task",
                    "summary": "Create a task for a user",
                    "description": "Creates a pending task owned by the user. Only `title` is required; \
                        `priority` defaults to `medium` and `tags` to an empty list.",
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/TaskCreate" } } },
                    },
                    "responses": {
                        "201": {
                            "description": "The created task",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Task" } } },
                        },
                        "404": { "$ref": "#/components/responses/NotFound" },
                        "422": { "$ref": "#/components/responses/ValidationError" },
                    },
                },
            },
            "/api/v1/tasks": {
                "get": {
                    "tags": ["tasks"],
                    "operationId": "list_tasks",
                    "summary": "List tasks",
                    "description": "Returns tasks matching every given filter, oldest first, one page at a time. \
                        `total` counts all matches before paging.",
                    "parameters": [
                        {
                            "name": "user_id",
                            "in": "query",
                            "required": false,
                            "description": "Only tasks owned by this user (must exist).",
                            "schema": { "type": "string", "format": "uuid" },
                        },
                        {
                            "name": "status",
                            "in": "query",
                            "required": false,
                            "description": "Only tasks in this state.",
                            "schema": { "$ref": "#/components/schemas/TaskStatus" },
                        },
                        {
                            "name": "tag",
                            "in": "query",
                            "required": false,
                            "description": "Only tasks carrying all of these tags; repeat the parameter for several (`?tag=a&tag=b`).",
                            "style": "form",
                            "explode": true,
                            "schema": { "type": "array", "items": { "type": "string" } },
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": false,
                            "description": "Maximum number of tasks to return.",
                            "schema": { "type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": LIMIT_DEFAULT },
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "required": false,
                            "description": "Number of matching tasks to skip.",
                            "schema": { "type": "integer", "minimum": 0, "default": 0 },
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "One page of matching tasks",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/TaskPage" } } },
                        },
                        "422": { "$ref": "#/components/responses/ValidationError" },
                    },
                },
            },
            "/api/v1/tasks/{task_id}": {
                "parameters": [{ "$ref": "#/components/parameters/TaskId" }],
                "get": {
                    "tags": ["tasks"],
                    "operationId": "get_task",
                    "summary": "Get a task",
                    "description": "Returns one task by id.",
                    "responses": {
                        "200": {
                            "description": "The task",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Task" } } },
                        },
                        "404": { "$ref": "#/components/responses/NotFound" },
                        "422": { "$ref": "#/components/responses/ValidationError" },
                    },
                },
                "patch": {
                    "tags": ["tasks"],
                    "operationId": "update_task",
                    "summary": "Update a task",
                    "description": "Changes only the fields sent. Send `null` to clear `description` or `due_date`. \
                        Use `complete_task` to change the status.",
                    "requestBody": {
                        "required": true,
                        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/TaskUpdate" } } },
                    },
                    "responses": {
                        "200": {
                            "description": "The updated task",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Task" } } },
                        },
                        "404": { "$ref": "#/components/responses/NotFound" },
                        "422": { "$ref": "#/components/responses/ValidationError" },
                    },
                },
                "delete": {
                    "tags": ["tasks"],
                    "operationId": "delete_task",
                    "summary": "Delete a task",
                    "description": "Deletes the task for good.",
                    "responses": {
                        "204": { "description": "Deleted; no body" },
                        "404": { "$ref": "#/components/responses/NotFound" },
                        "422": { "$ref": "#/components/responses/ValidationError" },
                    },
                },
            },
            "/api/v1/tasks/{task_id}/complete": {
                "parameters": [{ "$ref": "#/components/parameters/TaskId" }],
                "post": {
                    "tags": ["tasks"],
                    "operationId": "complete_task",
                    "summary": "Complete a task",
                    "description": "Marks the task completed and sets `completed_at`. Completing a completed task \
                        changes nothing.",
                    "responses": {
                        "200": {
                            "description": "The completed task",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Task" } } },
                        },
                        "404": { "$ref": "#/components/responses/NotFound" },
                        "422": { "$ref": "#/components/responses/ValidationError" },
                    },
                },
            },
        },
        "components": {
            "parameters": {
                "UserId": {
                    "name": "user_id",
                    "in": "path",
                    "required": true,
                    "description": "The user's id.",
                    "schema": { "type": "string", "format": "uuid" },
                },
                "TaskId": {
                    "name": "task_id",
                    "in": "path",
                    "required": true,
                    "description": "The task's id.",
                    "schema": { "type": "string", "format": "uuid" },
                },
            },
            "responses": {
                "NotFound": {
                    "description": "No such user or task",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                },
                "ValidationError": {
                    "description": "The request is invalid (bad body, bad parameter, unknown user filter); `detail` says which field and why",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } },
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": { "detail": { "type": "string", "description": "What went wrong" } },
                    "required": ["detail"],
                },
                "User": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string", "format": "uuid" },
                        "name": { "type": "string" },
                        "email": { "type": "string", "format": "email" },
                        "created_at": { "type": "string", "format": "date-time" },
                    },
                    "required": ["id", "name", "email", "created_at"],
                },
                "UserCreate": {
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "minLength": 1, "description": "Display name", "examples": ["Ada Lovelace"] },
                        "email": { "type": "string", "format": "email", "examples": ["ada@example.com"] },
                    },
                    "required": ["name", "email"],
                    "additionalProperties": false,
                },
                "Priority": {
                    "type": "string",
                    "enum": ["low", "medium", "high"],
                    "description": "How important the task is",
                },
                "TaskStatus": {
                    "type": "string",
                    "enum": ["pending", "completed"],
                    "description": "Where the task is in its life",
                },
                "Task": {
                    "type": "object",
                    "properties": {
                        "id": { "type": "string", "format": "uuid" },
                        "user_id": { "type": "string", "format": "uuid", "description": "The owner" },
                        "title": { "type": "string" },
                        "description": { "type": ["string", "null"] },
                        "status": { "$ref": "#/components/schemas/TaskStatus" },
                        "priority": { "$ref": "#/components/schemas/Priority" },
                        "tags": { "type": "array", "items": { "type": "string" } },
                        "due_date": { "type": ["string", "null"], "format": "date" },
                        "created_at": { "type": "string", "format": "date-time" },
                        "completed_at": { "type": ["string", "null"], "format": "date-time" },
                    },
                    "required": [
                        "id", "user_id", "title", "description", "status", "priority",
                        "tags", "due_date", "created_at", "completed_at",
                    ],
                },
                "TaskCreate": {
                    "type": "object",
                    "properties": {
                        "title": { "type": "string", "minLength": 1, "examples": ["Buy milk"] },
                        "description": { "type": ["string", "null"] },
                        "due_date": { "type": ["string", "null"], "format": "date", "description": "Calendar date, YYYY-MM-DD" },
                        "priority": { "$ref": "#/components/schemas/Priority", "default": "medium" },
                        "tags": { "type": "array", "items": { "type": "string", "minLength": 1 }, "default": [] },
                    },
                    "required": ["title"],
                    "additionalProperties": false,
                },
                "TaskUpdate": {
                    "type": "object",
                    "description": "Only the fields present are changed",
                    "properties": {
                        "title": { "type": "string", "minLength": 1 },
                        "description": { "type": ["string", "null"], "description": "`null` clears it" },
                        "priority": { "$ref": "#/components/schemas/Priority" },
                        "due_date": { "type": ["string", "null"], "format": "date", "description": "YYYY-MM-DD; `null` clears it" },
                        "tags": { "type": "array", "items": { "type": "string", "minLength": 1 }, "description": "Replaces all tags" },
                    },
                    "additionalProperties": false,
                },
                "TaskPage": {
                    "type": "object",
                    "properties": {
                        "items": { "type": "array", "items": { "$ref": "#/components/schemas/Task" } },
                        "total": { "type": "integer", "minimum": 0, "description": "Matching tasks before paging" },
                    },
                    "required": ["items", "total"],
                },
            },
        },
    })
}
