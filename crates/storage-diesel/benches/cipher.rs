//! Micro-benchmarks of secret encryption at rest (not run in CI): `cargo bench -p storage-diesel`.

#![expect(
    clippy::expect_used,
    reason = "test code: a failing check panics with its message, and skips are printed"
)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use domain::ids::AccountId;
use domain::otp::Secret;
use domain::ports::SecretCipher;
use storage_diesel::XChaChaCipher;

fn cipher(c: &mut Criterion) {
    let cipher = XChaChaCipher::new([7; 32]);
    let account = AccountId::from_uuid(uuid::Uuid::now_v7());
    let secret = Secret::from_bytes(b"12345678901234567890".to_vec()).expect("non-empty");
    let sealed = cipher.seal(account, &secret).expect("seal");
    c.bench_function("seal 20-byte secret", |b| {
        b.iter(|| cipher.seal(account, black_box(&secret)))
    });
    c.bench_function("open 20-byte secret", |b| {
        b.iter(|| cipher.open(account, black_box(&sealed)))
    });
}

criterion_group!(benches, cipher);
criterion_main!(benches);
