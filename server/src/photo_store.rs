//! Content-addressed photo files under `<data>/photos`: partial uploads in `partial/<sha>.part`,
//! finished photos in `<sha[0..2]>/<sha>.jpg` (the re-encoded, metadata-free JPEG).
//! Re-encoding is the core's photo pipeline (`xuncha_core::photo::process_bytes`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::audit::AuditDraft;
use crate::error::ApiError;
use crate::storage::{PhotoRecord, Session};

pub struct PhotoStore {
    root: PathBuf,
}

/// A decoded and re-encoded photo.
pub struct Reencoded {
    pub bytes: Vec<u8>,
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

    pub fn partial_path(&self, sha: &str) -> PathBuf {
        self.root.join("partial").join(format!("{sha}.part"))
    }

    pub fn final_path(&self, sha: &str) -> PathBuf {
        self.root.join(&sha[..2]).join(format!("{sha}.jpg"))
    }

    /// Writes the finished photo atomically (temp file, fsync, rename).
    pub fn store_final(&self, sha: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.final_path(sha);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, &path)
    }
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
pub fn reencode(bytes: &[u8], max_pixels: u64, max_edge: u32) -> Result<Reencoded, ApiError> {
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
            width: photo.width,
            height: photo.height,
        }),
        Err(PhotoError::TooManyPixels {
            width,
            height,
            max_pixels,
        }) => Err(ApiError::PhotoTooManyPixels {
            pixels: u64::from(width) * u64::from(height),
            limit: max_pixels,
        }),
        Err(
            e @ (PhotoError::Io { .. } | PhotoError::Encode(_) | PhotoError::InvalidOptions(_)),
        ) => Err(ApiError::Internal(format!("{}: {e}", e.code()))),
        Err(e) => Err(ApiError::PhotoUndecodable(format!("{}: {e}", e.code()))),
    }
}

/// The one way a received photo becomes a stored one (the API's resumable upload and the
/// dashboard's form upload): the original's bytes, addressed by their SHA-256 `sha` (checked by
/// the caller), are re-encoded under the limits off the async threads, stored by that address,
/// and recorded with a `PHOTO_STORED` audit entry naming the uploader and `source`.
pub async fn store_received(
    state: &AppState,
    session: &Session,
    sha: &str,
    original: Vec<u8>,
    source: &'static str,
) -> Result<PhotoRecord, ApiError> {
    let limits = state.config.limits.clone();
    let photos = state.photos.clone();
    let address = sha.to_owned();
    let received = original.len() as u64;
    let reencoded = tokio::task::spawn_blocking(move || -> Result<Reencoded, ApiError> {
        let reencoded = reencode(&original, limits.photo_pixels, limits.photo_max_edge)?;
        photos
            .store_final(&address, &reencoded.bytes)
            .map_err(|e| ApiError::Internal(format!("photo store: {e}")))?;
        Ok(reencoded)
    })
    .await
    .map_err(|_| ApiError::Internal("photo task failed".to_owned()))??;
    let record = PhotoRecord {
        sha256: sha.to_owned(),
        stored_sha256: sha256_bytes(&reencoded.bytes),
        bytes: received,
        width: reencoded.width,
        height: reencoded.height,
        uploaded_by: session.user.id.clone(),
        device_id: session.device.id,
    };
    let audit = AuditDraft::new("PHOTO_STORED", "photo", sha.to_owned())
        .by(&session.user.id, session.user.role, Some(session.device.id))
        .detail(serde_json::json!({
            "bytes": record.bytes,
            "width": record.width,
            "height": record.height,
            "stored_sha256": record.stored_sha256,
            "source": source,
        }));
    state.storage.insert_photo(record.clone(), audit).await?;
    Ok(record)
}
