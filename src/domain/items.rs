//! The machinery behind the TDI item table in `episode.rs`: one row per item the
//! clinician submits (name, kind with its code list or checker, clear or sealed,
//! documentation) becomes the input, correction, clear and sealed structs, the
//! validation in table order, the column list, binds and row decoding of the store,
//! the backlog CSV columns and the rebuilding of an input from a stored episode.
//!
//! Why a declarative macro: the structs must keep named fields (serde's
//! `deny_unknown_fields` and the OpenAPI schema see them), and a field list cannot
//! be produced by a function. The macro only arranges the table; every rule is a
//! plain function in `episode.rs`, and the value types know how to be stored,
//! corrected and read from CSV through the three small traits below.

use crate::field::FieldError;

/// One stored column's value, as the store binds and reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// A text column.
    Text(String),
    /// An integer column (`None` is SQL null).
    Number(Option<i64>),
}

/// A value stored in one column of its own.
pub trait Column: Sized {
    /// Whether the column is an integer (else text).
    const NUMERIC: bool;
    /// The value to bind.
    fn to_cell(&self) -> Cell;
    /// The value read back; `None` when the column holds something this type never
    /// writes.
    fn from_cell(cell: Cell) -> Option<Self>;
}

impl Column for String {
    const NUMERIC: bool = false;
    fn to_cell(&self) -> Cell {
        Cell::Text(self.clone())
    }
    fn from_cell(cell: Cell) -> Option<Self> {
        match cell {
            Cell::Text(text) => Some(text),
            Cell::Number(_) => None,
        }
    }
}

