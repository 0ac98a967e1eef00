//! Projects, their files and conversation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;
use uuid::Uuid;

/// The stacks a project can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "lowercase")]
pub enum FrameworkDto {
    React,
    Nextjs,
    Vue,
    Nuxt,
    Svelte,
    Sveltekit,
    Angular,
    Astro,
    Remix,
    Solid,
    Express,
    Fastapi,
    Django,
    Flask,
    Rails,
    Laravel,
    Static,
}

/// `POST /api/v2/projects`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Recipe box", "description": "Save and share recipes", "framework": "nextjs"}))]
pub struct CreateProjectRequest {
    /// 1..100 characters once surrounding spaces are trimmed; no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F](?:[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    pub name: String,
    /// Up to 2,000 characters once trimmed; no control characters but tabs and line breaks.
    /// Empty or `null`: no description.
    #[serde(default)]
    #[ts(optional = nullable)]
    #[schema(max_length = 2000, pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$")]
    pub description: Option<String>,
    /// `null`: none.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub framework: Option<FrameworkDto>,
}

/// `PATCH /api/v2/projects/{id}`: fields left out are unchanged; `null` clears
/// `description` or `framework`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Recipe box 2", "description": null}))]
pub struct UpdateProjectRequest {
    /// 1..100 characters once surrounding spaces are trimmed; no control characters.
    /// `null` leaves it unchanged, like leaving it out.
    #[serde(default)]
    #[ts(optional = nullable)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F](?:[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    pub name: Option<String>,
    /// Up to 2,000 characters once trimmed; no control characters but tabs and line
    /// breaks; `null` or an empty text clears it.
    #[serde(default, with = "double_option")]
    #[ts(optional = nullable, as = "Option<String>")]
    #[schema(
        value_type = Option<String>,
        max_length = 2000,
        pattern = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"
    )]
    pub description: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    #[ts(optional = nullable, as = "Option<FrameworkDto>")]
    #[schema(value_type = Option<FrameworkDto>)]
    pub framework: Option<Option<FrameworkDto>>,
}

/// Absent -> `None`; `null` -> `Some(None)`; a value -> `Some(Some(v))`.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }

    pub fn serialize<T: Serialize, S: Serializer>(value: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "id": "0193a1c2-8a11-7c33-9d4e-6f7a8b9c0d1e",
    "name": "Recipe box",
    "description": "Save and share recipes",
    "framework": "nextjs",
    "created_at": "2026-11-24T09:31:00.000001Z",
    "updated_at": "2026-11-24T09:45:10.500000Z"
}))]
pub struct ProjectDto {
    pub id: Uuid,
    pub name: String,
    #[schema(required = true)]
    pub description: Option<String>,
    #[schema(required = true)]
    pub framework: Option<FrameworkDto>,
    #[ts(type = "string")]
    pub created_at: DateTime<Utc>,
    #[ts(type = "string")]
    pub updated_at: DateTime<Utc>,
}

/// A page of projects, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "items": [{
        "id": "0193a1c2-8a11-7c33-9d4e-6f7a8b9c0d1e",
        "name": "Recipe box",
        "description": "Save and share recipes",
        "framework": "nextjs",
        "created_at": "2026-11-24T09:31:00.000001Z",
        "updated_at": "2026-11-24T09:45:10.500000Z"
    }],
    "next_cursor": "MTc2Mzk3NjY2MDAwMDAwMS4wMTkzYTFjMi04YTExLTdjMzMtOWQ0ZS02ZjdhOGI5YzBkMWU"
}))]
pub struct ProjectPage {
    pub items: Vec<ProjectDto>,
    /// Pass as `?cursor=` for the next page; null on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "path": "src/app.tsx",
    "size": 45,
    "sha256": "2315205cfdb2c8d5850daee8269c0d6cf68dc366d3180234c444fb6f64d45b0c",
    "updated_at": "2026-11-24T09:40:00.000001Z"
}))]
pub struct FileEntry {
    /// Relative, normalised, `/`-separated.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    #[ts(type = "string")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "items": [{
        "path": "src/app.tsx",
        "size": 45,
        "sha256": "2315205cfdb2c8d5850daee8269c0d6cf68dc366d3180234c444fb6f64d45b0c",
        "updated_at": "2026-11-24T09:40:00.000001Z"
    }]
}))]
pub struct FileList {
    pub items: Vec<FileEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "lowercase")]
pub enum MessageRoleDto {
    User,
    Assistant,
    System,
}

/// `POST /api/v2/projects/{id}/messages`: clients post `user` messages only.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "user", "content": "Add a dark mode toggle"}))]
pub struct CreateMessageRequest {
    /// Always `user`: the other roles are written by the server.
    #[schema(schema_with = user_role_only)]
    #[ts(type = "\"user\"")]
    pub role: MessageRoleDto,
    /// 1..32,000 characters, not only spaces; no NUL characters.
    #[schema(min_length = 1, max_length = 32000, pattern = r"^[^\u0000]*\S[^\u0000]*$")]
    pub content: String,
}

/// The one role a client may post, as a schema: a string enum of `user`.
fn user_role_only() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["user"]))
        .description(Some("Always `user`: the other roles are written by the server."))
        .build()
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "id": "0193a1c2-9b22-7d44-8e5f-7a8b9c0d1e2f",
    "role": "user",
    "content": "Add a dark mode toggle",
    "created_at": "2026-11-24T09:41:00.000001Z"
}))]
pub struct MessageDto {
    pub id: Uuid,
    pub role: MessageRoleDto,
    pub content: String,
    #[ts(type = "string")]
    pub created_at: DateTime<Utc>,
}

/// A page of the conversation, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, TS)]
#[schema(example = json!({
    "items": [{
        "id": "0193a1c2-9b22-7d44-8e5f-7a8b9c0d1e2f",
        "role": "user",
        "content": "Add a dark mode toggle",
        "created_at": "2026-11-24T09:41:00.000001Z"
    }],
    "next_cursor": null
}))]
pub struct MessagePage {
    pub items: Vec<MessageDto>,
    /// Pass as `?cursor=` for the next page; null on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}
