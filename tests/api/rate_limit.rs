//! Rate limits: exact counts with IETF headers, isolated keys, no spoofing,
//! exact across nodes sharing Redis, and per-node limits when Redis fails.

use std::time::Duration;

use super::*;

async fn spawn(variant: Variant, pairs: &[(&str, &str)]) -> TestApp {
    TestApp::spawn_with(variant, Options::with_env(pairs)).await
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers().get(name).unwrap_or_else(|| panic!("{name} missing")).to_str().unwrap().to_owned()
}

async fn exact_quota_then_refusal_and_refill(variant: Variant) {
    // 5 per 2 s: one request's cost is 400 ms.
    let app = spawn(variant, &[("RATE_LIMIT_PUBLIC", "5/2s")]).await;
    for remaining in (0..5).rev() {
        let res = app.get("/api/v2").await;
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "ratelimit-policy"), "\"public\";q=5;w=2");
        let limit = header(&res, "ratelimit");
        assert!(limit.starts_with(&format!("\"public\";r={remaining};t=")), "{limit}");
    }
    let refused = app.get("/api/v2").await;
    let retry: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!((1..=2).contains(&retry), "retry-after {retry}");
    assert!(header(&refused, "ratelimit").starts_with("\"public\";r=0;"));
    let body = assert_problem(refused, 429, "quota-exceeded").await;
    assert!(body["detail"].as_str().unwrap().contains("public"));

    // The window refills: after one request's cost, exactly one more is allowed.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(app.get("/api/v2").await.status(), 200);
    assert_eq!(app.get("/api/v2").await.status(), 429);
}

scenario!(quota_allows_exactly_n_then_refuses_and_refills, [all], |variant: Variant| {
    exact_quota_then_refusal_and_refill(variant).await;
});

scenario!(one_clients_exhaustion_does_not_touch_another, [sqlite_memory], |variant: Variant| {
    let app = spawn(variant, &[("RATE_LIMIT_PUBLIC", "3/min"), ("TRUSTED_PROXIES", "127.0.0.1")]).await;
    for _ in 0..3 {
        assert_eq!(app.get_forwarded_for("/api/v2", "198.51.100.1").await.status(), 200);
    }
    assert_eq!(app.get_forwarded_for("/api/v2", "198.51.100.1").await.status(), 429);
    let other = app.get_forwarded_for("/api/v2", "198.51.100.2").await;
    assert_eq!(other.status(), 200);
    assert!(header(&other, "ratelimit").starts_with("\"public\";r=2;"));
});

scenario!(a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing, [sqlite_memory], |variant: Variant| {
    // No TRUSTED_PROXIES: the loopback peer is the client, whatever it claims.
    let app = spawn(variant, &[("RATE_LIMIT_PUBLIC", "3/min")]).await;
    for i in 0..3 {
        assert_eq!(app.get_forwarded_for("/api/v2", &format!("203.0.113.{i}")).await.status(), 200);
    }
    for forged in ["203.0.113.99", "10.0.0.1", "::1"] {
        assert_eq!(app.get_forwarded_for("/api/v2", forged).await.status(), 429, "forged {forged}");
    }
    let res = app.client.get(app.url("/api/v2")).header("forwarded", "for=192.0.2.1").send().await.unwrap();
    assert_eq!(res.status(), 429);
});

scenario!(a_trusted_proxys_forwarded_for_sets_the_key, [sqlite_memory], |variant: Variant| {
    let app = spawn(variant, &[("RATE_LIMIT_PUBLIC", "2/min"), ("TRUSTED_PROXIES", "127.0.0.0/8")]).await;
    // The client forged 6.6.6.6 before reaching our proxy, which appended the real address.
    for _ in 0..2 {
        assert_eq!(app.get_forwarded_for("/api/v2", "6.6.6.6, 192.0.2.10").await.status(), 200);
    }
    assert_eq!(app.get_forwarded_for("/api/v2", "6.6.6.6, 192.0.2.10").await.status(), 429);
    assert_eq!(
        app.get_forwarded_for("/api/v2", "6.6.6.6, 192.0.2.11").await.status(),
        200,
        "another client behind the proxy"
    );
    assert_eq!(app.get_forwarded_for("/api/v2", "192.0.2.10").await.status(), 429, "the forged hop did not matter");
});

