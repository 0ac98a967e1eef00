//! `/api/v2/projects`: projects, their files and conversation. Ownership is
//! checked by the app layer; another user's project answers 404 like a missing one.
//! Routes in [`scope`]; handlers in `project`, `files`, `messages`.

pub(crate) mod files;
pub(crate) mod messages;
pub(crate) mod project;
pub(crate) mod revisions;

use actix_web::dev::HttpServiceFactory;
use actix_web::web;
use devora_api_types::{ErrorCode, FileEntry, FrameworkDto, MessageDto, MessageRoleDto, ProjectDto, ProjectPage};
use devora_app::projects::{CachedRead, ProjectError};
use devora_domain::{FileMeta, FilePath, Framework, Message, MessageRole, Project, ProjectId, UserId};
use devora_ports::{CreatedResource, Page, VersionedRead};

use std::sync::Arc;

use crate::ApiError;
use crate::conditional::Rendered;
use crate::error::invalid_field;
use crate::rate_limit::limit_by_method;
use crate::routes::resource;

/// The routes under `/api/v2/projects`: reads count under `reads`, the rest under `writes`.
pub fn scope() -> impl HttpServiceFactory {
    web::scope("/projects")
        .service(resource("", "GET, POST").route(web::get().to(project::list)).route(web::post().to(project::create)))
        .service(
            resource("/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(project::get))
                .route(web::patch().to(project::update))
                .route(web::delete().to(project::delete)),
        )
        .service(resource("/{id}/files", "GET").route(web::get().to(files::list_files)))
        .service(
            resource("/{id}/files/{path:.*}", "GET, PUT, DELETE")
                .route(web::get().to(files::read_file))
                .route(web::put().to(files::put_file))
                .route(web::delete().to(files::delete_file)),
        )
        .service(
            resource("/{id}/messages", "GET, POST")
                .route(web::get().to(messages::list_messages))
                .route(web::post().to(messages::post_message)),
        )
        .service(resource("/{id}/revisions", "GET").route(web::get().to(revisions::list_revisions)))
        .service(resource("/{id}/revisions/{n}", "GET").route(web::get().to(revisions::get_revision)))
        .service(resource("/{id}/revisions/{n}/restore", "POST").route(web::post().to(revisions::restore_revision)))
        .default_service(web::to(crate::context::not_found))
        .wrap(limit_by_method().reading(cached_reads))
}

/// What a GET under `/projects` reads from the cache: the first page of the
/// list, or the project (every route under it checks ownership through it) and,
/// for the file list, its files.
fn cached_reads(req: &actix_web::HttpRequest, state: &crate::AppState, owner: UserId) -> Vec<VersionedRead> {
    let tail = req.path().strip_prefix("/api/v2/projects").unwrap_or_default().trim_start_matches('/');
    let mut parts = tail.split('/');
    let what = match (parts.next(), parts.next(), parts.next()) {
        (Some(""), None, None) if !req.query_string().contains("cursor") => CachedRead::List,
        (Some(id), Some("files"), None) => match ProjectId::parse(id) {
            Some(id) => CachedRead::Files(id),
            None => return Vec::new(),
        },
        (Some(id), _, _) => match ProjectId::parse(id) {
            Some(id) => CachedRead::Project(id),
            None => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    state.projects.cached_reads(owner, what)
}

impl From<ProjectError> for ApiError {
    fn from(err: ProjectError) -> Self {
        match err {
            ProjectError::NotFound => Self::new(ErrorCode::NotFound, "No such project."),
            ProjectError::FileNotFound => Self::new(ErrorCode::NotFound, "No such file in this project."),
            ProjectError::LimitReached { limit, count } => Self::plan_limit(
                format!(
                    "Your plan allows {limit} projects and you have {count}. Delete one or upgrade to create more."
                ),
                u64::from(limit),
                count,
            ),
            ProjectError::FileTooLarge(limit) => {
                Self::new(ErrorCode::PayloadTooLarge, format!("A file may be at most {limit} bytes."))
            }
            ProjectError::TooManyFiles(limit) => {
                Self::new(ErrorCode::TooManyFiles, format!("A project may have at most {limit} files."))
            }
            ProjectError::ProjectFull(limit) => {
                Self::new(ErrorCode::ProjectStorageFull, format!("A project's files may total at most {limit} bytes."))
            }
            ProjectError::PathConflict(existing) => Self::new(
                ErrorCode::Conflict,
                format!("\"{existing}\" is already a file or a directory; a path cannot be both."),
            ),
            ProjectError::FileMissing(path) => {
                Self::new(ErrorCode::NotFound, format!("No file \"{path}\" in this project."))
            }
            ProjectError::FileExists(path) => {
                Self::new(ErrorCode::Conflict, format!("\"{path}\" already exists in this project."))
            }
            ProjectError::RevisionNotFound => Self::new(ErrorCode::NotFound, "No such revision."),
            // Only a generation job's writes carry a lease; a request never does.
            ProjectError::LeaseLost => Self::internal("a job's lease reached the HTTP layer"),
            ProjectError::Internal(err) => Self::internal(err),
        }
    }
}

pub(crate) fn framework_dto(f: Framework) -> FrameworkDto {
    match f {
        Framework::React => FrameworkDto::React,
        Framework::NextJs => FrameworkDto::Nextjs,
        Framework::Vue => FrameworkDto::Vue,
        Framework::Nuxt => FrameworkDto::Nuxt,
        Framework::Svelte => FrameworkDto::Svelte,
        Framework::SvelteKit => FrameworkDto::Sveltekit,
        Framework::Angular => FrameworkDto::Angular,
        Framework::Astro => FrameworkDto::Astro,
        Framework::Remix => FrameworkDto::Remix,
        Framework::Solid => FrameworkDto::Solid,
        Framework::Express => FrameworkDto::Express,
        Framework::FastApi => FrameworkDto::Fastapi,
        Framework::Django => FrameworkDto::Django,
        Framework::Flask => FrameworkDto::Flask,
        Framework::Rails => FrameworkDto::Rails,
        Framework::Laravel => FrameworkDto::Laravel,
        Framework::Static => FrameworkDto::Static,
    }
}

pub(crate) fn framework(dto: FrameworkDto) -> Framework {
    match dto {
        FrameworkDto::React => Framework::React,
        FrameworkDto::Nextjs => Framework::NextJs,
        FrameworkDto::Vue => Framework::Vue,
        FrameworkDto::Nuxt => Framework::Nuxt,
        FrameworkDto::Svelte => Framework::Svelte,
        FrameworkDto::Sveltekit => Framework::SvelteKit,
        FrameworkDto::Angular => Framework::Angular,
        FrameworkDto::Astro => Framework::Astro,
        FrameworkDto::Remix => Framework::Remix,
        FrameworkDto::Solid => Framework::Solid,
        FrameworkDto::Express => Framework::Express,
        FrameworkDto::Fastapi => Framework::FastApi,
        FrameworkDto::Django => Framework::Django,
        FrameworkDto::Flask => Framework::Flask,
        FrameworkDto::Rails => Framework::Rails,
        FrameworkDto::Laravel => Framework::Laravel,
        FrameworkDto::Static => Framework::Static,
    }
}

/// Projects as last rendered (JSON body and ETag), each kept with the project it
/// was rendered from and served again only for an equal one: reading a cached
/// project no longer serialises and hashes it on every request
/// (docs/benchmarks.md). Bounded by count; ownership is checked before.
#[derive(Clone)]
pub struct RenderedProjects(moka::sync::Cache<ProjectId, Arc<(Project, Rendered)>>);

/// Rendered projects kept at most (about 2 MB).
const RENDERED_PROJECTS: u64 = 4096;

impl Default for RenderedProjects {
    fn default() -> Self {
        Self(moka::sync::Cache::new(RENDERED_PROJECTS))
    }
}

impl RenderedProjects {
    /// `project` rendered, from the last rendering if the project is unchanged.
    ///
    /// # Errors
    /// When the project cannot be serialised.
    pub fn render(&self, project: &Project) -> Result<Rendered, ApiError> {
        if let Some(kept) = self.0.get(&project.id).filter(|kept| kept.0 == *project) {
            return Ok(kept.1.clone());
        }
        let rendered = Rendered::of(&project_dto(project))?;
        self.0.insert(project.id, Arc::new((project.clone(), rendered.clone())));
        Ok(rendered)
    }
}

/// A page of projects as the API lists them (the caller's, or a user's for an admin).
pub(crate) fn project_page(page: &Page<Project>) -> ProjectPage {
    ProjectPage {
        items: page.items.iter().map(project_dto).collect(),
        next_cursor: page.next.as_ref().map(crate::pagination::encode_cursor),
    }
}

pub fn project_dto(p: &Project) -> ProjectDto {
    ProjectDto {
        id: p.id.as_uuid(),
        name: p.name.as_str().to_owned(),
        description: p.description.as_ref().map(|d| d.as_str().to_owned()),
        framework: p.framework.map(framework_dto),
        created_at: p.created_at,
        updated_at: p.updated_at,
    }
}

pub(crate) fn file_entry(f: &FileMeta) -> FileEntry {
    FileEntry { path: f.path.as_str().to_owned(), size: f.size, sha256: f.sha256.clone(), updated_at: f.updated_at }
}

pub(crate) fn message_dto(m: &Message) -> MessageDto {
    MessageDto {
        id: m.id.as_uuid(),
        role: match m.role {
            MessageRole::User => MessageRoleDto::User,
            MessageRole::Assistant => MessageRoleDto::Assistant,
            MessageRole::System => MessageRoleDto::System,
        },
        content: m.content.as_str().to_owned(),
        created_at: m.created_at,
    }
}

/// Any id shape that is not one of ours is simply not found.
pub(crate) fn project_id(raw: &str) -> Result<ProjectId, ApiError> {
    ProjectId::parse(raw).ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such project."))
}

pub(crate) fn file_path(raw: &str) -> Result<FilePath, ApiError> {
    FilePath::parse(raw).map_err(|rule| ApiError::validation(vec![invalid_field("path", rule)]))
}

/// What a create returns, kept for replays of its `Idempotency-Key`.
pub(crate) fn created(value: &impl serde::Serialize, location: Option<String>) -> Result<CreatedResource, ApiError> {
    Ok(CreatedResource { representation: serde_json::to_vec(value).map_err(ApiError::internal)?, location })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str) -> Project {
        let now = chrono::Utc::now();
        Project {
            id: ProjectId::new(),
            owner_id: UserId::new(),
            name: devora_domain::ProjectName::parse(name).unwrap(),
            description: None,
            framework: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn a_project_is_rendered_again_only_when_it_changed() {
        let rendered = RenderedProjects::default();
        let first = project("Recipes");
        let a = rendered.render(&first).unwrap();
        let again = rendered.render(&first.clone()).unwrap();
        assert_eq!(a.etag(), again.etag());
        let renamed = Project { name: devora_domain::ProjectName::parse("Recipes 2").unwrap(), ..first.clone() };
        let b = rendered.render(&renamed).unwrap();
        assert_ne!(a.etag(), b.etag(), "a changed project is rendered anew");
        assert!(String::from_utf8_lossy(b.body()).contains("Recipes 2"));
        let touched = Project { updated_at: first.updated_at + chrono::Duration::seconds(1), ..renamed };
        assert_ne!(rendered.render(&touched).unwrap().etag(), b.etag(), "any field counts");
    }
}
