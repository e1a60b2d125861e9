//! The sync wire protocol, shared by the device client and the server. JSON over HTTP.
//! Every message carries `protocol`; the server refuses versions it does not speak.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::estate::Estate;
use crate::org::OrgUnit;
use crate::workflow::{Case, Event};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// `POST /api/v1/sync/push`: a batch of events from the outbox, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushRequest {
    pub protocol: u32,
    pub events: Vec<Event>,
}

/// One result per pushed event, in request order. One bad event never blocks the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushResponse {
    pub results: Vec<EventResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventResult {
    pub event_id: Uuid,
    #[serde(flatten)]
    pub outcome: EventOutcome,
}

/// What happened to one pushed event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "SCREAMING_SNAKE_CASE")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventOutcome {
    /// Stored now; the case as it stands after the event.
    Applied { case: Box<Case> },
    /// The same event (same id, same body) was stored before; the case as it stands now.
    Duplicate { case: Box<Case> },
    /// Refused: the client parks it and shows the reason; it is never retried as is. One code is
    /// not final on the server: `PHOTO_NOT_RECEIVED` (a cited photo is not held for the actor);
    /// the same event applies once its photo is uploaded. The client uploads photos before it
    /// pushes and holds back events whose photos are not uploaded, so it meets that code only
    /// when the server lost a photo (uploaded again, then the event re-pushed).
    Rejected { code: String, message: String },
}

/// Metadata of a stored photo (the re-encoded JPEG).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhotoMeta {
    pub sha256: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
}

/// `GET /api/v1/photos/{sha256}/status`: how much of an upload the server already holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhotoUploadStatus {
    pub sha256: String,
    /// Bytes received so far; send the rest from this offset.
    pub received: u64,
    /// The photo is complete, verified and stored.
    pub complete: bool,
}

/// An opaque position in the server's change feed. Clients store it and send it back.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Cursor(pub String);

/// `GET /api/v1/sync/pull?cursor=…&limit=…`: what changed that the user may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullResponse {
    pub protocol: u32,
    /// Cases changed since the cursor, as they stand now.
    pub cases: Vec<Case>,
    /// Their events since the cursor (server-stamped), oldest first.
    pub events: Vec<Event>,
    /// Estates, only when they changed since the cursor (all of them on a first pull).
    #[serde(default)]
    pub estates: Vec<Estate>,
    /// Unit directory entries, likewise.
    #[serde(default)]
    pub units: Vec<OrgUnit>,
    /// The routing rules file (TOML) when it changed since the cursor.
    #[serde(default)]
    pub routing_rules: Option<String>,
    /// Case id → the case number (案件编号, e.g. `和平-20261204-0012`) the server gave each of
    /// `cases` when it ingested the case's REPORT; a number never changes. Optional on the wire:
    /// a server built before numbers sends none (the map is empty) and a phone built before them
    /// ignores the field, so `PROTOCOL_VERSION` stays.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub case_numbers: std::collections::BTreeMap<Uuid, String>,
    pub next_cursor: Cursor,
    /// More changes wait: pull again with `next_cursor`.
    pub has_more: bool,
}

/// The one error body every API error uses: `{code, message}` with a stable machine code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiError {
    pub code: String,
    pub message: String,
}

/// `POST /api/v1/auth/enrol`: sign in and bind this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolRequest {
    pub username: String,
    pub password: String,
    /// Device label shown to admins, e.g. `Redmi 9A`.
    pub device_name: String,
}

/// Tokens are shown once; the server keeps only their hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrolResponse {
    pub device_id: Uuid,
    pub access_token: String,
    pub access_expires_in_s: u64,
    pub refresh_token: String,
    pub user: UserInfo,
}

