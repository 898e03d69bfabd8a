//! Access control: the registry's single decision point.
//!
//! Every access (function, object and field level) is decided here from the
//! declarative Cedar policies under `policy/` (security checklist items 7-10):
//!
//! - `policy/registry.cedarschema`: the entity types, attributes and actions;
//! - `policy/roles.cedar`: `permit` rules, one per thing a role may do;
//! - `policy/guardrails.cedar`: `forbid` rules for what a role must never do;
//! - `policy/fields.cedar`: which field groups of a record a role may see.
//!
//! Decisions are deny by default and a matching `forbid` beats any `permit`.
//! Every policy carries a unique `@id("...")` annotation; a [`Decision`] lists
//! the ids of the policies that determined it so that the audit log can record
//! the deciding rule with each decision.
//!
//! The policy files are compiled into the binary and validated against the
//! schema in strict mode by [`Authorizer::new`], so a service never starts
//! with a policy that refers to an unknown role, action or attribute. Each
//! request is evaluated with freshly built entities for the caller and the
//! resource only (no cached user state), so a role or scope change takes effect
//! on the next request.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use cedar_policy::{
    ActionConstraint, Context, Effect, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    Policy, PolicyId, PolicySet, PrincipalConstraint, Request, ResourceConstraint,
    RestrictedExpression, Schema, ValidationMode, Validator,
};
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// The Cedar schema, embedded at compile time.
const SCHEMA_SRC: &str = include_str!("../../policy/registry.cedarschema");

/// Which effects a policy file may contain. Keeping permits and forbids in
/// separate files means a reviewer can tell from the file name alone whether a
/// change widens or narrows access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileEffects {
    PermitOnly,
    ForbidOnly,
    Mixed,
}

/// The embedded policy files: (file name, source, allowed effects).
const POLICY_FILES: [(&str, &str, FileEffects); 3] = [
    (
        "roles.cedar",
        include_str!("../../policy/roles.cedar"),
        FileEffects::PermitOnly,
    ),
    (
        "guardrails.cedar",
        include_str!("../../policy/guardrails.cedar"),
        FileEffects::ForbidOnly,
    ),
    (
        "fields.cedar",
        include_str!("../../policy/fields.cedar"),
        FileEffects::Mixed,
    ),
];

/// Rule name reported when no policy matched (deny by default).
pub const DEFAULT_DENY: &str = "default-deny";
/// Rule name reported when a request could not be built or evaluated.
pub const ERROR_RULE: &str = "error";

/// The Cedar namespace of every type and action in the schema.
const NS: &str = "Registry";

/// Errors of the access-control module.
#[derive(Debug, thiserror::Error)]
pub enum AuthzError {
    /// The embedded schema does not parse.
    #[error("policy schema registry.cedarschema does not parse: {0}")]
    Schema(String),
    /// A policy file does not parse.
    #[error("policy file {file} does not parse: {message}")]
    PolicyParse {
        /// The policy file.
        file: String,
        /// Every parse error, joined.
        message: String,
    },
    /// A policy has no `@id("...")` annotation or an empty one.
    #[error(
        "policy file {file}: policy number {position} (counting from 1 in file order) has no non-empty @id(\"...\") annotation"
    )]
    MissingId {
        /// The policy file.
        file: String,
        /// 1-based position of the policy in its file.
        position: usize,
    },
    /// Two policies share an `@id`.
    #[error("policy @id(\"{id}\") is used more than once (in {first} and {second})")]
    DuplicateId {
        /// The duplicated id.
        id: String,
        /// File of the first use.
        first: String,
        /// File of the second use.
        second: String,
    },
    /// A policy uses an id reserved for the adapter's own decision reasons.
    #[error("policy @id(\"{id}\") in {file} is reserved for the authorizer's own decision reasons")]
    ReservedId {
        /// The reserved id.
        id: String,
        /// The policy file.
        file: String,
    },
    /// A policy file holds an effect it must not (a permit among the guardrails
    /// or a forbid among the role permissions).
    #[error("policy @id(\"{id}\") in {file} is a {found}, but that file may only hold {allowed}")]
    WrongEffect {
        /// The policy id.
        id: String,
        /// The policy file.
        file: String,
        /// The policy's effect.
        found: &'static str,
        /// What the file may hold.
        allowed: &'static str,
    },
    /// Policy templates are not used by the registry.
    #[error("policy file {file} contains a template; the registry uses static policies only")]
    TemplateNotAllowed {
        /// The policy file.
        file: String,
    },
    /// Strict validation against the schema failed.
    #[error("policies do not validate against the schema (strict mode):\n  - {}", .problems.join("\n  - "))]
    Validation {
        /// One line per validation error or warning.
        problems: Vec<String>,
    },
    /// An entity type or action name from the schema could not be built.
    #[error("internal name {name} could not be parsed: {message}")]
    Name {
        /// The name.
        name: String,
        /// The parser's message.
        message: String,
    },
    /// A request could not be built (only ever seen inside [`Authorizer::decide`],
    /// which turns it into a deny).
    #[error("authorization request could not be built: {0}")]
    Request(String),
    /// A role name is not one of the seven roles.
    #[error("unknown role {given:?}; valid roles are: {valid}", valid = names(Role::ALL.iter().map(|r| r.as_str())))]
    UnknownRole {
        /// The text that was given.
        given: String,
    },
    /// An action name is not one of the registry's actions.
    #[error("unknown action {given:?}")]
    UnknownAction {
        /// The text that was given.
        given: String,
    },
    /// A field-group name is not one of the field groups.
    #[error("unknown field group {given:?}; valid field groups are: {valid}", valid = names(FieldGroup::ALL.iter().map(|g| g.as_str())))]
    UnknownFieldGroup {
        /// The text that was given.
        given: String,
    },
}

