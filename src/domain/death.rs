//! Drug-related deaths and overdoses as police, forensic doctors and emergency
//! clinicians submit them, with validation that reports every problem at once.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::codes::{SUBSTANCE, age_band};
use super::drd::{Icd10, Manner, Substance};
use crate::field::FieldError;
use crate::identity::normalize::NormalisedIdentity;
use crate::identity::subject::{IdentityInput, validate as validate_identity};

/// Where a death happened.
pub const PLACE_TYPES: &[&str] = &[
    "home",
    "other_private",
    "public_place",
    "institution",
    "prison",
    "hospital",
    "other",
    "99",
];
/// Specimens toxicology is done on.
pub const MATRICES: &[&str] = &["blood", "urine", "vitreous", "hair", "tissue", "other"];
/// Euro-DEN clinical features.
pub const CLINICAL_FEATURES: &[&str] = &[
    "agitation",
    "seizures",
    "reduced_consciousness",
    "arrhythmia",
    "hyperthermia",
    "other",
];
/// Treatments other than naloxone.
pub const TREATMENTS: &[&str] = &["sedation", "intubation", "other"];
/// Outcomes of an emergency presentation.
pub const CLINICAL_OUTCOMES: &[&str] = &[
    "discharged",
    "self_discharged",
    "ward",
    "critical_care",
    "died",
];
/// Outcomes of an overdose attended by police.
pub const POLICE_OUTCOMES: &[&str] = &["taken_to_hospital", "refused_care", "died", "other"];
/// The most ICD-10 multiple causes a record holds.
pub const MAX_MULTIPLE_CAUSES: usize = 20;

/// A police notification of a suspected drug-related death.
#[derive(Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationInput {
    /// Date of death (or of finding), `YYYY-MM-DD`.
    pub date_of_death: String,
    /// Municipality of death (slug).
    pub municipality: String,
    /// Place type: home, other_private, public_place, institution, prison, hospital, other, 99.
    pub place_type: String,
    /// Found alone.
    #[serde(default)]
    pub found_alone: Option<bool>,
    /// Drug paraphernalia at the scene.
    #[serde(default)]
    pub paraphernalia: Option<bool>,
    /// The death was witnessed.
    #[serde(default)]
    pub witnessed: Option<bool>,
    /// Suspected substances (TDI substance codes).
    #[serde(default)]
    pub suspected_substances: Vec<String>,
    /// Identity of the deceased, if known.
    #[serde(default)]
    pub identity: Option<IdentityInput>,
    /// Sex (TDI code) when the identity is not known.
    #[serde(default)]
    pub sex: Option<String>,
    /// Apparent or known age in years.
    #[serde(default)]
    pub age: Option<u16>,
    /// Circumstances in free text (sealed), at most 2000 characters.
    #[serde(default)]
    pub circumstances: Option<String>,
}

/// One substance found by toxicology.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubstanceInput {
    /// TDI substance code, or absent for a new psychoactive substance.
    #[serde(default)]
    pub code: Option<String>,
    /// Name of a new psychoactive substance not in the code list.
    #[serde(default)]
    pub nps_name: Option<String>,
    /// Whether it contributed to the death (else only present).
    pub cause_relevant: bool,
    /// Specimen: blood, urine, vitreous, hair, tissue, other.
    #[serde(default)]
    pub matrix: Option<String>,
    /// Concentration as reported, e.g. "0.12 mg/L" (sealed).
    #[serde(default)]
    pub concentration: Option<String>,
}

/// Recent release: from prison, from treatment, both, neither, not known.
pub const RECENT_RELEASES: &[&str] = &["prison", "treatment", "prison_and_treatment", "no", "99"];

/// What the special register records about the deceased beyond the death itself
/// (reference/drd.md). Every item may be left out when not known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeathBackground {
    /// Municipality of residence (slug), `abroad`, or `99` not known.
    #[serde(default)]
    pub residence: Option<String>,
    /// Nationality: ISO 3166-1 alpha-2 code (`XK` Kosovo, `RS`, `AL`, …), or `99`.
    #[serde(default)]
    pub nationality: Option<String>,
    /// Usual route of administration (TDI list `route`: `1` inject, `2`
    /// smoke/inhale, `3` eat/drink, `4` sniff, `5` other, `99` not known).
    #[serde(default)]
    pub route: Option<String>,
    /// Known as a drug user before death.
    #[serde(default)]
    pub known_drug_user: Option<bool>,
    /// Released from prison or left treatment in the 12 months before death:
    /// `prison`, `treatment`, `prison_and_treatment`, `no`, `99`.
    #[serde(default)]
    pub recent_release: Option<String>,
    /// In opioid substitution treatment at the time of death.
    #[serde(default)]
    pub in_ost_at_death: Option<bool>,
}

