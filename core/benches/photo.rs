//! Photo pipeline on a 12 MP camera-like JPEG (4000×3000, q92, 4:2:0): in memory
//! (`process_bytes`) and to disk (`process_file`, including the atomic, fsynced store).
//! `XUNCHA_PHOTO_BENCH_INPUT=path.jpg` benches a real file instead of the generated one.
//! Run: `cargo bench -p xuncha-core --bench photo`. Whole-process comparison with libvips:
//! `scripts/bench-photo.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use xuncha_core::photo::{self, PhotoOptions};

#[path = "../tests/support/camera_like.rs"]
mod camera_like;

fn input() -> Vec<u8> {
    if let Ok(path) = std::env::var("XUNCHA_PHOTO_BENCH_INPUT") {
        return std::fs::read(path).expect("read XUNCHA_PHOTO_BENCH_INPUT");
    }
    let (w, h) = (4000, 3000);
    let pixels = camera_like::camera_like(w, h);
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 92);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder
        .encode(&pixels, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

fn pipeline(c: &mut Criterion) {
    let jpeg = input();
    let opts = PhotoOptions::default();
    let mut group = c.benchmark_group("photo_12mp");
    group.sample_size(20);
    group.bench_function("process_bytes", |b| {
        b.iter(|| photo::process_bytes(black_box(&jpeg), &opts).unwrap())
    });
    let dir = tempfile::tempdir().unwrap();
    let input_path = dir.path().join("IN.jpg");
    std::fs::write(&input_path, &jpeg).unwrap();
    group.bench_function("process_file", |b| {
        b.iter_batched(
            || tempfile::tempdir_in(dir.path()).unwrap(),
            |out| photo::process_file(&input_path, out.path(), &opts).unwrap(),
            criterion::BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
