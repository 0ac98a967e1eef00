//! Billing state: customers, subscriptions, and the webhook events that took
//! effect, changed under a per-customer lock.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use devora_domain::{BillingInterval, PlanId, Subscription, SubscriptionStatus, UserId};
use devora_ports::{BillingStore, CustomerLock, StorageError};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, TransactionTrait,
};

use crate::Database;
use crate::entity::{billing_customers, billing_events, billing_subscriptions};
use crate::errors::{corrupt, storage};

fn uuid_value() -> sea_orm::Value {
    sea_orm::prelude::Uuid::now_v7().into()
}

fn subscription_from_row(row: billing_subscriptions::Model) -> Result<Subscription, StorageError> {
    Ok(Subscription {
        user_id: UserId::from_uuid(row.user_id),
        id: row.subscription_id,
        customer: row.customer_id,
        plan: PlanId::parse(&row.plan_id).map_err(|_| corrupt("billing_subscriptions.plan_id"))?,
        interval: match row.billing_interval {
            Some(raw) => {
                Some(BillingInterval::parse(&raw).ok_or_else(|| corrupt("billing_subscriptions.billing_interval"))?)
            }
            None => None,
        },
        status: SubscriptionStatus::parse(&row.status).ok_or_else(|| corrupt("billing_subscriptions.status"))?,
        current_period_end: row.current_period_end,
        cancel_at_period_end: row.cancel_at_period_end,
        past_due_since: row.past_due_since,
        updated_at: row.updated_at,
    })
}

#[async_trait]
impl BillingStore for Database {
    async fn customer_of(&self, user: UserId) -> Result<Option<String>, StorageError> {
        let row =
            billing_customers::Entity::find_by_id(user.as_uuid()).one(self.connection()).await.map_err(storage)?;
        Ok(row.map(|r| r.customer_id))
    }

    async fn record_customer(
        &self,
        user: UserId,
        customer: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StorageError> {
        let row = billing_customers::ActiveModel {
            user_id: Set(user.as_uuid()),
            customer_id: Set(customer.to_owned()),
            created_at: Set(now),
        };
        // The first writer wins; a concurrent second keeps the first's customer. No
        // conflict target (`ON CONFLICT DO NOTHING`): two first checkouts race on both
        // unique indexes (user and customer id), and Postgres may meet either first;
        // with a target, a conflict on the other one is an error.
        billing_customers::Entity::insert(row)
            .on_conflict(OnConflict::new().do_nothing().to_owned())
            .try_insert()
            .exec(self.connection())
            .await
            .map_err(storage)?;
        self.customer_of(user).await
    }

    async fn user_of_customer(&self, customer: &str) -> Result<Option<UserId>, StorageError> {
        let row = billing_customers::Entity::find()
            .filter(billing_customers::Column::CustomerId.eq(customer))
            .one(self.connection())
            .await
            .map_err(storage)?;
        Ok(row.map(|r| UserId::from_uuid(r.user_id)))
    }

    async fn subscription_of(&self, user: UserId) -> Result<Option<Subscription>, StorageError> {
        let row =
            billing_subscriptions::Entity::find_by_id(user.as_uuid()).one(self.connection()).await.map_err(storage)?;
        row.map(subscription_from_row).transpose()
    }

    async fn lock_customer(&self, customer: &str) -> Result<Option<Box<dyn CustomerLock>>, StorageError> {
        let txn = self.connection().begin().await.map_err(storage)?;
        // The transaction's first statement writes the customer's row: Postgres
        // holds its row lock and SQLite its write lock until commit, so changes to
        // one customer are decided one after another, on every node.
        let locked = billing_customers::Entity::update_many()
            .col_expr(billing_customers::Column::CreatedAt, Expr::col(billing_customers::Column::CreatedAt))
            .filter(billing_customers::Column::CustomerId.eq(customer))
            .exec(&txn)
            .await
            .map_err(storage)?;
        if locked.rows_affected == 0 {
            return Ok(None);
        }
        let row = billing_customers::Entity::find()
            .filter(billing_customers::Column::CustomerId.eq(customer))
            .one(&txn)
            .await
            .map_err(storage)?
            .ok_or_else(|| StorageError::new("the locked customer is gone"))?;
        Ok(Some(Box::new(LockedCustomer { txn, user: UserId::from_uuid(row.user_id) })))
    }

    async fn event_recorded(&self, event_id: &str) -> Result<bool, StorageError> {
        let row =
            billing_events::Entity::find_by_id(event_id.to_owned()).one(self.connection()).await.map_err(storage)?;
        Ok(row.is_some())
    }

    async fn record_webhook_failure(&self, event_id: &str, now: DateTime<Utc>) -> Result<(), StorageError> {
        let sql = "INSERT INTO billing_webhook_failures (id, event_id, failed_at) VALUES ($1, $2, $3)";
        let values = vec![uuid_value(), event_id.chars().take(255).collect::<String>().into(), now.into()];
        crate::generation::sql::one(self.connection(), sql, values).await?;
        Ok(())
    }

    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StorageError> {
        let result = billing_events::Entity::delete_many()
            .filter(billing_events::Column::ReceivedAt.lt(before))
            .exec(self.connection())
            .await
            .map_err(storage)?;
        crate::generation::sql::one(
            self.connection(),
            "DELETE FROM billing_webhook_failures WHERE failed_at < $1",
            vec![before.into()],
        )
        .await?;
        Ok(result.rows_affected)
    }
}

/// A customer's billing inside the transaction that holds its lock.
struct LockedCustomer {
    txn: DatabaseTransaction,
    user: UserId,
}

#[async_trait]
impl CustomerLock for LockedCustomer {
    fn user(&self) -> UserId {
        self.user
    }

