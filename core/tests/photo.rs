//! Photo pipeline on real JPEG/PNG files generated here: EXIF orientation, time and GPS, zero
//! metadata left in the output, storage by hash, and a corpus of bad images that must each get
//! their own error (and good-but-unusual ones that must work: CMYK, YCCK, progressive, grey).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use chrono::{TimeZone, Utc};
use jpeg_encoder::{ColorType, Encoder};
use sha2::{Digest, Sha256};
use xuncha_core::photo::{self, PhotoError, PhotoOptions};

// ---------- fixture generation ----------

#[path = "support/camera_like.rs"]
mod camera_like;
use camera_like::camera_like;

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const WHITE: [u8; 3] = [255, 255, 255];

/// Four flat quadrants: top-left red, top-right green, bottom-left blue, bottom-right white.
fn quadrants(width: u32, height: u32) -> Vec<u8> {
    let mut pixels = Vec::new();
    for y in 0..height {
        for x in 0..width {
            let colour = match (x < width / 2, y < height / 2) {
                (true, true) => RED,
                (false, true) => GREEN,
                (true, false) => BLUE,
                (false, false) => WHITE,
            };
            pixels.extend(colour);
        }
    }
    pixels
}

fn jpeg(pixels: &[u8], width: u32, height: u32, colour: ColorType, quality: u8) -> Vec<u8> {
    jpeg_with(pixels, width, height, colour, quality, |_| {})
}

fn jpeg_with(
    pixels: &[u8],
    width: u32,
    height: u32,
    colour: ColorType,
    quality: u8,
    configure: impl FnOnce(&mut Encoder<&mut Vec<u8>>),
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, quality);
    configure(&mut encoder);
    encoder
        .encode(pixels, width as u16, height as u16, colour)
        .unwrap();
    out
}

/// Builds a little-endian TIFF structure as cameras put in APP1: IFD0 (orientation, pointers),
/// the Exif IFD (capture time, offset) and the GPS IFD.
#[derive(Default)]
struct Exif<'a> {
    orientation: Option<u16>,
    date_time_original: Option<&'a str>,
    offset_time_original: Option<&'a str>,
    /// (lat ref, [d, m, s], lon ref, [d, m, s])
    gps: Option<(u8, [f64; 3], u8, [f64; 3])>,
}

struct IfdEntry {
    tag: u16,
    kind: u16,
    count: u32,
    data: Vec<u8>,
}

fn ascii_entry(tag: u16, text: &str) -> IfdEntry {
    let mut data = text.as_bytes().to_vec();
    data.push(0);
    IfdEntry {
        tag,
        kind: 2,
        count: data.len() as u32,
        data,
    }
}

fn rational_entry(tag: u16, values: [f64; 3]) -> IfdEntry {
    let mut data = Vec::new();
    for v in values {
        data.extend(((v * 1000.0).round() as u32).to_le_bytes());
        data.extend(1000u32.to_le_bytes());
    }
    IfdEntry {
        tag,
        kind: 5,
        count: 3,
        data,
    }
}

fn long_entry(tag: u16, value: u32) -> IfdEntry {
    IfdEntry {
        tag,
        kind: 4,
        count: 1,
        data: value.to_le_bytes().to_vec(),
    }
}

/// Serialises one IFD at `offset` (from the TIFF start); values over 4 bytes follow it.
fn write_ifd(entries: &[IfdEntry], offset: u32) -> Vec<u8> {
    let table_len = 2 + entries.len() as u32 * 12 + 4;
    let mut table = (entries.len() as u16).to_le_bytes().to_vec();
    let mut extra = Vec::new();
    for e in entries {
        table.extend(e.tag.to_le_bytes());
        table.extend(e.kind.to_le_bytes());
        table.extend(e.count.to_le_bytes());
        if e.data.len() <= 4 {
            let mut inline = e.data.clone();
            inline.resize(4, 0);
            table.extend(inline);
        } else {
            table.extend((offset + table_len + extra.len() as u32).to_le_bytes());
            extra.extend(&e.data);
            if extra.len() % 2 == 1 {
                extra.push(0);
            }
        }
    }
    table.extend(0u32.to_le_bytes()); // no next IFD
    table.extend(extra);
    table
}

