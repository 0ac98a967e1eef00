use super::*;

fn plan(id: &str, monthly: Option<&str>) -> Plan {
    Plan {
        id: PlanId::parse(id).unwrap(),
        name: id.to_uppercase(),
        monthly_price: monthly.map(Into::into),
        yearly_price: None,
        limits: Limits {
            projects: 3,
            generations_per_month: 10,
            tokens_per_month: 1000,
            concurrent_jobs: 1,
            storage_bytes: 1 << 20,
            models: vec![],
        },
    }
}

fn subscription(status: SubscriptionStatus, period_end: DateTime<Utc>) -> Subscription {
    Subscription {
        user_id: UserId::new(),
        id: "sub_1".into(),
        customer: "cus_1".into(),
        plan: PlanId::parse("pro").unwrap(),
        interval: Some(BillingInterval::Month),
        status,
        current_period_end: period_end,
        cancel_at_period_end: false,
        past_due_since: None,
        updated_at: period_end,
    }
}

const GRACE: Duration = Duration::from_secs(3 * 24 * 3600);

#[test]
fn active_and_trialing_grant_their_plan_and_the_ended_statuses_grant_free() {
    let now = Utc::now();
    let later = now + chrono::Duration::days(20);
    let pro = PlanId::parse("pro").unwrap();
    assert_eq!(granted_plan(None, now, GRACE), PlanId::free());
    for status in [SubscriptionStatus::Active, SubscriptionStatus::Trialing] {
        assert_eq!(granted_plan(Some(&subscription(status, later)), now, GRACE), pro, "{status:?}");
    }
    for status in [
        SubscriptionStatus::Canceled,
        SubscriptionStatus::Unpaid,
        SubscriptionStatus::Incomplete,
        SubscriptionStatus::IncompleteExpired,
        SubscriptionStatus::Paused,
    ] {
        assert_eq!(granted_plan(Some(&subscription(status, later)), now, GRACE), PlanId::free(), "{status:?}");
    }
}

#[test]
fn cancel_at_period_end_keeps_the_plan_until_the_period_ends() {
    let now = Utc::now();
    let mut sub = subscription(SubscriptionStatus::Active, now + chrono::Duration::days(2));
    sub.cancel_at_period_end = true;
    assert_eq!(granted_plan(Some(&sub), now, GRACE).as_str(), "pro");
    assert_eq!(granted_plan(Some(&sub), now + chrono::Duration::days(2), GRACE), PlanId::free());
}

#[test]
fn past_due_keeps_the_plan_within_the_grace_from_the_failed_payment() {
    let now = Utc::now();
    let mut sub = subscription(SubscriptionStatus::PastDue, now + chrono::Duration::days(20));
    sub.past_due_since = Some(now - chrono::Duration::days(2));
    assert_eq!(granted_plan(Some(&sub), now, GRACE).as_str(), "pro");
    sub.past_due_since = Some(now - chrono::Duration::days(3));
    assert_eq!(granted_plan(Some(&sub), now, GRACE), PlanId::free());
}

#[test]
fn past_due_is_dated_from_when_it_began() {
    let now = Utc::now();
    let before = now - chrono::Duration::days(1);
    let mut prev = subscription(SubscriptionStatus::PastDue, now);
    prev.past_due_since = Some(before);
    assert_eq!(past_due_since(Some(&prev), SubscriptionStatus::PastDue, now), Some(before), "stays");
    let active = subscription(SubscriptionStatus::Active, now);
    assert_eq!(past_due_since(Some(&active), SubscriptionStatus::PastDue, now), Some(now), "begins now");
    assert_eq!(past_due_since(Some(&prev), SubscriptionStatus::Active, now), None, "cleared");
}

#[test]
fn a_catalog_needs_a_free_plan_and_unique_plans_and_prices() {
    let ok = Catalog::new(1, vec![plan("free", None), plan("pro", Some("price_pro"))]).unwrap();
    assert_eq!(ok.free().id, PlanId::free());
    assert_eq!(ok.plan_for_price("price_pro").map(|(p, i)| (p.id.as_str(), i)), Some(("pro", BillingInterval::Month)));
    assert_eq!(ok.plan_for_price("price_other"), None);
    assert_eq!(Catalog::new(1, vec![plan("pro", None)]), Err(CatalogError::NoFreePlan));
    assert_eq!(Catalog::new(1, vec![plan("free", Some("p"))]), Err(CatalogError::PricedFreePlan));
    assert_eq!(
        Catalog::new(1, vec![plan("free", None), plan("pro", Some("p")), plan("team", Some("p"))]),
        Err(CatalogError::DuplicatePrice("p".into()))
    );
    assert_eq!(
        Catalog::new(1, vec![plan("free", None), plan("free", None)]),
        Err(CatalogError::DuplicatePlan("free".into()))
    );
    assert!(PlanId::parse("Pro").is_err() && PlanId::parse("").is_err() && PlanId::parse("-x").is_err());
}
