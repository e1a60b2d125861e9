//! A quarter of demo history (issue 13, "First run"): about a hundred cases over the last ~90
//! days at the three demo estates, in every state of the workflow, some overdue now, some closed
//! late, returned and re-dispatched, reworked after a failed verification, cancelled, and a past
//! joint meeting (联席会议) with minutes.
//!
//! Everything goes through the ingest path the phone's sync and the dashboard use
//! (`Storage::ingest`: the shared workflow, routing at ingest, evidence checks, the audit chain),
//! one event at a time, each with the historic server time (`IngestBatch::now`) of the moment it
//! happened, so received times, deadlines and "overdue" are those of the story. Each event is
//! fired by the demo account of the unit that would fire it (inspector or committee on the
//! phone, street office and departments on the dashboard), after its photos were stored through
//! the upload path (`photo_files::store_received`, re-encoded by the core's photo pipeline).
//!
//! The story is fixed (a seeded xorshift, [`Rng`]) and placed relative to the current time, so
//! the same cases are overdue whenever the demo runs. It is written only into a database that has
//! no case yet: a restart on the same data adds nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use futures_util::{StreamExt, TryStreamExt};
use uuid::Uuid;
use xuncha_core::geo::{Geometry, GpsFix};
use xuncha_core::protocol::EventOutcome;
use xuncha_core::workflow::{PhotoKind, PhotoRef};
use xuncha_core::{Action, Actor, Category, Estate, Event, OrgUnit, Role, UnitType};

use super::{photos, story};
use crate::config::Config;
use crate::http::app::StartError;
use crate::model::{DemoAccount, DemoHistory};
use crate::policy::audit::AuditDraft;
use crate::policy::catalog::{self, Catalog, Router};
use crate::policy::{ingest, passwords};
use crate::storage::photo_files::{self, PhotoFiles, PhotoStore};
use crate::storage::{DeviceRecord, IngestBatch, NewDevice, Session, Storage};

/// The fixed seed of the story.
const SEED: u64 = 0x0078_6975_6e63_6861; // "xuncha" in ASCII
/// How far back the story starts (days before now).
const QUARTER_DAYS: f64 = 89.0;

/// A tiny deterministic generator (xorshift64*): the demo story is the same on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform in `[a, b)`.
    pub fn between(&mut self, a: f64, b: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        a + (b - a) * unit
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.between(0.0, 1.0) < p
    }

    /// One of `items` (`None` only when empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    fn text(&mut self, items: &[&'static str]) -> &'static str {
        self.pick(items).copied().unwrap_or_default()
    }
}

/// Where a case of the story ends up by now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Just reported: waiting for the committee (dissuasion first) or the street office (faults).
    Reported,
    /// Dissuaded on site, waiting for verification.
    ResolvedOnSite,
    DissuadedClosed,
    Escalated,
    Dispatched,
    Accepted,
    /// Returned by a unit as not theirs, waiting for a new dispatch.
    Returned,
    /// Returned, re-dispatched to the right unit, accepted there.
    Redispatched,
    RedispatchedClosed,
    Handled,
    /// Verification failed, waiting for rework.
    Reopened,
    ReworkedClosed,
    Closed,
    /// Closed, but handled after the deadline.
    ClosedLate,
    Cancelled,
}

impl Fate {
    fn dissuasion(self) -> bool {
        matches!(
            self,
            Fate::ResolvedOnSite | Fate::DissuadedClosed | Fate::Escalated
        )
    }

    fn returned(self) -> bool {
        matches!(
            self,
            Fate::Returned | Fate::Redispatched | Fate::RedispatchedClosed
        )
    }
}

/// The mix of the quarter: (fate, cases, of which overdue now).
const MIX: &[(Fate, usize, usize)] = &[
    (Fate::Closed, 30, 0),
    (Fate::ClosedLate, 8, 0),
    (Fate::DissuadedClosed, 8, 0),
    (Fate::RedispatchedClosed, 3, 0),
    (Fate::ReworkedClosed, 4, 0),
    (Fate::Cancelled, 2, 0),
    (Fate::Reported, 7, 2),
    (Fate::ResolvedOnSite, 3, 0),
    (Fate::Escalated, 3, 1),
    (Fate::Dispatched, 5, 2),
    (Fate::Accepted, 9, 3),
    (Fate::Returned, 2, 1),
    (Fate::Redispatched, 2, 1),
    (Fate::Handled, 6, 0),
    (Fate::Reopened, 4, 2),
];

