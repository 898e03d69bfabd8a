//! Disclosure control for one table of distinct-person counts: primary suppression
//! by profile (including group disclosure), deterministic secondary suppression, and
//! the audit that computes every suppressed cell's feasible interval by linear
//! programming over all published equations — this table's margins and the values
//! of earlier releases of the same table (reference/disclosure-control.md, rules 2-4).

use minilp::{ComparisonOp, OptimizationDirection, Problem};
use serde::Serialize;
use utoipa::ToSchema;

/// A named protection profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Counts 1-4 withheld; suppressed intervals at least 5 wide (the default).
    K5,
    /// Counts 1-9 withheld (deaths by municipality).
    K10,
    /// Counts 1-10 withheld (US CMS style).
    K11,
    /// Counts 1-7 withheld, all others rounded to base 5 with a per-cell key.
    Round5,
}

impl Profile {
    /// Parses the profile name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "k5" => Some(Self::K5),
            "k10" => Some(Self::K10),
            "k11" => Some(Self::K11),
            "round5" => Some(Self::Round5),
            _ => None,
        }
    }

    /// The name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::K5 => "k5",
            Self::K10 => "k10",
            Self::K11 => "k11",
            Self::Round5 => "round5",
        }
    }

    /// Smallest count published as it is; also the minimum width of a suppressed
    /// cell's feasible interval.
    pub fn threshold(self) -> i64 {
        match self {
            Self::K5 => 5,
            Self::K10 => 10,
            Self::K11 => 11,
            Self::Round5 => 8,
        }
    }
}

/// SDMX-style cell flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum Flag {
    /// Primary confidential.
    C,
    /// Secondary (suppressed to protect another cell).
    D,
    /// Unreliable (a statistic from fewer than 20 persons).
    U,
}

/// A table of counts with its margins, before protection. Cells are addressed as
/// `(row, col)`; `row == rows` is the column-total line and `col == cols` the
/// row-total column, so `(rows, cols)` is the grand total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    /// Number of row categories.
    pub rows: usize,
    /// Number of column categories.
    pub cols: usize,
    /// `(rows + 1) × (cols + 1)` values, margins included, row-major.
    pub values: Vec<i64>,
    /// Whether each row total is the sum of its cells (false when one person can be
    /// in several columns, e.g. secondary drugs).
    pub rows_add_up: bool,
    /// Whether each column total is the sum of its cells.
    pub cols_add_up: bool,
}

impl Grid {
    /// An empty grid.
    pub fn new(rows: usize, cols: usize, rows_add_up: bool, cols_add_up: bool) -> Self {
        Self {
            rows,
            cols,
            values: vec![0; (rows + 1) * (cols + 1)],
            rows_add_up,
            cols_add_up,
        }
    }

    /// Index of a cell.
    pub fn at(&self, row: usize, col: usize) -> usize {
        row * (self.cols + 1) + col
    }

    /// The additivity equations: each is a list of cell indices whose sum equals
    /// the value of the last index in the list.
    fn equations(&self) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        if self.rows_add_up {
            for r in 0..=self.rows {
                let mut eq: Vec<usize> = (0..self.cols).map(|c| self.at(r, c)).collect();
                eq.push(self.at(r, self.cols));
                out.push(eq);
            }
        }
        if self.cols_add_up {
            for c in 0..=self.cols {
                let mut eq: Vec<usize> = (0..self.rows).map(|r| self.at(r, c)).collect();
                eq.push(self.at(self.rows, c));
                out.push(eq);
            }
        }
        out
    }
}

/// A protected table: published values (None = suppressed), flags, and for every
/// suppressed cell its feasible interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Protected {
    /// Published value per cell.
    pub published: Vec<Option<i64>>,
    /// Flag per cell.
    pub flags: Vec<Option<Flag>>,
    /// `(cell, lo, hi)` for every suppressed cell (hi = None when unbounded).
    pub intervals: Vec<(usize, f64, Option<f64>)>,
}

