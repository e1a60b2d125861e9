//! Photo rows: processed files by content address, and how much of each the server holds.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::store::error::{Error, Result};
use crate::store::{Store, StoreError, from_ms, now, to_ms};

/// A photo the pipeline has processed and stored under the photo folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoRecord {
    /// Lower-case hex SHA-256 of the stored JPEG.
    pub sha256: String,
    pub path: PathBuf,
    pub thumbnail_path: PathBuf,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    /// Capture time from the camera's EXIF, a cross-check against the device clock.
    pub exif_time: Option<DateTime<Utc>>,
    /// EXIF GPS `(lat, lon)` WGS-84, a cross-check against the device fix.
    pub exif_gps: Option<(f64, f64)>,
}

/// Upload progress of a stored photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhotoUploadState {
    Pending,
    Uploaded,
    /// The server refused the bytes themselves ([`PhotoRefusal`] says why): not sent again
    /// until the user asks ([`Store::retry_refused_photo`]). The photo stays on the phone and
    /// in its case.
    Refused,
}

/// The server's verdict on a refused photo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhotoRefusal {
    pub http_status: u16,
    /// The server's code, e.g. `PHOTO_UNDECODABLE`.
    pub code: String,
    pub message: String,
    pub refused_at: DateTime<Utc>,
}

/// A photo the sync client still has to upload: send `path` from byte `uploaded_bytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPhoto {
    pub sha256: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub uploaded_bytes: u64,
}

impl Store {
    /// Photos not yet fully uploaded, oldest first.
    pub fn pending_photos(&self) -> Result<Vec<PendingPhoto>, StoreError> {
        Ok(self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT sha256, path, bytes, uploaded_bytes FROM photos
                 WHERE upload_state = 'pending' ORDER BY created_at, sha256",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(PendingPhoto {
                    sha256: r.get(0)?,
                    path: PathBuf::from(r.get::<_, String>(1)?),
                    bytes: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    uploaded_bytes: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?)
    }

    /// Records how many bytes the server acknowledged (resume point). Never moves backwards.
    pub fn set_photo_upload_progress(&self, sha256: &str, received: u64) -> Result<(), StoreError> {
        let received = i64::try_from(received)
            .map_err(|_| Error::InvalidInput(format!("upload offset {received} too large")))?;
        Ok(self.write(|tx| {
            let changed = tx.execute(
                "UPDATE photos SET uploaded_bytes = max(uploaded_bytes, min(?2, bytes))
                 WHERE sha256 = ?1",
                params![sha256, received],
            )?;
            require_photo(changed, sha256)
        })?)
    }

    /// The server holds the whole photo, verified.
    pub fn mark_photo_uploaded(&self, sha256: &str) -> Result<(), StoreError> {
        Ok(self.write(|tx| {
            let changed = tx.execute(
                "UPDATE photos SET upload_state = 'uploaded', uploaded_bytes = bytes
                 WHERE sha256 = ?1",
                [sha256],
            )?;
            require_photo(changed, sha256)
        })?)
    }

    /// The server refused this photo's bytes: it leaves the upload queue with the verdict.
    /// Only a `pending` photo can be refused (an uploaded one stays uploaded).
    pub fn mark_photo_refused(
        &self,
        sha256: &str,
        http_status: u16,
        code: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        Ok(self.write(|tx| {
            let changed = tx.execute(
                "UPDATE photos SET upload_state = 'refused', refused_status = ?2,
                        refused_code = ?3, refused_message = ?4, refused_at = ?5
                 WHERE sha256 = ?1 AND upload_state = 'pending'",
                params![sha256, http_status, code, message, to_ms(now())],
            )?;
            if changed == 0 {
                // Known but already uploaded: nothing to refuse. Unknown: the caller's mistake.
                let known: Option<i64> = tx
                    .query_row("SELECT 1 FROM photos WHERE sha256 = ?1", [sha256], |r| {
                        r.get(0)
                    })
                    .optional()?;
                return require_photo(usize::from(known.is_some()), sha256);
            }
            Ok(())
        })?)
    }

    /// Puts a refused photo back in the upload queue, from byte 0 (the user asked: e.g. the
    /// server's size limit was raised). Returns whether it was refused.
    pub fn retry_refused_photo(&self, sha256: &str) -> Result<bool, StoreError> {
        Ok(self.write(|tx| {
            let changed = tx.execute(
                "UPDATE photos SET upload_state = 'pending', uploaded_bytes = 0,
                        refused_status = NULL, refused_code = NULL, refused_message = NULL,
                        refused_at = NULL
                 WHERE sha256 = ?1 AND upload_state = 'refused'",
                [sha256],
            )?;
            Ok(changed > 0)
        })?)
    }

