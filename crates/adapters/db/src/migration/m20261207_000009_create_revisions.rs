use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ProjectFiles {
    Table,
    Content,
}

#[derive(DeriveIden)]
enum FileBlobs {
    Table,
    ProjectId,
    Sha256,
    Content,
}

#[derive(DeriveIden)]
enum Revisions {
    Table,
    ProjectId,
    Number,
    Kind,
    JobId,
    Summary,
    RestoredFrom,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RevisionChanges {
    Table,
    ProjectId,
    Number,
    Path,
    BeforeSha256,
    AfterSha256,
}

#[derive(DeriveIden)]
enum GenerationJobs {
    Table,
    Revision,
    Summary,
    Operations,
}

/// Revisions: file contents move to `file_blobs`, stored once per project and
/// SHA-256 and shared by the live files and every revision; `revisions` and
/// `revision_changes` record each change (paths with before/after SHA-256); a job
/// keeps its revision, summary and operations.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FileBlobs::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(FileBlobs::ProjectId).uuid().not_null())
                    .col(ColumnDef::new(FileBlobs::Sha256).string_len(64).not_null())
                    .col(ColumnDef::new(FileBlobs::Content).binary().not_null())
                    .primary_key(Index::create().col(FileBlobs::ProjectId).col(FileBlobs::Sha256))
                    .foreign_key(
                        ForeignKey::create()
                            .from(FileBlobs::Table, FileBlobs::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The same statement on SQLite and Postgres (SQLite needs the WHERE to read ON CONFLICT as
        // an upsert, not a join); a content shared by several paths is kept once.
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO file_blobs (project_id, sha256, content) \
                 SELECT project_id, sha256, content FROM project_files WHERE true ON CONFLICT DO NOTHING",
            )
            .await?;
        manager
            .alter_table(Table::alter().table(ProjectFiles::Table).drop_column(ProjectFiles::Content).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Revisions::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Revisions::ProjectId).uuid().not_null())
                    .col(ColumnDef::new(Revisions::Number).big_integer().not_null())
                    .col(ColumnDef::new(Revisions::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Revisions::JobId).uuid().null())
                    .col(ColumnDef::new(Revisions::Summary).text().null())
                    .col(ColumnDef::new(Revisions::RestoredFrom).big_integer().null())
                    .col(ColumnDef::new(Revisions::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(Revisions::ProjectId).col(Revisions::Number))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Revisions::Table, Revisions::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RevisionChanges::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(RevisionChanges::ProjectId).uuid().not_null())
                    .col(ColumnDef::new(RevisionChanges::Number).big_integer().not_null())
                    .col(ColumnDef::new(RevisionChanges::Path).string_len(1024).not_null())
                    .col(ColumnDef::new(RevisionChanges::BeforeSha256).string_len(64).null())
                    .col(ColumnDef::new(RevisionChanges::AfterSha256).string_len(64).null())
                    .primary_key(
                        Index::create()
                            .col(RevisionChanges::ProjectId)
                            .col(RevisionChanges::Number)
                            .col(RevisionChanges::Path),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(RevisionChanges::Table, RevisionChanges::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for column in [
            ColumnDef::new(GenerationJobs::Revision).big_integer().null().to_owned(),
            ColumnDef::new(GenerationJobs::Summary).text().null().to_owned(),
            ColumnDef::new(GenerationJobs::Operations).text().not_null().default("[]").to_owned(),
        ] {
            let mut column = column;
            manager.alter_table(Table::alter().table(GenerationJobs::Table).add_column(&mut column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // File contents now live in file_blobs only; going back would need them copied back.
        Err(DbErr::Migration("revisions cannot be rolled back".to_owned()))
    }
}

#[derive(DeriveMigrationName)]
pub struct Migration;
