//! Content-addressed photo files under `<data>/photos`: unfinished uploads in
//! `partial/<user key>/<sha>.part` (each user's own: one user never appends to or learns of
//! another's upload), finished photos in `<sha[0..2]>/<sha>.jpg` (the re-encoded,
//! metadata-free JPEG) with their thumbnails beside them in `<sha>_thumb.jpg` (the core's layout,
//! `xuncha_core::photo::thumbnail_path`). Re-encoding is the core's photo pipeline
//! (`xuncha_core::photo::process_bytes`). [`sweep`] removes stale and finished `.part` files and
//! photos that no applied event cites (issue 11 item 7, issue 10 item 7).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::policy::audit::AuditDraft;
use crate::storage::{PhotoRecord, Session, Storage, StorageError};

/// Why a photo could not be stored, re-encoded or swept.
#[derive(Debug, thiserror::Error)]
pub enum PhotoFileError {
    #[error("photo has {pixels} pixels, more than the limit of {limit}")]
    TooManyPixels { pixels: u64, limit: u64 },
    #[error("photo could not be decoded as JPEG: {0}")]
    Undecodable(String),
    /// The core's pipeline failed on its own side (I/O, encoder, options): not the photo's fault.
    #[error("{0}")]
    Pipeline(String),
    #[error("photo store: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0} task failed")]
    Task(&'static str),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What the photo-file operations need: the database, the folder, the limits and the uploads
/// in progress (left alone by [`sweep`]). Built by the HTTP state (`AppState::photo_files`).
#[derive(Clone)]
pub struct PhotoFiles {
    pub storage: Arc<dyn Storage>,
    pub store: Arc<PhotoStore>,
    pub config: Arc<Config>,
    /// `<user key>/<sha>` of the uploads being appended to right now.
    pub uploads_in_progress: Arc<Mutex<HashSet<String>>>,
}

pub struct PhotoStore {
    root: PathBuf,
}

/// A decoded and re-encoded photo.
pub struct Reencoded {
    pub bytes: Vec<u8>,
    /// The pipeline's thumbnail (long edge 320 px), JPEG.
    pub thumbnail: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

pub fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl PhotoStore {
    pub fn new(root: PathBuf) -> std::io::Result<PhotoStore> {
        std::fs::create_dir_all(root.join("partial"))?;
        Ok(PhotoStore { root })
    }

    /// The folder of one user's unfinished uploads: named by a hash of the user id, so any id
    /// makes a safe, short file name.
    pub fn user_key(user_id: &str) -> String {
        sha256_bytes(user_id.as_bytes())[..32].to_owned()
    }

    pub fn partial_dir(&self, user_id: &str) -> PathBuf {
        self.root.join("partial").join(Self::user_key(user_id))
    }

    pub fn partial_path(&self, user_id: &str, sha: &str) -> PathBuf {
        self.partial_dir(user_id).join(format!("{sha}.part"))
    }

    /// How many unfinished uploads the user holds and their bytes, leaving out `except`'s.
    pub fn held_parts(&self, user_id: &str, except: &str) -> std::io::Result<(usize, u64)> {
        let dir = self.partial_dir(user_id);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, 0)),
            Err(e) => return Err(e),
        };
        let skip = format!("{except}.part");
        let (mut count, mut bytes) = (0usize, 0u64);
        for entry in entries {
            let entry = entry?;
            if entry.file_name().to_str() == Some(skip.as_str()) {
                continue;
            }
            // Another upload of this user may finish (and delete its part) while we count.
            let len = match entry.metadata() {
                Ok(meta) => meta.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            count += 1;
            bytes = bytes.saturating_add(len);
        }
        Ok((count, bytes))
    }

    pub fn final_path(&self, sha: &str) -> PathBuf {
        self.root.join(&sha[..2]).join(format!("{sha}.jpg"))
    }

    /// Where the thumbnail of the photo stored under `sha` lives.
    pub fn thumb_path(&self, sha: &str) -> PathBuf {
        xuncha_core::photo::thumbnail_path(&self.root, sha)
    }

    /// Writes the finished photo atomically (temp file, fsync, rename).
    pub fn store_final(&self, sha: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_atomically(&self.final_path(sha), bytes)
    }

    /// Writes a photo's thumbnail atomically (before its photo, so a stored photo has one; photos
    /// stored before thumbnails were kept get theirs when first asked for).
    pub fn store_thumb(&self, sha: &str, bytes: &[u8]) -> std::io::Result<()> {
        write_atomically(&self.thumb_path(sha), bytes)
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // One temporary file per call: two uploads finishing the same photo at once (two users,
    // or a retry) must not write into, or rename away, each other's file.
    let tmp = path.with_extension(format!("{}.tmp", uuid::Uuid::now_v7().simple()));
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// The thumbnail of a stored (already re-encoded) photo, made by the same pipeline: for photos
/// stored before thumbnails were kept.
pub fn thumbnail_of(stored: &[u8], max_pixels: u64) -> Result<Vec<u8>, PhotoFileError> {
    let edge = xuncha_core::photo::PhotoOptions::default().max_long_edge;
    reencode(stored, max_pixels, edge).map(|r| r.thumbnail)
}

pub fn sha256_file(path: &Path) -> std::io::Result<(String, Vec<u8>)> {
    let bytes = std::fs::read(path)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    Ok((sha, bytes))
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Decodes under the pixel and memory limits (dimensions read from the header before any pixel is
/// decoded) and re-encodes without metadata, long edge at most `max_edge`: the core's photo
/// pipeline, the same one the phone runs.
pub fn reencode(bytes: &[u8], max_pixels: u64, max_edge: u32) -> Result<Reencoded, PhotoFileError> {
    use xuncha_core::photo::{PhotoError, PhotoOptions, process_bytes};
    let options = PhotoOptions {
        max_pixels,
        max_long_edge: max_edge,
        max_input_bytes: bytes.len() as u64,
        ..PhotoOptions::default()
    };
    match process_bytes(bytes, &options) {
        Ok(photo) => Ok(Reencoded {
            bytes: photo.jpeg,
            thumbnail: photo.thumbnail,
            width: photo.width,
            height: photo.height,
        }),
        Err(PhotoError::TooManyPixels {
            width,
            height,
            max_pixels,
        }) => Err(PhotoFileError::TooManyPixels {
            pixels: u64::from(width) * u64::from(height),
            limit: max_pixels,
        }),
        Err(
            e @ (PhotoError::Io { .. } | PhotoError::Encode(_) | PhotoError::InvalidOptions(_)),
        ) => Err(PhotoFileError::Pipeline(format!("{}: {e}", e.code()))),
        Err(e) => Err(PhotoFileError::Undecodable(format!("{}: {e}", e.code()))),
    }
}

/// The one way a received photo becomes a stored one (the API's resumable upload and the
/// dashboard's form upload): the original's bytes, addressed by their SHA-256 `sha` (checked by
/// the caller), are re-encoded under the limits off the async threads, stored by that address,
/// and recorded with a `PHOTO_STORED` audit entry naming the uploader and `source`.
pub async fn store_received(
    files: &PhotoFiles,
    session: &Session,
    sha: &str,
    original: Vec<u8>,
    source: &'static str,
) -> Result<PhotoRecord, PhotoFileError> {
    let limits = files.config.limits.clone();
    let photos = files.store.clone();
    let address = sha.to_owned();
    let received = original.len() as u64;
    let reencoded = tokio::task::spawn_blocking(move || -> Result<Reencoded, PhotoFileError> {
        let reencoded = reencode(&original, limits.photo_pixels, limits.photo_max_edge)?;
        photos.store_thumb(&address, &reencoded.thumbnail)?;
        photos.store_final(&address, &reencoded.bytes)?;
        Ok(reencoded)
    })
    .await
    .map_err(|_| PhotoFileError::Task("photo"))??;
    let record = PhotoRecord {
        sha256: sha.to_owned(),
        stored_sha256: sha256_bytes(&reencoded.bytes),
        bytes: received,
        width: reencoded.width,
        height: reencoded.height,
        uploaded_by: session.user.id.clone(),
        device_id: session.device.id,
    };
    record_received(files, session, record, source).await
}

/// Records `record` as received from `session`'s user: a new photo row, or one more uploader of
/// a photo stored before (they proved they hold its bytes).
pub async fn record_received(
    files: &PhotoFiles,
    session: &Session,
    mut record: PhotoRecord,
    source: &'static str,
) -> Result<PhotoRecord, PhotoFileError> {
    record.uploaded_by = session.user.id.clone();
    record.device_id = session.device.id;
    let sha = record.sha256.clone();
    let audit = AuditDraft::new("PHOTO_STORED", "photo", sha)
        .by(&session.user.id, session.user.role, Some(session.device.id))
        .detail(serde_json::json!({
            "bytes": record.bytes,
            "width": record.width,
            "height": record.height,
            "stored_sha256": record.stored_sha256,
            "source": source,
        }));
    files.storage.insert_photo(record.clone(), audit).await?;
    Ok(record)
}

/// What one [`sweep`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// `.part` files: expired, of a photo stored meanwhile, or from before per-user folders.
    pub parts_removed: usize,
    /// Stored photos no applied event cites, past `unreferenced_photo_expiry_s`.
    pub photos_removed: Vec<String>,
}

/// Removes what nobody will finish or cite (runs at start and every `sweep_interval_s`):
/// - unfinished uploads untouched for `part_expiry_s`, and those whose photo is stored already
///   (a client that vanished, or a server killed, between storing the photo and deleting its
///   part), and legacy `partial/<sha>.part` files of no known user; an upload in progress is
///   left alone;
/// - photos uploaded more than `unreferenced_photo_expiry_s` ago that no applied event cites
///   (e.g. the only event citing them was refused): their rows, then their files.
pub async fn sweep(files: &PhotoFiles, now: DateTime<Utc>) -> Result<SweepReport, PhotoFileError> {
    let limits = files.config.uploads.clone();
    let root = files.store.root.join("partial");
    let expiry = std::time::Duration::from_secs(limits.part_expiry_s);
    let listed = tokio::task::spawn_blocking(move || list_parts(&root))
        .await
        .map_err(|_| PhotoFileError::Task("sweep"))??;
    let mut report = SweepReport::default();
    for part in listed {
        let busy = match &part.user_key {
            Some(key) => files
                .uploads_in_progress
                .lock()
                .map(|set| set.contains(&format!("{key}/{}", part.sha)))
                .unwrap_or(true),
            None => false,
        };
        if busy {
            continue;
        }
        let expired = part
            .modified
            .elapsed()
            .map(|age| age >= expiry)
            .unwrap_or(false);
        let remove = part.user_key.is_none()
            || expired
            || files.storage.photo(part.sha.clone()).await?.is_some();
        if remove {
            match tokio::fs::remove_file(&part.path).await {
                Ok(()) => report.parts_removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %part.path.display(), error = %e, "sweep: part not removed")
                }
            }
        }
    }
    let cutoff = chrono::TimeDelta::try_seconds(
        i64::try_from(limits.unreferenced_photo_expiry_s).unwrap_or(i64::MAX),
    )
    .and_then(|age| now.checked_sub_signed(age))
    .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let audit = AuditDraft::new("PHOTOS_SWEPT", "photo", "unreferenced".to_owned());
    report.photos_removed = files.storage.sweep_photos(cutoff, audit).await?;
    for sha in &report.photos_removed {
        // Uploaded again since the rows went: keep the file the new row needs.
        if files.storage.photo(sha.clone()).await?.is_some() {
            continue;
        }
        for path in [files.store.thumb_path(sha), files.store.final_path(sha)] {
            match tokio::fs::remove_file(path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(%sha, error = %e, "sweep: photo file not removed"),
            }
        }
    }
    if report.parts_removed > 0 || !report.photos_removed.is_empty() {
        tracing::info!(
            parts = report.parts_removed,
            photos = report.photos_removed.len(),
            "sweep: removed unfinished uploads and unreferenced photos"
        );
    }
    Ok(report)
}

struct ListedPart {
    path: PathBuf,
    /// `None`: a legacy part directly under `partial/`.
    user_key: Option<String>,
    sha: String,
    modified: std::time::SystemTime,
}

fn part_sha(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let sha = name.strip_suffix(".part")?;
    is_sha256_hex(sha).then(|| sha.to_owned())
}

fn list_parts(root: &Path) -> std::io::Result<Vec<ListedPart>> {
    let mut parts = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(parts),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let meta = entry.metadata()?;
        let path = entry.path();
        if meta.is_dir() {
            let key = entry.file_name().to_string_lossy().into_owned();
            for inner in std::fs::read_dir(&path)? {
                let inner = inner?;
                let inner_path = inner.path();
                if let Some(sha) = part_sha(&inner_path) {
                    parts.push(ListedPart {
                        modified: inner.metadata()?.modified()?,
                        path: inner_path,
                        user_key: Some(key.clone()),
                        sha,
                    });
                }
            }
        } else if let Some(sha) = part_sha(&path) {
            parts.push(ListedPart {
                modified: meta.modified()?,
                path,
                user_key: None,
                sha,
            });
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Two users finishing the same photo at once (a phone retrying while a colleague uploads the
    /// same file) both succeed, and the stored file is whole.
    #[test]
    fn concurrent_stores_of_one_photo_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let store = PhotoStore::new(dir.path().to_path_buf()).unwrap();
        let sha = "ab".repeat(32);
        let bytes = vec![7u8; 256 * 1024];
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..25 {
                        store.store_final(&sha, &bytes).unwrap();
                    }
                });
            }
        });
        assert_eq!(std::fs::read(store.final_path(&sha)).unwrap(), bytes);
    }

    /// Counting a user's unfinished uploads while another of their uploads finishes (its part is
    /// deleted between the listing and the size read) is not an error.
    #[test]
    fn held_parts_while_parts_come_and_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = PhotoStore::new(dir.path().to_path_buf()).unwrap();
        let user = "inspector.changchunli";
        std::fs::create_dir_all(store.partial_dir(user)).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                for n in 0..2000 {
                    let path = store.partial_path(user, &format!("{n:064}"));
                    std::fs::write(&path, b"part").unwrap();
                    std::fs::remove_file(&path).unwrap();
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                store.held_parts(user, "").unwrap();
            }
        });
    }
}
