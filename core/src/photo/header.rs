//! Reads just enough of a file to know what it is and how big it will be once decoded, so the
//! pipeline can refuse an image before any decoder allocates for it.

use super::PhotoError;

/// The image formats the pipeline decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Jpeg,
    Png,
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// Tells the format from the first bytes; names the common formats we refuse so the error says
/// what the file is rather than "not an image".
pub(crate) fn sniff(bytes: &[u8]) -> Result<Format, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Ok(Format::Jpeg);
    }
    if bytes.starts_with(&PNG_SIGNATURE) {
        return Ok(Format::Png);
    }
    // A prefix of a real signature is a cut-off file, not a foreign one.
    if (bytes.len() < 3 && [0xffu8, 0xd8].starts_with(bytes)) || PNG_SIGNATURE.starts_with(bytes) {
        return Err(PhotoError::Truncated);
    }
    let unsupported = |name: &str| Err(PhotoError::UnsupportedFormat(name.to_owned()));
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return match &bytes[8..12] {
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => {
                unsupported("HEIC/HEIF")
            }
            b"avif" | b"avis" => unsupported("AVIF"),
            _ => Err(PhotoError::NotAnImage),
        };
    }
    if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice()) {
        return unsupported("WebP");
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return unsupported("GIF");
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return unsupported("TIFF");
    }
    if bytes.starts_with(b"BM") && bytes.len() >= 26 {
        return unsupported("BMP");
    }
    Err(PhotoError::NotAnImage)
}

/// One component of a JPEG frame: its sampling factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JpegComponent {
    pub horizontal: u8,
    pub vertical: u8,
}

/// What the JPEG markers before the first scan say.
#[derive(Debug, Clone)]
pub(crate) struct JpegHeader<'a> {
    pub width: u16,
    pub height: u16,
    pub progressive: bool,
    pub components: Vec<JpegComponent>,
    /// TIFF structure of the first `Exif\0\0` APP1 segment, if any.
    pub exif: Option<&'a [u8]>,
}

fn be16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Walks the marker segments up to the first SOS. Reads no compressed data, allocates nothing
/// proportional to the image.
pub(crate) fn scan_jpeg(bytes: &[u8]) -> Result<JpegHeader<'_>, PhotoError> {
    let mut at = 2; // after SOI
    let mut frame: Option<(u16, u16, bool, Vec<JpegComponent>)> = None;
    let mut exif = None;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        match bytes.get(at) {
            None => return Err(PhotoError::Truncated),
            Some(0xff) => {}
            Some(_) => return Err(PhotoError::Corrupt("expected a JPEG marker".into())),
        }
        while bytes.get(at) == Some(&0xff) {
            at += 1;
        }
        let marker = *bytes.get(at).ok_or(PhotoError::Truncated)?;
        at += 1;
        match marker {
            0x01 | 0xd0..=0xd7 => continue, // standalone markers
            0xd8 => return Err(PhotoError::Corrupt("second start-of-image marker".into())),
            0xd9 => return Err(PhotoError::Corrupt("image ends before any scan".into())),
            _ => {}
        }
        let length = usize::from(be16(bytes, at).ok_or(PhotoError::Truncated)?);
        if length < 2 {
            return Err(PhotoError::Corrupt(format!(
                "segment length {length} of marker 0x{marker:02X}"
            )));
        }
        let payload = bytes
            .get(at + 2..at + length)
            .ok_or(PhotoError::Truncated)?;
        match marker {
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                if frame.is_some() {
                    return Err(PhotoError::Corrupt("more than one frame header".into()));
                }
                if matches!(marker, 0xc5..=0xc7 | 0xcd..=0xcf) {
                    return Err(PhotoError::UnsupportedFormat(
                        "hierarchical JPEG".to_owned(),
                    ));
                }
                if marker >= 0xc9 {
                    return Err(PhotoError::UnsupportedFormat(
                        "arithmetic-coded JPEG".to_owned(),
                    ));
                }
                frame = Some(parse_frame(payload, matches!(marker, 0xc2))?);
            }
            0xe1 if exif.is_none() && payload.starts_with(b"Exif\0\0") => {
                exif = Some(&payload[6..]);
            }
            0xda => {
                let (width, height, progressive, components) = frame
                    .ok_or_else(|| PhotoError::Corrupt("scan before the frame header".into()))?;
                return Ok(JpegHeader {
                    width,
                    height,
                    progressive,
                    components,
                    exif,
                });
            }
            _ => {}
        }
        at += length;
    }
}

