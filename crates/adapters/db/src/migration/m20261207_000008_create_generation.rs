use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum GenerationJobs {
    Table,
    Id,
    OwnerId,
    ProjectId,
    Kind,
    Status,
    Prompt,
    Model,
    Progress,
    Step,
    Attempt,
    PromptTokens,
    CompletionTokens,
    UsageEstimated,
    ReservedTokens,
    ErrorCode,
    ErrorMessage,
    Output,
    CancelRequested,
    LeaseOwner,
    LeaseFence,
    LeaseUntil,
    LastSeq,
    CreatedAt,
    StartedAt,
    FinishedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum GenerationEvents {
    Table,
    JobId,
    Seq,
    Kind,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum GenerationTickets {
    Table,
    TicketHash,
    JobId,
    OwnerId,
    ExpiresAt,
}

/// Generation: durable jobs with their lease (owner, fencing token, expiry), the
/// per-job event log, and single-use stream tickets. A partial unique index keeps
/// at most one running job per project, whatever the workers do.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use GenerationJobs as J;
        manager
            .create_table(
                Table::create()
                    .table(J::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(J::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(J::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(J::ProjectId).uuid().null())
                    .col(ColumnDef::new(J::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(J::Status).string_len(16).not_null())
                    .col(ColumnDef::new(J::Prompt).text().not_null())
                    .col(ColumnDef::new(J::Model).string_len(200).not_null())
                    .col(ColumnDef::new(J::Progress).integer().not_null().default(0))
                    .col(ColumnDef::new(J::Step).string_len(200).null())
                    .col(ColumnDef::new(J::Attempt).integer().not_null().default(0))
                    .col(ColumnDef::new(J::PromptTokens).big_integer().not_null().default(0))
                    .col(ColumnDef::new(J::CompletionTokens).big_integer().not_null().default(0))
                    .col(ColumnDef::new(J::UsageEstimated).boolean().not_null().default(false))
                    .col(ColumnDef::new(J::ReservedTokens).big_integer().not_null().default(0))
                    .col(ColumnDef::new(J::ErrorCode).string_len(32).null())
                    .col(ColumnDef::new(J::ErrorMessage).text().null())
                    .col(ColumnDef::new(J::Output).text().not_null())
                    .col(ColumnDef::new(J::CancelRequested).boolean().not_null().default(false))
                    .col(ColumnDef::new(J::LeaseOwner).string_len(128).null())
                    .col(ColumnDef::new(J::LeaseFence).big_integer().not_null().default(0))
                    .col(ColumnDef::new(J::LeaseUntil).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(J::LastSeq).big_integer().not_null().default(0))
                    .col(ColumnDef::new(J::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(J::StartedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(J::FinishedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(J::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(J::Table, J::OwnerId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(J::Table, J::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_generation_jobs_owner_created", vec![J::OwnerId, J::CreatedAt, J::Id]),
            ("idx_generation_jobs_status_created", vec![J::Status, J::CreatedAt]),
            ("idx_generation_jobs_project_status", vec![J::ProjectId, J::Status]),
        ] {
            let mut index = Index::create();
            index.name(name).table(J::Table).if_not_exists();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // The same partial-index syntax on SQLite and Postgres.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_generation_jobs_one_running_per_project \
                 ON generation_jobs (project_id) WHERE status = 'running'",
            )
            .await?;
        use GenerationEvents as E;
        manager
            .create_table(
                Table::create()
                    .table(E::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(E::JobId).uuid().not_null())
                    .col(ColumnDef::new(E::Seq).big_integer().not_null())
                    .col(ColumnDef::new(E::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(E::Data).text().not_null())
                    .col(ColumnDef::new(E::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(E::JobId).col(E::Seq))
                    .foreign_key(
                        ForeignKey::create()
                            .from(E::Table, E::JobId)
                            .to(J::Table, J::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        use GenerationTickets as T;
        manager
            .create_table(
                Table::create()
                    .table(T::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(T::TicketHash).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(T::JobId).uuid().not_null())
                    .col(ColumnDef::new(T::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(T::ExpiresAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(T::Table, T::JobId)
                            .to(J::Table, J::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_generation_tickets_expires")
                    .table(T::Table)
                    .col(T::ExpiresAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(GenerationTickets::Table).if_exists().to_owned()).await?;
        manager.drop_table(Table::drop().table(GenerationEvents::Table).if_exists().to_owned()).await?;
        manager.drop_table(Table::drop().table(GenerationJobs::Table).if_exists().to_owned()).await
    }
}

#[derive(DeriveMigrationName)]
pub struct Migration;
