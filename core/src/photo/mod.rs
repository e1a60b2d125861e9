//! Photo pipeline: a camera file in, a small metadata-free JPEG out.
//!
//! Order of work, cheapest refusal first: sniff the format, read the header (dimensions, EXIF)
//! without decoding, refuse above [`PhotoOptions::max_pixels`] or when the decode would need more
//! than [`PhotoOptions::max_decode_bytes`]; then decode JPEGs straight at 1/2, 1/4 or 1/8 scale
//! in the DCT domain (the largest reduction that stays at or above the target size), resample to
//! the target with Catmull-Rom, turn upright per EXIF orientation, encode baseline JPEG with
//! standard Huffman tables and no metadata segment at all (only the JFIF header), make the
//! thumbnail from the result, hash, and store by hash atomically.
//!
//! Decoding is CPU-heavy blocking work: call it off UI and async threads (`spawn_blocking`).

mod decode;
mod error;
mod exif;
mod header;
mod raster;
mod store;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::geo::GpsFix;
use decode::DctScale;
use header::Format;
use raster::{Raster, fit_long_edge};

pub use error::PhotoError;
pub use exif::EXIF_GPS_PROVIDER;
pub use store::{photo_path, remove_stale_temp_files, thumbnail_path};

/// Limits and output settings. [`Default`] is what the phone uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoOptions {
    /// Long edge of the stored photo in pixels; smaller images are not enlarged.
    pub max_long_edge: u32,
    /// JPEG quality 1..=100 of both outputs.
    pub quality: u8,
    /// Long edge of the thumbnail in pixels.
    pub thumb_long_edge: u32,
    /// Refuse images whose header declares more pixels than this.
    pub max_pixels: u64,
    /// Refuse images whose decode would need more bytes than this (estimated from the header).
    pub max_decode_bytes: u64,
    /// Refuse input files larger than this.
    pub max_input_bytes: u64,
}

impl Default for PhotoOptions {
    fn default() -> Self {
        PhotoOptions {
            max_long_edge: 1600,
            quality: 80,
            thumb_long_edge: 320,
            max_pixels: 100_000_000,
            max_decode_bytes: 256 * 1024 * 1024,
            max_input_bytes: 100 * 1024 * 1024,
        }
    }
}

/// Largest long edge the options accept (JPEG's limit is 65535; nothing we show needs more).
const MAX_OUTPUT_EDGE: u32 = 16_384;

impl PhotoOptions {
    fn validate(&self) -> Result<(), PhotoError> {
        let invalid = |why: &str| Err(PhotoError::InvalidOptions(why.to_owned()));
        if !(1..=100).contains(&self.quality) {
            return invalid("quality must be 1..=100");
        }
        if !(1..=MAX_OUTPUT_EDGE).contains(&self.max_long_edge) {
            return invalid("max_long_edge must be 1..=16384");
        }
        if !(1..=self.max_long_edge).contains(&self.thumb_long_edge) {
            return invalid("thumb_long_edge must be 1..=max_long_edge");
        }
        if self.max_pixels == 0 || self.max_decode_bytes == 0 || self.max_input_bytes == 0 {
            return invalid("limits must be positive");
        }
        Ok(())
    }
}

/// A processed photo held in memory ([`process_bytes`]).
#[derive(Debug, Clone)]
pub struct EncodedPhoto {
    /// Lower-case hex SHA-256 of `jpeg`.
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    pub jpeg: Vec<u8>,
    pub thumb_width: u32,
    pub thumb_height: u32,
    pub thumbnail: Vec<u8>,
    /// Size of the input image as stored (before orientation).
    pub source_width: u32,
    pub source_height: u32,
    /// EXIF DateTimeOriginal (with OffsetTimeOriginal; Beijing time if the camera gave none).
    pub exif_time: Option<DateTime<Utc>>,
    /// EXIF GPS position, `provider` = [`EXIF_GPS_PROVIDER`]. Never written into the output.
    pub exif_gps: Option<GpsFix>,
}

