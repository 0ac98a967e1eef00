use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    Actor,
    Action,
    TargetType,
    TargetId,
    Before,
    After,
    Ip,
    RequestId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BillingWebhookFailures {
    Table,
    Id,
    EventId,
    FailedAt,
}

/// The append-only audit log (no foreign keys: an entry outlives what it names),
/// and failed webhook deliveries (for the admin stats' failed and pending counts).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use AuditLog as A;
        manager
            .create_table(
                Table::create()
                    .table(A::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(A::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(A::Actor).string_len(64).not_null())
                    .col(ColumnDef::new(A::Action).string_len(64).not_null())
                    .col(ColumnDef::new(A::TargetType).string_len(16).not_null())
                    .col(ColumnDef::new(A::TargetId).string_len(64).null())
                    .col(ColumnDef::new(A::Before).text().null())
                    .col(ColumnDef::new(A::After).text().null())
                    .col(ColumnDef::new(A::Ip).string_len(64).null())
                    .col(ColumnDef::new(A::RequestId).string_len(128).null())
                    .col(ColumnDef::new(A::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_audit_log_created", vec![A::CreatedAt, A::Id]),
            ("idx_audit_log_actor", vec![A::Actor, A::CreatedAt]),
            ("idx_audit_log_target", vec![A::TargetId, A::CreatedAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(A::Table).if_not_exists();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        use BillingWebhookFailures as F;
        manager
            .create_table(
                Table::create()
                    .table(F::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(F::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(F::EventId).string_len(255).not_null())
                    .col(ColumnDef::new(F::FailedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_billing_webhook_failures_at")
                    .table(F::Table)
                    .col(F::FailedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(BillingWebhookFailures::Table).if_exists().to_owned()).await?;
        manager.drop_table(Table::drop().table(AuditLog::Table).if_exists().to_owned()).await
    }
}

#[derive(DeriveMigrationName)]
pub struct Migration;
