//! Perturbation tables for the cell-key method.
//!
//! For a true count `n` the table gives a distribution of noise values `v` in
//! `[-D, D]` with zero mean, no published value `n + v` below 0 and none in `1..=js`
//! (a small count becomes 0 or more than `js`), and variance `V` where the support
//! allows it. Where it does not (small counts, whose support is two or three points
//! far apart), the row takes the smallest variance a zero mean permits. Among all
//! distributions meeting the constraints the one of maximum entropy is chosen, as in
//! Giessing (2016) and the sdcTools `ptable` package: under moment constraints it has
//! the Gibbs form `p(v) ∝ exp(a·v + b·v²)`, whose two parameters are found by Newton's
//! method on the (convex) dual. The table is public; only record keys are secret.

use serde::Serialize;
use utoipa::ToSchema;

/// The parameters of a perturbation table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Params {
    /// Largest absolute noise.
    pub d: u32,
    /// Target variance of the noise.
    pub v: f64,
    /// Largest count that is never published (1..=js become 0 or more than js).
    pub js: u32,
}

/// How a row's variance relates to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VarianceNote {
    /// The row has the target variance V.
    Target,
    /// The support forbids V: the row has the smallest variance a zero mean permits.
    Minimal,
    /// The support cannot reach V: the row has the largest variance it allows.
    Maximal,
}

/// One row: the noise distribution of one true count (the last row: every larger one).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Row {
    /// The true count (for the last row: this count and every larger one).
    pub n: u32,
    /// Noise values, ascending, with their probabilities (zero-probability values left out).
    pub noise: Vec<(i32, f64)>,
    /// The variance of the row.
    pub variance: f64,
    /// Whether it is the target variance, and if not why.
    pub note: VarianceNote,
}

/// A perturbation table: one row per count 0..=D+js and one for every larger count.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PTable {
    /// The parameters it was computed from.
    pub params: Params,
    /// Rows for n = 0, 1, …, D + js, and the last for all larger n.
    pub rows: Vec<Row>,
}

/// Probabilities below this are treated as zero.
const EPSILON: f64 = 1e-12;

impl PTable {
    /// Computes the table; refuses parameters outside the documented bounds
    /// (1 ≤ D ≤ 10, 0 < V ≤ D², 0 ≤ js ≤ D).
    pub fn new(params: Params) -> Result<Self, String> {
        let Params { d, v, js } = params;
        if !(1..=10).contains(&d) {
            return Err("D must be from 1 to 10".into());
        }
        if !(v > 0.0 && v <= f64::from(d * d)) {
            return Err("V must be above 0 and at most D²".into());
        }
        if js > 10 {
            return Err("js must be from 0 to 10".into());
        }
        if js > d {
            // A count in 1..=js must be able to reach 0 (noise -n, so n ≤ D) and to
            // rise above js; with js > D some small counts could do neither and would
            // be published as they are.
            return Err("js must not exceed D".into());
        }
        let rows = (0..=d + js + 1).map(|n| row(n, params)).collect();
        Ok(Self { params, rows })
    }

    /// The row that applies to a true count.
    pub fn row(&self, n: u64) -> &Row {
        let last = self.rows.len() - 1;
        &self.rows[usize::try_from(n).map_or(last, |n| n.min(last))]
    }

    /// The published value of a true count `n` in a cell whose key is `ck` in [0, 1):
    /// `n + v`, with `v` the noise whose cumulative-probability interval holds `ck`.
    pub fn perturb(&self, n: u64, ck: f64) -> u64 {
        let row = self.row(n);
        let mut cumulative = 0.0;
        let mut chosen = row.noise.last().map_or(0, |(v, _)| *v);
        for (v, p) in &row.noise {
            cumulative += p;
            if ck < cumulative {
                chosen = *v;
                break;
            }
        }
        let published = i64::try_from(n).unwrap_or(i64::MAX) + i64::from(chosen);
        u64::try_from(published).unwrap_or(0)
    }
}

/// The noise values allowed for a true count.
fn support(n: u32, Params { d, js, .. }: Params) -> Vec<i32> {
    if n == 0 {
        return vec![0];
    }
    let (n, d, js) = (i64::from(n), i64::from(d), i64::from(js));
    (-d..=d)
        .filter(|v| {
            let out = n + v;
            out == 0 || out > js
        })
        .filter_map(|v| i32::try_from(v).ok())
        .collect()
}