fn check_background(b: &DeathBackground, municipalities: &[&str], errors: &mut Vec<FieldError>) {
    if let Some(r) = &b.residence {
        if r != "abroad" && r != "99" && !municipalities.contains(&r.as_str()) {
            errors.push(FieldError::new(
                "background.residence",
                "must be a municipality slug, abroad or 99",
            ));
        }
    }
    if let Some(n) = &b.nationality {
        let alpha2 = n.len() == 2 && n.bytes().all(|c| c.is_ascii_uppercase());
        if !alpha2 && n != "99" {
            errors.push(FieldError::new(
                "background.nationality",
                "must be an ISO 3166-1 alpha-2 code in capitals (e.g. XK) or 99",
            ));
        }
    }
    if let Some(route) = &b.route {
        let routes = super::codes::list("route").unwrap_or_default();
        if !routes.contains(&route.as_str()) {
            errors.push(FieldError::new(
                "background.route",
                format!("must be a code of the route list: {}", routes.join(", ")),
            ));
        }
    }
    if let Some(r) = &b.recent_release {
        one_of(r, RECENT_RELEASES, "background.recent_release", errors);
    }
}

/// A forensic death record (creates one, or completes a police notification).
#[derive(Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForensicInput {
    /// The police notification this record completes (the death is counted once).
    #[serde(default)]
    pub notification_id: Option<String>,
    /// The emergency presentation this death followed, if any.
    #[serde(default)]
    pub overdose_id: Option<String>,
    /// Identity of the deceased.
    #[serde(default)]
    pub identity: Option<IdentityInput>,
    /// Sex (TDI code) when the identity is not known.
    #[serde(default)]
    pub sex: Option<String>,
    /// Age at death in years.
    #[serde(default)]
    pub age: Option<u16>,
    /// Date of death, `YYYY-MM-DD`.
    pub date_of_death: String,
    /// Municipality of death.
    pub municipality: String,
    /// Place type.
    pub place_type: String,
    /// WHO ICD-10 (2019) underlying cause, any code of the classification at
    /// most 4 characters (e.g. `X42`, `F11.2`, `R99`, `V89.2`).
    #[serde(default)]
    pub underlying_cause: Option<String>,
    /// Up to 20 WHO ICD-10 multiple causes, none repeated.
    #[serde(default)]
    pub multiple_causes: Vec<String>,
    /// natural, accident, suicide, homicide, undetermined or pending.
    pub manner: String,
    /// Confirms a manner that differs from the intent the underlying cause is
    /// coded with (an X42 accidental poisoning recorded as suicide, say): without
    /// it such a record is refused with a warning on `manner`.
    #[serde(default)]
    pub manner_confirmed: bool,
    /// Autopsy done.
    pub autopsy_done: bool,
    /// Toxicology done.
    pub toxicology_done: bool,
    /// Substances detected.
    #[serde(default)]
    pub substances: Vec<SubstanceInput>,
    /// Whether the record is final (forensic completion).
    #[serde(default)]
    pub final_status: bool,
    /// Circumstances in free text (sealed).
    #[serde(default)]
    pub circumstances: Option<String>,
    /// Residence, nationality, route, drug use, recent release, OST at death.
    #[serde(default)]
    pub background: DeathBackground,
}

macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), " { .. }"))
            }
        }
    )*};
}
redacted_debug!(
    NotificationInput,
    ForensicInput,
    OverdoseInput,
    PoliceOverdoseInput
);

/// When, who and where, common to every record.
#[derive(Debug, Clone)]
pub struct Basics {
    /// Normalised identity, when given.
    pub identity: Option<NormalisedIdentity>,
    /// Year and quarter.
    pub when: (u16, u8),
    /// Sex code.
    pub sex: String,
    /// Age band code.
    pub age_band: String,
}

