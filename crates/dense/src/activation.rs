//! Element-wise activation functions.

use serde::{Deserialize, Serialize};

/// An element-wise activation function, applied after a layer.
///
/// The scalar methods are exact (libm's `tanh` and `exp`); the engine's
/// kernels ([`add_bias_act`](crate::add_bias_act),
/// [`act_in_place`](crate::act_in_place)) evaluate tanh and sigmoid through
/// a vectorisable approximation within 1e-6 of them.
///
/// ```
/// use dense::Activation;
/// assert_eq!(Activation::Relu.apply(-2.0), 0.0);
/// assert_eq!(Activation::Sigmoid.apply(0.0), 0.5);
/// assert_eq!(Activation::Tanh.derivative_from_output(0.5), 0.75);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + exp(-x))`: suits outputs scaled into `[0, 1]`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// The identity.
    Linear,
}

impl Activation {
    /// Applies the activation to one value.
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Tanh => x.tanh(),
            Activation::Linear => x,
        }
    }

    /// The derivative, written in terms of the activation's output `y`.
    #[inline]
    pub fn derivative_from_output(self, y: f32) -> f32 {
        match self {
            Activation::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Sigmoid => y * (1.0 - y),
            Activation::Tanh => 1.0 - y * y,
            Activation::Linear => 1.0,
        }
    }
}