/// Joins names with ", " for error messages.
fn names<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

// ------------------------------------------------------------------ roles

/// A user's role (design brief, section 2).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// Doctor or nurse at one treatment facility.
    Clinician,
    /// Centre for Social Work of one municipality.
    SocialWorker,
    /// Kosovo Police unit.
    Police,
    /// Institute of Forensic Medicine.
    Forensic,
    /// Strategy Secretariat / national drug observatory (aggregates only).
    Analyst,
    /// Data protection officer.
    Auditor,
    /// Registry operator (never reads health data).
    Admin,
    /// The registry's data steward: decides the pairs fuzzy linkage could not
    /// (identities side by side), merges and splits subjects; never health data.
    Registrar,
}

impl Role {
    /// Every role, in declaration order.
    pub const ALL: [Role; 8] = [
        Role::Clinician,
        Role::SocialWorker,
        Role::Police,
        Role::Forensic,
        Role::Analyst,
        Role::Auditor,
        Role::Admin,
        Role::Registrar,
    ];

    /// The role's name as used in policies, configuration and the API.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl FromStr for Role {
    type Err = AuthzError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| AuthzError::UnknownRole {
                given: s.to_owned(),
            })
    }
}

// ------------------------------------------------------------------ resources

/// What "in scope" means for a kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// No per-record scope: the role decides.
    National,
    /// The record's facility must be the caller's facility.
    Facility,
    /// The record's municipality must be the caller's municipality.
    Municipality,
    /// The record's reporter must be the caller.
    Reporter,
}

/// The kinds of resource the registry protects (one Cedar entity type each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// Public reference data (code lists).
    Reference,
    /// User accounts.
    UserAccount,
    /// The audit log.
    AuditLog,
    /// A data subject (pseudonymised person).
    Subject,
    /// Key status.
    Keys,
    /// Facility register.
    Facility,
    /// A treatment episode.
    Episode,
    /// An "in opioid substitution treatment elsewhere?" query.
    OstQuery,
    /// A social-work contact.
    SocialContact,
    /// A police notification of a suspected drug-related death.
    DeathNotification,
    /// A forensic death record.
    DeathRecord,
    /// A non-fatal overdose.
    Overdose,
    /// New-substance signals from toxicology.
    SubstanceSignal,
    /// Aggregate, disclosure-controlled exports.
    Export,
}

impl ResourceKind {
    /// Every resource kind, in declaration order.
    pub const ALL: [ResourceKind; 14] = [
        ResourceKind::Reference,
        ResourceKind::UserAccount,
        ResourceKind::AuditLog,
        ResourceKind::Subject,
        ResourceKind::Keys,
        ResourceKind::Facility,
        ResourceKind::Episode,
        ResourceKind::OstQuery,
        ResourceKind::SocialContact,
        ResourceKind::DeathNotification,
        ResourceKind::DeathRecord,
        ResourceKind::Overdose,
        ResourceKind::SubstanceSignal,
        ResourceKind::Export,
    ];

    /// The Cedar entity type name (without the `Registry::` namespace).
    pub fn cedar_type(self) -> &'static str {
        match self {
            ResourceKind::Reference => "Reference",
            ResourceKind::UserAccount => "UserAccount",
            ResourceKind::AuditLog => "AuditLog",
            ResourceKind::Subject => "Subject",
            ResourceKind::Keys => "Keys",
            ResourceKind::Facility => "Facility",
            ResourceKind::Episode => "Episode",
            ResourceKind::OstQuery => "OstQuery",
            ResourceKind::SocialContact => "SocialContact",
            ResourceKind::DeathNotification => "DeathNotification",
            ResourceKind::DeathRecord => "DeathRecord",
            ResourceKind::Overdose => "Overdose",
            ResourceKind::SubstanceSignal => "SubstanceSignal",
            ResourceKind::Export => "Export",
        }
    }

    /// What "in scope" means for this kind. For `Overdose` this is the
    /// clinician's view (own facility); police see their own reports.
    pub fn scope(self) -> Scope {
        match self {
            ResourceKind::Episode | ResourceKind::Overdose => Scope::Facility,
            ResourceKind::SocialContact => Scope::Municipality,
            ResourceKind::DeathNotification => Scope::Reporter,
            ResourceKind::Reference
            | ResourceKind::UserAccount
            | ResourceKind::AuditLog
            | ResourceKind::Subject
            | ResourceKind::Keys
            | ResourceKind::Facility
            | ResourceKind::OstQuery
            | ResourceKind::DeathRecord
            | ResourceKind::SubstanceSignal
            | ResourceKind::Export => Scope::National,
        }
    }

    /// True for kinds whose records hold personal data; decisions on them must
    /// be written to the audit log with their purpose.
    pub fn is_personal_data(self) -> bool {
        matches!(
            self,
            ResourceKind::Subject
                | ResourceKind::Episode
                | ResourceKind::OstQuery
                | ResourceKind::SocialContact
                | ResourceKind::DeathNotification
                | ResourceKind::DeathRecord
                | ResourceKind::Overdose
                | ResourceKind::AuditLog
        )
    }
}

// ------------------------------------------------------------------ actions