fn parse_frame(
    payload: &[u8],
    progressive: bool,
) -> Result<(u16, u16, bool, Vec<JpegComponent>), PhotoError> {
    let corrupt = || PhotoError::Corrupt("short frame header".into());
    let precision = *payload.first().ok_or_else(corrupt)?;
    let height = be16(payload, 1).ok_or_else(corrupt)?;
    let width = be16(payload, 3).ok_or_else(corrupt)?;
    let count = usize::from(*payload.get(5).ok_or_else(corrupt)?);
    if width == 0 || height == 0 {
        // Height 0 means "given later by a DNL marker", which no camera writes.
        return Err(PhotoError::Corrupt(format!("frame size {width}×{height}")));
    }
    if !matches!(count, 1 | 3 | 4) {
        return Err(PhotoError::UnsupportedFormat(format!(
            "JPEG with {count} colour components"
        )));
    }
    if precision != 8 {
        return Err(PhotoError::UnsupportedFormat(format!(
            "{precision}-bit JPEG"
        )));
    }
    let mut components = Vec::with_capacity(count);
    for i in 0..count {
        let sampling = *payload.get(6 + i * 3 + 1).ok_or_else(corrupt)?;
        let (horizontal, vertical) = (sampling >> 4, sampling & 0x0f);
        if !(1..=4).contains(&horizontal) || !(1..=4).contains(&vertical) {
            return Err(PhotoError::Corrupt(format!(
                "sampling factor {horizontal}×{vertical}"
            )));
        }
        components.push(JpegComponent {
            horizontal,
            vertical,
        });
    }
    Ok((width, height, progressive, components))
}

/// True if an end-of-image marker follows the first scan. Entropy-coded data never contains
/// `FF D9` (0xFF is always stuffed), so its absence means the file was cut off. Searched from the
/// end: cameras put the marker last, and data appended after it (motion photos) is fine.
pub(crate) fn jpeg_has_end_marker(bytes: &[u8]) -> bool {
    bytes.windows(2).rev().any(|pair| pair == [0xff, 0xd9])
}

/// Dimensions, bit depth and colour type from a PNG's IHDR chunk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PngHeader {
    pub width: u32,
    pub height: u32,
    pub color_type: u8,
}

pub(crate) fn scan_png(bytes: &[u8]) -> Result<PngHeader, PhotoError> {
    // Signature (8), chunk length (4), "IHDR" (4), then width, height, depth, colour type…
    if bytes.len() < 8 + 8 + 13 {
        return Err(PhotoError::Truncated);
    }
    if &bytes[12..16] != b"IHDR" || be32(bytes, 8) != Some(13) {
        return Err(PhotoError::Corrupt("PNG does not start with IHDR".into()));
    }
    let width = be32(bytes, 16).ok_or(PhotoError::Truncated)?;
    let height = be32(bytes, 20).ok_or(PhotoError::Truncated)?;
    if width == 0 || height == 0 || width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(PhotoError::Corrupt(format!("PNG size {width}×{height}")));
    }
    Ok(PngHeader {
        width,
        height,
        color_type: bytes[25],
    })
}

impl PngHeader {
    /// Channels after the decoder expands palettes and transparency, at most.
    pub(crate) fn expanded_channels(&self) -> u64 {
        match self.color_type {
            0 | 4 => 2, // grey (a tRNS chunk adds alpha), grey + alpha
            _ => 4,     // RGB or palette (+ tRNS), RGBA, anything unknown: assume the worst
        }
    }
}

/// Issue 11: the header checks see every uploaded byte before any decoder does; arbitrary bytes
/// and structured junk (a JPEG or PNG signature followed by random segments) must give an answer,
/// never a panic. Bounded case counts keep this in the normal `cargo test`.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    /// A JPEG made of random marker segments: SOI, then (fill bytes, marker, length, payload)*.
    fn jpeg_junk() -> impl Strategy<Value = Vec<u8>> {
        let segment = (
            0usize..3,
            any::<u8>(),
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 0..64),
        );
        prop::collection::vec(segment, 0..12).prop_map(|segments| {
            let mut bytes = vec![0xff, 0xd8];
            for (fill, marker, length, payload) in segments {
                bytes.extend(std::iter::repeat_n(0xff, fill + 1));
                bytes.push(marker);
                bytes.extend_from_slice(&length.to_be_bytes());
                bytes.extend_from_slice(&payload);
            }
            bytes
        })
    }

    fn png_junk() -> impl Strategy<Value = Vec<u8>> {
        (
            any::<u32>(),
            prop::sample::select(vec![*b"IHDR", *b"IDAT", *b"IEND", *b"zzzz"]),
            prop::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(length, kind, payload)| {
                let mut bytes = PNG_SIGNATURE.to_vec();
                bytes.extend_from_slice(&length.to_be_bytes());
                bytes.extend_from_slice(&kind);
                bytes.extend_from_slice(&payload);
                bytes
            })
    }

    fn check_all(bytes: &[u8]) {
        let _ = sniff(bytes);
        let _ = scan_jpeg(bytes);
        let _ = scan_png(bytes);
        let _ = jpeg_has_end_marker(bytes);
        if let Ok(png) = scan_png(bytes) {
            let _ = png.expanded_channels();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            check_all(&bytes);
        }

        #[test]
        fn jpeg_shaped_junk_never_panics(bytes in jpeg_junk()) {
            check_all(&bytes);
            prop_assert!(sniff(&bytes).is_ok() || bytes.len() < 3);
        }

        #[test]
        fn png_shaped_junk_never_panics(bytes in png_junk()) {
            check_all(&bytes);
        }
    }
}
