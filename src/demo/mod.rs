//! A realistic synthetic registry, for demonstrations, tests and benchmarks.
//!
//! `plan` generates, from a seed, the records users would submit about a synthetic
//! population (names, personal numbers, where people live, their treatment episodes,
//! social-work contacts, overdoses and deaths, with the slips real repeat
//! registrations carry). `fill` submits them through the same validation and domain
//! functions the API calls, as demo users of every role, so what lands in the
//! database is exactly what the service would have stored.

pub mod names;
pub mod people;
pub mod plan;

use std::collections::BTreeMap;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::authz::Role;
use crate::cases::deaths::{self, OverdoseSealed};
use crate::cases::episodes::{self, EpisodeError};
use crate::cases::users::{self, InitialPassword, NewAccount, Scope, UserError};
use crate::crypto::KeyringHandle;
use crate::domain::death::{
    validate_forensic, validate_notification, validate_overdose, validate_police_overdose,
};
use crate::domain::{episode, social as social_domain};
use crate::field::FieldError;
use crate::store::users::FacilityInfo;
use crate::store::{Store, StoreError};
pub use plan::{Config, Record, person_records, records};

/// Why a demo fill stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The database already holds people; demo data is only written to an empty registry.
    #[error(
        "the registry already holds {0} people; demo data is only loaded into an empty registry (use a fresh REGISTRY_DATA_DIR or database)"
    )]
    NotEmpty(i64),
    /// Creating a demo account failed.
    #[error("demo account: {0}")]
    User(#[from] UserError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A domain operation failed for a reason other than the record itself.
    #[error(transparent)]
    Episode(#[from] EpisodeError),
    /// A death or overdose was refused.
    #[error(transparent)]
    Death(#[from] crate::cases::deaths::DeathError),
    /// The decision point refused a demo user (a policy that changed under the demo).
    #[error(transparent)]
    Access(#[from] crate::cases::access::AccessError),
    /// The policy files did not load.
    #[error(transparent)]
    Policy(#[from] crate::authz::AuthzError),
}

/// A demo account; the password is random and shown once.
pub struct DemoUser {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
    /// Facility (clinicians) or municipality (social workers).
    pub scope: Option<String>,
    /// User id.
    pub user_id: String,
    /// Password (random, not derived from the seed: the seed is not a secret).
    pub password: Zeroizing<String>,
}

/// Creates one account per role: a clinician at every facility and a social worker
/// for every municipality, so records can be made in everyone's scope.
pub async fn create_users(store: &Store) -> Result<Vec<DemoUser>, DemoError> {
    let mut wanted: Vec<(Role, Option<String>)> = Vec::new();
    for facility in store.facilities().await? {
        wanted.push((Role::Clinician, Some(facility.code)));
    }
    for municipality in store.municipality_slugs().await? {
        wanted.push((Role::SocialWorker, Some(municipality)));
    }
    for role in [
        Role::Police,
        Role::Forensic,
        Role::Analyst,
        Role::Auditor,
        Role::Admin,
        Role::Registrar,
    ] {
        wanted.push((role, None));
    }
    // The accounts are made as the console's operator would make them: under an
    // audited operator permit, through the same use case as the admin API.
    let gate = crate::cases::access::Gate::new(
        std::sync::Arc::new(crate::authz::Authorizer::new()?),
        store.clone(),
    );
    let permit = gate
        .operator(crate::authz::Action::ManageUsers, "", &[], "demo_data")
        .await?;
    let mut out = Vec::new();
    for (role, scope) in wanted {
        let username = match &scope {
            Some(s) => format!("demo.{role}.{s}").replace('_', "-"),
            None => format!("demo.{role}").replace('_', "-"),
        };
        let password =
            crate::auth::password::generate().map_err(|_| DemoError::User(UserError::Hashing))?;
        let created = users::create(
            store,
            &permit,
            NewAccount {
                username: username.clone(),
                scope: Scope {
                    role: role.as_str().into(),
                    facility: scope.clone().filter(|_| role == Role::Clinician),
                    municipality: scope.clone().filter(|_| role == Role::SocialWorker),
                },
                password: InitialPassword::Final(password.clone()),
            },
        )
        .await?;
        out.push(DemoUser {
            username,
            role,
            scope,
            user_id: created.user_id,
            password,
        });
    }
    Ok(out)
}

/// What a fill did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// People generated.
    pub persons: u64,
    /// Episodes registered.
    pub episodes: u64,
    /// Of which closed.
    pub closed: u64,
    /// Repeat registrations that spelled the person differently.
    pub slipped: u64,
    /// Registrations the linkage recognised as an earlier person.
    pub linked: u64,
    /// Social-work contacts.
    pub contacts: u64,
    /// Emergency presentations.
    pub overdoses: u64,
    /// Police-attended overdoses.
    pub police_overdoses: u64,
    /// Police notifications of death.
    pub notifications: u64,
    /// Forensic death records.
    pub deaths: u64,
    /// Registrations refused as continuing an open episode of a matching person
    /// (false matches between synthetic people without personal numbers).
    pub continued: u64,
    /// People (subjects) in the registry afterwards.
    pub subjects: i64,
    /// Records the domain refused, by kind and field (no personal data); a correct
    /// generator produces none.
    pub refused: BTreeMap<String, u64>,
}

/// Finds the demo user acting in a scope.
struct Actors<'a> {
    users: &'a [DemoUser],
    /// The decision point the demo users go through, like users of the API.
    gate: crate::cases::access::Gate,
}

impl Actors<'_> {
    fn find(&self, role: Role, scope: Option<&str>) -> &DemoUser {
        self.users
            .iter()
            .find(|u| u.role == role && (scope.is_none() || u.scope.as_deref() == scope))
            .or_else(|| self.users.iter().find(|u| u.role == role))
            .unwrap_or(&self.users[0])
    }

    /// The demo user as the policies see them.
    fn principal(user: &DemoUser) -> crate::authz::Principal {
        crate::authz::Principal {
            user_id: user.user_id.clone(),
            role: user.role,
            facility: (user.role == Role::Clinician)
                .then(|| user.scope.clone())
                .flatten(),
            municipality: (user.role == Role::SocialWorker)
                .then(|| user.scope.clone())
                .flatten(),
        }
    }

    /// The demo user as a use case takes them, declaring the purpose `demo_data`.
    fn caller(
        &self,
        user: &DemoUser,
        facilities: &BTreeMap<String, FacilityInfo>,
    ) -> crate::cases::access::Caller {
        let principal = Self::principal(user);
        crate::cases::access::Caller {
            facility: principal
                .facility
                .as_ref()
                .and_then(|code| facilities.get(code))
                .cloned(),
            principal,
            purpose: "demo_data".into(),
        }
    }
}

fn refuse(summary: &mut Summary, kind: &str, errors: &[FieldError]) {
    for e in errors {
        *summary
            .refused
            .entry(format!("{kind}: {} {}", e.field, e.problem))
            .or_default() += 1;
    }
}

/// Loads the synthetic population of `config` into an empty registry as `users`
/// (from [`create_users`]); `progress` is called after each person.
pub async fn fill(
    store: &Store,
    keys: &Arc<KeyringHandle>,
    config: &Config,
    users: &[DemoUser],
    mut progress: impl FnMut(u64),
) -> Result<Summary, DemoError> {
    if users.is_empty() {
        return Err(DemoError::User(UserError::Invalid(vec![FieldError::new(
            "users",
            "the demo accounts from create_users are needed",
        )])));
    }
    let (subjects, _) = store.subject_counts().await?;
    if subjects > 0 {
        return Err(DemoError::NotEmpty(subjects));
    }
    let slugs = store.municipality_slugs().await?;
    let slugs: Vec<&str> = slugs.iter().map(String::as_str).collect();
    let facilities: BTreeMap<String, FacilityInfo> = store
        .facilities()
        .await?
        .into_iter()
        .map(|f| (f.code.clone(), FacilityInfo::from(f)))
        .collect();
    let actors = Actors {
        users,
        gate: crate::cases::access::Gate::new(
            Arc::new(crate::authz::Authorizer::new()?),
            store.clone(),
        ),
    };
    let mut summary = Summary {
        persons: config.persons,
        ..Summary::default()
    };
    for index in 0..config.persons {
        let (_, person_records) = person_records(config, index);
        for record in person_records {
            apply(
                store,
                keys,
                config,
                &actors,
                &slugs,
                &facilities,
                record,
                &mut summary,
            )
            .await?;
        }
        progress(index + 1);
    }
    summary.subjects = store.subject_counts().await?.0;
    Ok(summary)
}

#[expect(
    clippy::too_many_arguments,
    reason = "one record needs the whole fill context"
)]
async fn apply(
    store: &Store,
    keys: &Arc<KeyringHandle>,
    config: &Config,
    actors: &Actors<'_>,
    slugs: &[&str],
    facilities: &BTreeMap<String, FacilityInfo>,
    record: Record,
    summary: &mut Summary,
) -> Result<(), DemoError> {
    let today = config.today;
    match record {
        Record::Episode {
            facility,
            input,
            end,
            slipped,
        } => {
            let clinician = actors.find(Role::Clinician, Some(facility));
            // Checked against the plan's own day first, so a refusal is counted the
            // same way whatever day the fill runs.
            if let Err(errors) = episode::validate(&input, today, slugs) {
                refuse(summary, "episode", &errors);
                return Ok(());
            }
            let who = actors.caller(clinician, facilities);
            let registered =
                match episodes::register(store, keys, &actors.gate, &who, &input, None).await {
                    Ok(r) => r,
                    Err(EpisodeError::Invalid(errors)) => {
                        refuse(summary, "episode", &errors);
                        return Ok(());
                    }
                    // Two synthetic people who match on name, birth date and sex without
                    // personal numbers are one person to the linkage (as real people can
                    // be); the second then "continues" the first's open episode.
                    Err(EpisodeError::Continues(_)) => {
                        summary.continued += 1;
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                };
            summary.episodes += 1;
            summary.slipped += u64::from(slipped);
            summary.linked += u64::from(registered.known_before);
            if let Some((end_date, reason)) = end {
                let row = episodes::find(store, keys, &registered.episode_id)
                    .await?
                    .ok_or(EpisodeError::Erased)?;
                let identity = store
                    .sealed_subject(&registered.registry_id)
                    .await?
                    .identity_sealed;
                let action = crate::authz::Action::UpdateEpisode;
                let resource = episodes::resource(&row);
                let permit = actors.gate.allow(&who, action, &resource).await?;
                let opened = episodes::open(keys, &permit, row, identity.as_deref())?;
                match episodes::close(
                    store,
                    keys,
                    &opened,
                    &end_date,
                    reason,
                    &clinician.user_id,
                    permit.write_event(Some(&registered.episode_id)),
                )
                .await
                {
                    Ok(()) => summary.closed += 1,
                    Err(EpisodeError::Invalid(errors)) => refuse(summary, "close", &errors),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Record::Contact {
            municipality,
            input,
        } => {
            let worker = actors.find(Role::SocialWorker, Some(municipality));
            match social_domain::validate(&input, today) {
                Ok(_) => {
                    let caller = actors.caller(worker, facilities);
                    crate::cases::social::record(store, keys, &actors.gate, &caller, &input)
                        .await?;
                    summary.contacts += 1;
                }
                Err(errors) => refuse(summary, "contact", &errors),
            }
        }
        Record::Overdose { facility, input } => {
            let clinician = actors.find(Role::Clinician, Some(facility));
            match validate_overdose(&input, today, slugs) {
                Ok(_) => {
                    let caller = actors.caller(clinician, facilities);
                    let report = OverdoseSealed::Clinical(*input);
                    deaths::record_overdose(store, keys, &actors.gate, &caller, report).await?;
                    summary.overdoses += 1;
                }
                Err(errors) => refuse(summary, "overdose", &errors),
            }
        }
        Record::PoliceOverdose(input) => {
            let police = actors.find(Role::Police, None);
            match validate_police_overdose(&input, today, slugs) {
                Ok(_) => {
                    let caller = actors.caller(police, facilities);
                    let report = OverdoseSealed::Police(*input);
                    deaths::record_overdose(store, keys, &actors.gate, &caller, report).await?;
                    summary.police_overdoses += 1;
                }
                Err(errors) => refuse(summary, "police_overdose", &errors),
            }
        }
        Record::Death {
            notification,
            mut forensic,
        } => {
            if let Some(notification) = notification {
                let police = actors.find(Role::Police, None);
                match validate_notification(&notification, today, slugs) {
                    Ok(_) => {
                        let caller = actors.caller(police, facilities);
                        let id = deaths::notify(store, keys, &actors.gate, &caller, *notification)
                            .await?;
                        summary.notifications += 1;
                        forensic.notification_id = Some(id);
                    }
                    Err(errors) => refuse(summary, "notification", &errors),
                }
            }
            let doctor = actors.find(Role::Forensic, None);
            match validate_forensic(&forensic, today, slugs) {
                Ok(_) => {
                    let caller = actors.caller(doctor, facilities);
                    deaths::create(store, keys, &actors.gate, &caller, *forensic).await?;
                    summary.deaths += 1;
                }
                Err(errors) => refuse(summary, "death", &errors),
            }
        }
    }
    Ok(())
}
