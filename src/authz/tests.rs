//! Tests of the access-control policies and their adapter.
//!
//! The expected decisions below are written out from the role table of the
//! design brief, independently of the policy files, so a policy edit that
//! changes who may do what fails here until the table is changed too.

use super::*;

use ScopeCase::{InScope, NotScoped, OutOfScope};

/// Extra policy text that permits everything: used to show that the
/// guardrails hold against a careless future permit.
const PERMIT_EVERYTHING: &str = r#"
@id("test-permit-everything")
permit (principal, action, resource);
"#;

fn authorizer() -> Authorizer {
    match Authorizer::new() {
        Ok(a) => a,
        Err(e) => panic!("embedded policies must load: {e}"),
    }
}

fn principal(role: Role, facility: Option<&str>, municipality: Option<&str>) -> Principal {
    Principal {
        user_id: SAMPLE_USER.to_owned(),
        role,
        facility: facility.map(str::to_owned),
        municipality: municipality.map(str::to_owned),
    }
}

fn record(
    kind: ResourceKind,
    facility: Option<&str>,
    municipality: Option<&str>,
    reporter: Option<&str>,
) -> Resource {
    Resource {
        kind,
        id: "rec-1".to_owned(),
        facility: facility.map(str::to_owned),
        municipality: municipality.map(str::to_owned),
        reporter: reporter.map(str::to_owned),
        emergency_capable: true,
        forensic_complete: false,
    }
}

// ------------------------------------------------------------------ loading

#[test]
fn policies_validate_against_schema_in_strict_mode() {
    let a = authorizer();
    assert!(a.policies.num_of_policies() > 20);
    // Re-run the validator explicitly so this test states what it checks.
    let result = Validator::new(a.schema.clone()).validate(&a.policies, ValidationMode::Strict);
    assert!(result.validation_passed_without_warnings(), "{result}");
}

#[test]
fn policy_ids_are_the_id_annotations() {
    let a = authorizer();
    for policy in a.policies.policies() {
        assert_eq!(
            Some(policy.id().to_string().as_str()),
            policy.annotation("id")
        );
        if policy.effect() == Effect::Forbid {
            assert!(
                policy.id().to_string().starts_with("guardrail-"),
                "{}",
                policy.id()
            );
        } else {
            assert!(
                !policy.id().to_string().starts_with("guardrail-"),
                "{}",
                policy.id()
            );
        }
    }
}

fn load_err(files: &[(&str, &str, FileEffects)]) -> AuthzError {
    match Authorizer::from_sources(files) {
        Ok(_) => panic!("policy set should have been rejected"),
        Err(e) => e,
    }
}

