//! Synthetic photo content shared by the photo tests and the photo benchmark.

/// Smooth gradients, a few hard edges and pseudo-random grain: compresses like a photo.
pub fn camera_like(width: u32, height: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_u32;
    let mut pixels = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let grain = (seed % 17) as i32 - 8;
            let edge = if (x / 97 + y / 61) % 2 == 0 { 40 } else { 0 };
            let r = (x * 255 / width) as i32 + edge + grain;
            let g = (y * 255 / height) as i32 + grain;
            let b = ((x + y) * 255 / (width + height)) as i32 - edge + grain;
            pixels.extend([r, g, b].map(|v| v.clamp(0, 255) as u8));
        }
    }
    pixels
}
