//! Issue 11, item 2: an unauthenticated flood of `POST /api/v1/auth/enrol` with made-up
//! usernames, against a real server in this process (SQLite, demo data, loopback HTTP). Prints
//! the process's resident memory (VmRSS) before, at its peak during and after the flood, how the
//! flood was answered, and the latency of a signed-in `GET /api/v1/me` during it.
//!
//! `cargo bench --workspace --bench auth_flood` (defaults: the shipped limits)
//! `cargo bench --workspace --bench auth_flood -- --unbounded` (argon2 slots and rates opened
//! wide, as before the limits)
//! Options: `--workers N` (128), `--seconds S` (10), `--addresses A` (64 loopback addresses).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use xuncha_server::Server;
use xuncha_server::config::Config;
use xuncha_server::demo::DEMO_PASSWORD;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let unbounded = std::env::args().any(|a| a == "--unbounded");
    let workers = arg("--workers", 128);
    let seconds = arg("--seconds", 10);
    let addresses = arg("--addresses", 64).clamp(1, 250);
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_owned(),
        bind: "127.0.0.1:0".parse().unwrap(),
        demo: true,
        ..Config::default()
    };
    config.limits.requests_per_second = 100_000.0;
    config.limits.request_burst = 100_000.0;
    if unbounded {
        config.auth.argon2_concurrency = 1024;
        config.auth.argon2_queue_ms = 600_000;
        config.auth.per_ip_per_minute = 1_000_000;
        config.auth.per_ip_burst = 1_000_000;
        config.auth.global_per_second = 1_000_000;
        config.auth.global_burst = 1_000_000;
    }
    config.auth.lockout_after_failures = 1_000_000;
    let server = Server::start(config).await.unwrap();
    let base = format!("http://{}", server.addr());
    let http = reqwest::Client::new();

    let enrol: serde_json::Value = http
        .post(format!("{base}/api/v1/auth/enrol"))
        .json(&serde_json::json!({ "username": "inspector.changchunli", "password": DEMO_PASSWORD, "device_name": "bench" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = enrol["access_token"].as_str().unwrap().to_owned();
    for _ in 0..20 {
        http.get(format!("{base}/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
    }
    // Warm-up: a few wrong passwords at once, so every argon2 worker has its memory (allocated
    // once, then reused) before the baseline is taken.
    let mut warm = Vec::new();
    for i in 0..8 {
        let client = reqwest::Client::builder()
            .local_address(format!("127.0.2.{}", i + 1).parse::<IpAddr>().unwrap())
            .build()
            .unwrap();
        let url = format!("{base}/api/v1/auth/enrol");
        warm.push(tokio::spawn(async move {
            let _ = client
                .post(url)
                .json(&serde_json::json!({ "username": format!("warm.{i}"), "password": "x", "device_name": "x" }))
                .send()
                .await;
        }));
    }
    for w in warm {
        w.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let baseline = rss_mib();

    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = Vec::new();
    for w in 0..workers {
        let ip: IpAddr = format!(
            "127.0.{}.{}",
            1 + w % addresses / 250,
            1 + (w % addresses) % 250
        )
        .parse()
        .unwrap();
        let client = reqwest::Client::builder()
            .local_address(ip)
            .build()
            .unwrap();
        let url = format!("{base}/api/v1/auth/enrol");
        let stop = stop.clone();
        flood.push(tokio::spawn(async move {
            let mut counts: BTreeMap<u16, u64> = BTreeMap::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let status = match client
                    .post(&url)
                    .json(&serde_json::json!({ "username": format!("made.up.{w}.{n}"), "password": "guess", "device_name": "x" }))
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                *counts.entry(status).or_default() += 1;
            }
            counts
        }));
    }
    let sampler_stop = stop.clone();
    let sampler = tokio::spawn(async move {
        let mut peak = 0.0f64;
        while !sampler_stop.load(Ordering::Relaxed) {
            peak = peak.max(rss_mib());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    });
    let mut latencies = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        let t = Instant::now();
        let status = http
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        if status == 200 {
            latencies.push(t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut totals: BTreeMap<u16, u64> = BTreeMap::new();
    for task in flood {
        for (status, n) in task.await.unwrap() {
            *totals.entry(status).or_default() += n;
        }
    }
    let peak = sampler.await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = rss_mib();
    latencies.sort();
    println!(
        "auth_flood mode={} workers={workers} seconds={seconds} addresses={addresses} cores={}",
        if unbounded {
            "unbounded"
        } else {
            "default-limits"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("answers: {totals:?} (0 = connection error)");
    println!(
        "rss MiB: baseline {baseline:.0}, peak {peak:.0}, 5 s after {after:.0}; tracked addresses {}",
        server.state().throttle.tracked_addresses()
    );
    println!(
        "signed-in GET /api/v1/me during the flood: n={} p50 {:?} p99 {:?} max {:?}",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default()
    );
    server.shutdown().await.unwrap();
}
