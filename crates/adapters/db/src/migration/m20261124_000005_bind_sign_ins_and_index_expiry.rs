use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OauthPending {
    Table,
    ClientChallenge,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LoginCodes {
    Table,
    ClientChallenge,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum OauthIdentities {
    Table,
    UserId,
}

/// OAuth sign-ins are bound to the browser that started them (the web app's S256
/// challenge, kept with the pending sign-in and then with its login code); and
/// the housekeeping deletes by expiry, and unlinking by user, get their indexes.
/// One column per ALTER: SQLite adds one at a time.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(OauthPending::Table)
                    .add_column_if_not_exists(ColumnDef::new(OauthPending::ClientChallenge).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(LoginCodes::Table)
                    .add_column_if_not_exists(ColumnDef::new(LoginCodes::ClientChallenge).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        for (name, table, column) in [
            ("oauth_pending_expires_idx", OauthPending::Table.into_iden(), OauthPending::ExpiresAt.into_iden()),
            ("login_codes_expires_idx", LoginCodes::Table.into_iden(), LoginCodes::ExpiresAt.into_iden()),
            ("oauth_identities_user_idx", OauthIdentities::Table.into_iden(), OauthIdentities::UserId.into_iden()),
        ] {
            manager
                .create_index(Index::create().name(name).table(table).col(column).if_not_exists().to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            ("oauth_pending_expires_idx", OauthPending::Table.into_iden()),
            ("login_codes_expires_idx", LoginCodes::Table.into_iden()),
            ("oauth_identities_user_idx", OauthIdentities::Table.into_iden()),
        ] {
            manager.drop_index(Index::drop().name(name).table(table).to_owned()).await?;
        }
        manager
            .alter_table(Table::alter().table(LoginCodes::Table).drop_column(LoginCodes::ClientChallenge).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter().table(OauthPending::Table).drop_column(OauthPending::ClientChallenge).to_owned(),
            )
            .await
    }
}