/// Why a table cannot be published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtectError {
    /// No further suppression can protect the table.
    #[error(
        "the table cannot be protected: cell {0} stays too narrow even with every cell suppressed"
    )]
    Unprotectable(usize),
}

/// What an attacker knows from earlier releases of the same table: the value
/// published for each cell, if it was.
pub type Earlier = Vec<Vec<Option<i64>>>;

/// Protects a grid under a profile, against earlier releases of the same table.
pub fn protect(
    grid: &Grid,
    profile: Profile,
    cell_key: impl Fn(usize) -> u64,
    earlier: &Earlier,
) -> Result<Protected, ProtectError> {
    let n = grid.values.len();
    let k = profile.threshold();
    let mut flags: Vec<Option<Flag>> = vec![None; n];
    let primary_limit = match profile {
        Profile::K5 => 4,
        Profile::K10 => 9,
        Profile::K11 => 10,
        Profile::Round5 => 7,
    };
    for (i, v) in grid.values.iter().enumerate() {
        if (1..=primary_limit).contains(v) {
            flags[i] = Some(Flag::C);
        }
    }
    if profile == Profile::Round5 {
        // Rounded tables do not add up, so no cell can be recovered from margins;
        // suppressed cells are known only to lie in 1..=7.
        let published = (0..n)
            .map(|i| {
                flags[i]
                    .is_none()
                    .then(|| round5(grid.values[i], cell_key(i)))
            })
            .collect();
        let intervals = (0..n)
            .filter(|i| flags[*i].is_some())
            .map(|i| (i, 1.0, Some(primary_limit as f64)))
            .collect();
        return Ok(Protected {
            published,
            flags,
            intervals,
        });
    }
    // A table of very few persons says too much in any cell: withhold every
    // non-zero cell and margin at once (its intervals are then unbounded or wide).
    let total = grid.values[grid.at(grid.rows, grid.cols)];
    if total > 0 && total < 3 * k {
        for (i, v) in grid.values.iter().enumerate() {
            if *v > 0 && flags[i].is_none() {
                flags[i] = Some(Flag::D);
            }
        }
    }
    // Group disclosure: a line whose persons all fall in one category.
    for eq in grid.equations() {
        let (total_idx, parts) = eq.split_last().map(|(t, p)| (*t, p)).unwrap_or((0, &[]));
        let total = grid.values[total_idx];
        let nonzero: Vec<usize> = parts
            .iter()
            .copied()
            .filter(|i| grid.values[*i] > 0)
            .collect();
        if total > 0 && parts.len() > 1 && nonzero.len() == 1 && flags[nonzero[0]].is_none() {
            flags[nonzero[0]] = Some(Flag::C);
        }
    }
    // Differencing against earlier releases: a cell whose published value would
    // change by less than the threshold reveals the few records behind the change.
    for old in earlier {
        for (i, flag) in flags.iter_mut().enumerate() {
            let Some(Some(before)) = old.get(i) else {
                continue;
            };
            let change = (grid.values[i] - before).abs();
            if flag.is_none() && change > 0 && change < k {
                *flag = Some(Flag::D);
            }
        }
    }
    // Secondary suppression until every suppressed cell's interval is wide enough.
    loop {
        let Some(cell) = first_unprotected(grid, &flags, earlier, k) else {
            let intervals = audit(grid, &flags, earlier);
            let published = (0..n)
                .map(|i| flags[i].is_none().then_some(grid.values[i]))
                .collect();
            return Ok(Protected {
                published,
                flags,
                intervals,
            });
        };
        let partner =
            choose_partner(grid, &flags, cell).ok_or(ProtectError::Unprotectable(cell))?;
        flags[partner] = Some(Flag::D);
    }
}

