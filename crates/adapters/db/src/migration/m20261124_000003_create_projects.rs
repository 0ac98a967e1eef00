use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
    OwnerId,
    Name,
    Description,
    Framework,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProjectFiles {
    Table,
    ProjectId,
    Path,
    Content,
    Size,
    Sha256,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ProjectId,
    Role,
    Content,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    UserId,
    Key,
    Fingerprint,
    StatusCode,
    ResponseBody,
    Location,
    CreatedAt,
}

fn cascade(from: (impl IntoIden, impl IntoIden), to: (impl IntoIden, impl IntoIden)) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from.0, from.1).to(to.0, to.1).on_delete(ForeignKeyAction::Cascade).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Projects::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Projects::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(Projects::Name).string_len(100).not_null())
                    .col(ColumnDef::new(Projects::Description).text().null())
                    .col(ColumnDef::new(Projects::Framework).string_len(32).null())
                    .col(ColumnDef::new(Projects::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Projects::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(&mut cascade((Projects::Table, Projects::OwnerId), (Users::Table, Users::Id)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("projects_owner_created_idx")
                    .table(Projects::Table)
                    .col(Projects::OwnerId)
                    .col(Projects::CreatedAt)
                    .col(Projects::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ProjectFiles::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(ProjectFiles::ProjectId).uuid().not_null())
                    .col(ColumnDef::new(ProjectFiles::Path).string_len(512).not_null())
                    .col(ColumnDef::new(ProjectFiles::Content).blob().not_null())
                    .col(ColumnDef::new(ProjectFiles::Size).big_integer().not_null())
                    .col(ColumnDef::new(ProjectFiles::Sha256).string_len(64).not_null())
                    .col(ColumnDef::new(ProjectFiles::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(ProjectFiles::UpdatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(ProjectFiles::ProjectId).col(ProjectFiles::Path))
                    .foreign_key(&mut cascade(
                        (ProjectFiles::Table, ProjectFiles::ProjectId),
                        (Projects::Table, Projects::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Messages::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Messages::ProjectId).uuid().not_null())
                    .col(ColumnDef::new(Messages::Role).string_len(16).not_null())
                    .col(ColumnDef::new(Messages::Content).text().not_null())
                    .col(ColumnDef::new(Messages::CreatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(&mut cascade((Messages::Table, Messages::ProjectId), (Projects::Table, Projects::Id)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("messages_project_created_idx")
                    .table(Messages::Table)
                    .col(Messages::ProjectId)
                    .col(Messages::CreatedAt)
                    .col(Messages::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(IdempotencyKeys::UserId).uuid().not_null())
                    .col(ColumnDef::new(IdempotencyKeys::Key).string_len(255).not_null())
                    .col(ColumnDef::new(IdempotencyKeys::Fingerprint).string_len(64).not_null())
                    // Null while the first request is in flight.
                    .col(ColumnDef::new(IdempotencyKeys::StatusCode).integer().null())
                    .col(ColumnDef::new(IdempotencyKeys::ResponseBody).blob().null())
                    .col(ColumnDef::new(IdempotencyKeys::Location).string_len(2048).null())
                    .col(ColumnDef::new(IdempotencyKeys::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(IdempotencyKeys::UserId).col(IdempotencyKeys::Key))
                    .foreign_key(&mut cascade(
                        (IdempotencyKeys::Table, IdempotencyKeys::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            IdempotencyKeys::Table.into_iden(),
            Messages::Table.into_iden(),
            ProjectFiles::Table.into_iden(),
            Projects::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
