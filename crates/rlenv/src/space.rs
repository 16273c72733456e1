//! Gymnasium-style observation and action spaces.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::RlEnvError;

/// A Gymnasium-style space: the set of valid observations or actions.
///
/// `Discrete { n }` holds the integers `0..n`; `Box { low, high, shape }`
/// holds the f32 arrays of the given shape (flattened row-major, so `low`
/// and `high` have `shape.iter().product()` entries) with
/// `low[i] <= x[i] <= high[i]`. Bounds may be infinite; they serialise to
/// JSON as the strings `"inf"` and `"-inf"` so that every space round-trips.
///
/// ```
/// use rand::SeedableRng;
/// use rlenv::Space;
///
/// let space = Space::new_box(vec![-1.0, 0.0], vec![1.0, 5.0], vec![2]).unwrap();
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let x = space.sample(&mut rng);
/// assert!(space.contains(&x));
/// assert!(!space.contains(&[2.0, 1.0]));
/// assert_eq!(space.flat_dim(), 2);
///
/// let actions = Space::discrete(3).unwrap();
/// assert!(actions.contains_discrete(2) && !actions.contains_discrete(3));
/// assert_eq!(actions.n(), Some(3));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Space {
    /// The integers `0..n`.
    Discrete {
        /// Number of elements.
        n: usize,
    },
    /// A box of f32 arrays.
    Box {
        /// Lower bound of each element (row-major).
        #[serde(with = "bounds_serde")]
        low: Vec<f32>,
        /// Upper bound of each element (row-major).
        #[serde(with = "bounds_serde")]
        high: Vec<f32>,
        /// Shape of one element.
        shape: Vec<usize>,
    },
}

impl Space {
    /// `Discrete(n)`; `n` must be at least 1.
    pub fn discrete(n: usize) -> Result<Self, RlEnvError> {
        let space = Space::Discrete { n };
        space.validate()?;
        Ok(space)
    }

    /// A `Box` with the given bounds and shape, validated.
    ///
    /// `low` and `high` must have `shape.iter().product()` entries, no NaN,
    /// and `low[i] <= high[i]`; infinite bounds are allowed.
    pub fn new_box(low: Vec<f32>, high: Vec<f32>, shape: Vec<usize>) -> Result<Self, RlEnvError> {
        let space = Space::Box { low, high, shape };
        space.validate()?;
        Ok(space)
    }

    /// A one-dimensional `Box` of `dim` elements, each in `[low, high]`.
    pub fn uniform_box(low: f32, high: f32, dim: usize) -> Result<Self, RlEnvError> {
        Self::new_box(vec![low; dim], vec![high; dim], vec![dim])
    }

