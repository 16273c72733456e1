//! Scores a toy detector and prints its detection report as Markdown, then
//! as JSON.
//!
//! ```text
//! cargo run -p metrics --example detection_report
//! ```

use metrics::{DetectionReport, MetricsError, ReportConfig, threshold_for_fpr};

fn main() -> Result<(), MetricsError> {
    // 20 flows: attacks (true) tend to score higher than benign flows.
    let labels = [
        false, false, false, true, false, false, true, false, false, false, true, false, false,
        true, false, false, false, true, false, true,
    ];
    let scores = [
        0.02, 0.11, 0.05, 0.91, 0.27, 0.33, 0.64, 0.08, 0.19, 0.41, 0.29, 0.13, 0.07, 0.88, 0.22,
        0.36, 0.04, 0.72, 0.15, 0.31,
    ];

    // Calibrate a threshold on the benign scores for a 10% false-alarm budget.
    let benign: Vec<f64> = labels
        .iter()
        .zip(&scores)
        .filter(|&(&attack, _)| !attack)
        .map(|(_, &s)| s)
        .collect();
    let threshold = threshold_for_fpr(&benign, 0.10)?;

    let config = ReportConfig {
        threshold,
        ..ReportConfig::default()
    };
    let report = DetectionReport::from_scores(&labels, &scores, &config)?;
    println!("{}", report.to_markdown());
    match serde_json::to_string_pretty(&report) {
        Ok(json) => println!("{json}"),
        Err(e) => eprintln!("cannot write JSON: {e}"),
    }
    Ok(())
}
