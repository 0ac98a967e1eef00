//! Moving file contents to blobs keeps every file, on a real SQLite database (and
//! on Postgres too when `TEST_DATABASE_URL` names a server, as in CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use chrono::{SubsecRound, Utc};
use devora_db::Database;
use devora_db::migration::Migrator;
use devora_domain::{Email, FilePath, ProjectId, ProjectName, RevisionKind, Role, UserId, UserName};
use devora_ports::{FileLimits, NewProject, NewUser, ProjectRepository, UserRepository};
use sea_orm::{ConnectionTrait, Statement, Value};
use sea_orm_migration::MigratorTrait;

use common::unique;

/// The migrations before revisions, some files stored the old way, then the rest.
async fn files_survive_the_move_to_blobs(db: &Database) {
    let conn = db.connection();
    Migrator::up(conn, Some(8)).await.unwrap();
    let owner = UserId::new();
    let now = Utc::now().trunc_subsecs(6);
    UserRepository::create(
        db,
        NewUser {
            id: owner,
            email: Email::parse(&format!("{}@example.com", unique())).unwrap(),
            name: UserName::parse("Old").unwrap(),
            password_hash: None,
            role: Role::User,
            email_verified: true,
            now,
        },
    )
    .await
    .unwrap();
    let project = ProjectId::new();
    let new = NewProject {
        id: project,
        owner_id: owner,
        name: ProjectName::parse("Old").unwrap(),
        description: None,
        framework: None,
        now,
    };
    ProjectRepository::create(db, new, 10).await.unwrap();
    // Two paths share one content: it is kept once.
    for (path, content, sha) in
        [("a.txt", b"same".to_vec(), "s1"), ("b.txt", b"same".to_vec(), "s1"), ("c.bin", vec![0, 159, 255], "s2")]
    {
        let sql = match conn.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "INSERT INTO project_files (project_id, path, content, size, sha256, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            }
            _ => {
                "INSERT INTO project_files (project_id, path, content, size, sha256, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            }
        };
        let values: Vec<Value> = vec![
            project.as_uuid().into(),
            path.into(),
            content.clone().into(),
            i64::try_from(content.len()).unwrap().into(),
            sha.into(),
            now.into(),
            now.into(),
        ];
        conn.execute_raw(Statement::from_sql_and_values(conn.get_database_backend(), sql, values)).await.unwrap();
    }
    db.migrate().await.unwrap();

    let read = |path: &str| FilePath::parse(path).unwrap();
    assert_eq!(db.read_file(project, &read("a.txt")).await.unwrap().unwrap().1, b"same");
    assert_eq!(db.read_file(project, &read("b.txt")).await.unwrap().unwrap().1, b"same");
    assert_eq!(db.read_file(project, &read("c.bin")).await.unwrap().unwrap().1, vec![0, 159, 255]);
    let blobs = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM file_blobs",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(blobs, 2);
    assert!(db.list_revisions(project, None, 10).await.unwrap().items.is_empty());

    // The first change after the move is revision 1, its `before` the migrated content.
    let limits = FileLimits { max_files: 10, max_project_bytes: 1000 };
    db.put_file(project, &read("a.txt"), b"new", "s3", Utc::now(), limits).await.unwrap();
    let page = db.list_revisions(project, None, 10).await.unwrap();
    let revision = &page.items[0];
    assert_eq!((revision.number, revision.kind), (1, RevisionKind::Files));
    assert_eq!((revision.changes[0].before.as_deref(), revision.changes[0].after.as_deref()), (Some("s1"), Some("s3")));
    // Restoring to before any revision brings the migrated content back.
    let restored = db.restore(project, 1, Utc::now(), limits).await.unwrap().unwrap();
    assert_eq!(restored.number, 1, "already in revision 1's state");
    assert!(db.delete(owner, project).await.unwrap());
    let left = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM file_blobs",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    assert_eq!(left, 0, "deleting a project removes its contents");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_contents_move_to_blobs() {
    common::on_both_unmigrated(|db| async move { files_survive_the_move_to_blobs(&db).await }).await;
}
