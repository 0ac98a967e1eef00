//! Load benchmark: the real server in-process, hammered over loopback by
//! concurrent keep-alive clients. Bounded in requests and time; prints
//! throughput and latency percentiles per endpoint.
//!
//! `BENCH_VARIANT` = sqlite-memory (default) | sqlite-redis | postgres-memory | postgres-redis
//! `BENCH_REQUESTS` (per endpoint, default 20000), `BENCH_CONCURRENCY` (default 32).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use devora_e2e::{TestApp, Variant};
use tokio::sync::Mutex;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn run(app: &TestApp, path: &str, token: Option<&str>, requests: usize, concurrency: usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(requests)));
    let deadline = Instant::now() + Duration::from_secs(60);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next, latencies) = (app.client.clone(), app.url(path), next.clone(), latencies.clone());
        let auth = token.map(|t| format!("Bearer {t}"));
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut errors = 0usize;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests && Instant::now() < deadline {
                let t = Instant::now();
                let mut request = client.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("authorization", auth);
                }
                match request.send().await {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                        mine.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            latencies.lock().await.extend(mine);
            errors
        }));
    }
    let mut errors = 0;
    for task in tasks {
        errors += task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let mut lat = latencies.lock().await.clone();
    lat.sort();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or_default()
    };
    println!(
        "{:<24} {:>7} ok {:>4} err  {:>9.0} req/s  p50 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
        if path.len() > 24 { &path[..24] } else { path },
        lat.len(),
        errors,
        lat.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

#[tokio::main]
async fn main() {
    let variant = match std::env::var("BENCH_VARIANT").as_deref() {
        Ok("sqlite-redis") => Variant::SQLITE_REDIS,
        Ok("postgres-memory") => Variant::POSTGRES_MEMORY,
        Ok("postgres-redis") => Variant::POSTGRES_REDIS,
        _ => Variant::SQLITE_MEMORY,
    };
    let requests = env_number("BENCH_REQUESTS", 20_000);
    let concurrency = env_number("BENCH_CONCURRENCY", 32);
    // The limiter runs on every request but with a quota this load cannot reach.
    let options = devora_e2e::Options {
        env: ["RATE_LIMIT_PUBLIC", "RATE_LIMIT_READS", "RATE_LIMIT_WRITES", "RATE_LIMIT_AUTH"]
            .into_iter()
            .map(|p| (p.to_owned(), "1000000000/min".to_owned()))
            .collect(),
        ..devora_e2e::Options::default()
    };
    if let Some((name, addr)) = variant.missing_service() {
        eprintln!("bench: {name} at {addr}, needed by {variant:?}, is unreachable");
        return;
    }
    let app = TestApp::spawn_with(variant, options).await;
    println!("devora bench: {variant:?}, {requests} requests per endpoint, {concurrency} concurrent clients");
    // Warm connections and caches.
    run(&app, "/health/live", None, 1_000, concurrency).await;
    println!("---");
    for path in ["/health/live", "/api/v2", "/health/ready"] {
        run(&app, path, None, requests, concurrency).await;
    }
    // The hot path: signed-in, cached reads (JWT + session state + project through the cache).
    let signed_in: serde_json::Value = app
        .client
        .post(app.url("/api/v2/auth/register"))
        .json(&serde_json::json!({"email": "bench@example.com", "password": "bench password 123", "name": "Bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signed_in["tokens"]["access_token"].as_str().unwrap().to_owned();
    let project: serde_json::Value = app
        .client
        .post(app.url("/api/v2/projects"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Bench project"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = project["id"].as_str().unwrap();
    run(&app, "/api/v2/auth/me", Some(&token), requests, concurrency).await;
    run(&app, &format!("/api/v2/projects/{id}"), Some(&token), requests, concurrency).await;
    run(&app, "/api/v2/projects", Some(&token), requests, concurrency).await;
    app.stop().await;
}