/// A list of codes, stored joined by `,` (codes never contain one).
impl Column for Vec<String> {
    const NUMERIC: bool = false;
    fn to_cell(&self) -> Cell {
        Cell::Text(self.join(","))
    }
    fn from_cell(cell: Cell) -> Option<Self> {
        let text = String::from_cell(cell)?;
        Some(
            text.split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }
}

impl Column for Option<u16> {
    const NUMERIC: bool = true;
    fn to_cell(&self) -> Cell {
        Cell::Number(self.map(i64::from))
    }
    fn from_cell(cell: Cell) -> Option<Self> {
        match cell {
            Cell::Number(None) => Some(None),
            Cell::Number(Some(n)) => u16::try_from(n).ok().map(Some),
            Cell::Text(_) => None,
        }
    }
}

impl Column for u16 {
    const NUMERIC: bool = true;
    fn to_cell(&self) -> Cell {
        Cell::Number(Some(i64::from(*self)))
    }
    fn from_cell(cell: Cell) -> Option<Self> {
        Option::<u16>::from_cell(cell).flatten()
    }
}

impl Column for u8 {
    const NUMERIC: bool = true;
    fn to_cell(&self) -> Cell {
        Cell::Number(Some(i64::from(*self)))
    }
    fn from_cell(cell: Cell) -> Option<Self> {
        u16::from_cell(cell).and_then(|n| u8::try_from(n).ok())
    }
}

/// An item's value as a correction replaces it.
pub trait Correctable {
    /// What a correction gives for the item.
    type Given;
    /// Replaces the value with `given` unless they are the same (ignoring surrounding
    /// whitespace; a blank text is the same as none); whether it changed.
    fn replace(&mut self, given: &Self::Given) -> bool;
}

impl Correctable for String {
    type Given = String;
    fn replace(&mut self, given: &String) -> bool {
        let changed = given.trim() != self.trim();
        if changed {
            self.clone_from(given);
        }
        changed
    }
}

impl Correctable for Vec<String> {
    type Given = Vec<String>;
    fn replace(&mut self, given: &Vec<String>) -> bool {
        let same = given.len() == self.len()
            && given
                .iter()
                .zip(self.iter())
                .all(|(a, b)| a.trim() == b.trim());
        if !same {
            self.clone_from(given);
        }
        !same
    }
}

/// A number: `99` clears it back to "not known", as `99` means in the TDI.
impl Correctable for Option<u16> {
    type Given = u16;
    fn replace(&mut self, given: &u16) -> bool {
        let new = (*given != NUMBER_NOT_KNOWN).then_some(*given);
        let changed = *self != new;
        *self = new;
        changed
    }
}

/// The number a correction sends to clear a number.
pub const NUMBER_NOT_KNOWN: u16 = 99;

/// A free text: a blank correction clears it.
impl Correctable for Option<String> {
    type Given = String;
    fn replace(&mut self, given: &String) -> bool {
        let new = Some(given.as_str()).filter(|t| !t.trim().is_empty());
        let changed = new != self.as_deref().filter(|t| !t.trim().is_empty());
        if changed {
            *self = new.map(str::to_owned);
        }
        changed
    }
}

/// An item's value read from a backlog CSV cell.
pub trait FromCsv: Sized {
    /// The value of `text`, or a problem pushed for `field`.
    fn from_csv(text: &str, field: &str, errors: &mut Vec<FieldError>) -> Self;
}

impl FromCsv for String {
    fn from_csv(text: &str, _: &str, _: &mut Vec<FieldError>) -> Self {
        text.to_owned()
    }
}

/// Codes separated by `;`.
impl FromCsv for Vec<String> {
    fn from_csv(text: &str, _: &str, _: &mut Vec<FieldError>) -> Self {
        text.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// Empty or `99` (the TDI "not known") is no value.
impl FromCsv for Option<u16> {
    fn from_csv(text: &str, field: &str, errors: &mut Vec<FieldError>) -> Self {
        let text = text.trim();
        if text.is_empty() || text == "99" {
            return None;
        }
        text.parse()
            .map_err(|_| {
                errors.push(FieldError::new(
                    field,
                    "must be a whole number of years, or empty when not known",
                ));
            })
            .ok()
    }
}

/// Blank is no text.
impl FromCsv for Option<String> {
    fn from_csv(text: &str, _: &str, _: &mut Vec<FieldError>) -> Self {
        (!text.trim().is_empty()).then(|| text.to_owned())
    }
}

/// Turns the item table into the episode types; see `episode.rs` for the table
/// and this module's documentation for what is derived.
///
/// A row is `/// docs` then `name: kind, storage;` where the kind is
/// `code("list")` (optionally `+ rule`: a further check of a valid code),
/// `text(check)` (required text), `number(check)` (optional whole number),
/// `list(check)` (codes) or `note(check)` (optional free text), and the storage
/// `clear` (a column of its own) or `sealed` (inside the sealed blob).
macro_rules! episode_items {
    // Normalise each row to `{ storage name [type] [input attributes] [correction
    // type] [check] [docs] }`.
    (@rows [$($done:tt)*]) => {
        episode_items!(@split [$($done)*] [] [] $($done)*);
    };
    (@rows [$($done:tt)*] $(#[doc = $d:literal])* $name:ident : code($list:literal) $(+ $rule:ident)?, $storage:ident; $($rest:tt)*) => {
        episode_items!(@rows [$($done)* { $storage $name [String] [] [Option<String>] [code $list $($rule)?] [$($d)*] }] $($rest)*);
    };
    (@rows [$($done:tt)*] $(#[doc = $d:literal])* $name:ident : text($check:ident), $storage:ident; $($rest:tt)*) => {
        episode_items!(@rows [$($done)* { $storage $name [String] [] [Option<String>] [with $check] [$($d)*] }] $($rest)*);
    };
    (@rows [$($done:tt)*] $(#[doc = $d:literal])* $name:ident : number($check:ident), $storage:ident; $($rest:tt)*) => {
        episode_items!(@rows [$($done)* { $storage $name [Option<u16>] [#[serde(default)]] [Option<u16>] [with $check] [$($d)*] }] $($rest)*);
    };
    (@rows [$($done:tt)*] $(#[doc = $d:literal])* $name:ident : list($check:ident), $storage:ident; $($rest:tt)*) => {
        episode_items!(@rows [$($done)* { $storage $name [Vec<String>] [#[serde(default)]] [Option<Vec<String>>] [with $check] [$($d)*] }] $($rest)*);
    };
    (@rows [$($done:tt)*] $(#[doc = $d:literal])* $name:ident : note($check:ident), $storage:ident; $($rest:tt)*) => {
        episode_items!(@rows [$($done)* { $storage $name [Option<String>] [#[serde(default)]] [Option<String>] [with $check] [$($d)*] }] $($rest)*);
    };

    // Sort the rows into the clear and the sealed ones, keeping table order.
    (@split $all:tt [$($clear:tt)*] [$($sealed:tt)*] { clear $($row:tt)* } $($rest:tt)*) => {
        episode_items!(@split $all [$($clear)* { $($row)* }] [$($sealed)*] $($rest)*);
    };
    (@split $all:tt [$($clear:tt)*] [$($sealed:tt)*] { sealed $($row:tt)* } $($rest:tt)*) => {
        episode_items!(@split $all [$($clear)* ] [$($sealed)* { $($row)* }] $($rest)*);
    };
    (@split $all:tt $clear:tt $sealed:tt) => {
        episode_items!(@emit $all $clear $sealed);
    };

    // Where an item is kept.
    (@pick clear, $plain:expr, $sealed:expr) => { $plain };
    (@pick sealed, $plain:expr, $sealed:expr) => { $sealed };

    // The check of one item: its kind's check, then its rule.
    (@check $ctx:ident $e:ident $field:expr, $value:expr, code $list:literal) => {
        check_code($e, $field, $list, $value).map(str::to_owned)
    };
    (@check $ctx:ident $e:ident $field:expr, $value:expr, code $list:literal $rule:ident) => {
        check_code($e, $field, $list, $value).and_then(|code| match $rule($ctx, code) {
            Ok(()) => Some(code.to_owned()),
            Err(problem) => {
                $e.push(FieldError::new($field, problem));
                None
            }
        })
    };
    (@check $ctx:ident $e:ident $field:expr, $value:expr, with $check:ident) => {
        $check($ctx, $e, $field, $value)
    };

    (@emit
        [$({ $storage:ident $name:ident [$($ty:tt)*] [$($attr:tt)*] [$($corr:tt)*] [$($check:tt)*] [$($d:literal)*] })*]
        [$({ $cname:ident [$($cty:tt)*] $cattr:tt $ccorr:tt $ccheck:tt [$($cd:literal)*] })*]
        [$({ $sname:ident [$($sty:tt)*] $sattr:tt $scorr:tt $scheck:tt [$($sd:literal)*] })*]
    ) => {
        /// A treatment episode as a clinician submits it (all TDI 3.0 items; the
        /// centre type comes from the submitting facility). `Debug` is redacted.
        #[derive(Clone, Default, Deserialize, Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct EpisodeInput {
            /// The person treated: TDI sex and date of birth, plus the names and
            /// personal number used only to link episodes of the same person.
            pub identity: IdentityInput,
            $( $(#[doc = $d])* $($attr)* pub $name: $($ty)*, )*
        }

        impl EpisodeInput {
            /// The items, in table order (as the JSON and the backlog CSV spell them).
            pub const ITEMS: &[&str] = &[$(stringify!($name)),*];

            /// The input a stored episode corresponds to.
            #[must_use]
            pub fn from_parts(
                identity: IdentityInput,
                plain: &PlainEpisode,
                sealed: &SealedEpisode,
            ) -> Self {
                Self {
                    identity,
                    $( $name: episode_items!(@pick $storage, plain, sealed).$name.clone(), )*
                }
            }

            /// The input of one backlog CSV row: `cell(name)` is the text of the
            /// named column; unreadable numbers are reported by field.
            pub fn from_csv(
                identity: IdentityInput,
                cell: impl Fn(&str) -> String,
                errors: &mut Vec<FieldError>,
            ) -> Self {
                Self {
                    identity,
                    $( $name: FromCsv::from_csv(&cell(stringify!($name)), stringify!($name), errors), )*
                }
            }
        }

        /// A correction of an episode by a clinician: every field that is present
        /// replaces the current value; absent fields stay as they are. The
        /// identity cannot be corrected here. A number (`age_first_use`,
        /// `age_first_injection`, `ost_first_year`) of `99` clears it back to "not
        /// known"; setting `ost_status` to `1` (never) or `treatment_status` to `1`
        /// (never treated) without a year clears `ost_first_year`, and `injecting`
        /// to `1` (never) without an age clears `age_first_injection`; blank
        /// `notes` clear the notes; a list replaces the whole list (`[]` clears
        /// it). `Debug` is redacted.
        #[derive(Clone, Default, Deserialize, Serialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct EpisodeCorrection {
            $( $(#[doc = $d])* #[serde(default)] pub $name: $($corr)*, )*
        }

        /// The statistical columns of an episode, stored in clear (TDI codes,
        /// years, ages): the values derived at validation, then the clear items.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        pub struct PlainEpisode {
            /// Year of treatment start.
            pub start_year: u16,
            /// Quarter of treatment start, 1-4.
            pub start_quarter: u8,
            /// TDI sex code (list `sex`).
            pub sex: String,
            /// Year of birth.
            pub birth_year: u16,
            /// Age in completed years at treatment start (from the full date of
            /// birth when known, otherwise start year minus birth year).
            pub age_at_start: u16,
            /// TDI reporting age band of `age_at_start` (list `age_band`).
            pub age_band: String,
            $( $(#[doc = $cd])* pub $cname: $($cty)*, )*
        }

        impl PlainEpisode {
            /// The columns, in order, and whether each is an integer.
            pub const COLUMNS: &[(&str, bool)] = &[
                ("start_year", <u16 as Column>::NUMERIC),
                ("start_quarter", <u8 as Column>::NUMERIC),
                ("sex", <String as Column>::NUMERIC),
                ("birth_year", <u16 as Column>::NUMERIC),
                ("age_at_start", <u16 as Column>::NUMERIC),
                ("age_band", <String as Column>::NUMERIC),
                $( (stringify!($cname), <$($cty)* as Column>::NUMERIC), )*
            ];

            /// The values of [`Self::COLUMNS`], in order.
            #[must_use]
            pub fn cells(&self) -> Vec<Cell> {
                vec![
                    self.start_year.to_cell(),
                    self.start_quarter.to_cell(),
                    self.sex.to_cell(),
                    self.birth_year.to_cell(),
                    self.age_at_start.to_cell(),
                    self.age_band.to_cell(),
                    $( self.$cname.to_cell(), )*
                ]
            }

            /// The episode of [`Self::COLUMNS`]' values, in order; `None` when one
            /// is missing or of the wrong type.
            pub fn from_cells(cells: impl IntoIterator<Item = Cell>) -> Option<Self> {
                let mut cells = cells.into_iter();
                Some(Self {
                    start_year: Column::from_cell(cells.next()?)?,
                    start_quarter: Column::from_cell(cells.next()?)?,
                    sex: Column::from_cell(cells.next()?)?,
                    birth_year: Column::from_cell(cells.next()?)?,
                    age_at_start: Column::from_cell(cells.next()?)?,
                    age_band: Column::from_cell(cells.next()?)?,
                    $( $cname: Column::from_cell(cells.next()?)?, )*
                })
            }
        }

        /// The sensitive items of an episode, stored encrypted under the subject's
        /// data key. `Debug` is redacted.
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        pub struct SealedEpisode {
            $( $(#[doc = $sd])* pub $sname: $($sty)*, )*
        }

        /// Checks every item in table order (each problem pushed to `e`); the
        /// input with each value in its canonical form when all are valid.
        fn check_items(
            input: &EpisodeInput,
            ctx: &Context<'_>,
            e: &mut Vec<FieldError>,
        ) -> Option<EpisodeInput> {
            $( let $name = episode_items!(@check ctx e stringify!($name), &input.$name, $($check)*); )*
            Some(EpisodeInput {
                identity: input.identity.clone(),
                $( $name: $name?, )*
            })
        }

        /// Splits a checked input into its clear columns and its sealed part.
        fn split(items: EpisodeInput, derived: Derived) -> (PlainEpisode, SealedEpisode) {
            (
                PlainEpisode {
                    start_year: derived.start_year,
                    start_quarter: derived.start_quarter,
                    sex: derived.sex,
                    birth_year: derived.birth_year,
                    age_at_start: derived.age_at_start,
                    age_band: derived.age_band,
                    $( $cname: items.$cname, )*
                },
                SealedEpisode { $( $sname: items.$sname, )* },
            )
        }

        /// Applies a correction's items; the names of those that changed.
        fn apply_items(next: &mut EpisodeInput, correction: &EpisodeCorrection) -> Vec<&'static str> {
            let mut changed = Vec::new();
            $(
                if let Some(given) = &correction.$name {
                    if Correctable::replace(&mut next.$name, given) {
                        changed.push(stringify!($name));
                    }
                }
            )*
            changed
        }
    };

    ($($table:tt)*) => {
        episode_items!(@rows [] $($table)*);
    };
}

pub(crate) use episode_items;