fn one_of(value: &str, list: &[&str], field: &str, errors: &mut Vec<FieldError>) {
    if !list.contains(&value) {
        errors.push(FieldError::new(
            field,
            format!("must be one of {}", list.join(", ")),
        ));
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "the common fields of four record shapes"
)]
fn basics(
    identity: Option<&IdentityInput>,
    sex: Option<&str>,
    age: Option<u16>,
    date: &str,
    date_field: &str,
    municipality: &str,
    municipalities: &[&str],
    today: crate::clock::Date,
    errors: &mut Vec<FieldError>,
) -> Option<Basics> {
    let identity = identity.and_then(|i| {
        validate_identity(i, today, "identity.")
            .map_err(|e| errors.extend(e))
            .ok()
    });
    let date = super::record_date(date, date_field, today, errors);
    if !municipalities.contains(&municipality) {
        errors.push(FieldError::new(
            "municipality",
            "is not a known municipality",
        ));
    }
    let sex = match (&identity, sex) {
        (Some(i), _) => i.sex.code().to_owned(),
        (None, Some(s)) if ["1", "2", "99"].contains(&s) => s.to_owned(),
        (None, Some(_)) => {
            errors.push(FieldError::new(
                "sex",
                "must be 1 (male), 2 (female) or 99 (not known)",
            ));
            "99".to_owned()
        }
        (None, None) => "99".to_owned(),
    };
    if age.is_some_and(|a| a > 120) {
        errors.push(FieldError::new("age", "must be between 0 and 120"));
    }
    let date = date?;
    let age = age.or_else(|| {
        identity
            .as_ref()
            .map(|i| crate::clock::year(date).saturating_sub(i.birth.year()))
    });
    Some(Basics {
        identity,
        when: (crate::clock::year(date), crate::clock::quarter(date)),
        sex,
        age_band: age.map_or("99", age_band).to_owned(),
    })
}

fn substance_codes(codes: &[String], field: &str, errors: &mut Vec<FieldError>) {
    for (i, code) in codes.iter().enumerate() {
        if !SUBSTANCE.contains(&code.as_str()) {
            errors.push(FieldError::new(
                format!("{field}[{i}]"),
                "must be a TDI substance code",
            ));
        }
    }
}

fn text_limit(text: Option<&String>, field: &str, errors: &mut Vec<FieldError>) {
    if text.is_some_and(|t| t.chars().count() > 2000) {
        errors.push(FieldError::new(field, "must be at most 2000 characters"));
    }
}

/// Validates a police notification.
pub fn validate_notification(
    input: &NotificationInput,
    today: crate::clock::Date,
    municipalities: &[&str],
) -> Result<Basics, Vec<FieldError>> {
    let mut errors = Vec::new();
    let basics = basics(
        input.identity.as_ref(),
        input.sex.as_deref(),
        input.age,
        &input.date_of_death,
        "date_of_death",
        &input.municipality,
        municipalities,
        today,
        &mut errors,
    );
    one_of(&input.place_type, PLACE_TYPES, "place_type", &mut errors);
    substance_codes(
        &input.suspected_substances,
        "suspected_substances",
        &mut errors,
    );
    text_limit(input.circumstances.as_ref(), "circumstances", &mut errors);
    match basics {
        Some(b) if errors.is_empty() => Ok(b),
        _ => Err(errors),
    }
}

/// A validated forensic record.
#[derive(Debug, Clone)]
pub struct ValidForensic {
    /// When, who, where.
    pub basics: Basics,
    /// Underlying cause.
    pub underlying: Option<Icd10>,
    /// Multiple causes.
    pub multiple: Vec<Icd10>,
    /// Manner.
    pub manner: Manner,
    /// Substances for classification.
    pub substances: Vec<Substance>,
}