/// Defines [`Action`] with its Cedar id and resource kind in one table, so the
/// three can never drift apart.
macro_rules! actions {
    ($( $(#[$doc:meta])* $variant:ident => $id:literal, $kind:ident; )*) => {
        /// Something a caller asks to do; each is one Cedar action.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum Action {
            $( $(#[$doc])* $variant, )*
        }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: [Action; [$(Action::$variant),*].len()] = [$(Action::$variant),*];

            /// The Cedar action id (`Registry::Action::"<id>"`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Action::$variant => $id, )*
                }
            }

            /// The kind of resource this action applies to.
            pub fn resource_kind(self) -> ResourceKind {
                match self {
                    $( Action::$variant => ResourceKind::$kind, )*
                }
            }
        }
    };
}

actions! {
    /// Read public reference data.
    ReadReference => "read_reference", Reference;
    /// Create, change or disable user accounts.
    ManageUsers => "manage_users", UserAccount;
    /// Read the audit log.
    ReadAudit => "read_audit", AuditLog;
    /// Verify the audit log's hash chain.
    VerifyAudit => "verify_audit", AuditLog;
    /// Produce a data-subject access report.
    SubjectAccessReport => "subject_access_report", Subject;
    /// Crypto-shred a subject (erasure after the legal-basis check).
    ShredSubject => "shred_subject", Subject;
    /// Read the fuzzy-linkage review queue (both identities of each pair).
    ReviewLinks => "review_links", Subject;
    /// Decide a review item, merge or split subjects.
    DecideLinks => "decide_links", Subject;
    /// Read key versions and rotation status.
    ReadKeyStatus => "read_key_status", Keys;
    /// Manage the facility register.
    ManageFacilities => "manage_facilities", Facility;
    /// Register a treatment episode.
    CreateEpisode => "create_episode", Episode;
    /// Read a treatment episode.
    ReadEpisode => "read_episode", Episode;
    /// Update a treatment episode.
    UpdateEpisode => "update_episode", Episode;
    /// List a facility's episodes.
    ListEpisodes => "list_episodes", Episode;
    /// Ask whether a person is in opioid substitution treatment (yes/no).
    CheckOst => "check_ost", OstQuery;
    /// Record a social-work contact.
    CreateSocialContact => "create_social_contact", SocialContact;
    /// Read a social-work contact.
    ReadSocialContact => "read_social_contact", SocialContact;
    /// List a municipality's social-work contacts.
    ListSocialContacts => "list_social_contacts", SocialContact;
    /// Notify a suspected drug-related death.
    CreateDeathNotification => "create_death_notification", DeathNotification;
    /// Read a death notification.
    ReadDeathNotification => "read_death_notification", DeathNotification;
    /// Update a death notification.
    UpdateDeathNotification => "update_death_notification", DeathNotification;
    /// List one's own death notifications.
    ListDeathNotifications => "list_death_notifications", DeathNotification;
    /// Create a forensic death record.
    CreateDeathRecord => "create_death_record", DeathRecord;
    /// Read a death record.
    ReadDeathRecord => "read_death_record", DeathRecord;
    /// Update (complete) a death record.
    UpdateDeathRecord => "update_death_record", DeathRecord;
    /// List death records.
    ListDeathRecords => "list_death_records", DeathRecord;
    /// Link a death to the registry by the deceased's identity.
    LinkDeath => "link_death", DeathRecord;
    /// List new-substance signals.
    ListNewSubstances => "list_new_substances", SubstanceSignal;
    /// Record a non-fatal overdose.
    CreateOverdose => "create_overdose", Overdose;
    /// Read a non-fatal overdose.
    ReadOverdose => "read_overdose", Overdose;
    /// List non-fatal overdoses.
    ListOverdoses => "list_overdoses", Overdose;
    /// List the available export tables.
    ListExportTables => "list_export_tables", Export;
    /// Run a flexible (cell-key perturbed) aggregate export.
    RunExport => "run_export", Export;
    /// Freeze a past data year into a statistical snapshot.
    FreezeYear => "freeze_year", Export;
    /// Release the exact national statutory tables (EMCDDA workbook, DRD).
    RunStatutoryExport => "run_statutory_export", Export;
}

impl Action {
    /// True for every action on a kind that holds personal data (Subject,
    /// Episode, OstQuery, SocialContact, DeathNotification, DeathRecord,
    /// Overdose, AuditLog): such decisions must be audited with their purpose.
    pub fn is_personal_data(self) -> bool {
        self.resource_kind().is_personal_data()
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = AuthzError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| AuthzError::UnknownAction {
                given: s.to_owned(),
            })
    }
}

/// The Cedar action used for field-level checks.
const READ_FIELDS: &str = "read_fields";

/// Index of `read_fields` among the Cedar actions (after [`Action::ALL`]).
const READ_FIELDS_INDEX: usize = Action::ALL.len();

/// Number of Cedar actions: the registry's actions plus `read_fields`.
const CEDAR_ACTIONS: usize = Action::ALL.len() + 1;

// ------------------------------------------------------------------ field groups

/// A group of fields of a record, for field-level filtering of responses.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::Display,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FieldGroup {
    /// Direct identifiers (names, personal number, exact dates).
    Identity,
    /// Clinical fields (drugs, route, treatment).
    Clinical,
    /// HIV/HCV testing, injecting and sharing behaviour.
    HealthSensitive,
    /// Social-work fields.
    Social,
    /// Causes of death, toxicology, manner, autopsy.
    ForensicFindings,
    /// Place and circumstances as reported by police.
    PoliceCircumstances,
    /// Linkage results (shown only in aggregates; nobody reads them).
    Linkage,
}

