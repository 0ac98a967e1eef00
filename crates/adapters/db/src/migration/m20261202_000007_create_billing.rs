use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum BillingCustomers {
    Table,
    UserId,
    CustomerId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum BillingSubscriptions {
    Table,
    UserId,
    SubscriptionId,
    CustomerId,
    PlanId,
    BillingInterval,
    Status,
    CurrentPeriodEnd,
    CancelAtPeriodEnd,
    PastDueSince,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BillingEvents {
    Table,
    EventId,
    Kind,
    ReceivedAt,
}

/// Billing: a user's customer at the payment provider (one each, and a customer
/// belongs to one user), their subscription as last learned, and the webhook
/// events that took effect (so each does so once).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BillingCustomers::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(BillingCustomers::UserId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(BillingCustomers::CustomerId).string_len(255).not_null().unique_key())
                    .col(ColumnDef::new(BillingCustomers::CreatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(BillingCustomers::Table, BillingCustomers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BillingSubscriptions::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(BillingSubscriptions::UserId).uuid().not_null().primary_key())
                    .col(ColumnDef::new(BillingSubscriptions::SubscriptionId).string_len(255).not_null())
                    .col(ColumnDef::new(BillingSubscriptions::CustomerId).string_len(255).not_null())
                    .col(ColumnDef::new(BillingSubscriptions::PlanId).string_len(32).not_null())
                    .col(ColumnDef::new(BillingSubscriptions::BillingInterval).string_len(8).null())
                    .col(ColumnDef::new(BillingSubscriptions::Status).string_len(32).not_null())
                    .col(ColumnDef::new(BillingSubscriptions::CurrentPeriodEnd).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(BillingSubscriptions::CancelAtPeriodEnd).boolean().not_null())
                    .col(ColumnDef::new(BillingSubscriptions::PastDueSince).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(BillingSubscriptions::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(BillingSubscriptions::Table, BillingSubscriptions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BillingEvents::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(BillingEvents::EventId).string_len(255).not_null().primary_key())
                    .col(ColumnDef::new(BillingEvents::Kind).string_len(128).not_null())
                    .col(ColumnDef::new(BillingEvents::ReceivedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("billing_events_received_idx")
                    .table(BillingEvents::Table)
                    .col(BillingEvents::ReceivedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            BillingEvents::Table.into_iden(),
            BillingSubscriptions::Table.into_iden(),
            BillingCustomers::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