impl Exif<'_> {
    fn ifd_len(entries: &[IfdEntry]) -> u32 {
        write_ifd(entries, 0).len() as u32
    }

    fn tiff(&self) -> Vec<u8> {
        let mut exif_ifd = Vec::new();
        if let Some(t) = self.date_time_original {
            exif_ifd.push(ascii_entry(0x9003, t));
        }
        if let Some(o) = self.offset_time_original {
            exif_ifd.push(ascii_entry(0x9011, o));
        }
        let mut gps_ifd = Vec::new();
        if let Some((lat_ref, lat, lon_ref, lon)) = self.gps {
            gps_ifd.push(ascii_entry(1, std::str::from_utf8(&[lat_ref]).unwrap()));
            gps_ifd.push(rational_entry(2, lat));
            gps_ifd.push(ascii_entry(3, std::str::from_utf8(&[lon_ref]).unwrap()));
            gps_ifd.push(rational_entry(4, lon));
        }
        // IFD0 layout is fixed first so the pointers to the sub-IFDs can be computed.
        let mut ifd0 = Vec::new();
        if let Some(o) = self.orientation {
            ifd0.push(IfdEntry {
                tag: 0x0112,
                kind: 3,
                count: 1,
                data: o.to_le_bytes().to_vec(),
            });
        }
        let with_exif = !exif_ifd.is_empty();
        let with_gps = !gps_ifd.is_empty();
        if with_exif {
            ifd0.push(long_entry(0x8769, 0));
        }
        if with_gps {
            ifd0.push(long_entry(0x8825, 0));
        }
        let ifd0_offset = 8;
        let exif_offset = ifd0_offset + Self::ifd_len(&ifd0);
        let gps_offset = exif_offset
            + if with_exif {
                Self::ifd_len(&exif_ifd)
            } else {
                0
            };
        for e in &mut ifd0 {
            match e.tag {
                0x8769 => e.data = exif_offset.to_le_bytes().to_vec(),
                0x8825 => e.data = gps_offset.to_le_bytes().to_vec(),
                _ => {}
            }
        }
        let mut tiff = b"II*\0".to_vec();
        tiff.extend(ifd0_offset.to_le_bytes());
        tiff.extend(write_ifd(&ifd0, ifd0_offset));
        if with_exif {
            tiff.extend(write_ifd(&exif_ifd, exif_offset));
        }
        if with_gps {
            tiff.extend(write_ifd(&gps_ifd, gps_offset));
        }
        tiff
    }
}

/// Inserts a marker segment right after SOI.
fn insert_segment(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend([0xff, marker]);
    out.extend(((payload.len() + 2) as u16).to_be_bytes());
    out.extend(payload);
    out.extend(&jpeg[2..]);
    out
}

fn with_exif(jpeg: &[u8], exif: &Exif<'_>) -> Vec<u8> {
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend(exif.tiff());
    insert_segment(jpeg, 0xe1, &payload)
}

/// Marker codes of all segments before the first scan, then SOS and whether EOI ends the file.
/// Written independently of the library's own scanner.
fn segment_markers(jpeg: &[u8]) -> Vec<u8> {
    assert_eq!(&jpeg[..2], &[0xff, 0xd8], "output starts with SOI");
    let mut markers = vec![0xd8];
    let mut at = 2;
    loop {
        assert_eq!(jpeg[at], 0xff, "marker expected at {at}");
        let marker = jpeg[at + 1];
        markers.push(marker);
        if marker == 0xda {
            break;
        }
        let length = u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]) as usize;
        at += 2 + length;
    }
    assert_eq!(
        &jpeg[jpeg.len() - 2..],
        &[0xff, 0xd9],
        "output ends with EOI"
    );
    markers
}

/// The output carries nothing but image data: SOI, one JFIF APP0, tables, one frame, scan, EOI.
fn assert_no_metadata(jpeg: &[u8]) {
    for marker in segment_markers(jpeg) {
        assert!(
            matches!(marker, 0xd8 | 0xe0 | 0xdb | 0xc4 | 0xc0 | 0xda | 0xdd),
            "unexpected segment 0xFF{marker:02X} in output"
        );
    }
    for needle in [
        b"Exif".as_slice(),
        b"ICC_PROFILE",
        b"http://ns.adobe.com",
        b"Adobe",
        b"secret comment",
    ] {
        assert!(
            !jpeg.windows(needle.len()).any(|w| w == needle),
            "output contains {:?}",
            String::from_utf8_lossy(needle)
        );
    }
}

struct Decoded {
    width: u32,
    height: u32,
    channels: usize,
    pixels: Vec<u8>,
}

fn decode(jpeg: &[u8]) -> Decoded {
    let mut decoder = jpeg_decoder::Decoder::new(jpeg);
    let pixels = decoder.decode().unwrap();
    let info = decoder.info().unwrap();
    Decoded {
        width: u32::from(info.width),
        height: u32::from(info.height),
        channels: info.pixel_format.pixel_bytes(),
        pixels,
    }
}