/// A processed photo stored on disk by [`process_file`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessedPhoto {
    /// Lower-case hex SHA-256 of the stored file at `path`.
    pub sha256: String,
    pub width: u32,
    pub height: u32,
    /// Size of the stored file.
    pub bytes: u64,
    pub path: PathBuf,
    pub thumbnail_path: PathBuf,
    pub exif_time: Option<DateTime<Utc>>,
    pub exif_gps: Option<GpsFix>,
}

/// Processes the image file at `input` and stores the result under `out_dir` by hash
/// (see [`photo_path`], [`thumbnail_path`]). The input file is never modified.
pub fn process_file(
    input: &Path,
    out_dir: &Path,
    opts: &PhotoOptions,
) -> Result<ProcessedPhoto, PhotoError> {
    opts.validate()?;
    let io = |e| PhotoError::io(input, e);
    let file = File::open(input).map_err(io)?;
    let length = file.metadata().map_err(io)?.len();
    check_input_size(length, opts)?;
    let decoded = guarded(|| decode_file(&file, input, length, opts))?;
    // Closed as soon as decoding is done.
    drop(file);
    let encoded = guarded(|| finish(decoded, opts))?;
    let (path, thumbnail_path) =
        store::store(out_dir, &encoded.sha256, &encoded.jpeg, &encoded.thumbnail)?;
    tracing::debug!(sha256 = %encoded.sha256, path = %path.display(), "photo stored");
    Ok(ProcessedPhoto {
        bytes: encoded.jpeg.len() as u64,
        sha256: encoded.sha256,
        width: encoded.width,
        height: encoded.height,
        path,
        thumbnail_path,
        exif_time: encoded.exif_time,
        exif_gps: encoded.exif_gps,
    })
}

fn check_input_size(bytes: u64, opts: &PhotoOptions) -> Result<(), PhotoError> {
    if bytes > opts.max_input_bytes {
        return Err(PhotoError::FileTooLarge {
            bytes,
            max_bytes: opts.max_input_bytes,
        });
    }
    Ok(())
}

/// Processes an image held in memory (the server re-encodes uploads with this).
pub fn process_bytes(bytes: &[u8], opts: &PhotoOptions) -> Result<EncodedPhoto, PhotoError> {
    opts.validate()?;
    check_input_size(bytes.len() as u64, opts)?;
    let decoded = guarded(|| decode_checked(bytes, opts))?;
    guarded(|| finish(decoded, opts))
}

/// Decoders are third-party code fed hostile input: a panic must become an error, not a
/// crashed app. The size checks keep allocations bounded, so no abort can happen first.
fn guarded<T>(work: impl FnOnce() -> Result<T, PhotoError>) -> Result<T, PhotoError> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        tracing::warn!("image decoder panicked");
        Err(PhotoError::DecoderPanic)
    })
}

fn check_pixels(width: u32, height: u32, opts: &PhotoOptions) -> Result<(), PhotoError> {
    if u64::from(width) * u64::from(height) > opts.max_pixels {
        return Err(PhotoError::TooManyPixels {
            width,
            height,
            max_pixels: opts.max_pixels,
        });
    }
    Ok(())
}

fn check_budget(needed_bytes: u64, opts: &PhotoOptions) -> Result<(), PhotoError> {
    if needed_bytes > opts.max_decode_bytes {
        return Err(PhotoError::OverMemoryBudget {
            needed_bytes,
            budget_bytes: opts.max_decode_bytes,
        });
    }
    Ok(())
}

/// Bytes per output pixel the steps after decoding hold at once: resampled and turned copies
/// (3 + 3), with 3 to spare for the resizer's band buffer and the encoder's output (generous).
const AFTER_DECODE_BYTES_PER_PIXEL: u64 = 9;

/// A decoded image (possibly DCT-downscaled) with what its header said.
struct Decoded {
    raster: Raster,
    facts: exif::ExifFacts,
    source_width: u32,
    source_height: u32,
}

