//! The analyst's pages: which years are frozen, the statutory set (the EMCDDA
//! workbook or its CSV) to download, and a custom table shown as a table and a
//! chart drawn on the server, or downloaded as CSV. Each calls the API handler of
//! the same request, so every table is the API's: frozen snapshots only,
//! disclosure-controlled, recorded in the release ledger.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use super::forms::{FormData, Problems};
use super::i18n::Tr;
use super::session::SignedIn;
use super::{Chrome, api_error_page, csrf_refused, refuse_unless, render};
use crate::authz::Action;
use crate::export::tables::{CUSTOM_DIMS, Dim};
use crate::http::exports as api;
use crate::http::json::UnreadJson;
use crate::http::{ApiError, ApiJson, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/outputs", get(outputs_page))
        .route("/outputs/statutory", axum::routing::post(statutory))
        .route("/outputs/custom", axum::routing::post(custom))
}

/// A frozen year and version.
pub struct Frozen {
    /// Data year.
    pub year: i64,
    /// Version of the year.
    pub version: i64,
    /// When (UTC).
    pub created_at: String,
    /// TDI entrants.
    pub entrants: i64,
    /// Deaths.
    pub deaths: i64,
}

/// One choice of a select.
pub struct Pick {
    /// The value sent.
    pub value: String,
    /// Its label.
    pub label: String,
    /// Whether chosen.
    pub selected: bool,
}

/// A custom table as shown: translated labels and the perturbed counts.
pub struct Shown {
    /// Title: the dimensions, the year and the unit.
    pub title: String,
    /// Column labels (the last is the total).
    pub cols: Vec<String>,
    /// Rows: label and counts (the last row is the total).
    pub rows: Vec<(String, Vec<u64>)>,
    /// The chart (SVG drawn here), without the totals.
    pub chart: String,
}

/// The outputs page.
#[derive(Template)]
#[template(path = "outputs.html")]
struct OutputsPage {
    chrome: Chrome,
    problems: Problems,
    frozen: Vec<Frozen>,
    years: Vec<Pick>,
    dims: Vec<Vec<Pick>>,
    geographies: Vec<Pick>,
    purpose: String,
    tables: Vec<Shown>,
    note: String,
}

fn dim_label(tr: &Tr, dim: Dim) -> String {
    tr.t(&format!("dim-{}", dim.name().replace('_', "-")))
}

/// The label of one category of a dimension.
fn category(tr: &Tr, dim: Dim, code: &str) -> String {
    let list = match dim {
        Dim::Sex => "sex",
        Dim::AgeBand => "age_band",
        Dim::CentreType => "centre_type",
        Dim::PrimaryDrugGroup => "substance",
        Dim::Route => "route",
        Dim::Injecting => "injecting",
        Dim::TreatmentStatus => "treatment_status",
        Dim::Referral => "referral_source",
        Dim::LivingWith => "living_with",
        Dim::Municipality => return tr.municipality(code),
        Dim::District => return tr.t(&format!("district-{code}")),
        Dim::Quarter => return tr.t1("outputs-quarter", "n", code),
        _ => return code.to_owned(),
    };
    tr.code(list, code)
}

