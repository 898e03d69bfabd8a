//! Read-only queries over the reference data (geography, code lists, facilities).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::db::{self, Conn, FromRow, Row};

use super::{Store, StoreError};

/// A district (one of Kosovo's seven).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct District {
    /// Stable identifier, e.g. `prishtina`.
    pub slug: String,
    /// Albanian name.
    pub name_sq: String,
    /// Serbian name (Latin script).
    pub name_sr: String,
}

/// A municipality and the district it belongs to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Municipality {
    /// Stable identifier, e.g. `prishtine`.
    pub slug: String,
    /// Albanian name.
    pub name_sq: String,
    /// Serbian name (Latin script).
    pub name_sr: String,
    /// Slug of the district.
    pub district: String,
}

/// One code of a TDI 3.0 code list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Code {
    /// The code as the protocol writes it, e.g. `1.1` or `99`.
    pub code: String,
    /// English label.
    pub label: String,
    /// Group code for a sub-code (e.g. `1` for `1.1`).
    pub parent: Option<String>,
}

/// An ICD-10 code the death registry accepts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Icd10Code {
    /// WHO ICD-10 code, e.g. `F11.2`, `X42`.
    pub code: String,
    /// English label.
    pub label: String,
    /// Code family used by the Selection B rules.
    pub family: String,
}

/// A treatment facility (managed data; the seed list is an example).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Facility {
    /// Stable identifier.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Slug of the municipality it is in.
    pub municipality: String,
    /// TDI centre type code (1 outpatient … 6 other, 99 not known).
    pub centre_type: String,
    /// Whether it has an emergency department (may record non-fatal overdoses).
    pub emergency_capable: bool,
    /// Whether it is currently operating.
    pub active: bool,
}

impl From<Facility> for super::users::FacilityInfo {
    fn from(f: Facility) -> Self {
        Self {
            centre_type: f.centre_type,
            active: f.active,
            emergency_capable: f.emergency_capable,
        }
    }
}

impl FromRow for Facility {
    fn from_row(row: &Row) -> Result<Self, sqlx::Error> {
        Ok(Self {
            code: row.try_get("code")?,
            name: row.try_get("name")?,
            municipality: row.try_get("municipality")?,
            centre_type: row.try_get("centre_type")?,
            emergency_capable: row.try_get::<bool, _>("emergency_capable")?,
            active: row.try_get::<bool, _>("active")?,
        })
    }
}

/// A change of a facility: each given field replaces the current value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FacilityChange {
    /// New display name, 2-200 characters on one line.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether it has an emergency department.
    #[serde(default)]
    pub emergency_capable: Option<bool>,
    /// Whether it operates (false closes it; its records stay).
    #[serde(default)]
    pub active: Option<bool>,
}

const FACILITY_COLUMNS: &str = "code, name, municipality, centre_type, emergency_capable, active";

/// Adds a facility, within the caller's transaction.
pub async fn insert_facility(conn: &mut Conn, facility: &Facility) -> Result<(), StoreError> {
    db::query(
        "insert into facility (code, name, municipality, centre_type, emergency_capable, \
         active) values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&facility.code)
    .bind(&facility.name)
    .bind(&facility.municipality)
    .bind(&facility.centre_type)
    .bind(facility.emergency_capable)
    .bind(facility.active)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A facility as it stands, under its row lock within the caller's transaction.
pub async fn facility_for_update(conn: &mut Conn, code: &str) -> Result<Facility, StoreError> {
    let sql = format!(
        "select {FACILITY_COLUMNS} from facility where code = $1{}",
        super::for_update(conn)
    );
    let row = db::query(&sql)
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(Facility::from_row(&row)?)
}

/// Changes a facility, within the caller's transaction; returns it as changed.
pub async fn update_facility(
    conn: &mut Conn,
    code: &str,
    change: &FacilityChange,
) -> Result<Facility, StoreError> {
    let sql = format!(
        "update facility set name = coalesce($1, name), \
         emergency_capable = coalesce($2, emergency_capable), active = coalesce($3, active) \
         where code = $4 returning {FACILITY_COLUMNS}"
    );
    let row = db::query(&sql)
        .bind(change.name.as_deref())
        .bind(change.emergency_capable)
        .bind(change.active)
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(Facility::from_row(&row)?)
}

db::from_row!(District {
    slug,
    name_sq,
    name_sr
});
db::from_row!(Municipality {
    slug,
    name_sq,
    name_sr,
    district
});
db::from_row!(Code {
    code,
    label,
    parent
});
db::from_row!(Icd10Code {
    code,
    label,
    family
});

impl Store {
    /// All districts, by slug.
    pub async fn districts(&self) -> Result<Vec<District>, StoreError> {
        Ok(
            db::query_as("select slug, name_sq, name_sr from district order by slug")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// All municipalities, by slug.
    pub async fn municipalities(&self) -> Result<Vec<Municipality>, StoreError> {
        Ok(
            db::query_as("select slug, name_sq, name_sr, district from municipality order by slug")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Names of the code lists that exist.
    pub async fn code_list_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(
            db::query_scalar("select distinct list from code_list_item order by list")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// The codes of one list in protocol order; empty when the list does not exist.
    pub async fn code_list(&self, list: &str) -> Result<Vec<Code>, StoreError> {
        Ok(db::query_as(
            "select code, label, parent from code_list_item where list = $1 order by position",
        )
        .bind(list)
        .fetch_all(self.pool())
        .await?)
    }

    /// All ICD-10 codes, by code.
    pub async fn icd10_codes(&self) -> Result<Vec<Icd10Code>, StoreError> {
        Ok(
            db::query_as("select code, label, family from icd10_code order by code")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// ICD-10 codes whose code starts with `q` or whose title holds it (any
    /// case), codes first, at most `limit`.
    pub async fn search_icd10(&self, q: &str, limit: i64) -> Result<Vec<Icd10Code>, StoreError> {
        // `like` wildcards in the search are taken literally.
        let escaped: String = q
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        Ok(db::query_as(
            "select code, label, family from icd10_code \
             where upper(code) like $1 escape '\\' or lower(label) like $2 escape '\\' \
             order by case when upper(code) like $1 escape '\\' then 0 else 1 end, code \
             limit $3",
        )
        .bind(format!("{}%", escaped.to_uppercase()))
        .bind(format!("%{}%", escaped.to_lowercase()))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// All facilities, by code.
    pub async fn facilities(&self) -> Result<Vec<Facility>, StoreError> {
        let sql = format!("select {FACILITY_COLUMNS} from facility order by code");
        Ok(db::query_as(&sql).fetch_all(self.pool()).await?)
    }
}

impl Store {
    /// Whether an active facility with this code exists.
    pub async fn facility_exists(&self, code: &str) -> Result<bool, StoreError> {
        let n: i64 = db::query_scalar("select count(*) from facility where code = $1")
            .bind(code)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    /// Whether a municipality with this slug exists.
    pub async fn municipality_exists(&self, slug: &str) -> Result<bool, StoreError> {
        let n: i64 = db::query_scalar("select count(*) from municipality where slug = $1")
            .bind(slug)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }
}
