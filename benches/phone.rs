//! Micro-benchmark of the per-request number work: parse + validate +
//! format, next to a baseline measured in the same run (rendering a small
//! JSON reply, work every request does anyway), so figures from this noisy
//! 2-core machine are read as ratios. Run: `cargo bench --bench phone`.

use criterion::{criterion_group, criterion_main, Criterion};
use nexmo_proxy::phone::{self, Country};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let de = Country::parse("DE").unwrap_or_else(|e| panic!("{e}"));
    // Warm the library's lazily built metadata outside the measurement.
    let _ = phone::parse("0176 12345678", || [de]);

    let mut g = c.benchmark_group("phone");
    g.bench_function("baseline: render a reply as JSON", |b| {
        b.iter(|| {
            let v = serde_json::json!({"status": "ok", "number": black_box("+49 176 12345678"), "e164": "+4917612345678", "country": "DE", "type": "mobile"});
            black_box(v.to_string())
        })
    });
    g.bench_function("national DE mobile", |b| {
        b.iter(|| phone::parse(black_box("0176 12345678"), || [de]))
    });
    g.bench_function("international GB mobile", |b| {
        b.iter(|| phone::parse(black_box("+44 7400 123456"), || [de]))
    });
    g.bench_function("full-width digits", |b| {
        b.iter(|| phone::parse(black_box("０１７６ １２３４５６７８"), || [de]))
    });
    g.bench_function("invalid: letters", |b| {
        b.iter(|| phone::parse(black_box("0176ABCDEFGH"), || [de]))
    });
    g.bench_function("invalid: 64 characters of noise", |b| {
        let s = "1".repeat(64);
        b.iter(|| phone::parse(black_box(&s), || [de]))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