/// Everything up to and including decoding, with every refusal checked before the decode.
fn decode_checked(bytes: &[u8], opts: &PhotoOptions) -> Result<Decoded, PhotoError> {
    match header::sniff(bytes)? {
        Format::Jpeg => decode_jpeg_checked(
            bytes,
            || Ok(header::jpeg_has_end_marker(bytes)),
            || Ok(bytes),
            opts,
        ),
        Format::Png => {
            let header = header::scan_png(bytes)?;
            check_pixels(header.width, header.height, opts)?;
            let target = fit_long_edge(header.width, header.height, opts.max_long_edge);
            let after = u64::from(target.0) * u64::from(target.1) * AFTER_DECODE_BYTES_PER_PIXEL;
            check_budget(decode::png_decode_bytes(&header) + after, opts)?;
            let (raster, exif) = decode::decode_png(bytes, opts.max_decode_bytes)?;
            let facts = exif.as_deref().map(exif::read).unwrap_or_default();
            Ok(Decoded {
                raster,
                facts,
                source_width: header.width,
                source_height: header.height,
            })
        }
    }
}

/// The JPEG path of [`decode_checked`]: `head` holds at least the segments up to the first scan,
/// `has_end_marker` looks for EOI in the whole input, `input` gives the whole input from byte 0.
fn decode_jpeg_checked<R: Read>(
    head: &[u8],
    has_end_marker: impl FnOnce() -> Result<bool, PhotoError>,
    input: impl FnOnce() -> Result<R, PhotoError>,
    opts: &PhotoOptions,
) -> Result<Decoded, PhotoError> {
    let header = header::scan_jpeg(head)?;
    let (width, height) = (u32::from(header.width), u32::from(header.height));
    check_pixels(width, height, opts)?;
    let target = fit_long_edge(width, height, opts.max_long_edge);
    let scale = DctScale::choose(width, height, target);
    let after = u64::from(target.0) * u64::from(target.1) * AFTER_DECODE_BYTES_PER_PIXEL;
    check_budget(decode::jpeg_decode_bytes(&header, scale) + after, opts)?;
    if !has_end_marker()? {
        return Err(PhotoError::Truncated);
    }
    let facts = header.exif.map(exif::read).unwrap_or_default();
    tracing::debug!(
        width,
        height,
        ?scale,
        progressive = header.progressive,
        "decoding JPEG"
    );
    let raster = decode::decode_jpeg(input()?, target, opts.max_decode_bytes)?;
    Ok(Decoded {
        raster,
        facts,
        source_width: width,
        source_height: height,
    })
}

/// Bytes read at a time from the start of a file while looking for the first scan, and from its
/// end while looking for the end-of-image marker.
const FILE_CHUNK_BYTES: u64 = 64 * 1024;

/// [`decode_checked`] on an open file of `length` bytes without reading it whole: JPEGs are read
/// up to their first scan for the checks, searched backwards for EOI, then decoded from a
/// buffered reader, so the camera file never sits in memory next to the decoded pixels. PNGs
/// (rare from a camera) are read whole.
fn decode_file(
    mut file: &File,
    path: &Path,
    length: u64,
    opts: &PhotoOptions,
) -> Result<Decoded, PhotoError> {
    let io = |e| PhotoError::io(path, e);
    let mut head = Vec::new();
    loop {
        let wanted = (head.len() as u64 * 2).max(FILE_CHUNK_BYTES).min(length);
        let read = Read::by_ref(&mut file)
            .take(wanted - head.len() as u64)
            .read_to_end(&mut head)
            .map_err(io)?;
        let complete = read == 0 || head.len() as u64 >= length;
        match header::sniff(&head)? {
            Format::Png => {
                file.read_to_end(&mut head).map_err(io)?;
                return decode_checked(&head, opts);
            }
            Format::Jpeg => match header::scan_jpeg(&head) {
                Err(PhotoError::Truncated) if !complete => continue,
                Err(error) => return Err(error),
                Ok(_) => break,
            },
        }
    }
    let has_end_marker = || file_has_end_marker(file, length).map_err(io);
    let body = || -> Result<decode::ByteReader<&File>, PhotoError> {
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        Ok(decode::ByteReader::with_capacity(
            FILE_CHUNK_BYTES as usize,
            file,
        ))
    };
    decode_jpeg_checked(&head, has_end_marker, body, opts)
}