    async fn subscription(&mut self) -> Result<Option<Subscription>, StorageError> {
        let row =
            billing_subscriptions::Entity::find_by_id(self.user.as_uuid()).one(&self.txn).await.map_err(storage)?;
        row.map(subscription_from_row).transpose()
    }

    async fn event_seen(&mut self, event_id: &str) -> Result<bool, StorageError> {
        let row = billing_events::Entity::find_by_id(event_id.to_owned()).one(&self.txn).await.map_err(storage)?;
        Ok(row.is_some())
    }

    async fn save_subscription(&mut self, s: &Subscription) -> Result<(), StorageError> {
        let row = billing_subscriptions::ActiveModel {
            user_id: Set(s.user_id.as_uuid()),
            subscription_id: Set(s.id.clone()),
            customer_id: Set(s.customer.clone()),
            plan_id: Set(s.plan.as_str().to_owned()),
            billing_interval: Set(s.interval.map(|i| i.as_str().to_owned())),
            status: Set(s.status.as_str().to_owned()),
            current_period_end: Set(s.current_period_end),
            cancel_at_period_end: Set(s.cancel_at_period_end),
            past_due_since: Set(s.past_due_since),
            updated_at: Set(s.updated_at),
        };
        use billing_subscriptions::Column as C;
        billing_subscriptions::Entity::insert(row)
            .on_conflict(
                OnConflict::column(C::UserId)
                    .update_columns([
                        C::SubscriptionId,
                        C::CustomerId,
                        C::PlanId,
                        C::BillingInterval,
                        C::Status,
                        C::CurrentPeriodEnd,
                        C::CancelAtPeriodEnd,
                        C::PastDueSince,
                        C::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec(&self.txn)
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn record_event(&mut self, event_id: &str, kind: &str, now: DateTime<Utc>) -> Result<(), StorageError> {
        billing_events::ActiveModel {
            event_id: Set(event_id.to_owned()),
            kind: Set(kind.chars().take(128).collect()),
            received_at: Set(now),
        }
        .insert(&self.txn)
        .await
        .map_err(storage)?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StorageError> {
        self.txn.commit().await.map_err(storage)
    }
}