impl FieldGroup {
    /// Every field group, in declaration order.
    pub const ALL: [FieldGroup; 7] = [
        FieldGroup::Identity,
        FieldGroup::Clinical,
        FieldGroup::HealthSensitive,
        FieldGroup::Social,
        FieldGroup::ForensicFindings,
        FieldGroup::PoliceCircumstances,
        FieldGroup::Linkage,
    ];

    /// The group's name (also its Cedar entity id).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl FromStr for FieldGroup {
    type Err = AuthzError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldGroup::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| AuthzError::UnknownFieldGroup {
                given: s.to_owned(),
            })
    }
}

// ------------------------------------------------------------------ request data

/// The caller, as known from its session: evaluated with its own scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The user's id (matched against a record's reporter).
    pub user_id: String,
    /// The user's role.
    pub role: Role,
    /// The user's facility (clinicians).
    pub facility: Option<String>,
    /// The user's municipality (clinicians, social workers).
    pub municipality: Option<String>,
}

/// The object of a request, with the attributes the policies may look at.
///
/// For create and list requests `id` is a placeholder and the scope fields
/// carry the facility, municipality or reporter being written to or listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// What kind of resource this is.
    pub kind: ResourceKind,
    /// The record's id (or a placeholder for create/list).
    pub id: String,
    /// The facility the record belongs to (Episode, Overdose).
    pub facility: Option<String>,
    /// The municipality the record belongs to (SocialContact).
    pub municipality: Option<String>,
    /// The user id of whoever reported the record (DeathNotification, Overdose).
    pub reporter: Option<String>,
    /// Whether the record's facility is emergency-capable (Overdose).
    pub emergency_capable: bool,
    /// Whether the forensic record for this death is complete (DeathNotification).
    pub forensic_complete: bool,
}

impl Resource {
    /// A resource with no scope attributes (for national kinds).
    pub fn national(kind: ResourceKind, id: impl Into<String>) -> Self {
        Resource {
            kind,
            id: id.into(),
            facility: None,
            municipality: None,
            reporter: None,
            emergency_capable: false,
            forensic_complete: false,
        }
    }
}

/// The outcome of one access check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Whether the access is allowed.
    pub allowed: bool,
    /// The `@id`s of the policies that determined the decision, sorted:
    /// the matching permits for an allow, the matching forbids for a deny,
    /// [`DEFAULT_DENY`] when nothing matched, [`ERROR_RULE`] on failure.
    pub rules: Vec<String>,
}

impl Decision {
    /// A deny for a request that could not be built or evaluated.
    fn error() -> Self {
        Decision {
            allowed: false,
            rules: vec![ERROR_RULE.to_owned()],
        }
    }
}

/// Which sample resource a matrix row was evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeCase {
    /// National kind: no scope to be in or out of.
    NotScoped,
    /// The resource is in the sample principal's scope.
    InScope,
    /// The resource is out of the sample principal's scope.
    OutOfScope,
}

impl ScopeCase {
    /// The case's name as shown in the rendered matrix.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeCase::NotScoped => "not_scoped",
            ScopeCase::InScope => "in_scope",
            ScopeCase::OutOfScope => "out_of_scope",
        }
    }
}

/// One cell of the access matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixRow {
    /// The sample principal's role.
    pub role: Role,
    /// The Cedar action id, or `read_fields:<group>` for field groups.
    pub action: String,
    /// Which sample resource was used.
    pub scope: ScopeCase,
    /// The decision.
    pub allowed: bool,
    /// The deciding rule ids.
    pub rules: Vec<String>,
}

// ------------------------------------------------------------------ authorizer

/// The decision point: parsed policies and schema, shared read-only.
///
/// Cheap to share in an `Arc`; [`Authorizer::decide`] takes `&self` and
/// allocates only the two entities of the request.
pub struct Authorizer {
    /// Every policy, ids = `@id` annotations.
    policies: PolicySet,
    /// Per (role, Cedar action): the policies whose scope (policy head) can
    /// match that role and action, indexed by
    /// `role as usize * CEDAR_ACTIONS + action index`. Cedar spends about a
    /// microsecond per policy on every request; a policy whose head cannot
    /// match is never satisfied and never errors, so leaving it out changes
    /// no decision (a test compares against the full set).
    slices: Vec<PolicySet>,
    schema: Schema,
    engine: cedar_policy::Authorizer,
    user_type: EntityTypeName,
    role_type: EntityTypeName,
    field_group_type: EntityTypeName,
    record_kind_type: EntityTypeName,
    /// Entity type per resource kind, indexed by `ResourceKind as usize`.
    kind_types: Vec<EntityTypeName>,
    /// Action uid per action, indexed by `Action as usize`.
    action_uids: Vec<EntityUid>,
    read_fields_uid: EntityUid,
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer")
            .field("policies", &self.policies.num_of_policies())
            .finish_non_exhaustive()
    }
}

impl Authorizer {
    /// Parses the embedded schema and policy files, checks that every policy
    /// has a unique `@id` and sits in a file that allows its effect, and
    /// validates the whole set against the schema in strict mode. Validation
    /// warnings are treated as errors too: an impossible or suspicious policy
    /// is a bug in an access-control file.
    pub fn new() -> Result<Self, AuthzError> {
        Self::from_sources(&POLICY_FILES)
    }

    /// Builds an authorizer from the embedded files plus extra policy text, so
    /// tests can show that guardrails hold against an over-broad permit.
    #[cfg(test)]
    pub(crate) fn with_extra_policies(extra: &str) -> Result<Self, AuthzError> {
        let mut files = POLICY_FILES.to_vec();
        files.push(("extra (test)", extra, FileEffects::Mixed));
        Self::from_sources(&files)
    }