fn row(n: u32, params: Params) -> Row {
    let values = support(n, params);
    // Zero-mean distributions are mixtures of the point 0 (when allowed) and of
    // two-point distributions on a < 0 < b, whose variance is |a|·b. The extreme
    // variances are therefore reached on those vertices.
    let pairs: Vec<(i32, i32)> = values
        .iter()
        .filter(|a| **a < 0)
        .flat_map(|a| values.iter().filter(|b| **b > 0).map(move |b| (*a, *b)))
        .collect();
    let has_zero = values.contains(&0);
    let pair_variance = |(a, b): (i32, i32)| f64::from(-a) * f64::from(b);
    let min_variance = if has_zero {
        0.0
    } else {
        pairs
            .iter()
            .map(|p| pair_variance(*p))
            .fold(f64::INFINITY, f64::min)
    };
    let max_variance = pairs.iter().map(|p| pair_variance(*p)).fold(0.0, f64::max);
    let target = params.v;
    let (probabilities, note) = if pairs.is_empty() {
        // Only 0 is allowed (the zero count): no noise at all.
        (point(&values, 0), VarianceNote::Minimal)
    } else if target <= min_variance + 1e-9 {
        let note = if target < min_variance - 1e-9 {
            VarianceNote::Minimal
        } else {
            VarianceNote::Target
        };
        (vertex_mix(&values, &pairs, min_variance, has_zero), note)
    } else if target >= max_variance - 1e-9 {
        let note = if target > max_variance + 1e-9 {
            VarianceNote::Maximal
        } else {
            VarianceNote::Target
        };
        (vertex_mix(&values, &pairs, max_variance, false), note)
    } else {
        (max_entropy(&values, target), VarianceNote::Target)
    };
    let noise: Vec<(i32, f64)> = values
        .iter()
        .zip(&probabilities)
        .filter(|(_, p)| **p > EPSILON)
        .map(|(v, p)| (*v, *p))
        .collect();
    let total: f64 = noise.iter().map(|(_, p)| p).sum();
    let noise: Vec<(i32, f64)> = noise.into_iter().map(|(v, p)| (v, p / total)).collect();
    let variance = noise.iter().map(|(v, p)| p * f64::from(*v).powi(2)).sum();
    Row {
        n,
        noise,
        variance,
        note,
    }
}

fn point(values: &[i32], at: i32) -> Vec<f64> {
    values
        .iter()
        .map(|v| if *v == at { 1.0 } else { 0.0 })
        .collect()
}

/// The equal mixture of every vertex (the point 0, when `zero` is set, or a two-point
/// distribution) whose variance is `variance`: every distribution of that variance
/// is such a mixture, and mixing them equally spreads the probability most.
fn vertex_mix(values: &[i32], pairs: &[(i32, i32)], variance: f64, zero: bool) -> Vec<f64> {
    let mut out = vec![0.0; values.len()];
    let mut vertices = 0.0;
    let index = |v: i32| values.iter().position(|x| *x == v).unwrap_or(0);
    if zero {
        out[index(0)] += 1.0;
        vertices += 1.0;
    }
    if !zero || variance > 0.0 {
        for &(a, b) in pairs {
            if (f64::from(-a) * f64::from(b) - variance).abs() < 1e-9 {
                let span = f64::from(b - a);
                out[index(a)] += f64::from(b) / span;
                out[index(b)] += f64::from(-a) / span;
                vertices += 1.0;
            }
        }
    }
    out.iter().map(|p| p / vertices).collect()
}