    /// Why the server refused this photo; `None` when it is not refused (or unknown).
    pub fn photo_refusal(&self, sha256: &str) -> Result<Option<PhotoRefusal>, StoreError> {
        Ok(self.read(|conn| {
            let row: Option<(i64, String, Option<String>, Option<i64>)> = conn
                .query_row(
                    "SELECT refused_status, refused_code, refused_message, refused_at
                     FROM photos WHERE sha256 = ?1 AND upload_state = 'refused'",
                    [sha256],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            row.map(|(status, code, message, at)| {
                Ok(PhotoRefusal {
                    http_status: u16::try_from(status).unwrap_or(0),
                    code,
                    message: message.unwrap_or_default(),
                    refused_at: from_ms("photos.refused_at", at.unwrap_or(0))?,
                })
            })
            .transpose()
        })?)
    }

    /// How many photos the server refused (for the sync badge).
    pub fn refused_photo_count(&self) -> Result<u32, StoreError> {
        Ok(self.read(|conn| {
            let n: i64 = conn.query_row(
                "SELECT count(*) FROM photos WHERE upload_state = 'refused'",
                [],
                |r| r.get(0),
            )?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })?)
    }

    /// A stored photo and its upload state.
    pub fn photo(
        &self,
        sha256: &str,
    ) -> Result<Option<(PhotoRecord, PhotoUploadState)>, StoreError> {
        Ok(self.read(|conn| load_photo(conn, sha256))?)
    }
}

fn require_photo(changed: usize, sha256: &str) -> Result<()> {
    if changed == 0 {
        return Err(Error::InvalidInput(format!("no stored photo {sha256}")));
    }
    Ok(())
}

/// Stores a processed photo's row (pending upload). The same content stored twice is one row.
pub(crate) fn insert_photo(conn: &Connection, photo: &PhotoRecord) -> Result<()> {
    let valid_hash = photo.sha256.len() == 64
        && photo
            .sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !valid_hash {
        return Err(Error::InvalidInput(format!(
            "`{}` is not a lower-case SHA-256",
            photo.sha256
        )));
    }
    conn.prepare_cached(
        "INSERT OR IGNORE INTO photos (sha256, path, thumbnail_path, width, height, bytes,
                                       exif_time, exif_lat, exif_lon, created_at, upload_state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending')",
    )?
    .execute(params![
        photo.sha256,
        photo.path.to_string_lossy(),
        photo.thumbnail_path.to_string_lossy(),
        photo.width,
        photo.height,
        i64::try_from(photo.bytes).unwrap_or(i64::MAX),
        photo.exif_time.map(to_ms),
        photo.exif_gps.map(|g| g.0),
        photo.exif_gps.map(|g| g.1),
        to_ms(now()),
    ])?;
    Ok(())
}

fn load_photo(conn: &Connection, sha256: &str) -> Result<Option<(PhotoRecord, PhotoUploadState)>> {
    type PhotoRow = (
        String,
        String,
        String,
        u32,
        u32,
        i64,
        Option<i64>,
        Option<f64>,
        Option<f64>,
        String,
    );
    let row: Option<PhotoRow> = conn
        .query_row(
            "SELECT sha256, path, thumbnail_path, width, height, bytes, exif_time, exif_lat,
                    exif_lon, upload_state
             FROM photos WHERE sha256 = ?1",
            [sha256],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            },
        )
        .optional()?;
    let Some((sha256, path, thumb, width, height, bytes, exif_time, lat, lon, state)) = row else {
        return Ok(None);
    };
    let state = match state.as_str() {
        "pending" => PhotoUploadState::Pending,
        "uploaded" => PhotoUploadState::Uploaded,
        "refused" => PhotoUploadState::Refused,
        other => {
            return Err(Error::BadColumn {
                column: "photos.upload_state",
                value: other.to_owned(),
            });
        }
    };
    let record = PhotoRecord {
        sha256,
        path: PathBuf::from(path),
        thumbnail_path: PathBuf::from(thumb),
        width,
        height,
        bytes: u64::try_from(bytes).unwrap_or(0),
        exif_time: exif_time
            .map(|ms| from_ms("photos.exif_time", ms))
            .transpose()?,
        exif_gps: lat.zip(lon),
    };
    Ok(Some((record, state)))
}