/// The first suppressed cell (in index order) whose feasible interval is narrower
/// than `k`. A cell that is the only hidden one in an equation is pinned exactly,
/// which needs no LP; the others are solved within their connected component.
fn first_unprotected(
    grid: &Grid,
    flags: &[Option<Flag>],
    earlier: &Earlier,
    k: i64,
) -> Option<usize> {
    let equations = grid.equations();
    for eq in &equations {
        let hidden: Vec<usize> = eq.iter().copied().filter(|i| flags[*i].is_some()).collect();
        if hidden.len() == 1 {
            return Some(hidden[0]);
        }
    }
    (0..grid.values.len())
        .filter(|i| flags[*i].is_some())
        .find(|&target| {
            let (lo, hi) = interval(grid, flags, earlier, &equations, target);
            hi.is_some_and(|hi| hi - lo < k as f64 - 1e-6)
        })
}

/// The unsuppressed cell that best protects `cell`: same line first, interior
/// before margins, smallest value, lowest index (deterministic).
fn choose_partner(grid: &Grid, flags: &[Option<Flag>], cell: usize) -> Option<usize> {
    let (row, col) = (cell / (grid.cols + 1), cell % (grid.cols + 1));
    let grand_total = grid.at(grid.rows, grid.cols);
    let mut candidates: Vec<(bool, i64, usize)> = Vec::new();
    for c in 0..=grid.cols {
        candidates.push((
            c == grid.cols || row == grid.rows,
            grid.values[grid.at(row, c)],
            grid.at(row, c),
        ));
    }
    for r in 0..=grid.rows {
        candidates.push((
            r == grid.rows || col == grid.cols,
            grid.values[grid.at(r, col)],
            grid.at(r, col),
        ));
    }
    // A zero in a line whose total is zero is known to be zero: hiding it protects nothing.
    let known_zero = |i: usize| {
        let (r, c) = (i / (grid.cols + 1), i % (grid.cols + 1));
        grid.values[i] == 0
            && (grid.values[grid.at(r, grid.cols)] == 0 || grid.values[grid.at(grid.rows, c)] == 0)
    };
    candidates.retain(|(_, _, i)| {
        *i != cell && flags[*i].is_none() && *i != grand_total && !known_zero(*i)
    });
    candidates.sort();
    if let Some(best) = candidates.first() {
        return Some(best.2);
    }
    // Nothing left on the lines of this cell: widen with the smallest free cell anywhere.
    (0..grid.values.len())
        .filter(|i| flags[*i].is_none() && *i != cell && !known_zero(*i))
        .min_by_key(|i| (grid.values[*i], *i))
}

/// Computes each suppressed cell's feasible interval: min and max subject to the
/// table's additivity with published values fixed, non-negativity, and lower bounds
/// from earlier releases (registrations are only added).
pub fn audit(
    grid: &Grid,
    flags: &[Option<Flag>],
    earlier: &Earlier,
) -> Vec<(usize, f64, Option<f64>)> {
    let equations = grid.equations();
    (0..grid.values.len())
        .filter(|i| flags[*i].is_some())
        .map(|target| {
            let (lo, hi) = interval(grid, flags, earlier, &equations, target);
            (target, lo, hi)
        })
        .collect()
}

/// The hidden cells connected to `target` through shared equations, and those
/// equations: the only part of the table that constrains it.
fn component(
    flags: &[Option<Flag>],
    equations: &[Vec<usize>],
    target: usize,
) -> (Vec<usize>, Vec<usize>) {
    let mut cells = vec![target];
    let mut used = Vec::new();
    let mut frontier = vec![target];
    while let Some(cell) = frontier.pop() {
        for (e, eq) in equations.iter().enumerate() {
            if used.contains(&e) || !eq.contains(&cell) {
                continue;
            }
            used.push(e);
            for &other in eq {
                if flags[other].is_some() && !cells.contains(&other) {
                    cells.push(other);
                    frontier.push(other);
                }
            }
        }
    }
    cells.sort_unstable();
    (cells, used)
}

