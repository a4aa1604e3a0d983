//! Walker's alias method (Walker 1977, ACM TOMS 3:253; Vose 1991, IEEE TSE 17:972 for the
//! stable construction): O(1) sampling from a discrete distribution with two uniforms and no
//! loop, the same in Rust and WGSL (`shaders/shared/alias.wgsl`).

/// An alias table over `n` outcomes.
#[derive(Clone, Debug, PartialEq)]
pub struct AliasTable {
    /// Probability of keeping column `i` (else take `alias[i]`).
    pub prob: Vec<f32>,
    /// The alternative outcome of column `i`.
    pub alias: Vec<u32>,
}

impl AliasTable {
    /// Builds the table from non-negative weights (at least one positive).
    pub fn new(weights: &[f64]) -> Option<Self> {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        if n == 0 || total <= 0.0 || !total.is_finite() {
            return None;
        }
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut prob = vec![1.0f32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            prob[s] = scaled[s] as f32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left is 1 up to rounding: keep it.
        Some(AliasTable { prob, alias })
    }

    /// Number of outcomes.
    pub fn len(&self) -> usize {
        self.prob.len()
    }

    /// True when empty (never, for a table built by [`AliasTable::new`]).
    pub fn is_empty(&self) -> bool {
        self.prob.is_empty()
    }

    /// Samples an outcome from two uniforms in (0, 1).
    #[inline]
    pub fn sample(&self, u1: f32, u2: f32) -> usize {
        let n = self.prob.len();
        let i = ((u1 * n as f32) as usize).min(n - 1);
        if u2 < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }

    /// The probability of each outcome implied by the table (for tests).
    pub fn implied_probabilities(&self) -> Vec<f64> {
        let n = self.prob.len();
        let mut p = vec![0.0; n];
        for i in 0..n {
            p[i] += self.prob[i] as f64 / n as f64;
            p[self.alias[i] as usize] += (1.0 - self.prob[i] as f64) / n as f64;
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_reproduces_the_weights() {
        let w = [0.5, 0.0, 3.0, 1e-6, 2.25, 0.1, 7.0];
        let t = AliasTable::new(&w).unwrap();
        let total: f64 = w.iter().sum();
        for (p, wi) in t.implied_probabilities().iter().zip(w) {
            assert!((p - wi / total).abs() < 1e-6, "{p} vs {}", wi / total);
        }
    }

    #[test]
    fn zero_weights_give_no_table() {
        assert!(AliasTable::new(&[0.0, 0.0]).is_none());
        assert!(AliasTable::new(&[]).is_none());
    }
}
