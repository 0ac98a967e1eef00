//! The plan catalogue: a versioned JSON file (`BILLING_PLANS_FILE`), or the
//! built-in default (`plans.default.json`, whose paid plans have no prices until
//! an operator's file names them).

use devora_domain::{Catalog, Limits, Plan, PlanId};
use serde::Deserialize;

/// The built-in catalogue.
pub const DEFAULT_PLANS: &str = include_str!("plans.default.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    version: u32,
    plans: Vec<PlanFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    id: String,
    name: String,
    #[serde(default)]
    prices: PricesFile,
    limits: LimitsFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PricesFile {
    month: Option<String>,
    year: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    projects: u32,
    generations_per_month: u32,
    tokens_per_month: u64,
    concurrent_jobs: u32,
    storage_bytes: u64,
    models: Vec<String>,
}

/// Reads a catalogue; `free_projects` (`FREE_PLAN_MAX_PROJECTS`), when set,
/// overrides the free plan's project limit.
///
/// # Errors
/// What is wrong with the file, in words.
pub fn parse_catalog(json: &str, free_projects: Option<u32>) -> Result<Catalog, String> {
    let file: CatalogFile = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let mut plans = Vec::with_capacity(file.plans.len());
    for p in file.plans {
        let id = PlanId::parse(&p.id).map_err(|e| format!("plan id {:?} {e}", p.id))?;
        let price = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let mut limits = Limits {
            projects: p.limits.projects,
            generations_per_month: p.limits.generations_per_month,
            tokens_per_month: p.limits.tokens_per_month,
            concurrent_jobs: p.limits.concurrent_jobs,
            storage_bytes: p.limits.storage_bytes,
            models: p.limits.models,
        };
        if id.is_free()
            && let Some(projects) = free_projects
        {
            limits.projects = projects;
        }
        plans.push(Plan {
            id,
            name: p.name,
            monthly_price: price(p.prices.month),
            yearly_price: price(p.prices.year),
            limits,
        });
    }
    Catalog::new(file.version, plans).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_catalogue_offers_free_pro_and_team() {
        let catalog = parse_catalog(DEFAULT_PLANS, None).unwrap();
        let ids: Vec<_> = catalog.plans().iter().map(|p| p.id.as_str().to_owned()).collect();
        assert_eq!(ids, ["free", "pro", "team"]);
        assert_eq!(catalog.free().limits.projects, 3);
        assert!(catalog.plans().iter().all(|p| p.monthly_price.is_none()), "no price ids are invented");
        assert_eq!(parse_catalog(DEFAULT_PLANS, Some(7)).unwrap().free().limits.projects, 7);
    }

    #[test]
    fn a_bad_catalogue_says_what_is_wrong() {
        assert!(parse_catalog("{}", None).unwrap_err().contains("version"));
        let no_free = r#"{"version":1,"plans":[{"id":"pro","name":"Pro","limits":{"projects":1,"generations_per_month":1,"tokens_per_month":1,"concurrent_jobs":1,"storage_bytes":1,"models":[]}}]}"#;
        assert!(parse_catalog(no_free, None).unwrap_err().contains("free"));
        let bad_id = no_free.replace("\"pro\"", "\"Pro Plan\"");
        assert!(parse_catalog(&bad_id, None).unwrap_err().contains("plan id"));
    }
}