    /// Checks the invariants that [`Space::discrete`] and [`Space::new_box`]
    /// enforce (useful for spaces built from the public fields).
    pub fn validate(&self) -> Result<(), RlEnvError> {
        match self {
            Space::Discrete { n } => {
                if *n == 0 {
                    return Err(RlEnvError::InvalidSpace(
                        "Discrete(n) needs n >= 1, but n is 0".into(),
                    ));
                }
            }
            Space::Box { low, high, shape } => {
                let dim = shape
                    .iter()
                    .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                    .ok_or_else(|| {
                        RlEnvError::InvalidSpace(format!(
                            "Box of shape {shape:?} has more elements than memory can address"
                        ))
                    })?;
                if low.len() != dim || high.len() != dim {
                    return Err(RlEnvError::InvalidSpace(format!(
                        "Box of shape {shape:?} needs {dim} bounds, but low has {} and high has {}",
                        low.len(),
                        high.len()
                    )));
                }
                for (i, (&l, &h)) in low.iter().zip(high).enumerate() {
                    if l.is_nan() || h.is_nan() || l > h {
                        return Err(RlEnvError::InvalidSpace(format!(
                            "Box bound {i} must satisfy low <= high without NaN, but is [{l}, {h}]"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the action `a` belongs to this space (always false for a `Box`).
    pub fn contains_discrete(&self, a: usize) -> bool {
        match self {
            Space::Discrete { n } => a < *n,
            Space::Box { .. } => false,
        }
    }

    /// Whether `obs` belongs to this space.
    ///
    /// For a `Box`: the length is the product of the shape, no element is
    /// NaN and every element lies within its bounds. For a `Discrete`: `obs`
    /// is one non-negative integer value below `n`.
    pub fn contains(&self, obs: &[f32]) -> bool {
        match self {
            Space::Discrete { n } => match obs {
                [v] => v.is_finite() && *v >= 0.0 && v.fract() == 0.0 && (*v as f64) < *n as f64,
                _ => false,
            },
            Space::Box { low, high, .. } => {
                obs.len() == low.len()
                    && obs
                        .iter()
                        .zip(low.iter().zip(high))
                        .all(|(&x, (&l, &h))| x >= l && x <= h)
            }
        }
    }

    /// A random element, drawn from `rng` (so a seeded `rng` gives a
    /// reproducible sample).
    ///
    /// `Discrete` gives one value, uniform in `0..n`. A `Box` follows
    /// Gymnasium: uniform where both bounds are finite, `low + Exp(1)` or
    /// `high - Exp(1)` where only one is, and a standard normal where
    /// neither is.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<f32> {
        match self {
            Space::Discrete { n } => vec![rng.random_range(0..(*n).max(1)) as f32],
            Space::Box { low, high, .. } => low
                .iter()
                .zip(high)
                .map(|(&l, &h)| sample_bounded(l, h, rng))
                .collect(),
        }
    }

    /// A random action of a `Discrete` space, uniform in `0..n`; `None` for
    /// a `Box`.
    pub fn sample_discrete(&self, rng: &mut impl Rng) -> Option<usize> {
        match self {
            Space::Discrete { n } if *n > 0 => Some(rng.random_range(0..*n)),
            _ => None,
        }
    }

    /// Number of f32 values in one element: the product of the shape for a
    /// `Box`, 1 for a `Discrete`.
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete { .. } => 1,
            Space::Box { shape, .. } => shape.iter().product(),
        }
    }

    /// `Some(n)` for `Discrete(n)`, `None` for a `Box`.
    pub fn n(&self) -> Option<usize> {
        match self {
            Space::Discrete { n } => Some(*n),
            Space::Box { .. } => None,
        }
    }
}

impl std::fmt::Display for Space {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Space::Discrete { n } => write!(f, "Discrete({n})"),
            Space::Box { shape, .. } => write!(f, "Box(shape={shape:?})"),
        }
    }
}

/// One draw from `[low, high]` following Gymnasium's `Box.sample` rules.
fn sample_bounded(low: f32, high: f32, rng: &mut impl Rng) -> f32 {
    let exp1 = |rng: &mut dyn FnMut() -> f64| -(1.0 - rng()).ln();
    let mut unit = || rng.random::<f64>();
    let x = match (low.is_finite(), high.is_finite()) {
        (true, true) => {
            let (l, h) = (low as f64, high as f64);
            l + unit() * (h - l)
        }
        (true, false) => low as f64 + exp1(&mut unit),
        (false, true) => high as f64 - exp1(&mut unit),
        (false, false) => {
            let radius = (-2.0 * (1.0 - unit()).ln()).sqrt();
            radius * (std::f64::consts::TAU * unit()).cos()
        }
    };
    (x as f32).clamp(low, high)
}

/// Serialises bounds so that infinities survive JSON.
mod bounds_serde {
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Bound {
        Number(f32),
        Text(String),
    }

    pub fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        values
            .iter()
            .map(|&v| {
                if v.is_finite() {
                    Bound::Number(v)
                } else {
                    Bound::Text(v.to_string())
                }
            })
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        Vec::<Bound>::deserialize(d)?
            .into_iter()
            .map(|b| match b {
                Bound::Number(v) => Ok(v),
                Bound::Text(t) => match t.as_str() {
                    "inf" => Ok(f32::INFINITY),
                    "-inf" => Ok(f32::NEG_INFINITY),
                    "NaN" => Ok(f32::NAN),
                    other => Err(D::Error::custom(format!(
                        "a bound must be a number, \"inf\" or \"-inf\", but is {other:?}"
                    ))),
                },
            })
            .collect()
    }
}
