//! Decoders behind the size checks: JPEG with DCT-domain downscaling, PNG with hard limits.

use std::io::{Cursor, ErrorKind, Read};

use super::PhotoError;
use super::header::{JpegHeader, PngHeader};
use super::raster::Raster;

/// Bytes of coefficient storage per 8×8 block (64 `i16`).
const COEFFICIENT_BLOCK_BYTES: u64 = 64 * 2;

/// Output pixels per 8×8 block for a DCT-domain decode: 1, 2, 4 (1/8, 1/4, 1/2 scale) or 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DctScale(pub u8);

impl DctScale {
    /// The smallest scale whose output is still at least `target` in some axis; the same rule as
    /// `jpeg_decoder::Decoder::scale`, computed here so memory can be checked before decoding.
    pub(crate) fn choose(width: u32, height: u32, target: (u32, u32)) -> DctScale {
        [1u8, 2, 4]
            .into_iter()
            .find(|&s| scaled_side(width, s) >= target.0 || scaled_side(height, s) >= target.1)
            .map_or(DctScale(8), DctScale)
    }

    pub(crate) fn apply(self, width: u32, height: u32) -> (u32, u32) {
        (scaled_side(width, self.0), scaled_side(height, self.0))
    }
}

fn scaled_side(side: u32, scale: u8) -> u32 {
    (side * u32::from(scale)).div_ceil(8)
}

/// Peak bytes the JPEG decoder needs at `scale`: per-component sample planes, the coefficient
/// store of a progressive image (always full size: scaling happens in the IDCT) and the output.
pub(crate) fn jpeg_decode_bytes(header: &JpegHeader<'_>, scale: DctScale) -> u64 {
    let max_h = header
        .components
        .iter()
        .map(|c| c.horizontal)
        .max()
        .unwrap_or(1);
    let max_v = header
        .components
        .iter()
        .map(|c| c.vertical)
        .max()
        .unwrap_or(1);
    let mcus_x = u64::from(header.width).div_ceil(8 * u64::from(max_h));
    let mcus_y = u64::from(header.height).div_ceil(8 * u64::from(max_v));
    let s = u64::from(scale.0);
    let mut total = 0;
    for c in &header.components {
        let blocks = mcus_x * u64::from(c.horizontal) * mcus_y * u64::from(c.vertical);
        total += blocks * s * s;
        if header.progressive {
            total += blocks * COEFFICIENT_BLOCK_BYTES;
        }
    }
    let (out_w, out_h) = scale.apply(u32::from(header.width), u32::from(header.height));
    total + u64::from(out_w) * u64::from(out_h) * header.components.len() as u64
}

/// A buffered reader for the JPEG decoder, which reads its entropy-coded data one byte at a time
/// through `read_exact`. `std::io::BufReader` has the same fast path, but whether it is inlined
/// into the decoder's byte loop is up to the optimiser: two builds of unchanged decoder code
/// differed by 20 % in decode instructions (callgrind) when it was not. Here the in-buffer case
/// is forced inline, so a 1-byte read is a load and a bounds check.
pub(crate) struct ByteReader<R> {
    inner: R,
    buffer: Box<[u8]>,
    start: usize,
    end: usize,
}

impl<R: Read> ByteReader<R> {
    pub(crate) fn with_capacity(capacity: usize, inner: R) -> Self {
        ByteReader {
            inner,
            buffer: vec![0; capacity.max(1)].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    #[cold]
    fn read_exact_refilling(&mut self, mut out: &mut [u8]) -> std::io::Result<()> {
        while !out.is_empty() {
            if self.start == self.end {
                self.end = loop {
                    match self.inner.read(&mut self.buffer) {
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        other => break other?,
                    }
                };
                self.start = 0;
                if self.end == 0 {
                    return Err(ErrorKind::UnexpectedEof.into());
                }
            }
            let take = out.len().min(self.end - self.start);
            out[..take].copy_from_slice(&self.buffer[self.start..self.start + take]);
            self.start += take;
            out = &mut out[take..];
        }
        Ok(())
    }
}

impl<R: Read> Read for ByteReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.start == self.end {
            return self.inner.read(out);
        }
        let take = out.len().min(self.end - self.start);
        out[..take].copy_from_slice(&self.buffer[self.start..self.start + take]);
        self.start += take;
        Ok(take)
    }

    #[inline(always)]
    fn read_exact(&mut self, out: &mut [u8]) -> std::io::Result<()> {
        match self.buffer.get(self.start..self.start + out.len()) {
            Some(available) if self.start + out.len() <= self.end => {
                out.copy_from_slice(available);
                self.start += out.len();
                Ok(())
            }
            _ => self.read_exact_refilling(out),
        }
    }
}

fn jpeg_error(error: jpeg_decoder::Error) -> PhotoError {
    match error {
        jpeg_decoder::Error::Io(e) if e.kind() == ErrorKind::UnexpectedEof => PhotoError::Truncated,
        jpeg_decoder::Error::Unsupported(feature) => {
            PhotoError::UnsupportedFormat(format!("JPEG {feature:?}"))
        }
        other => PhotoError::Corrupt(other.to_string()),
    }
}