/// Categories as often as patrols meet them (repeats weigh).
const CATEGORY_WEIGHTS: &[(Category, u32)] = &[
    (Category::CommonAreaClutter, 9),
    (Category::GroundLock, 6),
    (Category::SmallAds, 6),
    (Category::Garbage, 6),
    (Category::DisorderlyParking, 4),
    (Category::StairwellLighting, 5),
    (Category::StreetLight, 4),
    (Category::IllegalStructure, 3),
    (Category::EnclosedPublicSpace, 3),
    (Category::AbandonedVehicle, 3),
    (Category::FireLaneBlocked, 2),
    (Category::PoultryPigeons, 1),
    (Category::Greenery, 2),
    (Category::Elevator, 2),
    (Category::FireEquipment, 2),
    (Category::GasFacility, 1),
    (Category::HeatingFacility, 2),
    (Category::OldWiring, 2),
    (Category::TelecomCables, 2),
    (Category::Mailbox, 1),
    (Category::FitnessEquipment, 1),
    (Category::BuildingSafety, 1),
    (Category::GateWallIntercom, 2),
    (Category::Walkway, 2),
    (Category::FacilityDamage, 2),
    (Category::ServiceComplaint, 2),
];

/// Which estate each case is at, in turn (长春里 has the most: its street office is the
/// demo's first sign-in).
const ESTATE_TURNS: &[&str] = &[
    "changchunli",
    "pingshandao",
    "changchunli",
    "heyuanbeili",
    "pingshandao",
    "changchunli",
];

/// Who fires a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Reporter,
    Committee,
    Verifier,
    Street,
    /// The unit the case is dispatched to at that step.
    Assigned,
}

#[derive(Debug, Clone)]
struct Step {
    /// Hours after the report.
    hours: f64,
    who: Who,
    action: Action,
    photo: Option<PhotoKind>,
    note: Option<String>,
    /// Verification on site: carries GPS.
    on_site: bool,
    /// The unit the case is dispatched to after this step.
    assigned: Option<String>,
}

/// One case of the story, before its times are placed.
struct Plan {
    estate: Estate,
    category: Category,
    steps: Vec<Step>,
    /// Hours after the report at which the running deadline falls, for open cases.
    due_hours: Option<f64>,
    fate: Fate,
    overdue: bool,
}

/// An event of the story with its times, ready to ingest.
#[derive(Debug, Clone, PartialEq)]
struct Planned {
    case_id: Uuid,
    case_no: usize,
    /// When it happened on the device.
    at: DateTime<Utc>,
    /// When the server received it.
    received: DateTime<Utc>,
    username: String,
    action: Action,
    photo: Option<(PhotoKind, u64, [u8; 3])>,
    gps: Option<GpsFix>,
    note: Option<String>,
}

fn hours(h: f64) -> TimeDelta {
    TimeDelta::milliseconds((h * 3_600_000.0) as i64)
}

/// The accounts the story acts as, per estate.
struct Cast<'a> {
    accounts: &'a [DemoAccount],
    catalog: &'a Catalog,
}

impl Cast<'_> {
    fn account(&self, role: Option<Role>, unit_id: &str) -> Option<String> {
        self.accounts
            .iter()
            .find(|a| a.unit_id == unit_id && role.is_none_or(|r| a.role == r))
            .map(|a| a.username.clone())
    }

    /// The account acting for `unit_id` when a case is dispatched to it: in the role its unit
    /// type gives (`unit.<id>` accounts), else any of its accounts.
    fn assignee(&self, unit_id: &str) -> Option<String> {
        let role = self
            .catalog
            .unit(unit_id)
            .map(|u| crate::cli::users::role_for_unit_type(u.unit_type));
        self.account(role, unit_id)
            .or_else(|| self.account(None, unit_id))
    }

    fn unit_of(&self, estate: &Estate, unit_type: UnitType) -> Option<&OrgUnit> {
        self.catalog.units().iter().find(|u| {
            u.unit_type == unit_type
                && match unit_type {
                    UnitType::ResidentsCommittee => {
                        u.community.as_deref() == Some(estate.community.as_str())
                    }
                    _ => {
                        u.community.is_none() && u.street.as_deref() == Some(estate.street.as_str())
                    }
                }
        })
    }

    fn committee(&self, estate: &Estate) -> Option<String> {
        let unit = self.unit_of(estate, UnitType::ResidentsCommittee)?;
        self.account(Some(Role::Committee), &unit.id)
    }

    fn reporter(&self, estate: &Estate) -> Option<String> {
        let unit = self.unit_of(estate, UnitType::ResidentsCommittee)?;
        self.account(Some(Role::Inspector), &unit.id)
            .or_else(|| self.committee(estate))
    }

    fn street(&self, estate: &Estate) -> Option<String> {
        let unit = self.unit_of(estate, UnitType::StreetOffice)?;
        self.account(Some(Role::StreetOffice), &unit.id)
    }
}

fn missing(what: impl std::fmt::Display) -> StartError {
    StartError::Demo(format!("demo history: {what}"))
}