    fn from_sources(files: &[(&str, &str, FileEffects)]) -> Result<Self, AuthzError> {
        let (schema, schema_warnings) = Schema::from_cedarschema_str(SCHEMA_SRC)
            .map_err(|e| AuthzError::Schema(e.to_string()))?;
        let schema_warnings: Vec<String> = schema_warnings.map(|w| w.to_string()).collect();
        if !schema_warnings.is_empty() {
            return Err(AuthzError::Schema(schema_warnings.join("; ")));
        }

        let policies = load_policies(files)?;

        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        let mut problems: Vec<String> = result
            .validation_errors()
            .map(|e| format!("error in policy {}: {e}", e.policy_id()))
            .chain(
                result
                    .validation_warnings()
                    .map(|w| format!("warning in policy {}: {w}", w.policy_id())),
            )
            .collect();
        if !problems.is_empty() {
            problems.sort();
            return Err(AuthzError::Validation { problems });
        }

        let type_name = |name: &str| -> Result<EntityTypeName, AuthzError> {
            let full = format!("{NS}::{name}");
            EntityTypeName::from_str(&full).map_err(|e| AuthzError::Name {
                name: full.clone(),
                message: e.to_string(),
            })
        };
        let action_type = type_name("Action")?;
        let action_uid =
            |id: &str| EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(id));

        let action_uids: Vec<EntityUid> =
            Action::ALL.iter().map(|a| action_uid(a.as_str())).collect();
        let read_fields_uid = action_uid(READ_FIELDS);
        let role_type = type_name("Role")?;
        let kind_types: Vec<EntityTypeName> = ResourceKind::ALL
            .iter()
            .map(|k| type_name(k.cedar_type()))
            .collect::<Result<_, _>>()?;
        let field_group_type = type_name("FieldGroup")?;
        // Each Cedar action with the resource type the schema gives it, in
        // slice order (the registry's actions, then read_fields).
        let mut all_actions: Vec<(EntityUid, EntityTypeName)> = Vec::with_capacity(CEDAR_ACTIONS);
        for (action, uid) in Action::ALL.iter().zip(&action_uids) {
            let resource_type = kind_types
                .get(action.resource_kind() as usize)
                .cloned()
                .ok_or_else(|| AuthzError::Request(format!("no entity type for {action}")))?;
            all_actions.push((uid.clone(), resource_type));
        }
        all_actions.push((read_fields_uid.clone(), field_group_type.clone()));
        let slices = slice_policies(&policies, &role_type, &all_actions)?;

