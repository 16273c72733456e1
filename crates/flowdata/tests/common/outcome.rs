//! What a read gave, comparable across ways of reading the same bytes:
//! shared by the hostile corpus and the path-and-stream proptest.

use flowdata::{CleaningReport, FlowFrame};

/// The rows a read kept (labels, whether each is one and an attack,
/// features as bits so that NaN equals itself), the malformed rows' lines,
/// the rows without a label and the origins' positions; or the error with
/// the input's name taken out.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Rows {
        labels: Vec<String>,
        labelled: Vec<bool>,
        attack: Vec<bool>,
        features: Vec<u32>,
        malformed_lines: Vec<u64>,
        unlabelled: u64,
        rows: Option<Vec<u64>>,
    },
    Error(String),
}

/// The outcome of one read of an input named `name`; an error must name it.
pub fn outcome(name: &str, read: flowdata::Result<(FlowFrame, CleaningReport)>) -> Outcome {
    match read {
        Ok((frame, report)) => Outcome::of_frames(&[frame], &report),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(name), "the error does not name {name}: {msg}");
            Outcome::Error(msg.replace(name, "INPUT"))
        }
    }
}

impl Outcome {
    /// The rows of frames read in turn from one reader, with its report.
    pub fn of_frames(frames: &[FlowFrame], report: &CleaningReport) -> Outcome {
        let each = |f: &dyn Fn(&FlowFrame, usize) -> bool| -> Vec<bool> {
            frames
                .iter()
                .flat_map(|fr| (0..fr.n_rows()).map(move |r| f(fr, r)))
                .collect()
        };
        Outcome::Rows {
            labels: frames
                .iter()
                .flat_map(|f| (0..f.n_rows()).map(move |r| f.raw_label(r).to_string()))
                .collect(),
            labelled: each(&|f, r| f.is_labelled(r)),
            attack: each(&|f, r| f.is_attack(r)),
            features: frames
                .iter()
                .flat_map(|f| f.features().iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                .collect(),
            malformed_lines: report
                .files
                .iter()
                .flat_map(|f| f.malformed_rows.iter().map(|m| m.line))
                .collect(),
            unlabelled: report.files.iter().map(|f| f.unlabelled_rows).sum(),
            rows: frames
                .iter()
                .map(|f| f.origins().map(|o| o.rows().to_vec()))
                .collect::<Option<Vec<_>>>()
                .map(|v| v.concat()),
        }
    }
}