impl Decoded {
    fn pixel(&self, x: u32, y: u32) -> &[u8] {
        let at = (y * self.width + x) as usize * self.channels;
        &self.pixels[at..at + self.channels]
    }

    /// Colour at the centre of a quadrant (0 = left/top, 1 = right/bottom).
    fn quadrant(&self, qx: u32, qy: u32) -> &[u8] {
        self.pixel(
            self.width / 4 + qx * self.width / 2,
            self.height / 4 + qy * self.height / 2,
        )
    }
}

fn assert_close(actual: &[u8], expected: [u8; 3], what: &str) {
    let near = actual
        .iter()
        .zip(expected)
        .all(|(&a, e)| (i32::from(a) - i32::from(e)).abs() <= 12);
    assert!(near, "{what}: got {actual:?}, expected about {expected:?}");
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(files_under(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

// ---------- the main path ----------

#[test]
fn camera_photo_is_downscaled_stripped_hashed_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (2400, 1800);
    let plain = jpeg(&camera_like(w, h), w, h, ColorType::Rgb, 92);
    let exif = Exif {
        orientation: Some(1),
        date_time_original: Some("2026:11:27 09:30:15"),
        offset_time_original: Some("+08:00"),
        gps: Some((b'N', [39.0, 6.0, 48.6], b'E', [117.0, 11.0, 34.8])),
    };
    let mut input = with_exif(&plain, &exif);
    input = insert_segment(&input, 0xfe, b"secret comment");
    input = insert_segment(&input, 0xe2, b"ICC_PROFILE\0\x01\x01fake-profile");
    input = insert_segment(&input, 0xe1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>");
    let in_path = dir.path().join("IMG_0001.jpg");
    std::fs::write(&in_path, &input).unwrap();
    let out_dir = dir.path().join("photos");

    let stored = photo::process_file(&in_path, &out_dir, &PhotoOptions::default()).unwrap();

    assert_eq!((stored.width, stored.height), (1600, 1200));
    let bytes = std::fs::read(&stored.path).unwrap();
    assert_eq!(bytes.len() as u64, stored.bytes);
    assert_eq!(hex::encode(Sha256::digest(&bytes)), stored.sha256);
    assert_eq!(stored.sha256.len(), 64);
    assert_eq!(
        stored.path,
        out_dir
            .join(&stored.sha256[..2])
            .join(format!("{}.jpg", stored.sha256))
    );
    assert_eq!(
        stored.thumbnail_path,
        out_dir
            .join(&stored.sha256[..2])
            .join(format!("{}_thumb.jpg", stored.sha256))
    );
    assert!(
        bytes.len() < input.len() / 2,
        "re-encoded photo is much smaller"
    );
    assert_no_metadata(&bytes);
    let decoded = decode(&bytes);
    assert_eq!(
        (decoded.width, decoded.height, decoded.channels),
        (1600, 1200, 3)
    );

    let thumbnail = std::fs::read(&stored.thumbnail_path).unwrap();
    assert_no_metadata(&thumbnail);
    let thumb = decode(&thumbnail);
    assert_eq!((thumb.width, thumb.height), (320, 240));

    assert_eq!(
        stored.exif_time,
        Some(Utc.with_ymd_and_hms(2026, 11, 27, 1, 30, 15).unwrap())
    );
    let gps = stored.exif_gps.expect("EXIF GPS read");
    assert!((gps.lat - 39.1135).abs() < 1e-6, "lat {}", gps.lat);
    assert!((gps.lon - 117.193).abs() < 1e-6, "lon {}", gps.lon);
    assert_eq!(gps.provider.as_deref(), Some(photo::EXIF_GPS_PROVIDER));
    // Nothing else was written: exactly the photo and its thumbnail, no temporary files.
    let mut files = files_under(&out_dir);
    files.sort();
    let mut expected = vec![stored.path.clone(), stored.thumbnail_path.clone()];
    expected.sort();
    assert_eq!(files, expected);
    // The input is untouched.
    assert_eq!(std::fs::read(&in_path).unwrap(), input);
}

#[test]
fn scaled_decode_stays_close_to_a_full_resolution_reference() {
    use fast_image_resize::{
        FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer, images::Image,
    };
    let (w, h) = (2048, 1536); // decodes at 1/2 for a 1000 px target
    let input = jpeg(&camera_like(w, h), w, h, ColorType::Rgb, 95);
    let opts = PhotoOptions {
        max_long_edge: 1000,
        quality: 95,
        ..PhotoOptions::default()
    };
    let ours = decode(&photo::process_bytes(&input, &opts).unwrap().jpeg);
    assert_eq!((ours.width, ours.height), (1000, 750));

    let full = decode(&input);
    let source = Image::from_vec_u8(w, h, full.pixels, PixelType::U8x3).unwrap();
    let mut reference = Image::new(1000, 750, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(&source, &mut reference, &options)
        .unwrap();

    let squared: f64 = ours
        .pixels
        .iter()
        .zip(reference.buffer())
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum();
    let mse = squared / ours.pixels.len() as f64;
    let psnr = 10.0 * (255.0f64 * 255.0 / mse).log10();
    assert!(
        psnr > 30.0,
        "PSNR against full decode + Lanczos-3 was {psnr:.2} dB"
    );
}

#[test]
fn all_eight_exif_orientations_are_applied() {
    let (w, h) = (64, 48);
    let stored = jpeg(&quadrants(w, h), w, h, ColorType::Rgb, 95);
    // Expected upright quadrants [top-left, top-right, bottom-left, bottom-right] for the
    // stored quadrants red/green/blue/white, per TIFF 6.0 orientation semantics.
    let cases: [(u16, [[u8; 3]; 4]); 8] = [
        (1, [RED, GREEN, BLUE, WHITE]),
        (2, [GREEN, RED, WHITE, BLUE]),
        (3, [WHITE, BLUE, GREEN, RED]),
        (4, [BLUE, WHITE, RED, GREEN]),
        (5, [RED, BLUE, GREEN, WHITE]),
        (6, [BLUE, RED, WHITE, GREEN]),
        (7, [WHITE, GREEN, BLUE, RED]),
        (8, [GREEN, WHITE, RED, BLUE]),
    ];
    for (orientation, expected) in cases {
        let input = with_exif(
            &stored,
            &Exif {
                orientation: Some(orientation),
                ..Exif::default()
            },
        );
        let out = photo::process_bytes(&input, &PhotoOptions::default()).unwrap();
        let swapped = orientation >= 5;
        let (ew, eh) = if swapped { (h, w) } else { (w, h) };
        assert_eq!(
            (out.width, out.height),
            (ew, eh),
            "orientation {orientation}"
        );
        assert_no_metadata(&out.jpeg);
        let upright = decode(&out.jpeg);
        assert_eq!((upright.width, upright.height), (ew, eh));
        for (i, colour) in expected.into_iter().enumerate() {
            let (qx, qy) = (i as u32 % 2, i as u32 / 2);
            assert_close(
                upright.quadrant(qx, qy),
                colour,
                &format!("orientation {orientation} quadrant {i}"),
            );
        }
    }
}

#[test]
fn portrait_photo_with_orientation_six_gets_a_portrait_long_edge() {
    let (w, h) = (2000, 1500);
    let input = with_exif(
        &jpeg(&camera_like(w, h), w, h, ColorType::Rgb, 90),
        &Exif {
            orientation: Some(6),
            ..Exif::default()
        },
    );
    let out = photo::process_bytes(&input, &PhotoOptions::default()).unwrap();
    assert_eq!((out.width, out.height), (1200, 1600));
    assert_eq!((out.thumb_width, out.thumb_height), (240, 320));
    let thumb = decode(&out.thumbnail);
    assert_eq!((thumb.width, thumb.height), (240, 320));
}

#[test]
fn capture_time_without_offset_is_read_as_beijing_time() {
    let base = jpeg(&quadrants(32, 32), 32, 32, ColorType::Rgb, 90);
    let local = with_exif(
        &base,
        &Exif {
            date_time_original: Some("2026:07:01 08:00:00"),
            ..Exif::default()
        },
    );
    let out = photo::process_bytes(&local, &PhotoOptions::default()).unwrap();
    assert_eq!(
        out.exif_time,
        Some(Utc.with_ymd_and_hms(2026, 7, 1, 0, 0, 0).unwrap())
    );
    let abroad = with_exif(
        &base,
        &Exif {
            date_time_original: Some("2026:07:01 08:00:00"),
            offset_time_original: Some("-05:00"),
            ..Exif::default()
        },
    );
    let out = photo::process_bytes(&abroad, &PhotoOptions::default()).unwrap();
    assert_eq!(
        out.exif_time,
        Some(Utc.with_ymd_and_hms(2026, 7, 1, 13, 0, 0).unwrap())
    );
    let none = photo::process_bytes(&base, &PhotoOptions::default()).unwrap();
    assert_eq!((none.exif_time, none.exif_gps), (None, None));
}

#[test]
fn gps_hemispheres_and_empty_fixes() {
    let base = jpeg(&quadrants(32, 32), 32, 32, ColorType::Rgb, 90);
    let south_west = with_exif(
        &base,
        &Exif {
            gps: Some((b'S', [33.0, 52.0, 0.0], b'W', [151.0, 12.0, 36.0])),
            ..Exif::default()
        },
    );
    let gps = photo::process_bytes(&south_west, &PhotoOptions::default())
        .unwrap()
        .exif_gps
        .unwrap();
    assert!((gps.lat + 33.866_666).abs() < 1e-5, "lat {}", gps.lat);
    assert!((gps.lon + 151.21).abs() < 1e-5, "lon {}", gps.lon);
    let zero = with_exif(
        &base,
        &Exif {
            gps: Some((b'N', [0.0; 3], b'E', [0.0; 3])),
            ..Exif::default()
        },
    );
    let out = photo::process_bytes(&zero, &PhotoOptions::default()).unwrap();
    assert_eq!(out.exif_gps, None, "0/0 means the camera had no fix");
}

#[test]
fn broken_exif_does_not_refuse_the_photo() {
    let base = jpeg(&quadrants(32, 32), 32, 32, ColorType::Rgb, 90);
    let input = insert_segment(&base, 0xe1, b"Exif\0\0II*\0\xff\xff\xff\x7fgarbage");
    let out = photo::process_bytes(&input, &PhotoOptions::default()).unwrap();
    assert_eq!((out.width, out.height, out.exif_time), (32, 32, None));
    assert_no_metadata(&out.jpeg);
}

// ---------- unusual but valid inputs ----------

#[test]
fn progressive_jpeg_works() {
    let (w, h) = (1800, 1200);
    let input = jpeg_with(&camera_like(w, h), w, h, ColorType::Rgb, 90, |e| {
        e.set_progressive(true)
    });
    assert!(
        input.windows(2).any(|m| m == [0xff, 0xc2]),
        "fixture is progressive"
    );
    let out = photo::process_bytes(&input, &PhotoOptions::default()).unwrap();
    assert_eq!((out.width, out.height), (1600, 1067));
    assert_no_metadata(&out.jpeg);
    // The output is baseline (SOF0), which every viewer shows.
    assert!(segment_markers(&out.jpeg).contains(&0xc0));
}

#[test]
fn cmyk_and_ycck_jpegs_come_out_as_the_right_rgb() {
    let (w, h) = (64, 48);
    // Ink amounts (0 = none): red = M+Y, green = C+Y, blue = C+M, white = nothing.
    let mut inks = Vec::new();
    for pixel in quadrants(w, h).chunks(3) {
        let ink = pixel.iter().map(|&c| 255 - c);
        inks.extend(ink);
        inks.push(0); // no black
    }
    // jpeg-encoder stores both the Adobe way (inverted, with an APP14 "Adobe" segment), as
    // libjpeg does; a libvips-written CMYK JPEG of pure red came out as (254, 17, 11) here too.
    let cmyk = jpeg(&inks, w, h, ColorType::Cmyk, 95);
    let ycck = jpeg(&inks, w, h, ColorType::CmykAsYcck, 95);
    for (name, input) in [("CMYK", cmyk), ("YCCK", ycck)] {
        assert!(
            input.windows(5).any(|m| m == b"Adobe"),
            "{name} fixture has the Adobe segment"
        );
        let out = photo::process_bytes(&input, &PhotoOptions::default()).unwrap();
        assert_no_metadata(&out.jpeg);
        let rgb = decode(&out.jpeg);
        assert_eq!(rgb.channels, 3, "{name} becomes RGB");
        for (i, colour) in [RED, GREEN, BLUE, WHITE].into_iter().enumerate() {
            assert_close(
                rgb.quadrant(i as u32 % 2, i as u32 / 2),
                colour,
                &format!("{name} quadrant {i}"),
            );
        }
    }
}

#[test]
fn greyscale_jpeg_stays_greyscale() {
    let (w, h) = (2000, 1000);
    let grey: Vec<u8> = camera_like(w, h).chunks(3).map(|p| p[1]).collect();
    let input = jpeg(&grey, w, h, ColorType::Luma, 90);
    let out = photo::process_bytes(&input, &PhotoOptions::default()).unwrap();
    let decoded = decode(&out.jpeg);
    assert_eq!(
        (decoded.width, decoded.height, decoded.channels),
        (1600, 800, 1)
    );
    assert_no_metadata(&out.jpeg);
}

fn png_bytes(width: u32, height: u32, colour: png::ColorType, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(colour);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(pixels).unwrap();
    writer.finish().unwrap();
    out
}

#[test]
fn png_is_accepted_and_transparency_goes_white() {
    let (w, h) = (40, 40);
    let mut rgba = Vec::new();
    for pixel in quadrants(w, h).chunks(3) {
        rgba.extend(pixel);
        // The red quadrant is fully transparent.
        rgba.push(if pixel == RED { 0 } else { 255 });
    }
    let input = png_bytes(w, h, png::ColorType::Rgba, &rgba);
    let out = photo::process_bytes(&input, &PhotoOptions::default()).unwrap();
    assert_no_metadata(&out.jpeg);
    let decoded = decode(&out.jpeg);
    assert_close(decoded.quadrant(0, 0), WHITE, "transparent red");
    assert_close(decoded.quadrant(1, 0), GREEN, "opaque green");
}

#[test]
fn small_photos_are_not_enlarged_and_reprocessing_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("small.jpg");
    std::fs::write(
        &input,
        jpeg(&camera_like(300, 200), 300, 200, ColorType::Rgb, 90),
    )
    .unwrap();
    let out_dir = dir.path().join("photos");
    let first = photo::process_file(&input, &out_dir, &PhotoOptions::default()).unwrap();
    assert_eq!((first.width, first.height), (300, 200));
    let again = photo::process_file(&input, &out_dir, &PhotoOptions::default()).unwrap();
    assert_eq!(first, again);
    assert_eq!(files_under(&out_dir).len(), 2);
}

#[test]
fn stale_temporary_files_from_a_crash_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.jpg");
    std::fs::write(&input, jpeg(&quadrants(32, 32), 32, 32, ColorType::Rgb, 90)).unwrap();
    let stored = photo::process_file(&input, dir.path(), &PhotoOptions::default()).unwrap();
    let shard = stored.path.parent().unwrap();
    // What a crash between write and rename leaves behind.
    std::fs::write(
        shard.join(format!(".{}.jpg.0193abcd.tmp", stored.sha256)),
        b"half",
    )
    .unwrap();
    assert_eq!(photo::remove_stale_temp_files(dir.path()).unwrap(), 1);
    let mut left = files_under(dir.path());
    left.retain(|p| p != &input);
    assert_eq!(left.len(), 2, "photo and thumbnail survive: {left:?}");
    assert_eq!(
        photo::remove_stale_temp_files(&dir.path().join("missing")).unwrap(),
        0
    );
}

// ---------- the bad-image corpus ----------

/// Runs `bytes` through `process_file` with a `.jpg` name and returns the error code; checks
/// that nothing at all was stored.
fn refused(bytes: &[u8], opts: &PhotoOptions) -> &'static str {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("IMG_bad.jpg");
    std::fs::write(&input, bytes).unwrap();
    let out_dir = dir.path().join("photos");
    let error = photo::process_file(&input, &out_dir, opts).unwrap_err();
    assert!(files_under(&out_dir).is_empty(), "{error}: nothing stored");
    error.code()
}

fn small_jpeg() -> Vec<u8> {
    let (w, h) = (320, 240);
    jpeg(&camera_like(w, h), w, h, ColorType::Rgb, 90)
}

#[test]
fn empty_file_is_refused() {
    assert_eq!(refused(b"", &PhotoOptions::default()), "PHOTO_EMPTY");
}

#[test]
fn text_renamed_jpg_is_not_an_image() {
    let text = "巡查记录：长春里 3 号楼楼道堆物\n".repeat(20);
    assert_eq!(
        refused(text.as_bytes(), &PhotoOptions::default()),
        "PHOTO_NOT_AN_IMAGE"
    );
}

#[test]
fn other_image_formats_are_named() {
    let mut heic = vec![0, 0, 0, 24];
    heic.extend(b"ftypheic\0\0\0\0mif1heic");
    let error = photo::process_bytes(&heic, &PhotoOptions::default()).unwrap_err();
    assert_eq!(error.code(), "PHOTO_UNSUPPORTED_FORMAT");
    assert!(error.to_string().contains("HEIC"), "{error}");
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
    assert_eq!(
        refused(gif, &PhotoOptions::default()),
        "PHOTO_UNSUPPORTED_FORMAT"
    );
}

#[test]
fn truncated_jpegs_are_refused_as_truncated() {
    let full = small_jpeg();
    for cut in [1, 3, 20, full.len() / 2, full.len() - 2] {
        assert_eq!(
            refused(&full[..cut], &PhotoOptions::default()),
            "PHOTO_TRUNCATED",
            "cut at {cut} of {}",
            full.len()
        );
    }
}

#[test]
fn truncated_png_is_refused_as_truncated() {
    let png = png_bytes(64, 64, png::ColorType::Rgb, &quadrants(64, 64));
    for cut in [5, 30, png.len() / 2] {
        assert_eq!(
            refused(&png[..cut], &PhotoOptions::default()),
            "PHOTO_TRUNCATED",
            "cut at {cut}"
        );
    }
}

/// Position of the frame header's height field in a JPEG from jpeg-encoder.
fn sof_size_offset(jpeg: &[u8]) -> usize {
    let sof = jpeg
        .windows(2)
        .position(|m| m == [0xff, 0xc0] || m == [0xff, 0xc2])
        .unwrap();
    sof + 5
}

#[test]
fn sixty_thousand_square_header_is_refused_before_decoding() {
    let mut jpeg = small_jpeg();
    let at = sof_size_offset(&jpeg);
    jpeg[at..at + 2].copy_from_slice(&60000u16.to_be_bytes());
    jpeg[at + 2..at + 4].copy_from_slice(&60000u16.to_be_bytes());
    let error = photo::process_bytes(&jpeg, &PhotoOptions::default()).unwrap_err();
    assert!(
        matches!(
            error,
            PhotoError::TooManyPixels {
                width: 60000,
                height: 60000,
                max_pixels: 100_000_000
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        refused(&jpeg, &PhotoOptions::default()),
        "PHOTO_TOO_MANY_PIXELS"
    );
}

#[test]
fn progressive_jpeg_over_the_memory_budget_is_refused_before_decoding() {
    // 8000×8000 progressive needs its full coefficient store (~190 MB) even when scaled.
    let mut jpeg = jpeg_with(&camera_like(64, 64), 64, 64, ColorType::Rgb, 90, |e| {
        e.set_progressive(true)
    });
    let at = sof_size_offset(&jpeg);
    jpeg[at..at + 2].copy_from_slice(&8000u16.to_be_bytes());
    jpeg[at + 2..at + 4].copy_from_slice(&8000u16.to_be_bytes());
    let opts = PhotoOptions {
        max_decode_bytes: 64 * 1024 * 1024,
        ..PhotoOptions::default()
    };
    assert_eq!(refused(&jpeg, &opts), "PHOTO_OVER_MEMORY_BUDGET");
}

#[test]
fn png_header_declaring_sixty_thousand_square_is_refused() {
    let mut png = png_bytes(16, 16, png::ColorType::Rgb, &quadrants(16, 16));
    png[16..20].copy_from_slice(&60000u32.to_be_bytes());
    png[20..24].copy_from_slice(&60000u32.to_be_bytes());
    assert_eq!(
        refused(&png, &PhotoOptions::default()),
        "PHOTO_TOO_MANY_PIXELS"
    );
}

#[test]
fn png_decompression_bomb_is_refused_before_inflating() {
    // 10000×10000 black RGBA: 400 MB of pixels in well under a megabyte of file.
    let (w, h) = (10_000u32, 10_000u32);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.png");
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut encoder = png::Encoder::new(file, w, h);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fastest);
        let mut writer = encoder
            .write_header()
            .unwrap()
            .into_stream_writer()
            .unwrap();
        let row = vec![0u8; w as usize * 4];
        for _ in 0..h {
            std::io::Write::write_all(&mut writer, &row).unwrap();
        }
        writer.finish().unwrap();
    }
    let bomb = std::fs::read(&path).unwrap();
    assert!(bomb.len() < 2 * 1024 * 1024, "bomb is {} bytes", bomb.len());
    assert_eq!(
        refused(&bomb, &PhotoOptions::default()),
        "PHOTO_OVER_MEMORY_BUDGET"
    );
}

#[test]
fn corrupt_jpeg_structures_are_refused_as_corrupt() {
    let good = small_jpeg();
    // Frame header claiming two colour components.
    let mut two_components = good.clone();
    let at = sof_size_offset(&two_components) + 4;
    two_components[at] = 2;
    assert_eq!(
        refused(&two_components, &PhotoOptions::default()),
        "PHOTO_UNSUPPORTED_FORMAT"
    );
    // A segment length pointing into the middle of nowhere.
    let mut bad_length = good.clone();
    bad_length[4..6].copy_from_slice(&1u16.to_be_bytes());
    assert_eq!(
        refused(&bad_length, &PhotoOptions::default()),
        "PHOTO_CORRUPT"
    );
    // Huffman tables overwritten with garbage.
    let mut bad_tables = good.clone();
    let dht = bad_tables
        .windows(2)
        .position(|m| m == [0xff, 0xc4])
        .unwrap();
    for (i, byte) in bad_tables[dht + 5..dht + 21].iter_mut().enumerate() {
        *byte = 0xf0 ^ i as u8;
    }
    assert_eq!(
        refused(&bad_tables, &PhotoOptions::default()),
        "PHOTO_CORRUPT"
    );
    // Scan before any frame header.
    let sos_only = [0xff, 0xd8, 0xff, 0xda, 0x00, 0x02, 0xff, 0xd9];
    assert_eq!(
        refused(&sos_only, &PhotoOptions::default()),
        "PHOTO_CORRUPT"
    );
}

#[test]
fn corrupt_png_is_refused_as_corrupt() {
    let mut png = png_bytes(32, 32, png::ColorType::Rgb, &quadrants(32, 32));
    let idat = png.windows(4).position(|m| m == b"IDAT").unwrap();
    for byte in &mut png[idat + 4..idat + 20] {
        *byte ^= 0x5a;
    }
    assert_eq!(refused(&png, &PhotoOptions::default()), "PHOTO_CORRUPT");
}

#[test]
fn random_garbage_after_a_jpeg_header_never_panics() {
    // Keep the real header, replace the compressed data with noise: any error is fine, a panic
    // or an abort is not.
    let good = small_jpeg();
    let sos = good.windows(2).position(|m| m == [0xff, 0xda]).unwrap();
    let mut seed = 7u32;
    for round in 0..20 {
        let mut bytes = good[..sos + 14].to_vec();
        for _ in 0..(2000 + round * 500) {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            bytes.push((seed >> 24) as u8);
        }
        bytes.extend([0xff, 0xd9]);
        if let Err(error) = photo::process_bytes(&bytes, &PhotoOptions::default()) {
            assert!(
                matches!(
                    error.code(),
                    "PHOTO_CORRUPT" | "PHOTO_TRUNCATED" | "PHOTO_DECODER_PANIC"
                ),
                "{error:?}"
            );
        }
    }
}

#[test]
fn oversized_file_and_bad_options_have_their_own_errors() {
    let opts = PhotoOptions {
        max_input_bytes: 100,
        ..PhotoOptions::default()
    };
    assert_eq!(refused(&small_jpeg(), &opts), "PHOTO_FILE_TOO_LARGE");
    let bad = PhotoOptions {
        quality: 0,
        ..PhotoOptions::default()
    };
    assert_eq!(refused(&small_jpeg(), &bad), "PHOTO_INVALID_OPTIONS");
    let missing = photo::process_file(
        Path::new("/nonexistent/IMG.jpg"),
        Path::new("/tmp"),
        &PhotoOptions::default(),
    )
    .unwrap_err();
    assert_eq!(missing.code(), "PHOTO_IO");
}

/// process_file reads a JPEG's header in growing chunks and searches for EOI from the end in
/// chunks: Exif behind 180 KB of other segments and 200 KB appended after EOI (as motion photos
/// do) must give exactly what process_bytes gives, and a cut scan must still be refused.
#[test]
fn large_headers_and_trailing_data_are_read_from_files_in_chunks() {
    let plain = jpeg(&camera_like(320, 200), 320, 200, ColorType::Rgb, 90);
    let exif = Exif {
        orientation: Some(6),
        ..Default::default()
    };
    let mut big = with_exif(&plain, &exif);
    for fill in [1u8, 2, 3] {
        big = insert_segment(&big, 0xe2, &vec![fill; 60_000]);
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big_header.jpg");
    let mut with_trailer = big.clone();
    with_trailer.extend(vec![0u8; 200_000]);
    std::fs::write(&input, &with_trailer).unwrap();
    let out_dir = dir.path().join("photos");
    let stored = photo::process_file(&input, &out_dir, &PhotoOptions::default()).unwrap();
    let in_memory = photo::process_bytes(&with_trailer, &PhotoOptions::default()).unwrap();
    assert_eq!(
        (stored.width, stored.height),
        (200, 320),
        "EXIF orientation 6 was read"
    );
    assert_eq!(stored.sha256, in_memory.sha256);

    let cut_input = dir.path().join("cut.jpg");
    std::fs::write(&cut_input, &big[..big.len() - 200]).unwrap();
    let cut_out = dir.path().join("cut_out");
    let error = photo::process_file(&cut_input, &cut_out, &PhotoOptions::default()).unwrap_err();
    assert_eq!(error.code(), "PHOTO_TRUNCATED");
    assert!(!cut_out.exists() || files_under(&cut_out).is_empty());
}