        Ok(Authorizer {
            user_type: type_name("User")?,
            role_type,
            field_group_type,
            record_kind_type: type_name("RecordKind")?,
            kind_types,
            action_uids,
            read_fields_uid,
            policies,
            slices,
            schema,
            engine: cedar_policy::Authorizer::new(),
        })
    }

    /// Decides whether `principal` may do `action` on `resource`.
    ///
    /// Never panics and never errors: a request that cannot be built or
    /// evaluated is denied with rules `["error"]`.
    pub fn decide(&self, principal: &Principal, action: Action, resource: &Resource) -> Decision {
        // The decision point must fail closed even if the policy engine
        // panicked on some odd input; `self` is read-only, so nothing can be
        // left half-updated by an unwind.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.try_decide(principal, action, resource)
        }))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(Decision::error)
    }

    /// Decides whether `principal` may see the fields of `group` of the record
    /// `resource` (Cedar action `read_fields` on `Registry::FieldGroup`, with
    /// the record's kind and scope attributes in the context).
    ///
    /// This comes on top of the record-level [`Authorizer::decide`], never
    /// instead of it. Only kinds that hold personal data have field groups;
    /// any other kind is denied with rules `["error"]`.
    pub fn may_read_fields(
        &self,
        principal: &Principal,
        group: FieldGroup,
        resource: &Resource,
    ) -> Decision {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.try_read_fields(principal, group, resource)
        }))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(Decision::error)
    }

    fn try_decide(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
    ) -> Result<Decision, AuthzError> {
        let (request, entities) = self.action_request(principal, action, resource, None)?;
        Ok(self.evaluate(principal.role, action as usize, &request, &entities))
    }

    fn try_read_fields(
        &self,
        principal: &Principal,
        group: FieldGroup,
        resource: &Resource,
    ) -> Result<Decision, AuthzError> {
        let (request, entities) = self.fields_request(principal, group, resource, None)?;
        Ok(self.evaluate(principal.role, READ_FIELDS_INDEX, &request, &entities))
    }

    /// Builds the Cedar request (checked against the schema) and the
    /// request's own entities (caller and resource) for an action.
    ///
    /// `decide` passes no `entity_schema`: the entities are built from typed
    /// Rust values, a test builds every shape with the schema to keep the two
    /// in step, and checking entities against the schema makes Cedar re-derive
    /// every action entity on each call. An entity that did not fit the schema
    /// could only make a policy error, and any evaluation error denies.
    fn action_request(
        &self,
        principal: &Principal,
        action: Action,
        resource: &Resource,
        entity_schema: Option<&Schema>,
    ) -> Result<(Request, Entities), AuthzError> {
        let kind = action.resource_kind();
        // The action fixes the resource kind; a mismatched resource is a caller
        // bug, and evaluating it as the action's kind would check the wrong
        // attributes.
        if resource.kind != kind {
            return Err(AuthzError::Request(format!(
                "action {action} applies to {}, not {}",
                kind.cedar_type(),
                resource.kind.cedar_type()
            )));
        }
        let (principal_uid, principal_entity) = self.principal_entity(principal)?;
        let resource_uid = self.uid(self.kind_type(kind)?, &resource.id);
        let resource_entity = Entity::new(
            resource_uid.clone(),
            self.resource_attrs(resource),
            HashSet::new(),
        )
        .map_err(request_error)?;
        let entities = Entities::from_entities([principal_entity, resource_entity], entity_schema)
            .map_err(request_error)?;
        let action_uid = self
            .action_uids
            .get(action as usize)
            .cloned()
            .ok_or_else(|| AuthzError::Request(format!("no uid for action {action}")))?;
        let request = Request::new(
            principal_uid,
            action_uid,
            resource_uid,
            Context::empty(),
            Some(&self.schema),
        )
        .map_err(request_error)?;
        Ok((request, entities))
    }

    /// Builds the Cedar request and entities for a field-group check: the
    /// resource is the field group, the record goes in the context (see
    /// [`Authorizer::action_request`] on `entity_schema`).
    fn fields_request(
        &self,
        principal: &Principal,
        group: FieldGroup,
        resource: &Resource,
        entity_schema: Option<&Schema>,
    ) -> Result<(Request, Entities), AuthzError> {
        if !resource.kind.is_personal_data() {
            return Err(AuthzError::Request(format!(
                "{} records have no field groups",
                resource.kind.cedar_type()
            )));
        }
        let (principal_uid, principal_entity) = self.principal_entity(principal)?;
        let group_uid = self.uid(&self.field_group_type, group.as_str());
        let mut pairs = vec![(
            "record_kind".to_owned(),
            RestrictedExpression::new_entity_uid(
                self.uid(&self.record_kind_type, resource.kind.cedar_type()),
            ),
        )];
        if let Some(facility) = present(&resource.facility) {
            pairs.push((
                "facility".to_owned(),
                RestrictedExpression::new_string(facility.to_owned()),
            ));
        }
        if let Some(municipality) = present(&resource.municipality) {
            pairs.push((
                "municipality".to_owned(),
                RestrictedExpression::new_string(municipality.to_owned()),
            ));
        }
        if let Some(reporter) = present(&resource.reporter) {
            pairs.push((
                "reporter".to_owned(),
                RestrictedExpression::new_entity_uid(self.uid(&self.user_type, reporter)),
            ));
        }
        let context = Context::from_pairs(pairs).map_err(request_error)?;
        let entities =
            Entities::from_entities([principal_entity], entity_schema).map_err(request_error)?;
        let request = Request::new(
            principal_uid,
            self.read_fields_uid.clone(),
            group_uid,
            context,
            Some(&self.schema),
        )
        .map_err(request_error)?;
        Ok((request, entities))
    }

    /// Runs the engine on the policies that can apply to this role and Cedar
    /// action, and turns its answer into a [`Decision`].
    fn evaluate(
        &self,
        role: Role,
        action_index: usize,
        request: &Request,
        entities: &Entities,
    ) -> Decision {
        let Some(policies) = self
            .slices
            .get(role as usize * CEDAR_ACTIONS + action_index)
        else {
            return Decision::error();
        };
        let response = self.engine.is_authorized(request, policies, entities);
        let diagnostics = response.diagnostics();
        // Cedar skips a policy whose evaluation errors. For a forbid that would
        // fail open, so any evaluation error denies the whole request. Strict
        // validation makes this unreachable for the shipped policies.
        if diagnostics.errors().next().is_some() {
            return Decision::error();
        }
        let mut rules: Vec<String> = diagnostics.reason().map(|id| id.to_string()).collect();
        rules.sort();
        let allowed = response.decision() == cedar_policy::Decision::Allow;
        if rules.is_empty() {
            // Cedar cannot allow without a satisfied permit; an empty reason is
            // therefore always the default deny.
            return Decision {
                allowed: false,
                rules: vec![DEFAULT_DENY.to_owned()],
            };
        }
        Decision { allowed, rules }
    }

    /// The caller as a Cedar entity: member of its role, with its own scope
    /// attributes only when it has them (policies test them with `has`).
    fn principal_entity(&self, principal: &Principal) -> Result<(EntityUid, Entity), AuthzError> {
        let uid = self.uid(&self.user_type, &principal.user_id);
        let mut attrs = HashMap::new();
        if let Some(facility) = present(&principal.facility) {
            attrs.insert(
                "facility".to_owned(),
                RestrictedExpression::new_string(facility.to_owned()),
            );
        }
        if let Some(municipality) = present(&principal.municipality) {
            attrs.insert(
                "municipality".to_owned(),
                RestrictedExpression::new_string(municipality.to_owned()),
            );
        }
        let parents = HashSet::from([self.uid(&self.role_type, principal.role.as_str())]);
        let entity = Entity::new(uid.clone(), attrs, parents).map_err(request_error)?;
        Ok((uid, entity))
    }

    /// The resource's attributes, exactly those the schema declares for its
    /// kind (a test keeps the two in step).
    fn resource_attrs(&self, resource: &Resource) -> HashMap<String, RestrictedExpression> {
        let mut attrs = HashMap::new();
        let kind = resource.kind;
        let has_facility = matches!(kind, ResourceKind::Episode | ResourceKind::Overdose);
        let has_municipality = kind == ResourceKind::SocialContact;
        let has_reporter = matches!(
            kind,
            ResourceKind::DeathNotification | ResourceKind::Overdose
        );
        if has_facility {
            if let Some(facility) = present(&resource.facility) {
                attrs.insert(
                    "facility".to_owned(),
                    RestrictedExpression::new_string(facility.to_owned()),
                );
            }
        }
        if has_municipality {
            if let Some(municipality) = present(&resource.municipality) {
                attrs.insert(
                    "municipality".to_owned(),
                    RestrictedExpression::new_string(municipality.to_owned()),
                );
            }
        }
        if has_reporter {
            if let Some(reporter) = present(&resource.reporter) {
                attrs.insert(
                    "reporter".to_owned(),
                    RestrictedExpression::new_entity_uid(self.uid(&self.user_type, reporter)),
                );
            }
        }
        if kind == ResourceKind::Overdose {
            attrs.insert(
                "emergency_capable".to_owned(),
                RestrictedExpression::new_bool(resource.emergency_capable),
            );
        }
        if kind == ResourceKind::DeathNotification {
            attrs.insert(
                "forensic_complete".to_owned(),
                RestrictedExpression::new_bool(resource.forensic_complete),
            );
        }
        attrs
    }

    fn uid(&self, type_name: &EntityTypeName, id: &str) -> EntityUid {
        EntityUid::from_type_name_and_id(type_name.clone(), EntityId::new(id))
    }

    fn kind_type(&self, kind: ResourceKind) -> Result<&EntityTypeName, AuthzError> {
        self.kind_types
            .get(kind as usize)
            .ok_or_else(|| AuthzError::Request(format!("no entity type for {}", kind.cedar_type())))
    }

    /// The decision for every role × every action × scope case, and every
    /// role × field group × scope case, sorted by role, action and scope case.
    ///
    /// Sample principal: user id `user-a`; clinicians and social workers also
    /// carry facility `fac-a` and municipality `mun-a`, the other roles
    /// neither. In-scope sample record: facility `fac-a`, municipality
    /// `mun-a`, reporter `user-a`; out-of-scope: `fac-b`, `mun-b`, `user-b`;
    /// both emergency-capable and with the forensic record not complete.
    /// National kinds get one `not_scoped` row.
    ///
    /// Field-group rows (`read_fields:<group>`) use the record kind each role
    /// works with: clinician Episode, social_worker SocialContact, police
    /// DeathNotification, forensic DeathRecord, auditor and admin Subject,
    /// analyst Episode (the records its aggregates come from).
    pub fn matrix(&self) -> Vec<MatrixRow> {
        let mut rows = Vec::new();
        for role in Role::ALL {
            let principal = sample_principal(role);
            for action in Action::ALL {
                for (scope, resource) in sample_resources(action.resource_kind()) {
                    let decision = self.decide(&principal, action, &resource);
                    rows.push(MatrixRow {
                        role,
                        action: action.as_str().to_owned(),
                        scope,
                        allowed: decision.allowed,
                        rules: decision.rules,
                    });
                }
            }
            for group in FieldGroup::ALL {
                for (scope, resource) in sample_resources(field_sample_kind(role)) {
                    let decision = self.may_read_fields(&principal, group, &resource);
                    rows.push(MatrixRow {
                        role,
                        action: format!("{READ_FIELDS}:{group}"),
                        scope,
                        allowed: decision.allowed,
                        rules: decision.rules,
                    });
                }
            }
        }
        rows.sort_by(|a, b| (a.role, &a.action, a.scope).cmp(&(b.role, &b.action, b.scope)));
        rows
    }

    /// The matrix as a stable text table: a header line, then one line per
    /// row with role, action, scope case, `allow`/`deny` and the deciding rule
    /// ids (comma-separated).
    pub fn render_matrix(&self) -> String {
        let rows = self.matrix();
        let action_width = rows
            .iter()
            .map(|r| r.action.len())
            .max()
            .unwrap_or(0)
            .max("action".len());
        let mut out = format!(
            "{:<13} {:<action_width$} {:<12} {:<8} {}\n",
            "role", "action", "scope", "decision", "rules"
        );
        for row in rows {
            let line = format!(
                "{:<13} {:<action_width$} {:<12} {:<8} {}",
                row.role.as_str(),
                row.action,
                row.scope.as_str(),
                if row.allowed { "allow" } else { "deny" },
                row.rules.join(",")
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A scope value that is really there. Blank values count as absent: a
/// misconfigured account with facility "" must not match a record whose
/// facility is also "" (and likewise an empty reporter must not match an
/// empty user id).
fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// Maps any Cedar request-building error to [`AuthzError::Request`].
fn request_error(e: impl fmt::Display) -> AuthzError {
    AuthzError::Request(e.to_string())
}

/// Splits the policy set by (role, Cedar action), keeping in each slice every
/// policy whose head could match. Anything the analysis does not understand
/// (a principal constraint on something other than a role, an action that is
/// not one of ours) is kept, so slicing can only ever keep too much.
fn slice_policies(
    policies: &PolicySet,
    role_type: &EntityTypeName,
    actions: &[(EntityUid, EntityTypeName)],
) -> Result<Vec<PolicySet>, AuthzError> {
    let known = |uid: &EntityUid| actions.iter().any(|(a, _)| a == uid);
    let mut slices = Vec::with_capacity(Role::ALL.len() * actions.len());
    for role in Role::ALL {
        for (action, resource_type) in actions {
            let mut slice = PolicySet::new();
            for policy in policies.policies() {
                if head_may_match(policy, role, role_type, action, resource_type, &known) {
                    slice
                        .add(policy.clone())
                        .map_err(|e| AuthzError::PolicyParse {
                            file: "(policy slice)".to_owned(),
                            message: e.to_string(),
                        })?;
                }
            }
            slices.push(slice);
        }
    }
    Ok(slices)
}

/// Whether a policy's head can match a principal of `role` doing `action` on
/// a resource of `resource_type`. The adapter makes each principal a member
/// of exactly one role, and the schema fixes each action's resource type
/// (requests are validated against it).
fn head_may_match(
    policy: &Policy,
    role: Role,
    role_type: &EntityTypeName,
    action: &EntityUid,
    resource_type: &EntityTypeName,
    known: &impl Fn(&EntityUid) -> bool,
) -> bool {
    let principal_ok = match policy.principal_constraint() {
        PrincipalConstraint::In(uid) | PrincipalConstraint::IsIn(_, uid) => {
            uid.type_name() != role_type || uid.id().unescaped() == role.as_str()
        }
        PrincipalConstraint::Any | PrincipalConstraint::Eq(_) | PrincipalConstraint::Is(_) => true,
    };
    let action_ok = match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(uid) => &uid == action || !known(&uid),
        ActionConstraint::In(uids) => uids.iter().any(|uid| uid == action || !known(uid)),
    };
    let resource_ok = match policy.resource_constraint() {
        ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => &t == resource_type,
        ResourceConstraint::Eq(uid) => uid.type_name() == resource_type,
        ResourceConstraint::Any | ResourceConstraint::In(_) => true,
    };
    principal_ok && action_ok && resource_ok
}

/// Parses the policy files into one set whose policy ids are the `@id`
/// annotations, so Cedar's decision reasons are the rule names themselves.
fn load_policies(files: &[(&str, &str, FileEffects)]) -> Result<PolicySet, AuthzError> {
    let mut set = PolicySet::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for &(file, src, effects) in files {
        let parsed = PolicySet::from_str(src).map_err(|e| AuthzError::PolicyParse {
            file: file.to_owned(),
            message: e
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        })?;
        if parsed.templates().next().is_some() {
            return Err(AuthzError::TemplateNotAllowed {
                file: file.to_owned(),
            });
        }
        // Cedar names parsed policies policy0, policy1, ... in file order;
        // sort by that number so errors point at the first offender.
        let mut in_file: Vec<(usize, &cedar_policy::Policy)> = parsed
            .policies()
            .map(|p| {
                let n = p
                    .id()
                    .to_string()
                    .trim_start_matches("policy")
                    .parse::<usize>()
                    .unwrap_or(usize::MAX);
                (n, p)
            })
            .collect();
        in_file.sort_by_key(|(n, _)| *n);
        for (position, (_, policy)) in in_file.into_iter().enumerate() {
            let id = match policy.annotation("id") {
                Some(id) if !id.trim().is_empty() => id.to_owned(),
                _ => {
                    return Err(AuthzError::MissingId {
                        file: file.to_owned(),
                        position: position + 1,
                    });
                }
            };
            if id == DEFAULT_DENY || id == ERROR_RULE {
                return Err(AuthzError::ReservedId {
                    id,
                    file: file.to_owned(),
                });
            }
            let found = match policy.effect() {
                Effect::Permit => "permit",
                Effect::Forbid => "forbid",
            };
            let allowed = match effects {
                FileEffects::PermitOnly => Some("permit"),
                FileEffects::ForbidOnly => Some("forbid"),
                FileEffects::Mixed => None,
            };
            if let Some(allowed) = allowed {
                if found != allowed {
                    return Err(AuthzError::WrongEffect {
                        id,
                        file: file.to_owned(),
                        found,
                        allowed,
                    });
                }
            }
            if let Some(first) = seen.insert(id.clone(), file.to_owned()) {
                return Err(AuthzError::DuplicateId {
                    id,
                    first,
                    second: file.to_owned(),
                });
            }
            set.add(policy.new_id(PolicyId::new(&id)))
                .map_err(|e| AuthzError::PolicyParse {
                    file: file.to_owned(),
                    message: e.to_string(),
                })?;
        }
    }
    Ok(set)
}

// ------------------------------------------------------------------ matrix samples

/// User id of the matrix's sample principal.
const SAMPLE_USER: &str = "user-a";

/// The matrix's sample principal for a role.
fn sample_principal(role: Role) -> Principal {
    let scoped = matches!(role, Role::Clinician | Role::SocialWorker);
    Principal {
        user_id: SAMPLE_USER.to_owned(),
        role,
        facility: scoped.then(|| "fac-a".to_owned()),
        municipality: scoped.then(|| "mun-a".to_owned()),
    }
}

/// The matrix's sample resources of a kind, with their scope case.
fn sample_resources(kind: ResourceKind) -> Vec<(ScopeCase, Resource)> {
    if kind.scope() == Scope::National {
        return vec![(ScopeCase::NotScoped, Resource::national(kind, "sample"))];
    }
    let sample = |id: &str, suffix: &str| Resource {
        kind,
        id: id.to_owned(),
        facility: Some(format!("fac-{suffix}")),
        municipality: Some(format!("mun-{suffix}")),
        reporter: Some(format!("user-{suffix}")),
        emergency_capable: true,
        forensic_complete: false,
    };
    vec![
        (ScopeCase::InScope, sample("sample-in", "a")),
        (ScopeCase::OutOfScope, sample("sample-out", "b")),
    ]
}

/// The record kind used for a role's field-group rows in the matrix.
fn field_sample_kind(role: Role) -> ResourceKind {
    match role {
        Role::Clinician | Role::Analyst => ResourceKind::Episode,
        Role::SocialWorker => ResourceKind::SocialContact,
        Role::Police => ResourceKind::DeathNotification,
        Role::Forensic => ResourceKind::DeathRecord,
        Role::Auditor | Role::Admin | Role::Registrar => ResourceKind::Subject,
    }
}