/// Decodes from any reader: a slice, or a buffered file so the camera file is never held whole.
pub(crate) fn decode_jpeg(
    input: impl Read,
    target: (u32, u32),
    max_decode_bytes: u64,
) -> Result<Raster, PhotoError> {
    let mut decoder = jpeg_decoder::Decoder::new(input);
    decoder.set_max_decoding_buffer_size(usize::try_from(max_decode_bytes).unwrap_or(usize::MAX));
    let requested = |side: u32| u16::try_from(side).unwrap_or(u16::MAX);
    let (width, height) = decoder
        .scale(requested(target.0), requested(target.1))
        .map_err(jpeg_error)?;
    let pixels = decoder.decode().map_err(jpeg_error)?;
    let info = decoder
        .info()
        .ok_or_else(|| PhotoError::Corrupt("JPEG without frame".into()))?;
    let (width, height) = (u32::from(width), u32::from(height));
    let (channels, pixels) = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => (1, pixels),
        jpeg_decoder::PixelFormat::RGB24 => (3, pixels),
        jpeg_decoder::PixelFormat::CMYK32 => (3, cmyk_to_rgb(pixels)),
        jpeg_decoder::PixelFormat::L16 => {
            return Err(PhotoError::UnsupportedFormat("16-bit JPEG".into()));
        }
    };
    let expected = width as usize * height as usize * usize::from(channels);
    if pixels.len() != expected {
        return Err(PhotoError::Corrupt(format!(
            "decoder returned {} bytes for {width}×{height}",
            pixels.len()
        )));
    }
    Ok(Raster {
        width,
        height,
        channels,
        pixels,
    })
}

/// jpeg-decoder hands back CMYK with ink amounts (0 = no ink), having already undone Adobe's
/// inverted storage and YCCK; RGB is then the usual subtractive mix. Converted in place.
fn cmyk_to_rgb(mut pixels: Vec<u8>) -> Vec<u8> {
    let count = pixels.len() / 4;
    for i in 0..count {
        let [c, m, y, k] = [0, 1, 2, 3].map(|j| u32::from(pixels[i * 4 + j]));
        let white = 255 - k;
        for (j, ink) in [c, m, y].into_iter().enumerate() {
            pixels[i * 3 + j] = ((255 - ink) * white / 255) as u8;
        }
    }
    pixels.truncate(count * 3);
    pixels
}

/// Peak bytes for a PNG: the expanded 8-bit frame plus its RGB/grey conversion.
pub(crate) fn png_decode_bytes(header: &PngHeader) -> u64 {
    let pixels = u64::from(header.width) * u64::from(header.height);
    pixels * header.expanded_channels() + pixels * 3
}

fn png_error(error: png::DecodingError) -> PhotoError {
    match error {
        png::DecodingError::IoError(e) if e.kind() == ErrorKind::UnexpectedEof => {
            PhotoError::Truncated
        }
        png::DecodingError::LimitsExceeded => {
            PhotoError::Corrupt("PNG needs more memory than its header announced".into())
        }
        other => PhotoError::Corrupt(other.to_string()),
    }
}

/// Decodes a PNG into grey or RGB (transparent pixels over white); also returns its eXIf chunk.
pub(crate) fn decode_png(
    bytes: &[u8],
    max_decode_bytes: u64,
) -> Result<(Raster, Option<Vec<u8>>), PhotoError> {
    let limits = png::Limits {
        bytes: usize::try_from(max_decode_bytes).unwrap_or(usize::MAX),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(png_error)?;
    let exif = reader.info().exif_metadata.as_ref().map(|e| e.to_vec());
    let over_budget = |needed_bytes| PhotoError::OverMemoryBudget {
        needed_bytes,
        budget_bytes: max_decode_bytes,
    };
    let size = reader.output_buffer_size().ok_or(over_budget(u64::MAX))?;
    if size as u64 > max_decode_bytes {
        return Err(over_budget(size as u64));
    }
    let mut buffer = vec![0u8; size];
    let frame = reader.next_frame(&mut buffer).map_err(png_error)?;
    buffer.truncate(frame.buffer_size());
    let (width, height) = (frame.width, frame.height);
    let (channels, pixels) = match frame.color_type {
        png::ColorType::Grayscale => (1, buffer),
        png::ColorType::Rgb => (3, buffer),
        png::ColorType::GrayscaleAlpha => (1, over_white(&buffer, 1)),
        png::ColorType::Rgba => (3, over_white(&buffer, 3)),
        png::ColorType::Indexed => {
            return Err(PhotoError::Corrupt("PNG palette was not expanded".into()));
        }
    };
    if pixels.len() != width as usize * height as usize * usize::from(channels) {
        return Err(PhotoError::Corrupt("PNG frame size mismatch".into()));
    }
    Ok((
        Raster {
            width,
            height,
            channels,
            pixels,
        },
        exif,
    ))
}

/// Drops the alpha channel by compositing over white (JPEG has no transparency).
fn over_white(pixels: &[u8], colour_channels: usize) -> Vec<u8> {
    let stride = colour_channels + 1;
    let mut out = Vec::with_capacity(pixels.len() / stride * colour_channels);
    for pixel in pixels.chunks_exact(stride) {
        let alpha = u32::from(pixel[colour_channels]);
        for &value in &pixel[..colour_channels] {
            let mixed = (u32::from(value) * alpha + 255 * (255 - alpha) + 127) / 255;
            out.push(mixed as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn byte_reader_reads_across_refills_and_reports_eof() {
        let data: Vec<u8> = (0..=255).collect();
        let mut reader = ByteReader::with_capacity(7, data.as_slice());
        let mut byte = [0u8; 1];
        let mut chunk = [0u8; 10];
        let mut seen = Vec::new();
        for i in 0..20 {
            if i % 3 == 0 {
                reader.read_exact(&mut chunk).unwrap();
                seen.extend_from_slice(&chunk);
            } else {
                reader.read_exact(&mut byte).unwrap();
                seen.push(byte[0]);
            }
        }
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        seen.extend(rest);
        assert_eq!(seen, data);
        let error = reader.read_exact(&mut byte).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnexpectedEof);
    }
}
