//! Progress bars on standard error, or none at all (tests, `--quiet`).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Makes progress bars, all hidden when disabled. Bars of stages that run
/// at the same time (the autoencoders) share the terminal without
/// overwriting each other.
#[derive(Clone, Debug)]
pub struct Bars {
    multi: Option<MultiProgress>,
}

impl Bars {
    /// Bars that draw when `enabled`.
    pub fn new(enabled: bool) -> Self {
        Bars {
            multi: enabled.then(MultiProgress::new),
        }
    }

    /// A bar of `len` units, labelled `message`; `unit` is `steps`, `bytes`
    /// or any other word.
    pub fn bar(&self, len: u64, message: &str, unit: &str) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let template = if unit == "bytes" {
            "{msg:28} {bar:36} {bytes}/{total_bytes} {elapsed_precise}".to_string()
        } else {
            format!(
                "{{msg:28}} {{bar:36}} {{pos}}/{{len}} {unit} {{elapsed_precise}} (eta {{eta}})"
            )
        };
        // Drawn only through the shared live region: a bar made with its
        // own stderr target would print its first state there before
        // joining it, a stale line left above the live ones.
        let bar = multi.add(ProgressBar::with_draw_target(
            Some(len),
            ProgressDrawTarget::hidden(),
        ));
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(message.to_string());
        bar
    }
}
