//! Micro-benchmarks of the OTP engine and the otpauth parser (not run in CI):
//! `cargo bench -p domain`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use domain::otp::{Algorithm, Digits, OtpAuthUri, Period, Secret, hotp, totp};

fn engine(c: &mut Criterion) {
    let secret = b"12345678901234567890";
    let six = Digits::SIX;
    for alg in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
        c.bench_function(&format!("hotp {}", alg.as_str()), |b| {
            b.iter(|| hotp(alg, black_box(secret), black_box(1_234_567), six));
        });
    }
    let period = Period::DEFAULT;
    c.bench_function("totp sha1", |b| {
        b.iter(|| {
            totp(
                Algorithm::Sha1,
                black_box(secret),
                black_box(1_773_835_200),
                period,
                six,
            )
        });
    });
}

fn parsing(c: &mut Criterion) {
    let uri = "otpauth://totp/GitHub:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=GitHub&algorithm=SHA1&digits=6&period=30";
    c.bench_function("otpauth parse", |b| b.iter(|| OtpAuthUri::parse(black_box(uri))));
    c.bench_function("base32 decode (32 chars, lower case, spaced)", |b| {
        b.iter(|| Secret::from_base32(black_box("gezd gnbv gy3t qojq gezd gnbv gy3t qojq")));
    });
}

criterion_group!(benches, engine, parsing);
criterion_main!(benches);