scenario!(every_route_is_limited_and_options_preflights_are_not_counted, [sqlite_memory], |variant: Variant| {
    let app = spawn(variant, &[("RATE_LIMIT_PUBLIC", "2/min")]).await;
    for _ in 0..5 {
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/api/v2"))
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success());
    }
    assert_eq!(app.get("/health/live").await.status(), 200);
    let not_found = app.get("/no/such/route").await;
    assert_eq!(not_found.status(), 404);
    assert!(header(&not_found, "ratelimit").starts_with("\"public\";r=0;"));
    assert_problem(app.get("/metrics").await, 429, "quota-exceeded").await;
});

scenario!(limiting_can_be_switched_off, [sqlite_memory], |variant: Variant| {
    let app = spawn(variant, &[("RATE_LIMIT_PUBLIC", "1/min"), ("RATE_LIMIT_ENABLED", "false")]).await;
    for _ in 0..5 {
        let res = app.get("/api/v2").await;
        assert_eq!(res.status(), 200);
        assert!(res.headers().get("ratelimit").is_none());
    }
});

async fn nodes(variant: Variant, count: usize, quota: &str, proxy_redis: bool) -> Vec<TestApp> {
    let prefix = format!("devora-test:{}:", uuid::Uuid::new_v4().simple());
    let mut apps = Vec::new();
    for _ in 0..count {
        let options = Options {
            redis_prefix: Some(prefix.clone()),
            proxy_redis,
            ..Options::with_env(&[("RATE_LIMIT_PUBLIC", quota)])
        };
        apps.push(TestApp::spawn_with(variant, options).await);
    }
    apps
}

scenario!(three_nodes_sharing_redis_accept_exactly_the_quota, [postgres_redis], threads = 4, |variant: Variant| {
    let apps = nodes(variant, 3, "20/min", false).await;
    // 90 requests, round-robin, 9 in flight at a time.
    let mut accepted = 0;
    let mut refused = 0;
    for round in 0..10 {
        let calls = (0..9).map(|i| apps[(round * 9 + i) % 3].get("/api/v2"));
        for res in futures_util::future::join_all(calls).await {
            match res.status().as_u16() {
                200 => accepted += 1,
                429 => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
    }
    assert_eq!((accepted, refused), (20, 70), "accepted must equal the quota exactly");
});

scenario!(
    with_redis_gone_each_node_limits_by_itself_and_nothing_fails,
    [postgres_redis],
    threads = 4,
    |variant: Variant| {
        let apps = nodes(variant, 2, "4/min", true).await;
        // Shared budget first: 4 accepted across both nodes.
        let mut accepted = 0;
        for i in 0..8 {
            if apps[i % 2].get("/api/v2").await.status() == 200 {
                accepted += 1;
            }
        }
        assert_eq!(accepted, 4);

        for app in &apps {
            app.redis_proxy.as_ref().unwrap().set_mode(ProxyMode::Refuse);
        }
        // Each node falls back to its own in-process limiter: answers stay 200/429, never 5xx,
        // and each node holds the quota by itself.
        for app in &apps {
            let mut statuses = Vec::new();
            for _ in 0..6 {
                statuses.push(app.get("/api/v2").await.status().as_u16());
            }
            assert_eq!(statuses, vec![200, 200, 200, 200, 429, 429], "per-node limit while Redis is down");
        }
        let metrics = apps[0].get("/metrics").await;
        // /metrics is itself limited; the counters are what matters when it answers.
        if metrics.status() == 200 {
            let text = metrics.text().await.unwrap();
            assert!(text.contains("rate_limit_fallback_total"), "{text}");
        }

        // Redis returns: the shared budget (already spent) applies again.
        for app in &apps {
            app.redis_proxy.as_ref().unwrap().set_mode(ProxyMode::Forward);
        }
        tokio::time::sleep(Duration::from_millis(2500)).await; // the breaker's cooldown
        let mut back = false;
        for _ in 0..20 {
            let res = apps[0].get("/api/v2").await;
            assert!(res.status() == 200 || res.status() == 429);
            if res.status() == 429 && header(&res, "ratelimit").starts_with("\"public\";r=0;") {
                back = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(back, "the shared limiter was not used again after Redis returned");
    }
);