/// Seeds the quarter of history into `storage` if it has no case yet; `None` when it had.
pub async fn seed(
    storage: Arc<dyn Storage>,
    config: &Config,
    accounts: &[DemoAccount],
) -> Result<Option<DemoHistory>, StartError> {
    if !storage.changes_since(0, 1).await?.cases.is_empty() {
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let catalog = Arc::new(storage.load_catalog().await?);
    let now = ingest::now();
    let planned = plan_story(&catalog, accounts, now)?;
    let files = PhotoFiles {
        storage: storage.clone(),
        store: Arc::new(PhotoStore::new(config.photo_dir()).map_err(StartError::Photos)?),
        config: Arc::new(config.clone()),
        uploads_in_progress: Arc::new(Mutex::new(HashSet::new())),
    };
    // A device for every account of the story, named for the demo.
    let mut sessions: HashMap<String, Session> = HashMap::new();
    for p in &planned {
        if !sessions.contains_key(&p.username) {
            let session = demo_session(storage.as_ref(), config, &p.username).await?;
            sessions.insert(p.username.clone(), session);
        }
    }
    // The photos, drawn and stored through the upload path before the events that cite them
    // (as a phone uploads before it pushes), a few at once.
    let photo_started = std::time::Instant::now();
    let mut jobs = Vec::new();
    for (i, p) in planned.iter().enumerate() {
        if let (Some(photo), Some(session)) = (p.photo, sessions.get(&p.username)) {
            jobs.push((i, session.clone(), photo));
        }
    }
    let stored: Vec<(usize, PhotoRef)> = futures_util::stream::iter(jobs)
        .map(|(i, session, (kind, photo_seed, wall))| {
            let files = files.clone();
            async move {
                let sha = store_photo(&files, &session, kind, photo_seed, wall).await?;
                Ok::<_, StartError>((i, PhotoRef { sha256: sha, kind }))
            }
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    let photo_ms = photo_started.elapsed().as_millis() as u64;
    let mut cited_by: HashMap<usize, PhotoRef> = stored.into_iter().collect();
    let mut seeded = DemoHistory {
        photos: cited_by.len(),
        ..DemoHistory::default()
    };
    let mut cases = HashSet::new();
    for (i, p) in planned.into_iter().enumerate() {
        let session = sessions
            .get(&p.username)
            .ok_or_else(|| missing(format!("no session for {}", p.username)))?;
        let cited: Vec<PhotoRef> = cited_by.remove(&i).into_iter().collect();
        let actor = Actor {
            user_id: session.user.id.clone(),
            role: session.user.role,
            unit_id: session.user.unit_id.clone(),
        };
        let mut random = [0u8; 10];
        random.copy_from_slice(&p.case_id.as_bytes()[6..16]);
        random[9] ^= (seeded.events % 251) as u8;
        random[8] ^= (seeded.events / 251) as u8;
        let event = Event {
            id: uuid::Builder::from_unix_timestamp_millis(
                p.at.timestamp_millis().max(0) as u64,
                &random,
            )
            .into_uuid(),
            case_id: p.case_id,
            action: p.action,
            actor: actor.clone(),
            device_time: p.at,
            server_time: None,
            gps: p.gps,
            photos: cited,
            note: p.note,
        };
        let kind = event.action.kind().code();
        let results = storage
            .ingest(IngestBatch {
                actor,
                device_id: session.device.id,
                events: vec![event],
                catalog: catalog.clone(),
                now: p.received,
                max_device_skew: config.limits.max_device_skew(),
                verify_max_distance_m: config.verify_max_distance_m,
            })
            .await?;
        match results.into_iter().next().map(|r| r.outcome) {
            Some(EventOutcome::Applied { .. } | EventOutcome::Duplicate { .. }) => {}
            Some(EventOutcome::Rejected { code, message }) => {
                return Err(missing(format!(
                    "case {} ({}) {kind} by {} refused: {code}: {message}",
                    p.case_no, p.case_id, p.username
                )));
            }
            None => return Err(missing("ingest gave no result")),
        }
        seeded.events += 1;
        cases.insert(p.case_id);
    }
    seeded.cases = cases.len();
    seeded.millis = started.elapsed().as_millis() as u64;
    tracing::info!(
        cases = seeded.cases,
        events = seeded.events,
        photos = seeded.photos,
        ms = seeded.millis,
        photos_ms = photo_ms,
        "demo history seeded"
    );
    Ok(Some(seeded))
}

/// Draws one demo photo and stores it as an upload by `session`'s user; returns its address.
async fn store_photo(
    files: &PhotoFiles,
    session: &Session,
    kind: PhotoKind,
    photo_seed: u64,
    wall: [u8; 3],
) -> Result<String, StartError> {
    let failed = |e: &dyn std::fmt::Display| missing(format!("photo {photo_seed}: {e}"));
    let bytes = tokio::task::spawn_blocking(move || photos::jpeg(photo_seed, kind, wall))
        .await
        .map_err(|e| failed(&e))?
        .map_err(|e| failed(&e))?;
    let sha = photo_files::sha256_bytes(&bytes);
    if files.storage.photo(sha.clone()).await?.is_none() {
        photo_files::store_received(files, session, &sha, bytes, "demo")
            .await
            .map_err(|e| failed(&e))?;
    }
    Ok(sha)
}

/// The session an account acts in while seeding: its user and a device named for the demo.
async fn demo_session(
    storage: &dyn Storage,
    config: &Config,
    username: &str,
) -> Result<Session, StartError> {
    let user = storage
        .user_by_username(username.to_owned())
        .await?
        .ok_or_else(|| missing(format!("no account {username}")))?;
    let id = xuncha_core::ids::new_id();
    let name = "演示历史数据".to_owned();
    storage
        .create_device(
            NewDevice {
                id,
                user_id: user.id.clone(),
                name: name.clone(),
                refresh_hash: passwords::token_hash(&passwords::new_token("demo")),
                access_hash: passwords::token_hash(&passwords::new_token("demo")),
                access_expires_at: Utc::now(),
                max_active_per_user: config.auth.sessions_per_user,
            },
            AuditDraft::new("DEMO_DEVICE", "device", id.to_string()).by(
                &user.id,
                user.role,
                Some(id),
            ),
        )
        .await?;
    Ok(Session {
        device: DeviceRecord {
            id,
            user_id: user.id.clone(),
            name,
            revoked: false,
        },
        user,
        access_expires_at: Utc::now(),
    })
}

/// The whole story as events in the order the server receives them.
fn plan_story(
    catalog: &Catalog,
    accounts: &[DemoAccount],
    now: DateTime<Utc>,
) -> Result<Vec<Planned>, StartError> {
    let router = catalog
        .router()
        .as_ref()
        .map_err(|e| missing(format!("routing: {e}")))?;
    let cast = Cast { accounts, catalog };
    let mut rng = Rng::new(SEED);
    let weighted: Vec<Category> = CATEGORY_WEIGHTS
        .iter()
        .flat_map(|&(c, n)| std::iter::repeat_n(c, n as usize))
        .collect();
    let mut fates: Vec<(Fate, bool)> = MIX
        .iter()
        .flat_map(|&(fate, n, overdue)| (0..n).map(move |i| (fate, i < overdue)))
        .collect();
    // Interleave the fates so every estate gets a bit of everything.
    for i in (1..fates.len()).rev() {
        fates.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut planned = Vec::new();
    for (n, (fate, overdue)) in fates.into_iter().enumerate() {
        let estate_id = ESTATE_TURNS[n % ESTATE_TURNS.len()];
        let estate = catalog
            .estates()
            .get(estate_id)
            .ok_or_else(|| missing(format!("estate {estate_id} not in the catalog")))?
            .clone();
        let plan = plan_case(&mut rng, router, &cast, &weighted, estate, fate, overdue)?;
        planned.extend(place(&mut rng, &cast, plan, n, now)?);
    }
    planned.extend(meeting(&mut rng, catalog, &cast, &planned, now)?);
    planned.sort_by_key(|p| (p.received, p.case_no));
    Ok(planned)
}

/// Chooses the category, the units and the steps of one case.
fn plan_case(
    rng: &mut Rng,
    router: &Router,
    cast: &Cast<'_>,
    weighted: &[Category],
    estate: Estate,
    fate: Fate,
    overdue: bool,
) -> Result<Plan, StartError> {
    // A category that fits the fate: dissuasion needs a behaviour case, a waiting fault that is
    // overdue needs one the street office may dispatch at once, a return needs a second unit.
    let mut tries = 0;
    let (category, owner, wrong) = loop {
        tries += 1;
        if tries > 500 {
            return Err(missing(format!(
                "no category fits {fate:?} at {}",
                estate.id
            )));
        }
        let Some(&category) = rng.pick(weighted) else {
            return Err(missing("no categories"));
        };
        let info = category.info();
        if fate.dissuasion() && !info.dissuade_first {
            continue;
        }
        if fate == Fate::Reported && overdue && info.dissuade_first {
            continue;
        }
        let Some(owner) = router.owner(category, &estate) else {
            continue;
        };
        if cast.assignee(&owner.id).is_none() {
            continue;
        }
        let wrong = if fate.returned() {
            let Ok(probe) = catalog::apply(None, &probe_report(category, &estate)) else {
                continue;
            };
            let targets = router.dispatch_targets(&probe, &estate);
            let mut others: Vec<OrgUnit> = targets
                .into_iter()
                .filter(|u| {
                    u.id != owner.id
                        && u.unit_type != UnitType::StreetOffice
                        && cast.account(None, &u.id).is_some()
                })
                .collect();
            others.sort_by(|a, b| a.id.cmp(&b.id));
            match rng.pick(&others) {
                Some(unit) => Some(unit.clone()),
                None => continue,
            }
        } else {
            None
        };
        break (category, owner, wrong);
    };
    let info = category.info();
    let dispatch_h = f64::from(info.dispatch_hours);
    let handle_h = f64::from(info.handle_days) * 24.0;
    let mut steps = vec![Step {
        hours: 0.0,
        who: Who::Reporter,
        action: report_action(rng, category, &estate),
        photo: Some(PhotoKind::Before),
        note: None,
        on_site: false,
        assigned: None,
    }];
    let mut t = 0.0;
    let step = |hours: f64, who: Who, action: Action| Step {
        hours,
        who,
        action,
        photo: None,
        note: None,
        on_site: false,
        assigned: None,
    };
    let late = fate == Fate::ClosedLate;
    // Ends the plan here with the running deadline (hours after the report) of the open case.
    macro_rules! done {
        ($due:expr) => {
            return Ok(Plan {
                estate,
                category,
                steps,
                due_hours: $due,
                fate,
                overdue,
            })
        };
    }
    // Dissuasion, or the way to a dispatch.
    if fate.dissuasion() || info.dissuade_first {
        t += rng.between(1.0, 20.0);
        if matches!(fate, Fate::ResolvedOnSite | Fate::DissuadedClosed) {
            let mut s = step(t, Who::Committee, Action::Dissuade);
            s.note = Some(rng.text(story::DISSUADE_NOTES).to_owned());
            steps.push(s);
            if fate == Fate::DissuadedClosed {
                t += rng.between(4.0, 48.0);
                steps.push(verify_step(rng, t));
            }
            done!(None);
        }
        if fate == Fate::Reported {
            steps.truncate(1);
            done!(None);
        }
        if fate == Fate::Cancelled {
            steps.push(cancel_step(rng, t, Who::Committee));
            done!(None);
        }
        steps.push(step(t, Who::Committee, Action::Escalate));
        if fate == Fate::Escalated {
            done!(Some(t + dispatch_h));
        }
    } else {
        match fate {
            Fate::Reported => {
                done!(Some(dispatch_h));
            }
            Fate::Cancelled => {
                t += rng.between(1.0, 20.0);
                steps.push(cancel_step(rng, t, Who::Street));
                done!(None);
            }
            _ => {}
        }
    }
    // Dispatch: now and then after the window (the KPI shows it).
    let dispatch_late = !fate.returned() && rng.chance(0.12);
    t += if dispatch_late {
        rng.between(1.1, 2.0) * dispatch_h
    } else {
        rng.between(0.1, 0.7) * dispatch_h
    };
    let first = wrong.as_ref().unwrap_or(&owner).id.clone();
    let mut dispatch = step(
        t,
        Who::Street,
        Action::Dispatch {
            unit_id: first.clone(),
        },
    );
    dispatch.assigned = Some(first);
    steps.push(dispatch);
    let mut dispatched_at = t;
    let accept_gap = |rng: &mut Rng| rng.between(0.2, (handle_h * 0.2).clamp(0.5, 8.0));
    if fate.returned() {
        if rng.chance(0.5) {
            t += accept_gap(rng);
            steps.push(step(t, Who::Assigned, Action::Accept));
        }
        t += rng.between(1.0, 20.0);
        let reason = rng
            .text(story::RETURN_REASONS)
            .replace("{owner}", &owner.name);
        steps.push(step(t, Who::Assigned, Action::Return { reason }));
        if fate == Fate::Returned {
            done!(Some(t + dispatch_h));
        }
        t += rng.between(0.1, 0.7) * dispatch_h;
        let mut again = step(
            t,
            Who::Street,
            Action::Dispatch {
                unit_id: owner.id.clone(),
            },
        );
        again.assigned = Some(owner.id.clone());
        steps.push(again);
        dispatched_at = t;
    }
    if fate == Fate::Dispatched {
        done!(Some(dispatched_at + handle_h));
    }
    t += accept_gap(rng);
    steps.push(step(t, Who::Assigned, Action::Accept));
    if matches!(fate, Fate::Accepted | Fate::Redispatched) {
        done!(Some(dispatched_at + handle_h));
    }
    t = dispatched_at
        + if late {
            rng.between(1.15, 2.0) * handle_h
        } else {
            rng.between(0.3, 0.9) * handle_h
        };
    steps.push(handle_step(rng, t));
    if fate == Fate::Handled {
        done!(None);
    }
    t += rng.between(3.0, 40.0);
    if matches!(fate, Fate::Reopened | Fate::ReworkedClosed) {
        let reason = rng.text(story::REOPEN_REASONS).to_owned();
        let mut reopen = step(t, Who::Verifier, Action::Reopen { reason });
        reopen.photo = Some(PhotoKind::Verification);
        steps.push(reopen);
        if fate == Fate::Reopened {
            done!(Some(t + handle_h));
        }
        t += rng.between(0.2, 0.8) * handle_h;
        steps.push(handle_step(rng, t));
        t += rng.between(3.0, 40.0);
    }
    steps.push(verify_step(rng, t));
    done!(None)
}

fn verify_step(rng: &mut Rng, hours: f64) -> Step {
    Step {
        hours,
        who: Who::Verifier,
        action: Action::Verify,
        photo: Some(PhotoKind::Verification),
        note: Some(rng.text(story::VERIFY_NOTES).to_owned()),
        on_site: true,
        assigned: None,
    }
}

fn handle_step(rng: &mut Rng, hours: f64) -> Step {
    Step {
        hours,
        who: Who::Assigned,
        action: Action::Handle,
        photo: Some(PhotoKind::After),
        note: Some(rng.text(story::HANDLE_NOTES).to_owned()),
        on_site: false,
        assigned: None,
    }
}

fn cancel_step(rng: &mut Rng, hours: f64, who: Who) -> Step {
    Step {
        hours,
        who,
        action: Action::Cancel {
            reason: rng.text(story::CANCEL_REASONS).to_owned(),
        },
        photo: None,
        note: None,
        on_site: false,
        assigned: None,
    }
}

/// A report of `category` at `estate`, only to ask routing for the case's dispatch targets.
fn probe_report(category: Category, estate: &Estate) -> Event {
    Event {
        id: Uuid::nil(),
        case_id: Uuid::nil(),
        action: Action::Report {
            category,
            estate_id: estate.id.clone(),
            building: None,
            unit_no: None,
            location_note: None,
            description: None,
        },
        actor: Actor {
            user_id: String::new(),
            role: Role::Inspector,
            unit_id: String::new(),
        },
        device_time: DateTime::<Utc>::UNIX_EPOCH,
        server_time: None,
        gps: None,
        photos: Vec::new(),
        note: None,
    }
}

/// What an inspector writes: building, door, description.
fn report_action(rng: &mut Rng, category: Category, estate: &Estate) -> Action {
    let building = rng.pick(&estate.buildings).cloned().unwrap_or_default();
    let other = rng.pick(&estate.buildings).cloned().unwrap_or_default();
    let door = format!("{}门", 1 + rng.below(4));
    let template = rng.text(story::descriptions(category));
    let description = template
        .replacen("{b}", &building, 1)
        .replace("{b}", &other)
        .replace("{d}", &door);
    Action::Report {
        category,
        estate_id: estate.id.clone(),
        building: (template.contains("{b}") && !building.is_empty()).then_some(building),
        unit_no: template.contains("{d}").then_some(door),
        location_note: None,
        description: Some(description),
    }
}

/// A point inside the estate's outline (the demo outlines are convex).
fn point_in(rng: &mut Rng, boundary: &Geometry) -> Option<(f64, f64)> {
    let ring: &[[f64; 2]] = match boundary {
        Geometry::Polygon(rings) => rings.first()?,
        Geometry::MultiPolygon(polys) => polys.first()?.first()?,
    };
    let ring = ring.get(..ring.len().checked_sub(1)?)?;
    let n = ring.len() as f64;
    let (cx, cy) = ring
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p[0] / n, y + p[1] / n));
    let i = rng.below(ring.len() as u64) as usize;
    let a = ring.get(i)?;
    let b = ring.get((i + 1) % ring.len())?;
    let s = rng.between(0.0, 1.0);
    let t = rng.between(0.1, 0.75);
    let (ex, ey) = (a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1]));
    Some((cy + t * (ey - cy), cx + t * (ex - cx)))
}

