use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "generation_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub owner_id: Uuid,
    pub project_id: Option<Uuid>,
    pub kind: String,
    pub status: String,
    #[sea_orm(column_type = "Text")]
    pub prompt: String,
    pub model: String,
    pub progress: i32,
    pub step: Option<String>,
    pub attempt: i32,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub usage_estimated: bool,
    pub reserved_tokens: i64,
    pub error_code: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub error_message: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub output: String,
    pub cancel_requested: bool,
    pub lease_owner: Option<String>,
    pub lease_fence: i64,
    pub lease_until: Option<DateTimeUtc>,
    pub last_seq: i64,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
    pub revision: Option<i64>,
    #[sea_orm(column_type = "Text", nullable)]
    pub summary: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub operations: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
