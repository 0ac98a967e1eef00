use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub subscription_id: String,
    pub customer_id: String,
    pub plan_id: String,
    pub billing_interval: Option<String>,
    pub status: String,
    pub current_period_end: DateTimeUtc,
    pub cancel_at_period_end: bool,
    pub past_due_since: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