fn interval(
    grid: &Grid,
    flags: &[Option<Flag>],
    earlier: &Earlier,
    equations: &[Vec<usize>],
    target: usize,
) -> (f64, Option<f64>) {
    let (hidden, used) = component(flags, equations, target);
    let eqs: Vec<&Vec<usize>> = used.iter().map(|e| &equations[*e]).collect();
    let lo = solve(
        grid,
        flags,
        earlier,
        &hidden,
        &eqs,
        target,
        OptimizationDirection::Minimize,
    );
    let hi = solve(
        grid,
        flags,
        earlier,
        &hidden,
        &eqs,
        target,
        OptimizationDirection::Maximize,
    );
    (lo.unwrap_or(0.0), hi)
}

fn solve(
    grid: &Grid,
    flags: &[Option<Flag>],
    earlier: &Earlier,
    hidden: &[usize],
    equations: &[&Vec<usize>],
    target: usize,
    direction: OptimizationDirection,
) -> Option<f64> {
    let mut problem = Problem::new(direction);
    let vars: Vec<_> = hidden
        .iter()
        .map(|&i| {
            let floor = earlier
                .iter()
                .filter_map(|old| old.get(i).copied().flatten())
                .max()
                .unwrap_or(0)
                .max(0) as f64;
            problem.add_var(if i == target { 1.0 } else { 0.0 }, (floor, f64::INFINITY))
        })
        .collect();
    let var_of = |i: usize| hidden.binary_search(&i).ok().map(|p| vars[p]);
    for eq in equations {
        let Some((total, parts)) = eq.split_last() else {
            continue;
        };
        let mut terms = Vec::new();
        let mut constant = 0.0;
        for &p in parts {
            match (flags[p].is_some(), var_of(p)) {
                (true, Some(v)) => terms.push((v, 1.0)),
                _ => constant += grid.values[p] as f64,
            }
        }
        let rhs = match (flags[*total].is_some(), var_of(*total)) {
            (true, Some(v)) => {
                terms.push((v, -1.0));
                -constant
            }
            _ => grid.values[*total] as f64 - constant,
        };
        if !terms.is_empty() {
            problem.add_constraint(terms.as_slice(), ComparisonOp::Eq, rhs);
        }
    }
    problem.solve().ok().map(|s| s.objective())
}

