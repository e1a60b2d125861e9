//! The few EXIF facts the pipeline keeps: orientation (applied to the pixels), capture time and
//! GPS (returned as a cross-check against the device's own fix, never written to the file).
//! Broken EXIF never refuses a photo: the fact is simply missing.

use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use exif::{Field, In, Tag, Value};

use crate::geo::GpsFix;
use crate::time::SHANGHAI;

/// The `provider` of a [`GpsFix`] read from a photo's EXIF.
pub const EXIF_GPS_PROVIDER: &str = "exif";

/// EXIF orientation 1..=8 (TIFF tag 274): how the stored pixels must be turned to be upright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Orientation(pub u8);

impl Orientation {
    pub(crate) const UPRIGHT: Orientation = Orientation(1);

    /// Orientations 5..=8 swap width and height.
    pub(crate) fn swaps_axes(self) -> bool {
        self.0 >= 5
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ExifFacts {
    pub orientation: Option<Orientation>,
    pub capture_time: Option<DateTime<Utc>>,
    pub gps: Option<GpsFix>,
}

/// Parses a TIFF structure (the payload of an `Exif\0\0` APP1 segment or a PNG eXIf chunk).
pub(crate) fn read(tiff: &[u8]) -> ExifFacts {
    let exif = match exif::Reader::new().read_raw(tiff.to_vec()) {
        Ok(exif) => exif,
        Err(error) => {
            tracing::debug!(%error, "ignoring unreadable EXIF");
            return ExifFacts::default();
        }
    };
    let field = |tag: Tag| exif.get_field(tag, In::PRIMARY);
    let orientation = field(Tag::Orientation)
        .and_then(|f| f.value.get_uint(0))
        .and_then(|v| u8::try_from(v).ok())
        .filter(|v| (1..=8).contains(v))
        .map(Orientation);
    let capture_time = field(Tag::DateTimeOriginal).and_then(|time| {
        capture_time(
            time,
            field(Tag::OffsetTimeOriginal),
            field(Tag::SubSecTimeOriginal),
        )
    });
    let gps = gps_fix(&exif);
    ExifFacts {
        orientation,
        capture_time,
        gps,
    }
}

fn ascii(field: &Field) -> Option<&[u8]> {
    match &field.value {
        Value::Ascii(parts) => parts.first().map(Vec::as_slice),
        _ => None,
    }
}

/// DateTimeOriginal with its OffsetTimeOriginal; without an offset the camera's clock is taken
/// to be Beijing time, which is what phones in Tianjin are set to.
fn capture_time(
    time: &Field,
    offset: Option<&Field>,
    subsec: Option<&Field>,
) -> Option<DateTime<Utc>> {
    let mut parsed = exif::DateTime::from_ascii(ascii(time)?).ok()?;
    if let Some(subsec) = subsec.and_then(ascii) {
        // A malformed fraction only loses the fraction.
        let _ = parsed.parse_subsec(subsec);
    }
    if let Some(offset) = offset.and_then(ascii) {
        let _ = parsed.parse_offset(offset);
    }
    let naive = NaiveDate::from_ymd_opt(
        i32::from(parsed.year),
        u32::from(parsed.month),
        u32::from(parsed.day),
    )?
    .and_hms_nano_opt(
        u32::from(parsed.hour),
        u32::from(parsed.minute),
        u32::from(parsed.second),
        parsed.nanosecond.unwrap_or(0),
    )?;
    let local = match parsed.offset {
        Some(minutes) => FixedOffset::east_opt(i32::from(minutes) * 60)?
            .from_local_datetime(&naive)
            .single()?
            .with_timezone(&Utc),
        None => SHANGHAI
            .from_local_datetime(&naive)
            .earliest()?
            .with_timezone(&Utc),
    };
    Some(local)
}

fn degrees(field: &Field) -> Option<f64> {
    let Value::Rational(parts) = &field.value else {
        return None;
    };
    let mut total = 0.0;
    for (part, unit) in parts.iter().zip([1.0, 60.0, 3600.0]) {
        if part.denom == 0 {
            return None;
        }
        total += part.to_f64() / unit;
    }
    (!parts.is_empty()).then_some(total)
}

fn gps_fix(exif: &exif::Exif) -> Option<GpsFix> {
    let field = |tag: Tag| exif.get_field(tag, In::PRIMARY);
    let hemisphere = |tag: Tag| field(tag).and_then(ascii).and_then(|v| v.first().copied());
    let mut lat = degrees(field(Tag::GPSLatitude)?)?;
    let mut lon = degrees(field(Tag::GPSLongitude)?)?;
    match hemisphere(Tag::GPSLatitudeRef)? {
        b'N' | b'n' => {}
        b'S' | b's' => lat = -lat,
        _ => return None,
    }
    match hemisphere(Tag::GPSLongitudeRef)? {
        b'E' | b'e' => {}
        b'W' | b'w' => lon = -lon,
        _ => return None,
    }
    // Some cameras write 0/0 when they had no fix.
    let plausible = lat.is_finite()
        && lon.is_finite()
        && lat.abs() <= 90.0
        && lon.abs() <= 180.0
        && (lat, lon) != (0.0, 0.0);
    if !plausible {
        return None;
    }
    let accuracy_m = field(Tag::GPSHPositioningError).and_then(|f| match &f.value {
        Value::Rational(v) if v.first().is_some_and(|r| r.denom != 0) => {
            v.first().map(|r| r.to_f64())
        }
        _ => None,
    });
    Some(GpsFix {
        lat,
        lon,
        accuracy_m,
        provider: Some(EXIF_GPS_PROVIDER.to_owned()),
    })
}