/// [`header::jpeg_has_end_marker`] over a file, one chunk at a time from the end.
fn file_has_end_marker(mut file: &File, length: u64) -> std::io::Result<bool> {
    let mut chunk = Vec::with_capacity(FILE_CHUNK_BYTES as usize);
    let mut end = length;
    loop {
        let start = end.saturating_sub(FILE_CHUNK_BYTES);
        file.seek(SeekFrom::Start(start))?;
        chunk.clear();
        Read::by_ref(&mut file)
            .take(end - start)
            .read_to_end(&mut chunk)?;
        if header::jpeg_has_end_marker(&chunk) {
            return Ok(true);
        }
        if start == 0 {
            return Ok(false);
        }
        // One byte of overlap so a marker split across two chunks is still seen.
        end = start + 1;
    }
}

/// Resample, turn upright, encode photo and thumbnail, hash.
fn finish(decoded: Decoded, opts: &PhotoOptions) -> Result<EncodedPhoto, PhotoError> {
    let Decoded {
        raster,
        facts,
        source_width,
        source_height,
    } = decoded;
    let orientation = facts.orientation.unwrap_or(exif::Orientation::UPRIGHT);
    let mut resizer = fast_image_resize::Resizer::new();
    // Sized from the header's dimensions, not the scaled decode's, to keep the exact aspect.
    let (width, height) = fit_long_edge(source_width, source_height, opts.max_long_edge);
    let photo = raster
        .resized(width, height, &mut resizer)?
        .oriented(orientation);
    let (thumb_width, thumb_height) =
        fit_long_edge(photo.width, photo.height, opts.thumb_long_edge);
    let jpeg = encode(&photo, opts.quality)?;
    let thumb = photo.resized(thumb_width, thumb_height, &mut resizer)?;
    let thumbnail = encode(&thumb, opts.quality)?;
    let sha256 = hex::encode(Sha256::digest(&jpeg));
    Ok(EncodedPhoto {
        sha256,
        width: if orientation.swaps_axes() {
            height
        } else {
            width
        },
        height: if orientation.swaps_axes() {
            width
        } else {
            height
        },
        jpeg,
        thumb_width,
        thumb_height,
        thumbnail,
        source_width,
        source_height,
        exif_time: facts.capture_time,
        exif_gps: facts.gps,
    })
}

/// Baseline JPEG, 4:2:0 below quality 90, standard Huffman tables: optimised ones were 3.5 %
/// smaller but cost a second pass and a store of every coefficient block (a few per cent of the
/// process's CPU time and 3 MB of peak memory on a 12 MP photo; BENCHMARKS.md, Photo pipeline).
/// jpeg-encoder writes only SOI, the JFIF APP0 header, tables, frame, scan and EOI: no EXIF,
/// XMP, ICC or comment segment.
fn encode(raster: &Raster, quality: u8) -> Result<Vec<u8>, PhotoError> {
    let side = |v: u32| u16::try_from(v).map_err(|_| PhotoError::Encode(format!("side {v}")));
    let colour = if raster.channels == 1 {
        jpeg_encoder::ColorType::Luma
    } else {
        jpeg_encoder::ColorType::Rgb
    };
    let mut out = Vec::with_capacity(raster.pixels.len() / 8);
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_optimized_huffman_tables(false);
    encoder
        .encode(
            &raster.pixels,
            side(raster.width)?,
            side(raster.height)?,
            colour,
        )
        .map_err(|e| PhotoError::Encode(e.to_string()))?;
    Ok(out)
}