/// `POST /api/v1/auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    pub device_id: Uuid,
    pub refresh_token: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefreshResponse {
    pub access_token: String,
    pub access_expires_in_s: u64,
    /// The refresh token that replaces the one sent: every refresh rotates it, and the old one
    /// must never be sent again (a spent token coming back revokes the device,
    /// `REFRESH_TOKEN_REUSED`). Absent from servers before rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// The signed-in user as the device needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInfo {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub role: crate::org::Role,
    pub unit_id: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::catalog::Category;
    use crate::org::Role;
    use crate::workflow::{Action, PhotoKind, PhotoRef, apply};
    use serde_json::json;

    fn report_event() -> Event {
        serde_json::from_value(json!({
            "id": "0190e5a0-0000-7000-8000-000000000001",
            "case_id": "0190e5a0-0000-7000-8000-0000000000aa",
            "action": {"kind": "REPORT", "category": "GROUND_LOCK", "estate_id": "pingshandao", "building": "3号楼"},
            "actor": {"user_id": "u-17", "role": "inspector", "unit_id": "hexi.youyilu.pingshandao.committee"},
            "device_time": "2026-04-01T02:03:04Z",
            "gps": {"lat": 39.098, "lon": 117.212, "accuracy_m": 6.5},
            "photos": [{"sha256": "ab".repeat(32), "kind": "BEFORE"}],
            "note": "门口地锁"
        }))
        .unwrap()
    }

    #[test]
    fn event_wire_format_round_trips() {
        let event = report_event();
        assert_eq!(event.server_time, None, "absent optional fields default");
        assert!(matches!(
            &event.action,
            Action::Report {
                category: Category::GroundLock,
                unit_no: None,
                ..
            }
        ));
        assert_eq!(event.actor.role, Role::Inspector);
        let wire = serde_json::to_value(&event).unwrap();
        assert_eq!(wire["action"]["kind"], "REPORT");
        assert_eq!(wire["photos"][0]["kind"], "BEFORE");
        assert_eq!(serde_json::from_value::<Event>(wire).unwrap(), event);

        let dispatch: Action =
            serde_json::from_value(json!({"kind": "DISPATCH", "unit_id": "hexi.city_management"}))
                .unwrap();
        assert_eq!(
            dispatch,
            Action::Dispatch {
                unit_id: "hexi.city_management".into()
            }
        );
        let reopen = serde_json::to_value(Action::Reopen {
            reason: "未修好".into(),
        })
        .unwrap();
        assert_eq!(reopen, json!({"kind": "REOPEN", "reason": "未修好"}));
        assert_eq!(
            serde_json::to_value(Action::Verify).unwrap(),
            json!({"kind": "VERIFY"})
        );
        assert!(
            serde_json::from_value::<Action>(json!({"kind": "RETURN"})).is_err(),
            "reason is required on the wire"
        );
        assert!(serde_json::from_value::<Action>(json!({"kind": "EXPLODE"})).is_err());
    }

    #[test]
    fn push_and_results_round_trip() {
        let event = report_event();
        let case = apply(None, &event).unwrap();
        let push = PushRequest {
            protocol: PROTOCOL_VERSION,
            events: vec![event.clone()],
        };
        let text = serde_json::to_string(&push).unwrap();
        assert!(text.starts_with(r#"{"protocol":1,"#), "{text}");
        assert_eq!(serde_json::from_str::<PushRequest>(&text).unwrap(), push);

        let response = PushResponse {
            results: vec![
                EventResult {
                    event_id: event.id,
                    outcome: EventOutcome::Applied {
                        case: Box::new(case.clone()),
                    },
                },
                EventResult {
                    event_id: event.id,
                    outcome: EventOutcome::Duplicate {
                        case: Box::new(case),
                    },
                },
                EventResult {
                    event_id: event.id,
                    outcome: EventOutcome::Rejected {
                        code: "ROLE_NOT_ALLOWED".into(),
                        message: "角色不能派遣".into(),
                    },
                },
            ],
        };
        let wire = serde_json::to_value(&response).unwrap();
        assert_eq!(wire["results"][0]["outcome"], "APPLIED");
        assert_eq!(wire["results"][0]["case"]["status"], "REPORTED");
        assert_eq!(wire["results"][1]["outcome"], "DUPLICATE");
        assert_eq!(
            wire["results"][2],
            json!({
                "event_id": "0190e5a0-0000-7000-8000-000000000001",
                "outcome": "REJECTED", "code": "ROLE_NOT_ALLOWED", "message": "角色不能派遣"
            })
        );
        assert_eq!(
            serde_json::from_value::<PushResponse>(wire).unwrap(),
            response
        );
    }

    #[test]
    fn pull_photo_and_auth_messages_round_trip() {
        let event = report_event();
        let case = apply(None, &event).unwrap();
        let pull = PullResponse {
            protocol: PROTOCOL_VERSION,
            cases: vec![case],
            events: vec![event],
            estates: crate::demo::estates().unwrap(),
            units: vec![],
            routing_rules: Some("version = 1".into()),
            case_numbers: Default::default(),
            next_cursor: Cursor("c-42".into()),
            has_more: false,
        };
        let wire = serde_json::to_value(&pull).unwrap();
        assert_eq!(
            wire["next_cursor"], "c-42",
            "cursors are plain strings on the wire"
        );
        assert_eq!(wire["estates"][0]["boundary"]["type"], "Polygon");
        let back: PullResponse = serde_json::from_value(wire).unwrap();
        assert_eq!(back.cases, pull.cases);
        assert_eq!(back.next_cursor, pull.next_cursor);
        assert_eq!(back.estates.len(), 3);

        // Older servers may omit the optional parts.
        let minimal: PullResponse = serde_json::from_value(json!({
            "protocol": 1, "cases": [], "events": [], "next_cursor": "", "has_more": true
        }))
        .unwrap();
        assert!(minimal.estates.is_empty() && minimal.routing_rules.is_none());

        let meta = PhotoMeta {
            sha256: "cd".repeat(32),
            bytes: 123_456,
            width: 1600,
            height: 1200,
        };
        assert_eq!(
            serde_json::from_str::<PhotoMeta>(&serde_json::to_string(&meta).unwrap()).unwrap(),
            meta
        );
        let status: PhotoUploadStatus = serde_json::from_value(
            json!({"sha256": "cd".repeat(32), "received": 65536, "complete": false}),
        )
        .unwrap();
        assert_eq!(status.received, 65_536);
        let err: ApiError =
            serde_json::from_value(json!({"code": "UNAUTHORIZED", "message": "令牌已过期"}))
                .unwrap();
        assert_eq!(err.code, "UNAUTHORIZED");
        let user = UserInfo {
            user_id: "u".into(),
            username: "li".into(),
            display_name: "李".into(),
            role: Role::StreetOffice,
            unit_id: "s".into(),
        };
        let wire = serde_json::to_value(&user).unwrap();
        assert_eq!(wire["role"], "street_office");
        assert_eq!(serde_json::from_value::<UserInfo>(wire).unwrap(), user);
    }

    #[test]
    fn case_snapshot_round_trips_with_all_fields() {
        let mut case = apply(None, &report_event()).unwrap();
        case.photos.push(PhotoRef {
            sha256: "ef".repeat(32),
            kind: PhotoKind::After,
        });
        case.assigned_unit = Some("hexi.youyilu.street_office".into());
        let wire = serde_json::to_value(&case).unwrap();
        assert_eq!(wire["category"], "GROUND_LOCK");
        assert_eq!(wire["dispatch_due"], "2026-04-02T02:03:04Z");
        assert_eq!(
            serde_json::from_value::<crate::workflow::Case>(wire).unwrap(),
            case
        );
    }
}