/// Rounds to a multiple of 5, up or down with probability by distance, using a
/// deterministic per-cell key so the same cell always rounds the same way (an
/// attacker cannot average repeated runs).
pub fn round5(value: i64, key: u64) -> i64 {
    let remainder = value.rem_euclid(5);
    if remainder == 0 {
        return value;
    }
    let down = value - remainder;
    // Round up with probability remainder/5.
    if (key % 5) < remainder as u64 {
        down + 5
    } else {
        down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(rows: usize, cols: usize, interior: &[i64]) -> Grid {
        let mut g = Grid::new(rows, cols, true, true);
        for r in 0..rows {
            for c in 0..cols {
                let v = interior[r * cols + c];
                let (cell, rt, ct, tt) =
                    (g.at(r, c), g.at(r, cols), g.at(rows, c), g.at(rows, cols));
                g.values[cell] = v;
                g.values[rt] += v;
                g.values[ct] += v;
                g.values[tt] += v;
            }
        }
        g
    }

    #[test]
    fn a_lone_suppressed_interior_cell_is_exactly_recoverable() {
        // Golden example: 2×2 with margins, one interior cell suppressed.
        let g = grid(2, 2, &[3, 10, 12, 20]);
        let mut flags = vec![None; g.values.len()];
        flags[g.at(0, 0)] = Some(Flag::C);
        let intervals = audit(&g, &flags, &Vec::new());
        assert_eq!(intervals.len(), 1);
        let (_, lo, hi) = intervals[0];
        assert!(
            (lo - 3.0).abs() < 1e-9 && hi.is_some_and(|h| (h - 3.0).abs() < 1e-9),
            "pinned to 3"
        );
    }

    #[test]
    fn four_suppressed_interior_cells_have_lp_intervals() {
        let g = grid(2, 2, &[3, 10, 12, 20]);
        let mut flags = vec![None; g.values.len()];
        for (r, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            flags[g.at(r, c)] = Some(Flag::D);
        }
        let intervals = audit(&g, &flags, &Vec::new());
        // Row 0 sums to 13, column 0 to 15: x00 ∈ [0, 13].
        let x00 = intervals
            .iter()
            .find(|(i, _, _)| *i == g.at(0, 0))
            .expect("x00");
        assert!((x00.1 - 0.0).abs() < 1e-9);
        assert!(x00.2.is_some_and(|h| (h - 13.0).abs() < 1e-9));
    }

    #[test]
    fn two_singletons_in_one_row_recover_each_other_and_get_protected() {
        // Golden example: two singletons in a row with only each other as protection.
        let g = grid(2, 3, &[1, 1, 30, 20, 25, 40]);
        let mut flags = vec![None; g.values.len()];
        flags[g.at(0, 0)] = Some(Flag::C);
        flags[g.at(0, 1)] = Some(Flag::C);
        let intervals = audit(&g, &flags, &Vec::new());
        // Each is pinned by its column: column total known, other row published.
        assert!(
            intervals
                .iter()
                .all(|(_, lo, hi)| hi.is_some_and(|h| h - lo < 1e-9)),
            "{intervals:?}"
        );
        let protected = protect(&g, Profile::K5, |_| 0, &Vec::new()).expect("protected");
        for (_, lo, hi) in &protected.intervals {
            assert!(
                hi.is_none_or(|h| h - lo >= 5.0 - 1e-6),
                "{:?}",
                protected.intervals
            );
        }
        assert!(
            protected
                .flags
                .iter()
                .filter(|f| **f == Some(Flag::D))
                .count()
                >= 2
        );
    }

    #[test]
    fn known_zeros_are_never_used_as_protection() {
        // Row 2 is empty: its zeros are known from its published total and protect nothing.
        let g = grid(3, 3, &[2, 20, 30, 25, 40, 35, 0, 0, 0]);
        let p = protect(&g, Profile::K5, |_| 0, &Vec::new()).expect("protected");
        for c in 0..=3 {
            assert!(
                p.published[g.at(2, c)].is_some(),
                "zero row cell {c} stays published"
            );
        }
        for (_, lo, hi) in &p.intervals {
            assert!(hi.is_none_or(|h| h - lo >= 5.0 - 1e-6), "{:?}", p.intervals);
        }
    }

    #[test]
    fn protection_is_deterministic() {
        let g = grid(3, 3, &[1, 7, 9, 12, 2, 30, 8, 15, 3]);
        let a = protect(&g, Profile::K5, |_| 0, &Vec::new()).expect("protected");
        let b = protect(&g, Profile::K5, |_| 0, &Vec::new()).expect("protected");
        assert_eq!(a, b);
    }

    #[test]
    fn tables_of_very_few_persons_withhold_every_nonzero_cell() {
        let g = grid(2, 2, &[6, 0, 0, 4]);
        let p = protect(&g, Profile::K5, |_| 0, &Vec::new()).expect("protected");
        for (i, v) in g.values.iter().enumerate() {
            assert_eq!(p.published[i].is_none(), *v > 0, "cell {i}");
        }
    }

    #[test]
    fn group_disclosure_is_protected() {
        // Everyone in row 0 has the same category.
        let g = grid(2, 2, &[19, 0, 16, 17]);
        let p = protect(&g, Profile::K5, |_| 0, &Vec::new()).expect("protected");
        assert_eq!(p.flags[g.at(0, 0)], Some(Flag::C));
        assert!(p.published[g.at(0, 0)].is_none());
    }

    #[test]
    fn rounding_is_deterministic_per_key_and_base_five() {
        for v in 0..40 {
            for key in 0..10 {
                let r = round5(v, key);
                assert_eq!(r % 5, 0);
                assert!((r - v).abs() < 5);
                assert_eq!(r, round5(v, key));
            }
        }
    }
}
