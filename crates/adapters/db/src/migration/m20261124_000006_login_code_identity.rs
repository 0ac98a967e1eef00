use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LoginCodes {
    Table,
    Provider,
    Subject,
}

/// A login code records the identity the provider vouched for, so its session is
/// created only while that identity is still linked to the account (an account
/// taken over by its verified owner sheds the squatter's identities).
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            ColumnDef::new(LoginCodes::Provider).string_len(16).null().to_owned(),
            ColumnDef::new(LoginCodes::Subject).string_len(255).null().to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table(LoginCodes::Table).add_column_if_not_exists(column).to_owned())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [LoginCodes::Subject, LoginCodes::Provider] {
            manager.alter_table(Table::alter().table(LoginCodes::Table).drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
