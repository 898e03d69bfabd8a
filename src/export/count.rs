//! Counting distinct persons of a snapshot into a table, with each cell's key.
//!
//! A table is a filter (which persons), one or more row axes and a column axis. An
//! axis classifies one field's value into zero or more categories (a drug code falls
//! in its own row and its group's total row; a list of secondary drugs in several
//! columns). Each snapshot row is one person, so a cell counts a person once however
//! many of their categories fall in it. Margins count the persons in that row (or
//! column) whatever the other axis says, and the grand total every person who passes
//! the filter. Beside each count the cell keeps the sum of its persons' record keys
//! modulo 2³² — the cell key of the cell-key method, the same for the same set of
//! persons in any table.

use super::snapshot::Part;

/// A category of an axis: its code and its label in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    /// Code (TDI / DRD code, slug, band).
    pub code: String,
    /// Label in words.
    pub label: String,
}

/// Classifies a field value into category positions.
pub type Classify = Box<dyn Fn(&str) -> Vec<usize> + Send + Sync>;

/// One axis of a table.
pub struct Axis {
    /// The snapshot field it reads.
    pub field: &'static str,
    /// Its categories, in publication order.
    pub categories: Vec<Category>,
    /// The categories a value falls in.
    pub classify: Classify,
}

impl Axis {
    /// An axis whose categories are exactly the field's codes.
    pub fn codes(field: &'static str, categories: Vec<Category>) -> Self {
        let codes: Vec<String> = categories.iter().map(|c| c.code.clone()).collect();
        Self {
            field,
            categories,
            classify: Box::new(move |v| codes.iter().position(|c| c == v).into_iter().collect()),
        }
    }
}

/// One condition on a field's value.
pub type Condition = (&'static str, Box<dyn Fn(&str) -> bool + Send + Sync>);

/// Which persons a table counts: every condition must hold.
pub type Filter = Vec<Condition>;

/// A snapshot column's row indices (absent when the population lacks the field) and,
/// per interned value, its categories.
type Lookup<'a> = (Option<&'a [u16]>, Vec<Vec<usize>>);

/// A counted table: `(rows + 1) × (cols + 1)` cells, the last row and column the margins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// Row categories.
    pub rows: usize,
    /// Column categories.
    pub cols: usize,
    /// Distinct persons per cell, row-major.
    pub counts: Vec<u64>,
    /// Sum of record keys per cell, modulo 2³².
    pub keys: Vec<u32>,
}

impl Grid {
    fn new(rows: usize, cols: usize) -> Self {
        let cells = (rows + 1) * (cols + 1);
        Self {
            rows,
            cols,
            counts: vec![0; cells],
            keys: vec![0; cells],
        }
    }

    /// Index of cell `(row, col)`; `row == rows` / `col == cols` are the margins.
    pub fn at(&self, row: usize, col: usize) -> usize {
        row * (self.cols + 1) + col
    }

    /// The cell key of cell `i`, in [0, 1).
    pub fn cell_key(&self, i: usize) -> f64 {
        f64::from(self.keys[i]) / 4_294_967_296.0
    }
}

/// Per snapshot column, the categories of each interned value.
fn lookup(part: &Part, axis: &Axis) -> Vec<Vec<usize>> {
    part.column(axis.field)
        .map(|c| c.labels.iter().map(|l| (axis.classify)(l)).collect())
        .unwrap_or_default()
}

fn column_index<'a>(part: &'a Part, field: &str) -> Option<&'a [u16]> {
    part.column(field).map(|c| c.index.as_slice())
}

/// The categories of row `i` on one axis.
fn categories<'a>((index, table): &'a Lookup<'_>, i: usize) -> &'a [usize] {
    match index {
        Some(index) => &table[usize::from(index[i])],
        None => &[],
    }
}