fn label_of(tr: &Tr, dims: &[Dim], label: &str) -> String {
    if label == "total" {
        return tr.t("outputs-total");
    }
    label
        .split(" / ")
        .zip(dims)
        .map(|(code, dim)| category(tr, *dim, code))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Bar colours: the Okabe-Ito set (apart for the colour-blind), then darker tones
/// for lists longer than eight (the TDI age bands have thirteen).
const PALETTE: &[&str] = &[
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000",
    "#8c510a", "#01665e", "#762a83", "#b2182b", "#4d4d4d", "#7f7f7f", "#35978f", "#bf812d",
];

/// A grouped horizontal bar chart of a table without its totals: one group per row,
/// one bar per column, a legend of the columns. Plain SVG with presentation
/// attributes (no style, no script), escaped text.
fn chart(n: usize, rows: &[(String, Vec<u64>)], cols: &[String], title: &str) -> String {
    let body_rows = &rows[..rows.len().saturating_sub(1)];
    let body_cols = cols.len().saturating_sub(1);
    let max = body_rows
        .iter()
        .flat_map(|(_, v)| v.iter().take(body_cols))
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let (label_w, bar_w, bar_h, gap) = (230.0, 420.0, 12.0, 10.0);
    let group_h = bar_h * body_cols as f64 + gap;
    let legend_h = 22.0 * body_cols.div_ceil(3) as f64;
    let height = 20.0 + group_h * body_rows.len() as f64 + legend_h + 10.0;
    let width = label_w + bar_w + 70.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-labelledby=\"chart-{n}\" \
         width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\
         <title id=\"chart-{n}\">{}</title>",
        escape(title)
    );
    let mut y = 10.0;
    for (label, values) in body_rows {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\" fill=\"#1b1f24\">{}</text>",
            label_w - 8.0,
            y + group_h / 2.0,
            escape(label)
        ));
        for (i, value) in values.iter().take(body_cols).enumerate() {
            let w = bar_w * *value as f64 / max as f64;
            let top = y + bar_h * i as f64;
            // Empty cells draw nothing: the table beside the chart has every number.
            if *value == 0 {
                continue;
            }
            svg.push_str(&format!(
                "<rect x=\"{label_w}\" y=\"{top}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{}\" font-size=\"10\" fill=\"#1b1f24\">{value}</text>",
                bar_h - 1.0,
                PALETTE[i % PALETTE.len()],
                label_w + w + 4.0,
                top + bar_h - 2.0,
            ));
        }
        y += group_h;
    }
    for (i, col) in cols.iter().take(body_cols).enumerate() {
        let x = 10.0 + (i % 3) as f64 * 230.0;
        let top = y + 10.0 + (i / 3) as f64 * 22.0;
        svg.push_str(&format!(
            "<rect x=\"{x}\" y=\"{top}\" width=\"14\" height=\"14\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#1b1f24\">{}</text>",
            PALETTE[i % PALETTE.len()],
            x + 20.0,
            top + 12.0,
            escape(col)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// Text for SVG: the five characters XML gives meaning to.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

async fn page(
    state: &AppState,
    signed: &SignedIn,
    form: &FormData,
    problems: Problems,
    tables: Vec<Shown>,
    note: String,
) -> Response {
    let tr = signed.visitor.tr;
    let frozen: Vec<Frozen> = match api::list_snapshots(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
    )
    .await
    {
        Ok(ApiJson(list)) => list
            .into_iter()
            .map(|s| Frozen {
                year: s.year,
                version: s.version,
                created_at: s.created_at,
                entrants: s.entrants,
                deaths: s.deaths,
            })
            .collect(),
        Err(e) => return api_error_page(&signed.visitor, e),
    };
    let mut years: Vec<i64> = frozen.iter().map(|f| f.year).collect();
    years.sort_unstable_by(|a, b| b.cmp(a));
    years.dedup();
    let chosen_year = form.one("year");
    let years = years
        .into_iter()
        .map(|y| Pick {
            selected: y.to_string() == chosen_year,
            value: y.to_string(),
            label: y.to_string(),
        })
        .collect();
    let chosen_dims = form.all("dimensions");
    let dims = (0..3)
        .map(|i| {
            let chosen = chosen_dims.get(i).copied().unwrap_or("");
            let mut list = vec![Pick {
                value: String::new(),
                label: tr.t(if i == 2 {
                    "outputs-no-third"
                } else {
                    "form-choose"
                }),
                selected: chosen.is_empty(),
            }];
            list.extend(CUSTOM_DIMS.iter().map(|d| Pick {
                selected: d.name() == chosen,
                value: d.name(),
                label: dim_label(&tr, *d),
            }));
            list
        })
        .collect();
    let chosen_geography = form.one("geography");
    let geographies = ["national", "district", "municipality"]
        .into_iter()
        .map(|g| Pick {
            value: g.to_owned(),
            label: tr.t(&format!("outputs-geography-{g}")),
            selected: g == chosen_geography,
        })
        .collect();
    let page = render(&OutputsPage {
        chrome: signed.chrome(state, "outputs-title"),
        problems: problems.clone(),
        frozen,
        years,
        dims,
        geographies,
        purpose: form.one("purpose").to_owned(),
        tables,
        note,
    });
    super::form_answer(page, &problems)
}

/// `GET /outputs`.
async fn outputs_page(State(state): State<AppState>, signed: SignedIn) -> Response {
    if let Err(refused) = refuse_unless(&state, &signed, Action::RunExport).await {
        return refused;
    }
    page(
        &state,
        &signed,
        &FormData::default(),
        Problems::default(),
        Vec::new(),
        String::new(),
    )
    .await
}

fn year_of(form: &FormData) -> Value {
    form.one("year")
        .parse::<i64>()
        .map_or_else(|_| Value::from(form.one("year")), Value::from)
}

/// A download: the release as a file, named after what it holds.
fn attachment(response: Response, name: &str) -> Response {
    let mut response = response;
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The problems and refusals of an output request, as the page shows them.
/// `prefix` names the form the problems belong to: both forms have a year and a
/// purpose, and each problem is shown beside its own form's field.
async fn refused(
    state: &AppState,
    signed: &SignedIn,
    form: &FormData,
    error: ApiError,
    prefix: &str,
) -> Response {
    let tr = signed.visitor.tr;
    let problems = match error {
        ApiError::Invalid(fields) => {
            let fields: Vec<_> = fields
                .into_iter()
                .map(|mut f| {
                    if f.field == "year" || f.field == "purpose" {
                        f.field = format!("{prefix}{}", f.field);
                    }
                    f
                })
                .collect();
            Problems::from_fields(&tr, &fields)
        }
        ApiError::Conflict {
            code: "not_frozen", ..
        } => Problems::one(&tr, &format!("{prefix}year"), tr.t("outputs-not-frozen")),
        other => return api_error_page(&signed.visitor, other),
    };
    page(state, signed, form, problems, Vec::new(), String::new()).await
}

/// `POST /outputs/statutory`: the API's `POST /exports/statutory`, as a download.
async fn statutory(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = refuse_unless(&state, &signed, Action::RunStatutoryExport).await {
        return refused;
    }
    let format = if form.one("format") == "csv" {
        "csv"
    } else {
        "xlsx"
    };
    let body = json!({"year": year_of(&form), "format": format, "purpose": form.one("purpose")});
    let request = UnreadJson::from_json(serde_json::to_vec(&body).unwrap_or_default());
    match api::run_statutory(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        request,
    )
    .await
    {
        Ok(file) => {
            let year = form.one("year").trim();
            attachment(file, &format!("registry-statutory-{year}.{format}"))
        }
        Err(e) => refused(&state, &signed, &form, e, "").await,
    }
}

/// `POST /outputs/custom`: the API's `POST /exports/custom`, shown as a table and
/// a chart, or downloaded as CSV.
async fn custom(State(state): State<AppState>, signed: SignedIn, form: FormData) -> Response {
    if !signed.visitor.check_csrf(&form) {
        return csrf_refused(&signed.visitor);
    }
    if let Err(refused) = refuse_unless(&state, &signed, Action::RunExport).await {
        return refused;
    }
    let tr = signed.visitor.tr;
    let dims: Vec<&str> = form.all("dimensions");
    let csv = form.one("format") == "csv";
    let mut body = json!({
        "dimensions": dims,
        "year": year_of(&form),
        "purpose": form.one("purpose"),
        "format": if csv { "csv" } else { "json" },
    });
    if !form.one("geography").is_empty() {
        body["geography"] = Value::from(form.one("geography"));
    }
    let request = UnreadJson::from_json(serde_json::to_vec(&body).unwrap_or_default());
    let answer = match api::run_custom(
        State(state.clone()),
        HeaderMap::new(),
        signed.user.clone(),
        request,
    )
    .await
    {
        Ok(answer) => answer,
        Err(e) => return refused(&state, &signed, &form, e, "custom_").await,
    };
    if csv {
        let year = form.one("year").trim();
        return attachment(
            answer,
            &format!("registry-custom-{}-{year}.csv", dims.join("-")),
        );
    }
    let bytes = match axum::body::to_bytes(answer.into_body(), 16 * 1024 * 1024).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return api_error_page(
                &signed.visitor,
                ApiError::Internal(anyhow::anyhow!("custom table: {e}")),
            );
        }
    };
    let content: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let dims: Vec<Dim> = dims
        .iter()
        .filter_map(|d| serde_json::from_value(Value::from(*d)).ok())
        .collect();
    let (row_dims, col_dim) = match dims.split_last() {
        Some((last, rows)) => (rows.to_vec(), *last),
        None => return api_error_page(&signed.visitor, ApiError::NotFound),
    };
    let title_dims = dims
        .iter()
        .map(|d| dim_label(&tr, *d))
        .collect::<Vec<_>>()
        .join(" × ");
    let tables = content["tables"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(n, t)| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            let unit = text(&t["unit"]);
            let unit = match form.one("geography") {
                "municipality" => tr.municipality(&unit),
                "district" => tr.t(&format!("district-{unit}")),
                _ => tr.t("outputs-geography-national"),
            };
            let title = format!("{title_dims} · {} · {unit}", t["year"]);
            let cols: Vec<String> = t["cols"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|c| label_of(&tr, &[col_dim], &text(c)))
                .collect();
            let rows: Vec<(String, Vec<u64>)> = t["rows"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .zip(t["cells"].as_array().map(Vec::as_slice).unwrap_or_default())
                .map(|(label, cells)| {
                    let counts = cells
                        .as_array()
                        .map(Vec::as_slice)
                        .unwrap_or_default()
                        .iter()
                        .map(|c| c.as_u64().unwrap_or(0))
                        .collect();
                    (label_of(&tr, &row_dims, &text(label)), counts)
                })
                .collect();
            Shown {
                chart: chart(n, &rows, &cols, &title),
                title,
                cols,
                rows,
            }
        })
        .collect();
    page(
        &state,
        &signed,
        &form,
        Problems::default(),
        tables,
        tr.t("outputs-note"),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_escapes_labels_and_leaves_out_the_totals() {
        let rows = vec![
            ("<b>&".to_owned(), vec![3, 5, 8]),
            ("two".to_owned(), vec![0, 10, 10]),
            ("total".to_owned(), vec![3, 15, 18]),
        ];
        let cols = vec!["a\"".to_owned(), "b".to_owned(), "total".to_owned()];
        let svg = chart(1, &rows, &cols, "t<");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("&lt;b&gt;&amp;") && svg.contains("a&quot;") && svg.contains("t&lt;"));
        assert!(!svg.contains("<b>") && !svg.contains("style") && !svg.contains("script"));
        // Three bars (two rows × two columns, one of them empty) and two legend
        // squares; no total.
        assert_eq!(svg.matches("<rect").count(), 5);
        assert!(!svg.contains(">18<") && !svg.contains(">15<"));
    }
}
