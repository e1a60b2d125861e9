//! Bounds on credential work (issue 11, item 2): a password check costs one argon2 run (about
//! 19 MiB and tens of milliseconds of one core), so
//! - at most `argon2_slots` run at once (a semaphore sized to the cores); a check that cannot get
//!   a slot within `argon2_queue_ms` is answered 503 `SERVER_BUSY` with `Retry-After`;
//! - each client address may make `per_ip_per_minute` credential attempts (enrol, refresh,
//!   dashboard sign-in, unknown bearer tokens), and all clients together `global_per_second`
//!   password checks; beyond either the answer is 429 `RATE_LIMITED` with `Retry-After`.
//!
//! The checks run on `argon2_slots` dedicated threads that reuse their argon2 memory. The
//! limiters are `governor`'s GCRA; the per-address state is dropped once idle.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};
use tokio::sync::Semaphore;

use crate::config::AuthLimits;
use crate::http::error::ApiError;

/// The client address of a request (the TCP peer). Requests that did not come through the
/// server's listener (none in production) share the unspecified address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The peer address as [`crate::http::serve`] stamps it on every request (any value a client sent
/// under this name is replaced), for code that rebuilds a request from its headers (Open311's
/// `caller` copies it along with `Authorization`).
pub const PEER_HEADER: &str = "x-xuncha-peer";

impl ClientIp {
    pub fn of(extensions: &axum::http::Extensions) -> ClientIp {
        ClientIp(
            extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip()),
        )
    }

    /// From the connection info, else from [`PEER_HEADER`].
    pub fn from_parts(parts: &Parts) -> ClientIp {
        if let Some(info) = parts.extensions.get::<ConnectInfo<SocketAddr>>() {
            return ClientIp(info.0.ip());
        }
        ClientIp(
            parts
                .headers
                .get(PEER_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        )
    }
}

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp::from_parts(parts))
    }
}

/// Per-address attempts between two sweeps of idle per-address state.
const SWEEP_EVERY: u64 = 1024;

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// Largest argon2 memory a stored hash may ask for, in 1 KiB blocks (256 MiB).
const MAX_ARGON2_BLOCKS: usize = 256 * 1024;

/// A password check handed to an argon2 worker; the slot is held until it is done.
struct Check {
    password: String,
    stored: String,
    slot: tokio::sync::OwnedSemaphorePermit,
    answer: tokio::sync::oneshot::Sender<bool>,
}

/// `argon2_slots` long-lived threads, each with its own argon2 memory reused for every check.
/// Allocating 19 MiB per check on ever-changing blocking threads left the allocator holding
/// about a gigabyte after a flood (BENCHMARKS.md, "Sign-in flood").
struct Workers {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Check>>,
}

impl Workers {
    fn start(count: usize) -> Workers {
        let (sender, receiver) = std::sync::mpsc::channel::<Check>();
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        for i in 0..count {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        let next = match receiver.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok(check) = next else {
                            return;
                        };
                        let ok = crate::policy::passwords::verify_password_in(
                            &check.password,
                            &check.stored,
                            &mut memory,
                            MAX_ARGON2_BLOCKS,
                        );
                        drop(check.slot);
                        let _ = check.answer.send(ok);
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start an argon2 worker");
            }
        }
        Workers {
            jobs: std::sync::Mutex::new(sender),
        }
    }
}

pub struct Throttle {
    workers: Workers,
    argon2: Arc<Semaphore>,
    argon2_wait: Duration,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    global: DefaultDirectRateLimiter,
    clock: DefaultClock,
    attempts: AtomicU64,
}

impl Throttle {
    pub fn new(limits: &AuthLimits) -> Throttle {
        let per_ip = Quota::per_minute(nonzero(limits.per_ip_per_minute))
            .allow_burst(nonzero(limits.per_ip_burst));
        let global = Quota::per_second(nonzero(limits.global_per_second))
            .allow_burst(nonzero(limits.global_burst));
        Throttle {
            workers: Workers::start(limits.argon2_slots()),
            argon2: Arc::new(Semaphore::new(limits.argon2_slots())),
            argon2_wait: Duration::from_millis(limits.argon2_queue_ms),
            per_ip: DefaultKeyedRateLimiter::keyed(per_ip),
            global: DefaultDirectRateLimiter::direct(global),
            clock: DefaultClock::default(),
            attempts: AtomicU64::new(0),
        }
    }

    fn limited(&self, wait: Duration) -> ApiError {
        ApiError::RateLimited {
            retry_after_s: wait
                .as_secs()
                .saturating_add(u64::from(wait.subsec_nanos() > 0))
                .max(1),
        }
    }

    /// One credential attempt from `ip`: 429 once the address has used its quota.
    pub fn attempt(&self, ip: ClientIp) -> Result<(), ApiError> {
        if self.attempts.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.per_ip.retain_recent();
            self.per_ip.shrink_to_fit();
        }
        self.per_ip
            .check_key(&ip.0)
            .map_err(|not_until| self.limited(not_until.wait_time_from(self.clock.now())))
    }

    /// Checks a password under the global rate and the argon2 slots (see the module docs).
    pub async fn verify_password(
        &self,
        password: String,
        stored: String,
    ) -> Result<bool, ApiError> {
        self.global
            .check()
            .map_err(|not_until| self.limited(not_until.wait_time_from(self.clock.now())))?;
        let permit = tokio::time::timeout(self.argon2_wait, self.argon2.clone().acquire_owned())
            .await
            .map_err(|_| ApiError::ServerBusy {
                retry_after_s: self.argon2_wait.as_secs().max(1),
            })?
            .map_err(|_| ApiError::Internal("argon2 slots closed".to_owned()))?;
        // The slot goes with the work: a client that hangs up does not free it early.
        let (answer, answered) = tokio::sync::oneshot::channel();
        let check = Check {
            password,
            stored,
            slot: permit,
            answer,
        };
        self.workers
            .jobs
            .lock()
            .map_err(|_| ApiError::Internal("argon2 workers poisoned".to_owned()))?
            .send(check)
            .map_err(|_| ApiError::Internal("argon2 workers stopped".to_owned()))?;
        answered
            .await
            .map_err(|_| ApiError::Internal("password check failed".to_owned()))
    }

    /// Client addresses with limiter state (for tests and the flood benchmark).
    pub fn tracked_addresses(&self) -> usize {
        self.per_ip.len()
    }
}