fn gps(rng: &mut Rng, lat: f64, lon: f64) -> GpsFix {
    GpsFix {
        lat,
        lon,
        accuracy_m: Some((rng.between(4.0, 15.0) * 10.0).round() / 10.0),
        provider: Some("gps".to_owned()),
    }
}

fn wall_of(estate: &Estate) -> [u8; 3] {
    match estate.id.as_str() {
        "changchunli" => [168, 98, 82],
        "pingshandao" => [205, 188, 152],
        _ => [172, 170, 164],
    }
}

/// Places a case's steps in time relative to `now` and names who fires each.
fn place(
    rng: &mut Rng,
    cast: &Cast<'_>,
    plan: Plan,
    case_no: usize,
    now: DateTime<Utc>,
) -> Result<Vec<Planned>, StartError> {
    let last = plan.steps.last().map_or(0.0, |s| s.hours);
    let open = !matches!(
        plan.fate,
        Fate::Closed
            | Fate::ClosedLate
            | Fate::DissuadedClosed
            | Fate::RedispatchedClosed
            | Fate::ReworkedClosed
            | Fate::Cancelled
    );
    // Hours from the last step to now.
    let wait = match (open, plan.due_hours) {
        (false, _) => rng.between(6.0, (QUARTER_DAYS * 24.0 - last).max(12.0)),
        (true, Some(due)) if plan.overdue => due - last + rng.between(6.0, 240.0),
        (true, Some(due)) => (due - last) * rng.between(0.05, 0.6),
        (true, None) => rng.between(0.5, 60.0),
    };
    let mut reported = now - hours(last + wait);
    // Reports are made in the daytime, Beijing time; only where moving it changes no deadline.
    if let Some(local) = xuncha_core::time::to_local(reported)
        && open
        && !plan.overdue
    {
        // A fresh case reported before dawn moves to the morning (later: no deadline passes).
        let minute = i64::from(local.hour()) * 60 + i64::from(local.minute());
        if minute < 8 * 60 {
            reported += TimeDelta::minutes(8 * 60 + rng.below(90) as i64 - minute);
        }
    } else if !open || plan.overdue {
        if let Some(local) = xuncha_core::time::to_local(reported) {
            let minute = i64::from(local.hour()) * 60 + i64::from(local.minute());
            let wanted = 8 * 60 + 30 + rng.below(8 * 60 + 30) as i64;
            // An overdue case only moves earlier, so it stays overdue.
            let back = if open && minute < wanted {
                minute - wanted + 24 * 60
            } else {
                minute - wanted
            };
            reported -= TimeDelta::minutes(back);
        }
    }
    let case_seed = SEED ^ (case_no as u64).wrapping_mul(0x1000_0000_01b3);
    let mut id_bytes = [0u8; 10];
    id_bytes.copy_from_slice(&Rng::new(case_seed).next_u64().to_le_bytes().repeat(2)[..10]);
    let case_id = uuid::Builder::from_unix_timestamp_millis(
        reported.timestamp_millis().max(0) as u64,
        &id_bytes,
    )
    .into_uuid();
    let (lat, lon) = point_in(rng, &plan.estate.boundary)
        .ok_or_else(|| missing(format!("estate {} has no outline", plan.estate.id)))?;
    let reporter = cast
        .reporter(&plan.estate)
        .ok_or_else(|| missing(format!("no reporter at {}", plan.estate.id)))?;
    let committee = cast
        .committee(&plan.estate)
        .ok_or_else(|| missing(format!("no committee at {}", plan.estate.id)))?;
    let street = cast
        .street(&plan.estate)
        .ok_or_else(|| missing(format!("no street office for {}", plan.estate.id)))?;
    let wall = wall_of(&plan.estate);
    let mut assigned: Option<String> = None;
    let mut events: Vec<Planned> = Vec::new();
    let mut previous: Option<DateTime<Utc>> = None;
    for (i, step) in plan.steps.into_iter().enumerate() {
        let username = match step.who {
            Who::Reporter => reporter.clone(),
            Who::Committee => committee.clone(),
            Who::Verifier => {
                if rng.chance(0.5) {
                    reporter.clone()
                } else {
                    committee.clone()
                }
            }
            Who::Street => street.clone(),
            Who::Assigned => {
                let unit = assigned
                    .as_deref()
                    .ok_or_else(|| missing(format!("case {case_no}: nobody assigned")))?;
                cast.assignee(unit)
                    .ok_or_else(|| missing(format!("no account for {unit}")))?
            }
        };
        if step.assigned.is_some() {
            assigned = step.assigned.clone();
        }
        let phone = matches!(step.who, Who::Reporter | Who::Committee | Who::Verifier);
        let mut at = reported + hours(step.hours);
        if let Some(prev) = previous {
            at = at.max(prev + TimeDelta::minutes(1));
        }
        // Offices work in the daytime: a step that would fall at night waits for the morning.
        if i > 0
            && let Some(local) = xuncha_core::time::to_local(at)
        {
            let minute = i64::from(local.hour()) * 60 + i64::from(local.minute());
            let morning = 8 * 60 + rng.below(210) as i64;
            if minute < 8 * 60 {
                at += TimeDelta::minutes(morning - minute);
            } else if minute >= 18 * 60 + 30 {
                at += TimeDelta::minutes(24 * 60 - minute + morning);
            }
        }
        // Phones sync a little later; the dashboard writes at once.
        let delay = if phone {
            TimeDelta::seconds(20 + rng.below(15 * 60) as i64)
        } else {
            TimeDelta::seconds(rng.below(30) as i64)
        };
        let received = at + delay;
        previous = Some(received);
        let gps = if step.on_site || i == 0 {
            let jitter = 0.00008;
            let (dlat, dlon) = (rng.between(-jitter, jitter), rng.between(-jitter, jitter));
            Some(gps(rng, lat + dlat, lon + dlon))
        } else {
            None
        };
        events.push(Planned {
            case_id,
            case_no,
            at,
            received,
            username,
            action: step.action,
            photo: step
                .photo
                .map(|kind| (kind, case_seed.wrapping_add(i as u64), wall)),
            gps,
            note: step.note,
        });
    }
    // Nothing may happen in the future: move a case that would end too late back in time.
    let latest = now - TimeDelta::minutes(2);
    if let Some(end) = events.iter().map(|e| e.received).max()
        && end > latest
    {
        shift_back(&mut events, end - latest);
    }
    // An overdue case stays overdue whatever the mornings did: its running deadline (from the
    // event that started it, in server time) lies hours to days before now.
    if open && plan.overdue {
        let info = plan.category.info();
        let start = events.iter().rev().find_map(|e| match e.action {
            Action::Report { .. } | Action::Escalate | Action::Return { .. } => {
                Some((e.received, f64::from(info.dispatch_hours)))
            }
            Action::Dispatch { .. } | Action::Reopen { .. } => {
                Some((e.received, f64::from(info.handle_days) * 24.0))
            }
            _ => None,
        });
        if let Some((from, window)) = start {
            let due = from + hours(window);
            let wanted = now - hours(rng.between(6.0, 48.0));
            if due > wanted {
                shift_back(&mut events, due - wanted);
            }
        }
    }
    Ok(events)
}

