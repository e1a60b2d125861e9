//! Content-addressed storage of processed photos: `out_dir/ab/abcdef….jpg` plus
//! `…_thumb.jpg`, each written to a temporary file, flushed to disk and renamed into place, so a
//! crash leaves either the whole photo or none of it (at worst a stray temporary file).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::PhotoError;

const TEMP_SUFFIX: &str = ".tmp";

/// Where a photo with this hash lives (the hash must be lower-case hex).
pub fn photo_path(out_dir: &Path, sha256: &str) -> PathBuf {
    shard_dir(out_dir, sha256).join(format!("{sha256}.jpg"))
}

/// Where the thumbnail of the photo with this hash lives.
pub fn thumbnail_path(out_dir: &Path, sha256: &str) -> PathBuf {
    shard_dir(out_dir, sha256).join(format!("{sha256}_thumb.jpg"))
}

fn shard_dir(out_dir: &Path, sha256: &str) -> PathBuf {
    out_dir.join(sha256.get(..2).unwrap_or("00"))
}

/// Stores both files. The thumbnail goes first, so a stored photo always has its thumbnail.
/// A photo already stored under the same hash is left untouched (same bytes by construction).
pub(crate) fn store(
    out_dir: &Path,
    sha256: &str,
    photo: &[u8],
    thumbnail: &[u8],
) -> Result<(PathBuf, PathBuf), PhotoError> {
    let dir = shard_dir(out_dir, sha256);
    fs::create_dir_all(&dir).map_err(|e| PhotoError::io(&dir, e))?;
    let photo_path = photo_path(out_dir, sha256);
    let thumbnail_path = thumbnail_path(out_dir, sha256);
    write_atomically(&thumbnail_path, thumbnail)?;
    write_atomically(&photo_path, photo)?;
    sync_dir(&dir)?;
    Ok((photo_path, thumbnail_path))
}

fn write_atomically(path: &Path, data: &[u8]) -> Result<(), PhotoError> {
    if fs::metadata(path).is_ok_and(|m| m.len() == data.len() as u64) {
        return Ok(());
    }
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("photo");
    let temp = path.with_file_name(format!(
        ".{file_name}.{}{TEMP_SUFFIX}",
        crate::ids::new_id().simple()
    ));
    let written = File::create_new(&temp).and_then(|mut file| {
        file.write_all(data)?;
        file.sync_all()
    });
    let renamed = written.and_then(|()| fs::rename(&temp, path));
    renamed.map_err(|e| {
        let _ = fs::remove_file(&temp);
        PhotoError::io(path, e)
    })
}

/// Makes the renames themselves durable (POSIX needs the directory flushed too).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> Result<(), PhotoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| PhotoError::io(dir, e))
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> Result<(), PhotoError> {
    Ok(())
}

/// Deletes temporary files a crash left behind under `out_dir`; returns how many. Call it at
/// start-up, before any photo is being processed.
pub fn remove_stale_temp_files(out_dir: &Path) -> Result<usize, PhotoError> {
    let mut removed = 0;
    let shards = match fs::read_dir(out_dir) {
        Ok(shards) => shards,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(PhotoError::io(out_dir, e)),
    };
    for shard in shards {
        let shard = shard.map_err(|e| PhotoError::io(out_dir, e))?.path();
        if !shard.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&shard).map_err(|e| PhotoError::io(&shard, e))? {
            let path = entry.map_err(|e| PhotoError::io(&shard, e))?.path();
            let is_temp = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.') && n.ends_with(TEMP_SUFFIX));
            if is_temp {
                fs::remove_file(&path).map_err(|e| PhotoError::io(&path, e))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