/// Maximum-entropy distribution on `values` with mean 0 and variance `target`
/// (strictly between the support's extremes): `p ∝ exp(a·v + b·v²)`, with (a, b)
/// minimising the convex dual `log Σ exp(a·v + b·v²) − b·target` by damped Newton.
fn max_entropy(values: &[i32], target: f64) -> Vec<f64> {
    let xs: Vec<f64> = values.iter().map(|v| f64::from(*v)).collect();
    let gibbs = |a: f64, b: f64| -> (Vec<f64>, f64) {
        let exponents: Vec<f64> = xs.iter().map(|x| a * x + b * x * x).collect();
        let top = exponents.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = exponents.iter().map(|e| (e - top).exp()).collect();
        let sum: f64 = weights.iter().sum();
        let dual = top + sum.ln() - b * target;
        (weights.iter().map(|w| w / sum).collect(), dual)
    };
    let (mut a, mut b) = (0.0_f64, 0.0_f64);
    for _ in 0..500 {
        let (p, dual) = gibbs(a, b);
        let m1: f64 = p.iter().zip(&xs).map(|(p, x)| p * x).sum();
        let m2: f64 = p.iter().zip(&xs).map(|(p, x)| p * x * x).sum();
        let m3: f64 = p.iter().zip(&xs).map(|(p, x)| p * x.powi(3)).sum();
        let m4: f64 = p.iter().zip(&xs).map(|(p, x)| p * x.powi(4)).sum();
        let (g1, g2) = (m1, m2 - target);
        if g1.abs() < 1e-13 && g2.abs() < 1e-13 {
            break;
        }
        // Hessian: the covariance matrix of (v, v²).
        let (h11, h12, h22) = (m2 - m1 * m1, m3 - m1 * m2, m4 - m2 * m2);
        let det = h11 * h22 - h12 * h12;
        let (da, db) = if det.abs() > 1e-300 {
            ((h22 * g1 - h12 * g2) / det, (h11 * g2 - h12 * g1) / det)
        } else {
            (g1, g2)
        };
        let mut step = 1.0;
        loop {
            let (na, nb) = (a - step * da, b - step * db);
            let (_, next) = gibbs(na, nb);
            if next <= dual + 1e-4 * step * (g1 * da + g2 * db).min(0.0) || step < 1e-12 {
                a = na;
                b = nb;
                break;
            }
            step /= 2.0;
        }
    }
    gibbs(a, b).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(d: u32, v: f64, js: u32) -> PTable {
        PTable::new(Params { d, v, js }).expect("valid parameters")
    }

    fn check_constraints(t: &PTable) {
        let Params { d, v, js } = t.params;
        assert_eq!(
            t.rows.len() as u32,
            d + js + 2,
            "one row per n ≤ D+js, one more"
        );
        for row in &t.rows {
            let sum: f64 = row.noise.iter().map(|(_, p)| p).sum();
            assert!((sum - 1.0).abs() < 1e-9, "row {}: sum {sum}", row.n);
            let mean: f64 = row.noise.iter().map(|(x, p)| f64::from(*x) * p).sum();
            assert!(mean.abs() < 1e-9, "row {}: mean {mean}", row.n);
            let var: f64 = row
                .noise
                .iter()
                .map(|(x, p)| f64::from(*x).powi(2) * p)
                .sum();
            assert!((var - row.variance).abs() < 1e-9);
            for (x, p) in &row.noise {
                assert!(*p > 0.0);
                assert!(x.unsigned_abs() <= d, "row {}: noise {x} beyond D", row.n);
                let out = i64::from(row.n) + i64::from(*x);
                assert!(out >= 0, "row {}: negative result", row.n);
                assert!(
                    out == 0 || out > i64::from(js),
                    "row {}: publishes {out} in 1..={js}",
                    row.n
                );
            }
            // The support of this row, recomputed: the smallest variance zero mean allows.
            let values = support(row.n, t.params);
            let min = if values.contains(&0) {
                0.0
            } else {
                let mut m = f64::INFINITY;
                for a in values.iter().filter(|a| **a < 0) {
                    for b in values.iter().filter(|b| **b > 0) {
                        m = m.min(f64::from(-a) * f64::from(*b));
                    }
                }
                m
            };
            match row.note {
                VarianceNote::Target => assert!((var - v).abs() < 1e-9, "row {}", row.n),
                VarianceNote::Minimal => {
                    let spread = values.iter().any(|x| *x < 0);
                    assert!(min > v || !spread, "row {}: V was reachable", row.n);
                    assert!((var - min).abs() < 1e-9, "row {}: not minimal", row.n);
                }
                VarianceNote::Maximal => assert!(var < v, "row {}", row.n),
            }
        }
        assert_eq!(t.rows[0].noise, vec![(0, 1.0)], "zero stays zero");
    }

    #[test]
    fn rows_meet_every_constraint_for_several_settings() {
        for (d, v, js) in [
            (3, 2.0, 2),
            (4, 3.0, 4),
            (2, 1.0, 0),
            (5, 4.0, 3),
            (3, 1.5, 1),
        ] {
            check_constraints(&table(d, v, js));
        }
    }

    #[test]
    fn small_counts_match_values_worked_out_by_hand() {
        let close = |row: &Row, want: &[(i32, f64)]| {
            assert_eq!(
                row.noise.len(),
                want.len(),
                "row {}: {:?}",
                row.n,
                row.noise
            );
            for ((x, p), (wx, wp)) in row.noise.iter().zip(want) {
                assert_eq!(x, wx, "row {}", row.n);
                assert!((p - wp).abs() < 1e-9, "row {}: {p} vs {wp}", row.n);
            }
        };
        // D 4, js 4: a 1 becomes 0 or 5 (mean zero forces 0.8 / 0.2, variance 4).
        let deaths = table(4, 3.0, 4);
        close(&deaths.rows[1], &[(-1, 0.8), (4, 0.2)]);
        assert!((deaths.rows[1].variance - 4.0).abs() < 1e-12);
        assert_eq!(deaths.rows[1].note, VarianceNote::Minimal);
        // A 2 can become 0, 5 or 6: the least variance is 0 or 5 with 0.6 / 0.4 (6).
        close(&deaths.rows[2], &[(-2, 0.6), (3, 0.4)]);
        assert!((deaths.rows[2].variance - 6.0).abs() < 1e-12);
        // A 3: 0 or 5 (0.4 / 0.6), variance 6. A 4: 0 or 5 (0.2 / 0.8), variance 4.
        close(&deaths.rows[3], &[(-3, 0.4), (2, 0.6)]);
        close(&deaths.rows[4], &[(-4, 0.2), (1, 0.8)]);
        // A 5 cannot reach 0 (D 4) nor go below 5: it stays 5.
        close(&deaths.rows[5], &[(0, 1.0)]);
        // D 3, js 2: a 1 becomes 0 or 3 (2/3, 1/3) and a 2 becomes 0 or 3 (1/3, 2/3),
        // both exactly variance 2.
        let ckm = table(3, 2.0, 2);
        close(&ckm.rows[1], &[(-1, 2.0 / 3.0), (2, 1.0 / 3.0)]);
        close(&ckm.rows[2], &[(-2, 1.0 / 3.0), (1, 2.0 / 3.0)]);
        assert_eq!(ckm.rows[1].note, VarianceNote::Target);
        // Large counts: symmetric around zero.
        let last = ckm.rows.last().expect("last row");
        assert_eq!(last.n, 6);
        for (x, p) in &last.noise {
            let mirror = last.noise.iter().find(|(y, _)| *y == -x).expect("mirror");
            assert!((p - mirror.1).abs() < 1e-9);
        }
    }

    #[test]
    fn lookup_follows_the_cumulative_intervals() {
        let t = table(4, 3.0, 4);
        assert_eq!(t.perturb(0, 0.99), 0);
        assert_eq!(t.perturb(1, 0.0), 0);
        assert_eq!(t.perturb(1, 0.7999), 0);
        assert_eq!(t.perturb(1, 0.8001), 5);
        assert_eq!(
            t.perturb(1_000, 0.5),
            1_000,
            "the middle of a symmetric row is 0"
        );
        assert!(t.perturb(1_000, 0.0) == 996);
        assert!(t.perturb(1_000, 0.999_999) == 1_004);
        for n in 0..40 {
            for k in 0..100 {
                let out = t.perturb(n, f64::from(k) / 100.0);
                assert!(out == 0 || out > 4);
                assert!(out.abs_diff(n) <= 4);
            }
        }
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(
            PTable::new(Params {
                d: 0,
                v: 1.0,
                js: 1
            })
            .is_err()
        );
        assert!(
            PTable::new(Params {
                d: 3,
                v: 0.0,
                js: 1
            })
            .is_err()
        );
        assert!(
            PTable::new(Params {
                d: 3,
                v: 10.0,
                js: 1
            })
            .is_err()
        );
        assert!(
            PTable::new(Params {
                d: 3,
                v: 2.0,
                js: 11
            })
            .is_err()
        );
    }
}
