//! Counting distinct persons into every table of a request in one pass.
//!
//! Facts arrive grouped by person (the store orders them so). Each fact is coded once
//! (its category index on every dimension any table uses), then each person's facts
//! touch a set of cells per table, deduplicated, so a cell counts a person once however
//! many facts they have. Nothing per person is kept after their group is added, so
//! memory is the tables themselves, whatever the size of the registry.

use std::collections::HashMap;

use super::Geography;
use super::protect::Grid;
use super::tables::{Dim, Fact, Population, TableDef};

/// Bit of a population in a fact's membership mask.
pub(super) fn bit(population: Population) -> u16 {
    1 << match population {
        Population::AllEntrants => 0,
        Population::FirstTreated => 1,
        Population::PreviouslyTreated => 2,
        Population::Prevalence => 3,
        Population::DeathsB => 4,
        Population::DeathsD => 5,
        Population::DeathsBOrD => 6,
        Population::Overdoses => 7,
    }
}

/// A fact reduced to what counting needs (the caller groups facts by person).
pub(super) struct Coded {
    populations: u16,
    unit: usize,
    /// Category indices per used dimension (several for multi-valued dimensions).
    categories: Vec<Vec<u16>>,
}

/// One table's shape in terms of used-dimension positions.
#[derive(Clone)]
struct Shape {
    population: u16,
    rows: Vec<usize>,
    radix: Vec<usize>,
    col: usize,
}

/// The tables being counted, per geographic unit.
#[derive(Clone)]
pub(super) struct Tally {
    dims: Vec<Dim>,
    lookup: Vec<HashMap<String, u16>>,
    geography: Geography,
    units: HashMap<String, usize>,
    shapes: Vec<Shape>,
    /// `grids[unit][table]`.
    grids: Vec<Vec<Grid>>,
    scratch: Vec<usize>,
}

impl Tally {
    /// Empty tables for `defs` (with `row_dims[i]` the row dimensions of table `i`)
    /// in each of `units`.
    pub(super) fn new(
        defs: &[TableDef],
        row_dims: &[Vec<Dim>],
        years: (i64, i64),
        municipalities: &[(String, String)],
        geography: Geography,
        units: &[String],
    ) -> Self {
        let mut dims: Vec<Dim> = Vec::new();
        let position = |d: Dim, dims: &mut Vec<Dim>| match dims.iter().position(|x| *x == d) {
            Some(i) => i,
            None => {
                dims.push(d);
                dims.len() - 1
            }
        };
        let mut shapes = Vec::new();
        let mut empty = Vec::new();
        for (def, rows) in defs.iter().zip(row_dims) {
            let radix: Vec<usize> = rows
                .iter()
                .map(|d| d.categories(years, municipalities).len())
                .collect();
            let row_count: usize = radix.iter().product();
            let col_count = def.cols.categories(years, municipalities).len();
            shapes.push(Shape {
                population: bit(def.population),
                rows: rows.iter().map(|d| position(*d, &mut dims)).collect(),
                radix,
                col: position(def.cols, &mut dims),
            });
            empty.push(Grid::new(
                row_count,
                col_count,
                !def.cols.multi_valued(),
                rows.iter().all(|d| !d.multi_valued()),
            ));
        }
        let lookup = dims
            .iter()
            .map(|d| {
                d.categories(years, municipalities)
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| (c, u16::try_from(i).unwrap_or(u16::MAX)))
                    .collect()
            })
            .collect();
        Self {
            dims,
            lookup,
            geography,
            units: units
                .iter()
                .enumerate()
                .map(|(i, u)| (u.clone(), i))
                .collect(),
            shapes,
            grids: vec![empty; units.len()],
            scratch: Vec::new(),
        }
    }

    /// Codes a fact; `None` when it lies outside every unit.
    pub(super) fn code<F: Fact>(&self, fact: &F, populations: u16) -> Option<Coded> {
        let unit = match self.geography {
            Geography::National => 0,
            Geography::District => *self.units.get(fact.district())?,
            Geography::Municipality => *self.units.get(fact.municipality())?,
        };
        let categories = self
            .dims
            .iter()
            .zip(&self.lookup)
            .map(|(d, lookup)| {
                fact.values(*d)
                    .iter()
                    .filter_map(|v| lookup.get(v).copied())
                    .collect()
            })
            .collect();
        Some(Coded {
            populations,
            unit,
            categories,
        })
    }

    /// Adds one person (all their facts) to every table.
    pub(super) fn add_person(&mut self, facts: &[Coded]) {
        let mut units: Vec<usize> = facts.iter().map(|f| f.unit).collect();
        units.sort_unstable();
        units.dedup();
        for unit in units {
            for (table, shape) in self.shapes.iter().enumerate() {
                let grid = &mut self.grids[unit][table];
                self.scratch.clear();
                for fact in facts
                    .iter()
                    .filter(|f| f.unit == unit && f.populations & shape.population != 0)
                {
                    touch(grid, shape, fact, &mut self.scratch);
                }
                self.scratch.sort_unstable();
                self.scratch.dedup();
                for &cell in &self.scratch {
                    grid.values[cell] += 1;
                }
            }
        }
    }

    /// Adds another tally of the same tables (a disjoint set of people).
    pub(super) fn merge(&mut self, other: Tally) {
        for (mine, theirs) in self.grids.iter_mut().zip(other.grids) {
            for (grid, counted) in mine.iter_mut().zip(theirs) {
                for (value, add) in grid.values.iter_mut().zip(counted.values) {
                    *value += add;
                }
            }
        }
    }

    /// The counted tables, `[unit][table]`.
    pub(super) fn into_grids(self) -> Vec<Vec<Grid>> {
        self.grids
    }
}

/// Cells one fact falls in: its row × column cells, their margins and the total.
fn touch(grid: &Grid, shape: &Shape, fact: &Coded, cells: &mut Vec<usize>) {
    // Row index over several row dimensions: mixed radix in the order the row
    // labels are generated (first dimension most significant).
    let mut rows: Vec<usize> = vec![0];
    for (pos, radix) in shape.rows.iter().zip(&shape.radix) {
        let values = &fact.categories[*pos];
        rows = rows
            .iter()
            .flat_map(|prefix| values.iter().map(move |v| prefix * radix + usize::from(*v)))
            .collect();
    }
    let cols = &fact.categories[shape.col];
    if rows.is_empty() || cols.is_empty() {
        return;
    }
    for &r in &rows {
        for &c in cols {
            cells.push(grid.at(r, usize::from(c)));
        }
        cells.push(grid.at(r, grid.cols));
    }
    for &c in cols {
        cells.push(grid.at(grid.rows, usize::from(c)));
    }
    cells.push(grid.at(grid.rows, grid.cols));
}
