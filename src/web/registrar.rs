//! The registrar's page: the review queue of fuzzy linkage, each pair's two
//! identities side by side with how they compare field by field, and the decision
//! (one person, or two) with its reason. Each calls the API handler of the same
//! request.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::forms::FormData;
use super::i18n::Tr;
use super::session::SignedIn;
use super::{Chrome, api_error_page, csrf_refused, refuse_unless, render};
use crate::authz::Action;
use crate::http::ids::RecordId;
use crate::http::{ApiError, ApiJson, AppState, linkage as api};
use crate::identity::subject::IdentityInput;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/reviews", get(queue))
        .route("/reviews/decide", post(decide))
}

/// The reasons a registrar gives, the first two for one person.
const REASONS: &[&str] = &[
    "same_person_documents",
    "same_person_slip",
    "different_people",
    "relatives",
];

/// One pair as shown.
pub struct Pair {
    /// Its id (for the decision).
    pub review_id: String,
    /// The matcher's probability, as a percentage.
    pub probability: String,
    /// Rows: label, the later identity's value, the earlier's, how they compare.
    pub rows: Vec<[String; 4]>,
}

/// The queue page.
#[derive(Template)]
#[template(path = "reviews.html")]
struct QueuePage {
    chrome: Chrome,
    undecided: String,
    pairs: Vec<Pair>,
    reasons: Vec<(String, String)>,
}

fn dice(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |d| format!("{:.0} %", d * 100.0))
}

fn identity_values(identity: Option<&IdentityInput>) -> [String; 4] {
    identity.map_or_else(
        || std::array::from_fn(|_| "—".to_owned()),
        |i| {
            [
                i.first_name.clone(),
                i.last_name.clone(),
                i.birth_date.clone(),
                i.personal_number.clone().unwrap_or_else(|| "—".to_owned()),
            ]
        },
    )
}

fn pair(tr: &Tr, item: api::ReviewItem) -> Pair {
    let later = identity_values(item.registered.identity.as_ref());
    let earlier = identity_values(item.earlier.identity.as_ref());
    let s = &item.similarity;
    let sex =
        |i: Option<&IdentityInput>| i.map_or_else(|| "—".to_owned(), |i| tr.code("sex", &i.sex));
    let compare = [
        dice(s.given_name),
        dice(s.last_name),
        tr.t(&format!("birth-{}", s.birth_date.replace('_', "-"))),
        tr.t(&format!("number-{}", s.personal_number.replace('_', "-"))),
    ];
    let labels = [
        "identity.first_name",
        "identity.last_name",
        "identity.birth_date",
        "identity.personal_number",
    ];
    let mut rows: Vec<[String; 4]> = labels
        .iter()
        .zip(later)
        .zip(earlier)
        .zip(compare)
        .map(|(((label, a), b), c)| [super::forms::label(tr, label), a, b, c])
        .collect();
    rows.push([
        super::forms::label(tr, "identity.sex"),
        sex(item.registered.identity.as_ref()),
        sex(item.earlier.identity.as_ref()),
        match s.sex_agrees {
            Some(true) => tr.t("answer-yes"),
            Some(false) => tr.t("answer-no"),
            None => "—".to_owned(),
        },
    ]);
    if s.names_swapped {
        rows.push([
            tr.t("reviews-swapped"),
            String::new(),
            String::new(),
            tr.t("answer-yes"),
        ]);
    }
    rows.push([
        tr.t("episode-registry-id"),
        item.registered.registry_id,
        item.earlier.registry_id,
        String::new(),
    ]);
    Pair {
        review_id: item.review_id,
        probability: format!("{:.1} %", item.probability * 100.0),
        rows,
    }
}

/// `GET /reviews`: the API's `GET /linkage/reviews`.
async fn queue(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::ReviewLinks).await {
        return refused;
    }
    queue_page(&state, &signed, None).await
}

/// The queue; `undecided` names a pair sent without a reason.
async fn queue_page(state: &AppState, signed: &SignedIn, undecided: Option<&str>) -> Response {
    let tr = signed.visitor.tr;
    let items = match api::list_reviews(State(state.clone()), HeaderMap::new(), signed.user.clone())
        .await
    {
        Ok(ApiJson(queue)) => queue.items,
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    let mut page = render(&QueuePage {
        chrome: signed.chrome(state, "reviews-title"),
        undecided: undecided.unwrap_or_default().to_owned(),
        pairs: items.into_iter().map(|item| pair(&tr, item)).collect(),
        reasons: REASONS
            .iter()
            .map(|r| {
                (
                    (*r).to_owned(),
                    tr.t(&format!("reason-{}", r.replace('_', "-"))),
                )
            })
            .collect(),
    });
    if undecided.is_some() {
        page.status = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    page.into_response()
}

/// `POST /reviews/decide`: the API's `POST /linkage/reviews/{id}`; the reason says
/// which decision it is.
async fn decide(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = refuse_unless(&state, &signed, Action::DecideLinks).await {
        return refused;
    }
    let Ok(id) = uuid::Uuid::try_parse(form.one("review_id")) else {
        return api_error_page(&signed.visitor, ApiError::NotFound);
    };
    let reason = form.one("reason");
    // The decision follows from the reason; no reason, no decision (a default
    // would merge two people by one press of the button).
    let decision = match reason {
        "same_person_documents" | "same_person_slip" => "link",
        "different_people" | "relatives" => "distinct",
        _ => return queue_page(&state, &signed, Some(form.one("review_id"))).await,
    };
    let body = json!({"decision": decision, "reason": reason});
    let request =
        match crate::http::json::parse_json(&serde_json::to_vec(&body).unwrap_or_default()) {
            Ok(request) => request,
            Err(e) => return api_error_page(&signed.visitor, e),
        };
    match api::decide_review(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        RecordId(id.hyphenated().to_string()),
        ApiJson(request),
    )
    .await
    {
        Ok(_) => Redirect::to("/reviews").into_response(),
        Err(e) => api_error_page(&signed.visitor, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_composed_message_exists_in_every_language() {
        use crate::crypto::similarity::{BirthAgreement as B, NumberAgreement as N};
        let mut keys: Vec<String> = REASONS
            .iter()
            .map(|r| format!("reason-{}", r.replace('_', "-")))
            .collect();
        let births = [
            B::Unknown,
            B::Exact,
            B::DayMonthSwapped,
            B::OneDigit,
            B::YearAgrees,
            B::YearDiffers,
            B::DayMonthAgree,
            B::Different,
        ];
        keys.extend(
            births
                .into_iter()
                .map(|b| format!("birth-{}", <&str>::from(b).replace('_', "-"))),
        );
        let numbers = [N::Unknown, N::Same, N::OneDigit, N::Different];
        keys.extend(
            numbers
                .into_iter()
                .map(|n| format!("number-{}", <&str>::from(n).replace('_', "-"))),
        );
        crate::web::i18n::tests::assert_every_language_has(&keys);
    }
}
