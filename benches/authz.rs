//! Cost of one access decision (the per-request policy check).
//! Run: `cargo bench --bench authz`.

use criterion::{Criterion, criterion_group, criterion_main};
use registry::authz::{Action, Authorizer, FieldGroup, Principal, Resource, ResourceKind, Role};

fn benches(c: &mut Criterion) {
    let authorizer = Authorizer::new().expect("policies");
    let clinician = Principal {
        user_id: "user-a".into(),
        role: Role::Clinician,
        facility: Some("fac-a".into()),
        municipality: None,
    };
    let episode = Resource {
        facility: Some("fac-a".into()),
        ..Resource::national(ResourceKind::Episode, "episode-1")
    };
    c.bench_function(
        "decide: clinician reads own facility's episode (allowed)",
        |b| {
            b.iter(|| {
                std::hint::black_box(authorizer.decide(&clinician, Action::ReadEpisode, &episode))
            })
        },
    );
    let police = Principal {
        role: Role::Police,
        facility: None,
        ..clinician.clone()
    };
    c.bench_function("decide: police reads an episode (guardrail deny)", |b| {
        b.iter(|| std::hint::black_box(authorizer.decide(&police, Action::ReadEpisode, &episode)))
    });
    c.bench_function("may_read_fields: clinical group", |b| {
        b.iter(|| {
            std::hint::black_box(authorizer.may_read_fields(
                &clinician,
                FieldGroup::Clinical,
                &episode,
            ))
        })
    });
}

criterion_group!(authz, benches);
criterion_main!(authz);
