//! Small real JPEGs for the demo history, drawn deterministically: a wall of an old residential
//! building with its windows over a paved yard; a BEFORE photo has the problem in it (clutter,
//! a ground lock, debris), AFTER and VERIFICATION photos show the yard cleared. Every picture is
//! unique to its seed, so each case cites its own photos.

use xuncha_core::workflow::PhotoKind;

use super::history::Rng;

/// Width and height of a demo photo (small, so seeding stays quick in a debug build).
pub const WIDTH: u16 = 256;
pub const HEIGHT: u16 = 192;

/// A baseline JPEG of `kind` for the photo numbered `seed`; `wall` tints the building.
pub fn jpeg(
    seed: u64,
    kind: PhotoKind,
    wall: [u8; 3],
) -> Result<Vec<u8>, jpeg_encoder::EncodingError> {
    let (w, h) = (usize::from(WIDTH), usize::from(HEIGHT));
    let mut rng = Rng::new(seed ^ 0x5eed_f070);
    // The photographer stands a little elsewhere each time.
    let horizon = h * 2 / 3 + rng.below(20) as usize;
    let shift = rng.below(40) as usize;
    // Rows come in three patterns (sky, wall with windows, wall between them) plus the yard:
    // each row is drawn once and copied, which keeps unoptimised test builds quick.
    let row_of = |y: usize| -> Vec<u8> {
        let mut row = Vec::with_capacity(w * 3);
        for x in 0..w {
            let c = if y < h / 6 {
                // Sky, lighter towards the horizon.
                let t = (y * 60 / (h / 6)) as u8;
                [150 + t / 2, 180 + t / 3, 225]
            } else if y < horizon {
                let wx = (x + shift) % 48;
                let wy = (y - h / 6) % 40;
                if (12..36).contains(&wx) && (10..30).contains(&wy) {
                    [70, 85, 100] // window
                } else {
                    wall
                }
            } else {
                [128, 126, 120] // paved yard
            };
            row.extend_from_slice(&c);
        }
        row
    };
    let window_row = row_of(h / 6 + 10);
    let wall_row = row_of(h / 6);
    let yard_row = row_of(h - 1);
    let mut px = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        if y < h / 6 {
            px.extend_from_slice(&row_of(y));
        } else if y < horizon {
            let wy = (y - h / 6) % 40;
            px.extend_from_slice(if (10..30).contains(&wy) {
                &window_row
            } else {
                &wall_row
            });
        } else {
            px.extend_from_slice(&yard_row);
        }
    }
    let put = |x: usize, y: usize, c: [u8; 3], px: &mut Vec<u8>| {
        let i = (y * w + x) * 3;
        px[i..i + 3].copy_from_slice(&c);
    };
    match kind {
        PhotoKind::Before => {
            // The problem: a heap of boxes, old furniture and rubbish in the yard.
            for _ in 0..6 + rng.below(6) {
                let bw = 20 + rng.below(60) as usize;
                let bh = 15 + rng.below(45) as usize;
                let x0 = rng.below((w - bw) as u64) as usize;
                let y0 = (horizon.saturating_sub(bh / 2) + rng.below(30) as usize).min(h - bh);
                let tone = [
                    110 + rng.below(80) as u8,
                    70 + rng.below(50) as u8,
                    30 + rng.below(40) as u8,
                ];
                for y in y0..y0 + bh {
                    for x in x0..x0 + bw {
                        put(x, y, tone, &mut px);
                    }
                }
            }
        }
        PhotoKind::After | PhotoKind::Verification => {
            // Cleared: a freshly swept strip and a green bed along the wall.
            let green: Vec<u8> = [70, 140, 70].repeat(w);
            for y in horizon..(horizon + 12).min(h) {
                px[y * w * 3..(y + 1) * w * 3].copy_from_slice(&green);
            }
        }
    }
    // Sensor grain, so the pictures read as photographs and differ from each other: a short
    // table of noise walked with a per-photo stride (drawing every sample is slow unoptimised).
    let grain: Vec<i16> = (0..1021).map(|_| rng.below(17) as i16 - 8).collect();
    let stride = 1 + rng.below(1019) as usize;
    let mut at = 0usize;
    for value in px.iter_mut() {
        at = (at + stride) % grain.len();
        *value = (i16::from(*value) + grain[at]).clamp(0, 255) as u8;
    }
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 80).encode(
        &px,
        WIDTH,
        HEIGHT,
        jpeg_encoder::ColorType::Rgb,
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn photos_are_real_jpegs_unique_to_their_seed_that_the_photo_pipeline_accepts() {
        let a = jpeg(1, PhotoKind::Before, [168, 98, 82]).unwrap();
        assert_eq!(a, jpeg(1, PhotoKind::Before, [168, 98, 82]).unwrap());
        assert_ne!(a, jpeg(2, PhotoKind::Before, [168, 98, 82]).unwrap());
        assert_ne!(a, jpeg(1, PhotoKind::After, [168, 98, 82]).unwrap());
        assert_eq!(&a[..2], &[0xFF, 0xD8]);
        let stored = crate::storage::photo_files::reencode(&a, 40_000_000, 4096).unwrap();
        assert_eq!(
            (stored.width, stored.height),
            (u32::from(WIDTH), u32::from(HEIGHT))
        );
    }
}