fn shift_back(events: &mut [Planned], by: TimeDelta) {
    for e in events {
        e.at -= by;
        e.received -= by;
    }
}

/// The street office's joint meeting about ten days ago: minutes on the cases of 长春里 that
/// were on its agenda (returned, reworked or late) and still open at the time.
fn meeting(
    rng: &mut Rng,
    catalog: &Catalog,
    cast: &Cast<'_>,
    planned: &[Planned],
    now: DateTime<Utc>,
) -> Result<Vec<Planned>, StartError> {
    let estate = catalog
        .estates()
        .get("changchunli")
        .ok_or_else(|| missing("estate changchunli not in the catalog"))?;
    let street = cast
        .street(estate)
        .ok_or_else(|| missing("no street office for changchunli"))?;
    let mut held = now - TimeDelta::days(10);
    if let Some(local) = xuncha_core::time::to_local(held) {
        let minute = i64::from(local.hour()) * 60 + i64::from(local.minute());
        held -= TimeDelta::minutes(minute - (14 * 60 + 30));
    }
    // Cases of the estate reported a day before the meeting and still open at it, the ones a
    // unit returned or a verifier sent back first.
    let mut by_case: HashMap<Uuid, Vec<&Planned>> = HashMap::new();
    for p in planned {
        by_case.entry(p.case_id).or_default().push(p);
    }
    let mut agenda: Vec<(u8, usize, Uuid, String)> = Vec::new();
    for (case_id, events) in by_case {
        let Some(report) = events.first() else {
            continue;
        };
        let at_estate = matches!(&report.action, Action::Report { estate_id, .. } if estate_id == "changchunli");
        if !at_estate || report.received > held - TimeDelta::days(1) {
            continue;
        }
        let before: Vec<&&Planned> = events.iter().filter(|e| e.received < held).collect();
        let closed = before
            .iter()
            .any(|e| matches!(e.action, Action::Verify | Action::Cancel { .. }));
        if closed {
            continue;
        }
        let unit = before.iter().rev().find_map(|e| match &e.action {
            Action::Dispatch { unit_id } => Some(unit_id.clone()),
            _ => None,
        });
        let Some(unit) = unit else {
            continue;
        };
        let troubled = before
            .iter()
            .any(|e| matches!(e.action, Action::Return { .. } | Action::Reopen { .. }));
        agenda.push((u8::from(!troubled), report.case_no, case_id, unit));
    }
    agenda.sort();
    let mut minutes = Vec::new();
    for (k, (_, case_no, case_id, unit)) in agenda.into_iter().take(3).enumerate() {
        let unit_name = catalog
            .unit(&unit)
            .map_or_else(|| unit.clone(), |u| u.name.clone());
        let text = rng
            .text(story::MINUTES)
            .replace("{unit}", &unit_name)
            .replace("{days}", &(3 + rng.below(5)).to_string());
        let at = held + TimeDelta::minutes(5 * k as i64);
        minutes.push(Planned {
            case_id,
            case_no,
            at,
            received: at + TimeDelta::seconds(rng.below(30) as i64),
            username: street.clone(),
            action: Action::Minutes {
                unit_id: unit,
                text,
            },
            photo: None,
            gps: None,
            note: None,
        });
    }
    Ok(minutes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_in_range() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let x = a.between(2.0, 3.0);
            b.between(2.0, 3.0);
            assert!((2.0..3.0).contains(&x));
            assert!(a.below(5) < 5);
            b.below(5);
        }
    }

    fn demo_accounts(catalog: &Catalog) -> Vec<DemoAccount> {
        super::super::wanted_accounts(catalog)
            .unwrap()
            .into_iter()
            .map(|(username, _, role, unit)| DemoAccount {
                username,
                password: String::new(),
                role,
                unit_id: unit.id,
                unit_name: unit.name,
            })
            .collect()
    }

    #[test]
    fn the_story_is_the_same_on_every_run_and_moves_with_the_clock() {
        let catalog = crate::policy::catalog::demo_catalog().unwrap();
        let accounts = demo_accounts(&catalog);
        let now = ingest::now();
        let story = plan_story(&catalog, &accounts, now).unwrap();
        assert_eq!(story, plan_story(&catalog, &accounts, now).unwrap());
        let reports = story
            .iter()
            .filter(|p| matches!(p.action, Action::Report { .. }))
            .count();
        assert!((60..=120).contains(&reports), "{reports} cases");
        assert!(story.windows(2).all(|w| w[0].received <= w[1].received));
        assert!(story.iter().all(|p| p.at <= p.received && p.received < now));
        // A week later the same story, a week later.
        let week = TimeDelta::days(7);
        let later = plan_story(&catalog, &accounts, now + week).unwrap();
        assert_eq!(later.len(), story.len());
        for (a, b) in story.iter().zip(&later) {
            assert_eq!(
                (&a.action, &a.username, a.received + week),
                (&b.action, &b.username, b.received)
            );
        }
    }

    #[test]
    fn every_category_has_a_description_and_points_fall_inside_the_estate() {
        for c in Category::ALL {
            assert!(!story::descriptions(c).is_empty(), "{c}");
        }
        let mut rng = Rng::new(1);
        for estate in xuncha_core::demo::estates().unwrap() {
            for _ in 0..200 {
                let (lat, lon) = point_in(&mut rng, &estate.boundary).unwrap();
                assert!(
                    estate.boundary.contains(lat, lon),
                    "{} {lat} {lon}",
                    estate.id
                );
            }
        }
    }
}
