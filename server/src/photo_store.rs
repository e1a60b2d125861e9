//! Content-addressed photo files under `<data>/photos`: partial uploads in `partial/<sha>.part`,
//! finished photos in `<sha[0..2]>/<sha>.jpg` (the re-encoded, metadata-free JPEG).
//!
//! INTEGRATION POINT (photo helper, branch `photo`): [`reencode`] decodes with jpeg-decoder under
//! the pixel and memory limits and re-encodes with jpeg-encoder (which writes no EXIF). When
//! `xuncha_core::photo::process_bytes` lands on main, `reencode` becomes a call to it with
//! `PhotoOptions { max_pixels, max_long_edge, .. }` and its `PhotoError::code()` mapped below.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::ApiError;

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

/// Decodes under the limits (dimensions read from the header before any pixel is decoded) and
/// re-encodes without metadata, scaled so the long edge is at most `max_edge`.
pub fn reencode(bytes: &[u8], max_pixels: u64, max_edge: u32) -> Result<Reencoded, ApiError> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder
        .read_info()
        .map_err(|e| ApiError::PhotoUndecodable(e.to_string()))?;
    let info = decoder
        .info()
        .ok_or_else(|| ApiError::PhotoUndecodable("no image header".to_owned()))?;
    let pixels = u64::from(info.width) * u64::from(info.height);
    if pixels > max_pixels {
        return Err(ApiError::PhotoTooManyPixels {
            pixels,
            limit: max_pixels,
        });
    }
    if pixels == 0 {
        return Err(ApiError::PhotoUndecodable("image has no pixels".to_owned()));
    }
    let (color, channels) = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => (jpeg_encoder::ColorType::Rgb, 3usize),
        jpeg_decoder::PixelFormat::L8 => (jpeg_encoder::ColorType::Luma, 1usize),
        other => {
            return Err(ApiError::PhotoUndecodable(format!(
                "unsupported pixel format {other:?}"
            )));
        }
    };
    // Memory bound: the decoded frame and nothing more.
    decoder.set_max_decoding_buffer_size(
        usize::try_from(pixels)
            .unwrap_or(usize::MAX)
            .saturating_mul(channels),
    );
    let decoded = decoder
        .decode()
        .map_err(|e| ApiError::PhotoUndecodable(e.to_string()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    if decoded.len() != usize::try_from(pixels).unwrap_or(0) * channels {
        return Err(ApiError::PhotoUndecodable(
            "decoded size does not match the header".to_owned(),
        ));
    }
    let (pixels_out, out_w, out_h) = downscale(&decoded, width, height, channels, max_edge);
    let mut out = Vec::new();
    let encoder = jpeg_encoder::Encoder::new(&mut out, 85);
    let (w16, h16) = (
        u16::try_from(out_w).map_err(|_| ApiError::PhotoUndecodable("too wide".to_owned()))?,
        u16::try_from(out_h).map_err(|_| ApiError::PhotoUndecodable("too tall".to_owned()))?,
    );
    encoder
        .encode(&pixels_out, w16, h16, color)
        .map_err(|e| ApiError::Internal(format!("JPEG encoding failed: {e}")))?;
    Ok(Reencoded {
        bytes: out,
        width: out_w,
        height: out_h,
    })
}

/// Box-filter downscale by an integer factor so the long edge fits `max_edge`.
fn downscale(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: usize,
    max_edge: u32,
) -> (Vec<u8>, u32, u32) {
    let long = width.max(height);
    if long <= max_edge || max_edge == 0 {
        return (pixels.to_vec(), width, height);
    }
    let factor = long.div_ceil(max_edge) as usize;
    let (w, h) = (width as usize, height as usize);
    let (out_w, out_h) = (w.div_ceil(factor), h.div_ceil(factor));
    let mut out = vec![0u8; out_w * out_h * channels];
    for oy in 0..out_h {
        for ox in 0..out_w {
            for c in 0..channels {
                let (mut sum, mut n) = (0u32, 0u32);
                for y in (oy * factor)..((oy + 1) * factor).min(h) {
                    for x in (ox * factor)..((ox + 1) * factor).min(w) {
                        sum += u32::from(pixels[(y * w + x) * channels + c]);
                        n += 1;
                    }
                }
                out[(oy * out_w + ox) * channels + c] = (sum / n.max(1)) as u8;
            }
        }
    }
    (out, out_w as u32, out_h as u32)
}
