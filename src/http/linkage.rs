//! The registrar's review queue (issue 16): the pairs fuzzy linkage could not decide,
//! each with both identities and how every field compares (similarities, never the
//! encodings), and the decision on one. Every identity shown is decided for and
//! audited one by one; the registrar's role reads nothing else of a person.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::CurrentUser;
use super::error::ErrorBody;
use super::ids::RecordId;
use super::{ApiError, ApiJson, AppState};
use crate::authz::{Action, Resource, ResourceKind};
use crate::cases::linkage::{LinkReason, ReviewError};
use crate::field::FieldError;
use crate::identity::subject::IdentityInput;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_reviews))
        .routes(routes!(decide_review))
        .routes(routes!(split_subject))
}

/// Items shown per request (the oldest first); each shows two identities.
const PAGE: i64 = 20;

impl From<ReviewError> for ApiError {
    fn from(err: ReviewError) -> Self {
        match err {
            ReviewError::Reason(problem) => Self::Invalid(vec![FieldError::new("reason", problem)]),
            ReviewError::Conflict(message) => Self::Conflict {
                code: "review_not_decidable",
                message: message.into(),
            },
            ReviewError::Store(e) => e.into(),
        }
    }
}

/// How the two identities of a pair compare, field by field.
#[derive(Serialize, ToSchema)]
pub struct FieldSimilarity {
    /// Given names: Dice coefficient of their letter pairs, 0-1.
    pub given_name: Option<f64>,
    /// Family names: the same.
    pub last_name: Option<f64>,
    /// Whether the names agree better swapped (given for family).
    pub names_swapped: bool,
    /// `exact`, `day_month_swapped`, `one_digit`, `year_agrees`, `year_differs`,
    /// `day_month_agree`, `different` or `unknown`.
    pub birth_date: String,
    /// Whether the sexes agree (absent when either is not known).
    pub sex_agrees: Option<bool>,
    /// `same`, `one_digit`, `different` or `unknown`.
    pub personal_number: String,
}

/// One subject of a pair.
#[derive(Serialize, ToSchema)]
pub struct ReviewSubject {
    /// Registry id.
    pub registry_id: String,
    /// The identity as submitted (absent once erased).
    pub identity: Option<IdentityInput>,
}

/// A pair fuzzy linkage left to a registrar.
#[derive(Serialize, ToSchema)]
pub struct ReviewItem {
    /// Id of the item (to decide it).
    pub review_id: String,
    /// When it was queued.
    pub created_at: String,
    /// The matcher's probability that the two are one person.
    pub probability: f64,
    /// Field by field.
    pub similarity: FieldSimilarity,
    /// The subject registered later.
    pub registered: ReviewSubject,
    /// The subject it may be.
    pub earlier: ReviewSubject,
}

/// The oldest open items.
#[derive(Serialize, ToSchema)]
pub struct ReviewQueue {
    /// At most 20, the oldest first.
    pub items: Vec<ReviewItem>,
}

/// The review queue of fuzzy linkage: the oldest open pairs, both identities side by side.
#[utoipa::path(get, path = "/linkage/reviews", tag = "linkage",
    responses((status = 200, body = ReviewQueue), (status = 403, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn list_reviews(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
) -> Result<ApiJson<ReviewQueue>, ApiError> {
    state
        .authorize(
            &user,
            Action::ReviewLinks,
            &Resource::national(ResourceKind::Subject, ""),
            &headers,
        )
        .await?;
    let mut items = Vec::new();
    for row in state.store.open_reviews(PAGE).await? {
        let side = |registry_id: String| {
            let (state, user, headers) = (&state, &user, &headers);
            async move {
                // Each identity is its own audited decision on its own record.
                let permit = state
                    .authorize(
                        user,
                        Action::ReviewLinks,
                        &Resource::national(ResourceKind::Subject, &registry_id),
                        headers,
                    )
                    .await?;
                let identity = crate::cases::subjects::open_identity(
                    &state.store,
                    &state.keys,
                    &permit,
                    &registry_id,
                )
                .await?;
                Ok::<_, ApiError>(ReviewSubject {
                    registry_id,
                    identity,
                })
            }
        };
        let registered = side(row.subject.clone()).await?;
        let earlier = side(row.candidate.clone()).await?;
        items.push(ReviewItem {
            review_id: row.review_id,
            created_at: row.created_at,
            probability: three_places(row.probability),
            similarity: FieldSimilarity {
                given_name: row.given.map(three_places),
                last_name: row.family.map(three_places),
                names_swapped: row.names_swapped,
                birth_date: row.birth,
                sex_agrees: row.sex_agrees,
                personal_number: row.personal_number,
            },
            registered,
            earlier,
        });
    }
    Ok(ApiJson(ReviewQueue { items }))
}

/// A similarity as shown: three decimals are all a registrar reads.
fn three_places(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// A registrar's decision on a pair.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecisionRequest {
    /// `link` (one person: the later subject joins the earlier) or `distinct`.
    pub decision: Verdict,
    /// Why, a code: `same_person_documents` or `same_person_slip` for a link,
    /// `different_people` or `relatives` for distinct.
    pub reason: LinkReason,
}

/// The two answers to a pair.
#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// One person.
    Link,
    /// Two people.
    Distinct,
}

/// Decide a pair: link (merge, keeping every record) or distinct; audited with the reason.
#[utoipa::path(post, path = "/linkage/reviews/{review_id}", tag = "linkage",
    request_body = ReviewDecisionRequest,
    params(("review_id" = String, Path, description = "the review item's id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn decide_review(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(review_id): RecordId,
    ApiJson(request): ApiJson<ReviewDecisionRequest>,
) -> Result<StatusCode, ApiError> {
    let permit = state
        .authorize(
            &user,
            Action::DecideLinks,
            &Resource::national(ResourceKind::Subject, &review_id),
            &headers,
        )
        .await?;
    crate::cases::linkage::decide(
        &state.store,
        &permit,
        &review_id,
        matches!(request.decision, Verdict::Link),
        request.reason,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Why a merge is undone.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitRequest {
    /// `different_people` or `relatives`.
    pub reason: LinkReason,
}

/// Undo a merge: the subject stands for itself again, with every record it kept; audited.
#[utoipa::path(post, path = "/subjects/{registry_id}/split", tag = "linkage",
    request_body = SplitRequest,
    params(("registry_id" = String, Path, description = "the merged subject's registry id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
#[tracing::instrument(skip_all)]
async fn split_subject(
    State(state): State<AppState>,
    headers: HeaderMap,
    user: CurrentUser,
    RecordId(registry_id): RecordId,
    ApiJson(request): ApiJson<SplitRequest>,
) -> Result<StatusCode, ApiError> {
    let permit = state
        .authorize(
            &user,
            Action::DecideLinks,
            &Resource::national(ResourceKind::Subject, &registry_id),
            &headers,
        )
        .await?;
    crate::cases::linkage::split(&state.store, &permit, &registry_id, request.reason).await?;
    Ok(StatusCode::NO_CONTENT)
}
