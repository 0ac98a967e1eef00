use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
    UserAgent,
    Ip,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    SessionId,
    CreatedAt,
    SpentAt,
}

#[derive(DeriveIden)]
enum OauthIdentities {
    Table,
    Provider,
    Subject,
    UserId,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
enum OauthPending {
    Table,
    StateHash,
    Provider,
    PkceVerifier,
    Nonce,
    RedirectTo,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LoginCodes {
    Table,
    CodeHash,
    UserId,
    CreatedAt,
    ExpiresAt,
}

fn fk_user(from: (impl IntoIden, impl IntoIden)) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Sessions::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Sessions::UserId).uuid().not_null())
                    .col(ColumnDef::new(Sessions::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Sessions::LastUsedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Sessions::ExpiresAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Sessions::RevokedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Sessions::UserAgent).string_len(255).null())
                    .col(ColumnDef::new(Sessions::Ip).string_len(64).null())
                    .foreign_key(&mut fk_user((Sessions::Table, Sessions::UserId)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_user_idx")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .if_not_exists()
                    // SHA-256 of the token, hex: the token itself is never stored.
                    .col(ColumnDef::new(RefreshTokens::TokenHash).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(RefreshTokens::SessionId).uuid().not_null())
                    .col(ColumnDef::new(RefreshTokens::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(RefreshTokens::SpentAt).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(RefreshTokens::Table, RefreshTokens::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("refresh_tokens_session_idx")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::SessionId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthIdentities::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(OauthIdentities::Provider).string_len(16).not_null())
                    .col(ColumnDef::new(OauthIdentities::Subject).string_len(255).not_null())
                    .col(ColumnDef::new(OauthIdentities::UserId).uuid().not_null())
                    .col(ColumnDef::new(OauthIdentities::Email).string_len(254).not_null())
                    .col(ColumnDef::new(OauthIdentities::CreatedAt).timestamp_with_time_zone().not_null())
                    .primary_key(Index::create().col(OauthIdentities::Provider).col(OauthIdentities::Subject))
                    .foreign_key(&mut fk_user((OauthIdentities::Table, OauthIdentities::UserId)))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OauthPending::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(OauthPending::StateHash).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(OauthPending::Provider).string_len(16).not_null())
                    .col(ColumnDef::new(OauthPending::PkceVerifier).string_len(128).not_null())
                    .col(ColumnDef::new(OauthPending::Nonce).string_len(128).not_null())
                    .col(ColumnDef::new(OauthPending::RedirectTo).string_len(2048).not_null())
                    .col(ColumnDef::new(OauthPending::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(OauthPending::ExpiresAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LoginCodes::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(LoginCodes::CodeHash).string_len(64).not_null().primary_key())
                    .col(ColumnDef::new(LoginCodes::UserId).uuid().not_null())
                    .col(ColumnDef::new(LoginCodes::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(LoginCodes::ExpiresAt).timestamp_with_time_zone().not_null())
                    .foreign_key(&mut fk_user((LoginCodes::Table, LoginCodes::UserId)))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LoginCodes::Table.into_iden(),
            OauthPending::Table.into_iden(),
            OauthIdentities::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}
