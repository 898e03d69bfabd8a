//! Micro-benchmarks of the per-registration cryptography:
//! normalise + pseudonymise one identity, seal and open one field, wrap and unwrap
//! one data key. Run: `cargo bench --bench crypto`.

use criterion::{Criterion, criterion_group, criterion_main};
use registry::crypto::keyfile::KeyFile;
use registry::crypto::{Aad, DataKey, Keyring, Secret32};
use registry::identity::subject::{IdentityInput, lookups, validate};

fn identity() -> IdentityInput {
    IdentityInput {
        personal_number: Some("1234567890".into()),
        first_name: "Драган".into(),
        last_name: "Đorđević-Marković".into(),
        birth_date: "1988-03-14".into(),
        sex: "1".into(),
    }
}

fn benches(c: &mut Criterion) {
    let file = KeyFile::generate().expect("keys");
    let keyring = Keyring::from_file(&file);
    let input = identity();
    c.bench_function("normalise + pseudonymise one identity (2 HMACs)", |b| {
        b.iter(|| {
            let normalised =
                validate(&input, time::macros::date!(2026 - 11 - 24), "").expect("valid");
            std::hint::black_box(lookups(&keyring, &normalised));
        })
    });

    let key = DataKey::generate(1).expect("data key");
    let aad = Aad {
        table: "episode",
        column: "hiv_testing",
        record_id: "7f1c2a8e-0000-4000-8000-000000000001",
    };
    let value = b"2.2";
    c.bench_function("seal one field", |b| {
        b.iter(|| std::hint::black_box(key.seal(&aad, value).expect("sealed")))
    });
    let blob = key.seal(&aad, value).expect("sealed");
    c.bench_function("open one field", |b| {
        b.iter(|| std::hint::black_box(key.open(&aad, &blob).expect("opened")))
    });

    let master = Secret32::random().expect("master");
    let key_aad = Aad {
        table: "subject",
        column: "data_key",
        record_id: "7f1c2a8e-0000-4000-8000-000000000001",
    };
    c.bench_function("wrap one data key", |b| {
        b.iter(|| std::hint::black_box(key.wrap(&master, 1, &key_aad).expect("wrapped")))
    });
    let wrapped = key.wrap(&master, 1, &key_aad).expect("wrapped");
    c.bench_function("unwrap one data key", |b| {
        b.iter(|| std::hint::black_box(DataKey::unwrap(&master, &key_aad, &wrapped).expect("ok")))
    });
}

criterion_group!(crypto, benches);
criterion_main!(crypto);