#[test]
fn policy_without_id_is_rejected() {
    let e = load_err(&[(
        "x.cedar",
        "@id(\"a\") permit (principal, action, resource is Registry::Reference);\n\
         permit (principal, action, resource is Registry::Reference);",
        FileEffects::Mixed,
    )]);
    assert!(
        matches!(e, AuthzError::MissingId { position: 2, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("x.cedar"), "{e}");

    let e = load_err(&[(
        "x.cedar",
        "@id(\"  \") permit (principal, action, resource is Registry::Reference);",
        FileEffects::Mixed,
    )]);
    assert!(matches!(e, AuthzError::MissingId { .. }), "{e}");
}

#[test]
fn duplicate_and_reserved_ids_are_rejected() {
    let e = load_err(&[
        (
            "a.cedar",
            "@id(\"same\") permit (principal, action, resource is Registry::Reference);",
            FileEffects::Mixed,
        ),
        (
            "b.cedar",
            "@id(\"same\") forbid (principal, action, resource is Registry::Export);",
            FileEffects::Mixed,
        ),
    ]);
    assert!(matches!(e, AuthzError::DuplicateId { .. }), "{e}");
    assert!(
        e.to_string().contains("a.cedar") && e.to_string().contains("b.cedar"),
        "{e}"
    );

    for reserved in [DEFAULT_DENY, ERROR_RULE] {
        let src = format!(
            "@id(\"{reserved}\") permit (principal, action, resource is Registry::Reference);"
        );
        let e = load_err(&[("a.cedar", &src, FileEffects::Mixed)]);
        assert!(matches!(e, AuthzError::ReservedId { .. }), "{e}");
    }
}

#[test]
fn effects_must_match_their_file() {
    let e = load_err(&[(
        "guardrails.cedar",
        "@id(\"sneaky\") permit (principal, action, resource);",
        FileEffects::ForbidOnly,
    )]);
    assert!(
        matches!(
            e,
            AuthzError::WrongEffect {
                found: "permit",
                ..
            }
        ),
        "{e}"
    );
    let e = load_err(&[(
        "roles.cedar",
        "@id(\"oops\") forbid (principal, action, resource);",
        FileEffects::PermitOnly,
    )]);
    assert!(
        matches!(
            e,
            AuthzError::WrongEffect {
                found: "forbid",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn templates_and_parse_errors_are_rejected() {
    let e = load_err(&[(
        "t.cedar",
        "@id(\"t\") permit (principal == ?principal, action, resource);",
        FileEffects::Mixed,
    )]);
    assert!(matches!(e, AuthzError::TemplateNotAllowed { .. }), "{e}");
    let e = load_err(&[(
        "p.cedar",
        "@id(\"p\") permit (principal, action, resource",
        FileEffects::Mixed,
    )]);
    assert!(matches!(e, AuthzError::PolicyParse { .. }), "{e}");
}

#[test]
fn validation_errors_are_listed_with_their_policy() {
    let e = load_err(&[(
        "bad.cedar",
        r#"
        @id("misspelt-role")
        permit (principal in Registry::Role::"clinican", action, resource is Registry::Reference);
        @id("unguarded-optional")
        permit (principal, action == Registry::Action::"read_episode", resource is Registry::Episode)
        when { principal.facility == resource.facility };
        @id("unknown-attribute")
        permit (principal, action, resource is Registry::Episode) when { resource.owner == "x" };
        "#,
        FileEffects::Mixed,
    )]);
    let AuthzError::Validation { problems } = &e else {
        panic!("expected a validation error, got {e}");
    };
    let text = e.to_string();
    for id in ["misspelt-role", "unguarded-optional", "unknown-attribute"] {
        assert!(
            problems.iter().any(|p| p.contains(id)),
            "{id} missing from {text}"
        );
    }
}

#[test]
fn authorizer_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Authorizer>();
    assert_send_sync::<std::sync::Arc<Authorizer>>();
}

#[test]
fn built_requests_conform_to_the_schema() {
    // decide() skips schema checks on entities for speed; this builds every
    // request shape with them to keep the adapter's attribute sets and the
    // schema in step.
    let a = authorizer();
    for role in Role::ALL {
        let p = principal(role, Some("fac-a"), Some("mun-a"));
        for action in Action::ALL {
            let r = record(
                action.resource_kind(),
                Some("fac-a"),
                Some("mun-a"),
                Some("user-a"),
            );
            if let Err(e) = a.action_request(&p, action, &r, Some(&a.schema)) {
                panic!("{role} {action}: request does not conform to the schema: {e}");
            }
        }
        for kind in ResourceKind::ALL
            .into_iter()
            .filter(|k| k.is_personal_data())
        {
            for group in FieldGroup::ALL {
                for r in [
                    record(kind, Some("fac-a"), Some("mun-a"), Some("user-a")),
                    record(kind, None, None, None),
                ] {
                    if let Err(e) = a.fields_request(&p, group, &r, Some(&a.schema)) {
                        panic!(
                            "{role} {group} {kind:?}: request does not conform to the schema: {e}"
                        );
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------------ names

#[test]
fn role_names_round_trip() {
    let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "clinician",
            "social_worker",
            "police",
            "forensic",
            "analyst",
            "auditor",
            "admin",
            "registrar"
        ]
    );
    for role in Role::ALL {
        assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        let json = serde_json::to_string(&role).unwrap_or_default();
        assert_eq!(json, format!("\"{}\"", role.as_str()));
        assert_eq!(serde_json::from_str::<Role>(&json).ok(), Some(role));
    }
    let e = match "doctor".parse::<Role>() {
        Ok(r) => panic!("parsed {r}"),
        Err(e) => e.to_string(),
    };
    for role in Role::ALL {
        assert!(e.contains(role.as_str()), "{e}");
    }
    assert!(e.contains("doctor"), "{e}");
}

#[test]
fn action_and_field_group_names_round_trip() {
    assert_eq!(Action::ALL.len(), 35);
    let ids: HashSet<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    assert_eq!(ids.len(), Action::ALL.len());
    for action in Action::ALL {
        assert_eq!(action.as_str().parse::<Action>().ok(), Some(action));
    }
    assert!("read_everything".parse::<Action>().is_err());
    for group in FieldGroup::ALL {
        assert_eq!(group.as_str().parse::<FieldGroup>().ok(), Some(group));
        let json = serde_json::to_string(&group).unwrap_or_default();
        assert_eq!(json, format!("\"{}\"", group.as_str()));
    }
    assert!("dna".parse::<FieldGroup>().is_err());
}

#[test]
fn personal_data_actions() {
    use ResourceKind as K;
    let personal = [
        K::Subject,
        K::Episode,
        K::OstQuery,
        K::SocialContact,
        K::DeathNotification,
        K::DeathRecord,
        K::Overdose,
        K::AuditLog,
    ];
    for action in Action::ALL {
        assert_eq!(
            action.is_personal_data(),
            personal.contains(&action.resource_kind()),
            "{action}"
        );
    }
}

#[test]
fn resource_kind_scopes() {
    use ResourceKind as K;
    for kind in K::ALL {
        let expected = match kind {
            K::Episode | K::Overdose => Scope::Facility,
            K::SocialContact => Scope::Municipality,
            K::DeathNotification => Scope::Reporter,
            _ => Scope::National,
        };
        assert_eq!(kind.scope(), expected, "{kind:?}");
    }
}

// ------------------------------------------------------------------ the role table

/// Every (role, action, scope case) that is allowed for the matrix samples;
/// everything else must be denied. Written from the design's role table.
fn expected_action_allows() -> Vec<(Role, Action, ScopeCase)> {
    use Action as A;
    let mut allows = Vec::new();
    for role in Role::ALL {
        allows.push((role, A::ReadReference, NotScoped));
    }
    let national = |role, actions: &[Action], out: &mut Vec<_>| {
        for &a in actions {
            out.push((role, a, NotScoped));
        }
    };
    let in_scope = |role, actions: &[Action], out: &mut Vec<_>| {
        for &a in actions {
            out.push((role, a, InScope));
        }
    };
    national(
        Role::Admin,
        &[
            A::ManageUsers,
            A::ShredSubject,
            A::ReadKeyStatus,
            A::ManageFacilities,
        ],
        &mut allows,
    );
    national(
        Role::Auditor,
        &[A::ReadAudit, A::VerifyAudit, A::SubjectAccessReport],
        &mut allows,
    );
    national(
        Role::Registrar,
        &[A::ReviewLinks, A::DecideLinks],
        &mut allows,
    );
    in_scope(
        Role::Clinician,
        &[
            A::CreateEpisode,
            A::ReadEpisode,
            A::UpdateEpisode,
            A::ListEpisodes,
            A::CreateOverdose,
            A::ReadOverdose,
            A::ListOverdoses,
        ],
        &mut allows,
    );
    national(Role::Clinician, &[A::CheckOst], &mut allows);
    in_scope(
        Role::SocialWorker,
        &[
            A::CreateSocialContact,
            A::ReadSocialContact,
            A::ListSocialContacts,
        ],
        &mut allows,
    );
    in_scope(
        Role::Police,
        &[
            A::CreateDeathNotification,
            A::ReadDeathNotification,
            A::UpdateDeathNotification,
            A::ListDeathNotifications,
            A::CreateOverdose,
            A::ReadOverdose,
        ],
        &mut allows,
    );
    // Forensic medicine reads every notification (national), in or out of
    // the sample's scope.
    in_scope(Role::Forensic, &[A::ReadDeathNotification], &mut allows);
    allows.push((Role::Forensic, A::ReadDeathNotification, OutOfScope));
    national(
        Role::Forensic,
        &[
            A::CreateDeathRecord,
            A::ReadDeathRecord,
            A::UpdateDeathRecord,
            A::ListDeathRecords,
            A::LinkDeath,
            A::ListNewSubstances,
        ],
        &mut allows,
    );
    national(
        Role::Analyst,
        &[
            A::ListExportTables,
            A::RunExport,
            A::FreezeYear,
            A::RunStatutoryExport,
        ],
        &mut allows,
    );
    allows
}

/// Every (role, field group, scope case) allowed in the matrix's field rows
/// (record kinds per role as documented on [`Authorizer::matrix`]).
fn expected_field_allows() -> Vec<(Role, FieldGroup, ScopeCase)> {
    use FieldGroup as G;
    vec![
        (Role::Clinician, G::Identity, InScope),
        (Role::Clinician, G::Clinical, InScope),
        (Role::Clinician, G::HealthSensitive, InScope),
        (Role::SocialWorker, G::Identity, InScope),
        (Role::SocialWorker, G::Social, InScope),
        (Role::Police, G::PoliceCircumstances, InScope),
        (Role::Forensic, G::Identity, NotScoped),
        (Role::Forensic, G::ForensicFindings, NotScoped),
        (Role::Forensic, G::PoliceCircumstances, NotScoped),
        (Role::Auditor, G::Identity, NotScoped),
        (Role::Registrar, G::Identity, NotScoped),
    ]
}

#[test]
fn every_role_and_action_matches_the_role_table() {
    let a = authorizer();
    let allows: HashSet<(Role, String, ScopeCase)> = expected_action_allows()
        .into_iter()
        .map(|(r, act, s)| (r, act.as_str().to_owned(), s))
        .chain(
            expected_field_allows()
                .into_iter()
                .map(|(r, g, s)| (r, format!("read_fields:{g}"), s)),
        )
        .collect();
    let rows = a.matrix();
    let mut seen = HashSet::new();
    let mut mismatches = Vec::new();
    for row in &rows {
        let key = (row.role, row.action.clone(), row.scope);
        let expected = allows.contains(&key);
        if row.allowed != expected {
            mismatches.push(format!(
                "{} {} {}: got {} by {:?}",
                row.role,
                row.action,
                row.scope.as_str(),
                row.allowed,
                row.rules
            ));
        }
        assert!(!row.rules.is_empty());
        assert_ne!(row.rules, [ERROR_RULE], "request failed for {key:?}");
        if row.allowed {
            assert!(
                row.rules.iter().all(|r| !r.starts_with("guardrail-")),
                "{key:?}"
            );
        }
        seen.insert(key);
    }
    assert!(
        mismatches.is_empty(),
        "decisions differ from the role table:\n{}",
        mismatches.join("\n")
    );
    // Every expected allow appeared as a row.
    for key in &allows {
        assert!(seen.contains(key), "no matrix row for {key:?}");
    }
    // Row count: role × (per action one or two scope cases + per group one or two).
    let action_cases: usize = Action::ALL
        .iter()
        .map(|a| sample_resources(a.resource_kind()).len())
        .sum();
    let field_cases: usize = Role::ALL
        .iter()
        .map(|r| FieldGroup::ALL.len() * sample_resources(field_sample_kind(*r)).len())
        .sum();
    assert_eq!(rows.len(), Role::ALL.len() * action_cases + field_cases);
}

#[test]
fn allows_name_the_expected_rule() {
    let a = authorizer();
    let cases = [
        (
            Role::Clinician,
            Action::ReadEpisode,
            "clinician-episode-own-facility",
        ),
        (Role::Clinician, Action::CheckOst, "clinician-check-ost"),
        (
            Role::Police,
            Action::UpdateDeathNotification,
            "police-update-own-death-notification",
        ),
        (Role::Forensic, Action::LinkDeath, "forensic-death-record"),
        (Role::Analyst, Action::RunExport, "analyst-export"),
        (
            Role::Auditor,
            Action::SubjectAccessReport,
            "auditor-subject-access-report",
        ),
        (Role::Admin, Action::ShredSubject, "admin-shred-subject"),
    ];
    for (role, action, rule) in cases {
        let p = sample_principal(role);
        let (_, r) = sample_resources(action.resource_kind()).remove(0);
        assert_eq!(
            a.decide(&p, action, &r),
            Decision {
                allowed: true,
                rules: vec![rule.to_owned()]
            }
        );
    }
    let d = a.decide(
        &sample_principal(Role::Analyst),
        Action::ManageUsers,
        &Resource::national(ResourceKind::UserAccount, "u"),
    );
    assert_eq!(
        d,
        Decision {
            allowed: false,
            rules: vec![DEFAULT_DENY.to_owned()]
        }
    );
}

#[test]
fn police_cannot_update_after_forensic_completion() {
    let a = authorizer();
    let p = principal(Role::Police, None, None);
    let mut r = record(
        ResourceKind::DeathNotification,
        None,
        None,
        Some(SAMPLE_USER),
    );
    assert!(a.decide(&p, Action::UpdateDeathNotification, &r).allowed);
    r.forensic_complete = true;
    let d = a.decide(&p, Action::UpdateDeathNotification, &r);
    assert!(!d.allowed);
    // Still readable by its reporter.
    assert!(a.decide(&p, Action::ReadDeathNotification, &r).allowed);
}

#[test]
fn clinician_overdose_needs_an_emergency_capable_facility() {
    let a = authorizer();
    let p = principal(Role::Clinician, Some("fac-a"), None);
    let mut r = record(ResourceKind::Overdose, Some("fac-a"), None, None);
    assert!(a.decide(&p, Action::CreateOverdose, &r).allowed);
    r.emergency_capable = false;
    for action in [
        Action::CreateOverdose,
        Action::ReadOverdose,
        Action::ListOverdoses,
    ] {
        assert!(!a.decide(&p, action, &r).allowed, "{action}");
    }
}

#[test]
fn police_reporter_is_checked_for_creates_and_reads() {
    let a = authorizer();
    let p = principal(Role::Police, None, None);
    for (kind, action) in [
        (
            ResourceKind::DeathNotification,
            Action::CreateDeathNotification,
        ),
        (
            ResourceKind::DeathNotification,
            Action::ReadDeathNotification,
        ),
        (ResourceKind::Overdose, Action::CreateOverdose),
        (ResourceKind::Overdose, Action::ReadOverdose),
    ] {
        assert!(
            a.decide(&p, action, &record(kind, None, None, Some(SAMPLE_USER)))
                .allowed,
            "{action}"
        );
        assert!(
            !a.decide(&p, action, &record(kind, None, None, Some("user-b")))
                .allowed,
            "{action}"
        );
        assert!(
            !a.decide(&p, action, &record(kind, None, None, None))
                .allowed,
            "{action}"
        );
    }
}

// ------------------------------------------------------------------ scope

#[test]
fn principal_without_facility_never_gets_facility_scoped_access() {
    let a = authorizer();
    let scoped_actions: Vec<Action> = Action::ALL
        .into_iter()
        .filter(|a| a.resource_kind().scope() == Scope::Facility)
        .collect();
    assert!(scoped_actions.len() >= 7);
    for role in Role::ALL {
        // No facility at all, and blank facilities (a misconfigured account)
        // against records with no facility or a blank one.
        for own in [None, Some(""), Some("  ")] {
            let p = principal(role, own, Some("mun-a"));
            for theirs in [None, Some(""), Some("fac-a")] {
                let r = record(ResourceKind::Episode, theirs, Some("mun-a"), None);
                for &action in &scoped_actions {
                    let mut r = r.clone();
                    r.kind = action.resource_kind();
                    let d = a.decide(&p, action, &r);
                    // Police's own overdose reports are reporter-scoped, not
                    // facility-scoped; the record has no reporter here.
                    assert!(
                        !d.allowed,
                        "{role} {action} own={own:?} theirs={theirs:?}: {d:?}"
                    );
                }
                for group in FieldGroup::ALL {
                    for kind in [ResourceKind::Episode, ResourceKind::Overdose] {
                        let r = record(kind, theirs, Some("mun-a"), None);
                        assert!(
                            !a.may_read_fields(&p, group, &r).allowed,
                            "{role} {group} own={own:?}"
                        );
                    }
                }
            }
        }
        // A clinician without a facility may not ask the OST question either.
        let d = a.decide(
            &principal(Role::Clinician, None, None),
            Action::CheckOst,
            &Resource::national(ResourceKind::OstQuery, "q"),
        );
        assert!(!d.allowed);
    }
}

#[test]
fn principal_without_municipality_never_gets_municipality_scoped_access() {
    let a = authorizer();
    for own in [None, Some("")] {
        let p = principal(Role::SocialWorker, Some("fac-a"), own);
        for theirs in [None, Some(""), Some("mun-a")] {
            let r = record(ResourceKind::SocialContact, Some("fac-a"), theirs, None);
            for action in [
                Action::CreateSocialContact,
                Action::ReadSocialContact,
                Action::ListSocialContacts,
            ] {
                assert!(
                    !a.decide(&p, action, &r).allowed,
                    "{action} own={own:?} theirs={theirs:?}"
                );
            }
            for group in FieldGroup::ALL {
                assert!(!a.may_read_fields(&p, group, &r).allowed);
            }
        }
    }
}

#[test]
fn empty_reporter_never_matches_empty_user_id() {
    let a = authorizer();
    let p = Principal {
        user_id: String::new(),
        role: Role::Police,
        facility: None,
        municipality: None,
    };
    let r = record(ResourceKind::DeathNotification, None, None, Some(""));
    assert!(!a.decide(&p, Action::ReadDeathNotification, &r).allowed);
    assert!(
        !a.may_read_fields(&p, FieldGroup::PoliceCircumstances, &r)
            .allowed
    );
}

#[test]
fn scope_is_the_principals_own() {
    // The same record, two clinicians: only the one at its facility may read.
    let a = authorizer();
    let r = record(ResourceKind::Episode, Some("fac-a"), None, None);
    assert!(
        a.decide(
            &principal(Role::Clinician, Some("fac-a"), None),
            Action::ReadEpisode,
            &r
        )
        .allowed
    );
    assert!(
        !a.decide(
            &principal(Role::Clinician, Some("fac-b"), None),
            Action::ReadEpisode,
            &r
        )
        .allowed
    );
    // Scope strings are compared exactly (no case folding or trimming).
    assert!(
        !a.decide(
            &principal(Role::Clinician, Some("FAC-A"), None),
            Action::ReadEpisode,
            &r
        )
        .allowed
    );
    assert!(
        !a.decide(
            &principal(Role::Clinician, Some("fac-a "), None),
            Action::ReadEpisode,
            &r
        )
        .allowed
    );
}

// ------------------------------------------------------------------ guardrails

/// The design's "never" column as (role, kinds, the guardrail that must deny).
fn never_actions() -> Vec<(Role, Vec<ResourceKind>, &'static str)> {
    use ResourceKind as K;
    let mut never = vec![
        (
            Role::Police,
            vec![K::Episode, K::OstQuery],
            "guardrail-police-no-treatment",
        ),
        (
            Role::Police,
            vec![K::SocialContact],
            "guardrail-police-no-social",
        ),
        (
            Role::Police,
            vec![K::DeathRecord, K::SubstanceSignal],
            "guardrail-police-no-forensic",
        ),
        (
            Role::Police,
            vec![K::Subject],
            "guardrail-police-no-subject",
        ),
        (
            Role::Analyst,
            vec![
                K::Subject,
                K::Episode,
                K::OstQuery,
                K::SocialContact,
                K::DeathNotification,
                K::DeathRecord,
                K::Overdose,
                K::AuditLog,
                K::SubstanceSignal,
            ],
            "guardrail-analyst-no-records",
        ),
        (
            Role::Forensic,
            vec![K::Episode, K::SocialContact, K::OstQuery],
            "guardrail-forensic-no-treatment-social",
        ),
        (
            Role::SocialWorker,
            vec![
                K::Episode,
                K::OstQuery,
                K::DeathNotification,
                K::DeathRecord,
                K::Overdose,
            ],
            "guardrail-social-worker-no-health-deaths",
        ),
        (
            Role::Clinician,
            vec![
                K::SocialContact,
                K::DeathNotification,
                K::DeathRecord,
                K::SubstanceSignal,
                K::Export,
            ],
            "guardrail-clinician-no-social-deaths-exports",
        ),
    ];
    for (role, guardrail) in [
        (Role::Admin, "guardrail-admin-no-health-data"),
        (Role::Auditor, "guardrail-auditor-no-health-data"),
        (Role::Registrar, "guardrail-registrar-no-health-data"),
    ] {
        never.push((
            role,
            vec![
                K::Episode,
                K::SocialContact,
                K::DeathNotification,
                K::DeathRecord,
                K::Overdose,
                K::OstQuery,
            ],
            guardrail,
        ));
    }
    for role in Role::ALL.into_iter().filter(|r| *r != Role::Analyst) {
        never.push((role, vec![K::Export], "guardrail-export-analyst-only"));
    }
    never
}

/// Field-level "never": (role, groups, the guardrail that must deny).
fn never_fields() -> Vec<(Role, Vec<FieldGroup>, &'static str)> {
    use FieldGroup as G;
    let mut never = vec![
        (Role::Admin, G::ALL.to_vec(), "guardrail-fields-admin-none"),
        (
            Role::Analyst,
            G::ALL.to_vec(),
            "guardrail-fields-analyst-none",
        ),
        (
            Role::Auditor,
            vec![
                G::Clinical,
                G::HealthSensitive,
                G::ForensicFindings,
                G::Social,
                G::PoliceCircumstances,
                G::Linkage,
            ],
            "guardrail-fields-auditor-identity-only",
        ),
        (
            Role::Registrar,
            vec![
                G::Clinical,
                G::HealthSensitive,
                G::ForensicFindings,
                G::Social,
                G::PoliceCircumstances,
                G::Linkage,
            ],
            "guardrail-fields-registrar-identity-only",
        ),
        (
            Role::Police,
            vec![
                G::Identity,
                G::Clinical,
                G::HealthSensitive,
                G::Social,
                G::ForensicFindings,
                G::Linkage,
            ],
            "guardrail-fields-police-circumstances-only",
        ),
        (
            Role::SocialWorker,
            vec![
                G::Clinical,
                G::HealthSensitive,
                G::ForensicFindings,
                G::PoliceCircumstances,
            ],
            "guardrail-fields-social-worker-no-clinical",
        ),
        (
            Role::Clinician,
            vec![G::Social, G::ForensicFindings],
            "guardrail-fields-clinician-no-social-forensic",
        ),
        (
            Role::Forensic,
            vec![G::Clinical, G::HealthSensitive, G::Social],
            "guardrail-fields-forensic-no-treatment-social",
        ),
    ];
    for role in Role::ALL {
        never.push((role, vec![G::Linkage], "guardrail-fields-linkage-nobody"));
    }
    never
}

#[test]
fn guardrails_hold_against_an_over_broad_permit() {
    let open = match Authorizer::with_extra_policies(PERMIT_EVERYTHING) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    // The extra permit is live: it opens something normally denied.
    let d = open.decide(
        &sample_principal(Role::Analyst),
        Action::ManageUsers,
        &Resource::national(ResourceKind::UserAccount, "u"),
    );
    assert_eq!(
        d,
        Decision {
            allowed: true,
            rules: vec!["test-permit-everything".to_owned()]
        }
    );

    let mut exercised = HashSet::new();
    for (role, kinds, guardrail) in never_actions() {
        let p = sample_principal(role);
        for action in Action::ALL
            .into_iter()
            .filter(|a| kinds.contains(&a.resource_kind()))
        {
            for (scope, r) in sample_resources(action.resource_kind()) {
                let d = open.decide(&p, action, &r);
                assert!(
                    !d.allowed,
                    "{role} {action} {scope:?} opened by an over-broad permit"
                );
                assert!(
                    d.rules.iter().any(|r| r == guardrail),
                    "{role} {action}: {:?} lacks {guardrail}",
                    d.rules
                );
                exercised.insert(guardrail);
            }
        }
    }
    for (role, groups, guardrail) in never_fields() {
        let p = sample_principal(role);
        for group in groups {
            // Every record kind, in and out of scope: no record makes a
            // forbidden field group readable.
            for kind in ResourceKind::ALL
                .into_iter()
                .filter(|k| k.is_personal_data())
            {
                for (scope, r) in sample_resources(kind) {
                    let d = open.may_read_fields(&p, group, &r);
                    assert!(
                        !d.allowed,
                        "{role} {group} on {kind:?} {scope:?} opened by an over-broad permit"
                    );
                    assert!(
                        d.rules.iter().any(|r| r == guardrail),
                        "{role} {group}: {:?} lacks {guardrail}",
                        d.rules
                    );
                    exercised.insert(guardrail);
                }
            }
        }
    }
    // Every guardrail in the policy files is covered by the tables above.
    for policy in open
        .policies
        .policies()
        .filter(|p| p.effect() == Effect::Forbid)
    {
        let id = policy.id().to_string();
        assert!(
            exercised.contains(id.as_str()),
            "guardrail {id} is not exercised by this test"
        );
    }
}

#[test]
fn guardrails_do_not_block_the_role_table() {
    // No permitted matrix cell is touched by a guardrail even with the
    // over-broad permit present (a guardrail too wide would show here).
    let open = match Authorizer::with_extra_policies(PERMIT_EVERYTHING) {
        Ok(a) => a,
        Err(e) => panic!("{e}"),
    };
    let normal = authorizer();
    let open_rows = open.matrix();
    for (row, open_row) in normal.matrix().iter().zip(&open_rows) {
        assert_eq!(
            (row.role, &row.action, row.scope),
            (open_row.role, &open_row.action, open_row.scope)
        );
        if row.allowed {
            assert!(open_row.allowed, "{} {} blocked", row.role, row.action);
        }
    }
}

// ------------------------------------------------------------------ robustness

#[test]
fn decide_never_panics_on_odd_input() {
    let a = authorizer();
    let odd = [
        "",
        " ",
        "\"",
        "\\",
        "\"; permit(principal, action, resource); //",
        "Registry::User::\"admin\"",
        "\0",
        "Ωμέγα-Ђорђе-Ëlezi-ç",
        "🦀🦀🦀",
        "\u{202e}evil",
    ];
    let long = "x".repeat(100_000);
    let mut values: Vec<&str> = odd.to_vec();
    values.push(&long);
    for role in Role::ALL {
        for value in &values {
            let p = Principal {
                user_id: (*value).to_owned(),
                role,
                facility: Some((*value).to_owned()),
                municipality: Some((*value).to_owned()),
            };
            for action in Action::ALL {
                let r = Resource {
                    kind: action.resource_kind(),
                    id: (*value).to_owned(),
                    facility: Some((*value).to_owned()),
                    municipality: Some((*value).to_owned()),
                    reporter: Some((*value).to_owned()),
                    emergency_capable: true,
                    forensic_complete: false,
                };
                let d = a.decide(&p, action, &r);
                assert!(!d.rules.is_empty());
                assert_ne!(d.rules, [ERROR_RULE], "{role} {action} {value:?}");
            }
            for group in FieldGroup::ALL {
                let r = Resource {
                    kind: ResourceKind::Episode,
                    ..Resource::national(ResourceKind::Episode, *value)
                };
                let d = a.may_read_fields(&p, group, &r);
                assert!(!d.rules.is_empty());
            }
        }
    }
    // Unicode scope values match exactly.
    let p = principal(Role::Clinician, Some("Prishtinë/Приштина"), None);
    let r = record(
        ResourceKind::Episode,
        Some("Prishtinë/Приштина"),
        None,
        None,
    );
    assert!(a.decide(&p, Action::ReadEpisode, &r).allowed);
}

#[test]
fn mismatched_or_non_record_kinds_fail_closed() {
    let a = authorizer();
    let p = sample_principal(Role::Clinician);
    // The action fixes the kind: an Episode action on a Reference is refused.
    let d = a.decide(
        &p,
        Action::ReadEpisode,
        &record(ResourceKind::Reference, Some("fac-a"), None, None),
    );
    assert_eq!(
        d,
        Decision {
            allowed: false,
            rules: vec![ERROR_RULE.to_owned()]
        }
    );
    // Field groups exist only on personal-data records.
    let d = a.may_read_fields(
        &p,
        FieldGroup::Identity,
        &Resource::national(ResourceKind::Export, "e"),
    );
    assert_eq!(
        d,
        Decision {
            allowed: false,
            rules: vec![ERROR_RULE.to_owned()]
        }
    );
}

#[test]
fn policy_slices_decide_like_the_full_set() {
    // Evaluate every matrix case (and the over-broad extra permit) against the
    // full policy set and compare with the sliced evaluation.
    for a in [
        authorizer(),
        Authorizer::with_extra_policies(PERMIT_EVERYTHING).unwrap_or_else(|e| panic!("{e}")),
    ] {
        let full = |request: &Request, entities: &Entities| {
            let response = a.engine.is_authorized(request, &a.policies, entities);
            let mut rules: Vec<String> = response
                .diagnostics()
                .reason()
                .map(|id| id.to_string())
                .collect();
            rules.sort();
            (response.decision() == cedar_policy::Decision::Allow, rules)
        };
        let mut smaller = 0;
        for role in Role::ALL {
            let p = sample_principal(role);
            let (puid, pe) = a.principal_entity(&p).unwrap_or_else(|e| panic!("{e}"));
            for action in Action::ALL {
                for (_, r) in sample_resources(action.resource_kind()) {
                    let ruid = a.uid(&a.kind_types[r.kind as usize], &r.id);
                    let re = Entity::new(ruid.clone(), a.resource_attrs(&r), HashSet::new())
                        .unwrap_or_else(|e| panic!("{e}"));
                    let entities = Entities::from_entities([pe.clone(), re], None)
                        .unwrap_or_else(|e| panic!("{e}"));
                    let request = Request::new(
                        puid.clone(),
                        a.action_uids[action as usize].clone(),
                        ruid,
                        Context::empty(),
                        None,
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
                    let (allowed, mut rules) = full(&request, &entities);
                    if rules.is_empty() {
                        rules.push(DEFAULT_DENY.to_owned());
                    }
                    let sliced = a.decide(&p, action, &r);
                    assert_eq!(
                        (allowed, rules),
                        (sliced.allowed, sliced.rules),
                        "{role} {action}"
                    );
                    let slice = &a.slices[role as usize * CEDAR_ACTIONS + action as usize];
                    if slice.num_of_policies() < a.policies.num_of_policies() {
                        smaller += 1;
                    }
                }
            }
        }
        assert!(smaller > 0);
    }
}

// ------------------------------------------------------------------ matrix

#[test]
fn render_matrix_is_stable_and_complete() {
    let a = authorizer();
    let first = a.render_matrix();
    assert_eq!(first, a.render_matrix());
    assert_eq!(first, authorizer().render_matrix());
    for role in Role::ALL {
        assert!(first.contains(role.as_str()), "{role}");
    }
    for action in Action::ALL {
        assert!(first.contains(action.as_str()), "{action}");
    }
    for group in FieldGroup::ALL {
        assert!(first.contains(&format!("read_fields:{group}")), "{group}");
    }
    // Sorted by role (declaration order), then action, then scope case.
    let rows = a.matrix();
    let mut sorted = rows.clone();
    sorted.sort_by(|x, y| (x.role, &x.action, x.scope).cmp(&(y.role, &y.action, y.scope)));
    assert_eq!(rows, sorted);
    assert_eq!(first.lines().count(), rows.len() + 1);
}

/// The rendered matrix is kept next to this module so that a policy change
/// shows up in review as a diff of who may do what. Regenerate it with
/// `UPDATE_AUTHZ_MATRIX=1 cargo test authz::` and review the diff.
#[test]
fn matrix_matches_the_reviewed_copy() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/matrix.txt");
    let rendered = authorizer().render_matrix();
    if std::env::var_os("UPDATE_AUTHZ_MATRIX").is_some() {
        if let Err(e) = std::fs::write(&path, &rendered) {
            panic!("cannot write {}: {e}", path.display());
        }
        return;
    }
    let stored = match std::fs::read_to_string(&path) {
        Ok(stored) => stored,
        Err(e) => panic!(
            "cannot read {}: {e}; create it with UPDATE_AUTHZ_MATRIX=1",
            path.display()
        ),
    };
    assert!(
        stored == rendered,
        "the access matrix changed; if intended, regenerate {} with UPDATE_AUTHZ_MATRIX=1 and review the diff",
        path.display()
    );
}