/// Validates a forensic record.
pub fn validate_forensic(
    input: &ForensicInput,
    today: crate::clock::Date,
    municipalities: &[&str],
) -> Result<ValidForensic, Vec<FieldError>> {
    let mut errors = Vec::new();
    let basics = basics(
        input.identity.as_ref(),
        input.sex.as_deref(),
        input.age,
        &input.date_of_death,
        "date_of_death",
        &input.municipality,
        municipalities,
        today,
        &mut errors,
    );
    one_of(&input.place_type, PLACE_TYPES, "place_type", &mut errors);
    let underlying = input.underlying_cause.as_deref().and_then(|c| {
        Icd10::parse(c, "underlying_cause")
            .map_err(|e| errors.push(e))
            .ok()
    });
    if input.multiple_causes.len() > MAX_MULTIPLE_CAUSES {
        errors.push(FieldError::new(
            "multiple_causes",
            "must hold at most 20 codes",
        ));
    }
    let mut multiple: Vec<Icd10> = Vec::new();
    for (i, text) in input
        .multiple_causes
        .iter()
        .take(MAX_MULTIPLE_CAUSES)
        .enumerate()
    {
        let field = format!("multiple_causes[{i}]");
        match Icd10::parse(text, &field) {
            Err(e) => errors.push(e),
            Ok(code) if multiple.contains(&code) => errors.push(FieldError::new(
                field,
                "must not repeat an earlier multiple cause",
            )),
            Ok(code) => multiple.push(code),
        }
    }
    let manner = input
        .manner
        .parse::<Manner>()
        .map_err(|_| {
            errors.push(FieldError::new(
                "manner",
                "must be one of natural, accident, suicide, homicide, undetermined, pending",
            ))
        })
        .ok();
    // The manner against the intent the underlying cause is coded with: a
    // warning the forensic doctor confirms, not a refusal.
    let intent = underlying.as_ref().and_then(Icd10::intent);
    if let (Some(manner), Some(intent)) = (manner, intent) {
        if manner != Manner::Pending && manner != intent && !input.manner_confirmed {
            errors.push(FieldError::new(
                "manner",
                format!(
                    "does not match the intent the underlying cause is coded with ({}): \
                     correct one of them, or confirm the manner with manner_confirmed: true",
                    intent_words(intent)
                ),
            ));
        }
    }
    let mut substances = Vec::new();
    for (i, s) in input.substances.iter().enumerate() {
        let field = format!("substances[{i}]");
        match (&s.code, &s.nps_name) {
            (Some(code), None) if SUBSTANCE.contains(&code.as_str()) => {}
            (Some(_), None) => errors.push(FieldError::new(
                format!("{field}.code"),
                "must be a TDI substance code",
            )),
            (None, Some(name)) if (2..=100).contains(&name.trim().chars().count()) => {}
            (None, Some(_)) => errors.push(FieldError::new(
                format!("{field}.nps_name"),
                "must be 2-100 characters",
            )),
            _ => errors.push(FieldError::new(
                field.clone(),
                "give exactly one of code and nps_name",
            )),
        }
        if let Some(m) = &s.matrix {
            one_of(m, MATRICES, &format!("{field}.matrix"), &mut errors);
        }
        if s.concentration
            .as_ref()
            .is_some_and(|c| c.chars().count() > 60)
        {
            errors.push(FieldError::new(
                format!("{field}.concentration"),
                "must be at most 60 characters",
            ));
        }
        substances.push(Substance {
            code: s.code.clone(),
            nps_name: s.nps_name.as_ref().map(|n| n.trim().to_owned()),
            cause_relevant: s.cause_relevant,
        });
    }
    if !input.toxicology_done && !input.substances.is_empty() {
        errors.push(FieldError::new(
            "substances",
            "toxicology_done must be true when substances are reported",
        ));
    }
    text_limit(input.circumstances.as_ref(), "circumstances", &mut errors);
    check_background(&input.background, municipalities, &mut errors);
    match (basics, manner) {
        (Some(basics), Some(manner)) if errors.is_empty() => Ok(ValidForensic {
            basics,
            underlying,
            multiple,
            manner,
            substances,
        }),
        _ => Err(errors),
    }
}

fn intent_words(intent: Manner) -> &'static str {
    match intent {
        Manner::Accident => "an accident",
        Manner::Suicide => "intentional self-harm",
        Manner::Homicide => "an assault",
        Manner::Undetermined => "undetermined intent",
        Manner::Natural | Manner::Pending => "no intent",
    }
}

/// A non-fatal overdose presenting at an emergency department (Euro-DEN Plus style).
#[derive(Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverdoseInput {
    /// Date and time of presentation, `YYYY-MM-DDTHH:MM` (sealed).
    pub presented_at: String,
    /// Identity, optional.
    #[serde(default)]
    pub identity: Option<IdentityInput>,
    /// Sex (TDI code) when the identity is not given.
    #[serde(default)]
    pub sex: Option<String>,
    /// Age in years.
    #[serde(default)]
    pub age: Option<u16>,
    /// Municipality of residence or of the event.
    pub municipality: String,
    /// Arrived by ambulance.
    pub arrival_by_ambulance: bool,
    /// Substances self-reported (TDI codes).
    #[serde(default)]
    pub substances_reported: Vec<String>,
    /// Substances analytically confirmed (TDI codes).
    #[serde(default)]
    pub substances_confirmed: Vec<String>,
    /// New psychoactive substances by name.
    #[serde(default)]
    pub nps_names: Vec<String>,
    /// Alcohol co-ingested.
    pub alcohol: bool,
    /// agitation, seizures, reduced_consciousness, arrhythmia, hyperthermia, other.
    #[serde(default)]
    pub clinical_features: Vec<String>,
    /// Naloxone given.
    pub naloxone: bool,
    /// sedation, intubation, other.
    #[serde(default)]
    pub other_treatment: Vec<String>,
    /// discharged, self_discharged, ward, critical_care, died.
    pub outcome: String,
    /// Length of stay in hours.
    #[serde(default)]
    pub length_of_stay_hours: Option<u32>,
    /// Intentional self-harm (kept and flagged, per strategy item 3.1.5).
    #[serde(default)]
    pub intentional_self_harm: Option<bool>,
}