/// Counts `part` into one grid per unit (`units` an axis that assigns each person
/// to a geographic unit; `None` for one national table).
pub fn count(
    part: &Part,
    filter: &Filter,
    rows: &[Axis],
    col: &Axis,
    units: Option<&Axis>,
) -> Vec<Grid> {
    let radix: Vec<usize> = rows.iter().map(|a| a.categories.len()).collect();
    let row_count: usize = radix.iter().product();
    let unit_count = units.map_or(1, |u| u.categories.len());
    let mut grids = vec![Grid::new(row_count, col.categories.len()); unit_count];
    if part.is_empty() {
        return grids;
    }
    let filters: Vec<(&[u16], Vec<bool>)> = filter
        .iter()
        .filter_map(|(field, keep)| {
            let column = part.column(field)?;
            Some((
                column.index.as_slice(),
                column.labels.iter().map(|l| keep(l)).collect(),
            ))
        })
        .collect();
    if filters.len() != filter.len() {
        // A filter on a field the population lacks keeps nobody.
        return grids;
    }
    let row_lookups: Vec<Lookup<'_>> = rows
        .iter()
        .map(|a| (column_index(part, a.field), lookup(part, a)))
        .collect();
    let col_lookup = (column_index(part, col.field), lookup(part, col));
    let unit_lookup = units.map(|u| (column_index(part, u.field), lookup(part, u)));
    const NATIONAL: [usize; 1] = [0];
    // Buffers reused across rows: the statutory set is some 90 passes over a
    // million rows, so nothing is allocated per row.
    let mut cells: Vec<usize> = Vec::new();
    let mut row_list: Vec<usize> = Vec::new();
    let mut next: Vec<usize> = Vec::new();
    for i in 0..part.len() {
        if !filters
            .iter()
            .all(|(index, keep)| keep[usize::from(index[i])])
        {
            continue;
        }
        let unit_list: &[usize] = match &unit_lookup {
            Some(lookup) => categories(lookup, i),
            None => &NATIONAL,
        };
        if unit_list.is_empty() {
            continue;
        }
        // Row positions over several row axes: mixed radix, first axis most significant.
        row_list.clear();
        row_list.push(0);
        for (lookup, radix) in row_lookups.iter().zip(&radix) {
            let values = categories(lookup, i);
            next.clear();
            for prefix in &row_list {
                next.extend(values.iter().map(|v| prefix * radix + v));
            }
            std::mem::swap(&mut row_list, &mut next);
        }
        let col_list = categories(&col_lookup, i);
        let rk = part.rk[i];
        for &unit in unit_list {
            let grid = &mut grids[unit];
            cells.clear();
            for &r in &row_list {
                for &c in col_list {
                    cells.push(grid.at(r, c));
                }
                cells.push(grid.at(r, grid.cols));
            }
            for &c in col_list {
                cells.push(grid.at(grid.rows, c));
            }
            cells.push(grid.at(grid.rows, grid.cols));
            cells.sort_unstable();
            cells.dedup();
            for &cell in &cells {
                grid.counts[cell] += 1;
                grid.keys[cell] = grid.keys[cell].wrapping_add(rk);
            }
        }
    }
    grids
}

/// One national table (`count` without geographic units always gives exactly one grid).
pub fn count_national(part: &Part, filter: &Filter, rows: &[Axis], col: &Axis) -> Grid {
    count(part, filter, rows, col, None).swap_remove(0)
}

/// Count, sum and sum of squares of whole years: exact in integers, so the mean and
/// standard deviation do not depend on the order persons are read in.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moments {
    /// Values.
    pub n: i64,
    sum: i64,
    squares: i64,
}

impl Moments {
    /// Adds a value.
    pub fn add(&mut self, value: i64) {
        self.n += 1;
        self.sum += value;
        self.squares += value * value;
    }

    /// Mean and population standard deviation, each rounded to one decimal.
    pub fn mean_sd(&self) -> Option<(f64, f64)> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let mean = self.sum as f64 / n;
        // n²·variance = n·Σx² − (Σx)², computed exactly.
        let scaled = (i128::from(self.n) * i128::from(self.squares)
            - i128::from(self.sum) * i128::from(self.sum))
        .max(0);
        let sd = (scaled as f64).sqrt() / n;
        Some(((mean * 10.0).round() / 10.0, (sd * 10.0).round() / 10.0))
    }
}