/// An overdose attended by police (smaller set).
#[derive(Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PoliceOverdoseInput {
    /// Date, `YYYY-MM-DD`.
    pub date: String,
    /// Municipality.
    pub municipality: String,
    /// Sex (TDI code).
    #[serde(default)]
    pub sex: Option<String>,
    /// Apparent age.
    #[serde(default)]
    pub age: Option<u16>,
    /// Suspected substances (TDI codes).
    #[serde(default)]
    pub substances_suspected: Vec<String>,
    /// New psychoactive substances by name.
    #[serde(default)]
    pub nps_names: Vec<String>,
    /// Naloxone given at the scene.
    pub naloxone_given: bool,
    /// taken_to_hospital, refused_care, died, other.
    pub outcome: String,
}

fn nps(names: &[String], errors: &mut Vec<FieldError>) {
    for (i, n) in names.iter().enumerate() {
        if !(2..=100).contains(&n.trim().chars().count()) {
            errors.push(FieldError::new(
                format!("nps_names[{i}]"),
                "must be 2-100 characters",
            ));
        }
    }
}

/// Validates a clinical overdose record.
pub fn validate_overdose(
    input: &OverdoseInput,
    today: crate::clock::Date,
    municipalities: &[&str],
) -> Result<Basics, Vec<FieldError>> {
    let mut errors = Vec::new();
    let date = input.presented_at.get(..10).unwrap_or_default();
    let time_ok = input.presented_at.len() == 16
        && time::PrimitiveDateTime::parse(
            &input.presented_at,
            &time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]"),
        )
        .is_ok();
    if !time_ok {
        errors.push(FieldError::new(
            "presented_at",
            "must be a date and time YYYY-MM-DDTHH:MM",
        ));
    }
    let basics = basics(
        input.identity.as_ref(),
        input.sex.as_deref(),
        input.age,
        date,
        "presented_at",
        &input.municipality,
        municipalities,
        today,
        &mut errors,
    );
    substance_codes(
        &input.substances_reported,
        "substances_reported",
        &mut errors,
    );
    substance_codes(
        &input.substances_confirmed,
        "substances_confirmed",
        &mut errors,
    );
    nps(&input.nps_names, &mut errors);
    for (i, f) in input.clinical_features.iter().enumerate() {
        one_of(
            f,
            CLINICAL_FEATURES,
            &format!("clinical_features[{i}]"),
            &mut errors,
        );
    }
    for (i, t) in input.other_treatment.iter().enumerate() {
        one_of(t, TREATMENTS, &format!("other_treatment[{i}]"), &mut errors);
    }
    one_of(&input.outcome, CLINICAL_OUTCOMES, "outcome", &mut errors);
    if input.length_of_stay_hours.is_some_and(|h| h > 24 * 365) {
        errors.push(FieldError::new(
            "length_of_stay_hours",
            "must be at most one year",
        ));
    }
    match basics {
        Some(b) if errors.is_empty() && time_ok => Ok(b),
        _ => Err(errors),
    }
}

/// Validates a police overdose record.
pub fn validate_police_overdose(
    input: &PoliceOverdoseInput,
    today: crate::clock::Date,
    municipalities: &[&str],
) -> Result<Basics, Vec<FieldError>> {
    let mut errors = Vec::new();
    let basics = basics(
        None,
        input.sex.as_deref(),
        input.age,
        &input.date,
        "date",
        &input.municipality,
        municipalities,
        today,
        &mut errors,
    );
    substance_codes(
        &input.substances_suspected,
        "substances_suspected",
        &mut errors,
    );
    nps(&input.nps_names, &mut errors);
    one_of(&input.outcome, POLICE_OUTCOMES, "outcome", &mut errors);
    match basics {
        Some(b) if errors.is_empty() => Ok(b),
        _ => Err(errors),
    }
}
