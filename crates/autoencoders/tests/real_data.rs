//! The detector on real flows: train each model on benign rows of the
//! improved CIC-IDS2017 sample, score held-out benign and attack rows, and
//! check the ROC-AUC. Skipped (with a message) when the shared data folder
//! is absent.

use autoencoders::{
    Autoencoder, DenseConfig, EmbeddingConfig, Model, ModelConfig, ModelKind,
    ReconstructionDetector, ThresholdMethod, Trainer, TrainerConfig,
};
use flowdata::{Bounds, FeatureKind, FlowFrame, ReadOptions, ScalingMethod};
use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};

/// Row indices: 60 % of the benign rows for training, 20 % for validation
/// and calibration; the test rows are the other benign rows and every
/// attack row.
fn split(frame: &FlowFrame) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    let labels = frame.binary_labels();
    let mut benign: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == 0).collect();
    benign.shuffle(&mut StdRng::seed_from_u64(42));
    let n_train = benign.len() * 6 / 10;
    let n_val = benign.len() * 2 / 10;
    let train = benign[..n_train].to_vec();
    let val = benign[n_train..n_train + n_val].to_vec();
    let mut test = benign[n_train + n_val..].to_vec();
    test.extend((0..labels.len()).filter(|&i| labels[i] == 1));
    (train, val, test)
}

#[test]
fn reconstruction_error_separates_attacks_from_benign_flows() {
    let Some(dir) = flowdata::testdata::shared_data_dir() else {
        return;
    };
    let dir = dir.join("cicids2017-improved");
    if !dir.is_dir() {
        eprintln!("skipped: {} not found", dir.display());
        return;
    }
    let (frame, _report) = flowdata::read_flows(&[&dir], &ReadOptions::default()).unwrap();
    let (train_rows, val_rows, test_rows) = split(&frame);
    let test_labels: Vec<bool> = {
        let l = frame.binary_labels();
        test_rows.iter().map(|&i| l[i] == 1).collect()
    };
    let n_benign_test = test_labels.iter().filter(|&&a| !a).count();
    println!(
        "{} rows, {} features: train {}, validation {}, test {} ({} benign)",
        frame.n_rows(),
        frame.n_features(),
        train_rows.len(),
        val_rows.len(),
        test_rows.len(),
        n_benign_test
    );
    assert!(train_rows.len() > 1000 && test_labels.iter().any(|&a| a));

    let port = frame
        .schema()
        .features
        .iter()
        .position(|f| f.kind == FeatureKind::Categorical);
    // The feedforward and convolutional models take the continuous features
    // only; the deep model embeds the destination port.
    let continuous: Vec<&str> = frame
        .schema()
        .features
        .iter()
        .filter(|f| f.kind != FeatureKind::Categorical)
        .map(|f| f.name.as_str())
        .collect();
    let reduced = frame.select_features(&continuous).unwrap();

    let mut deep = DenseConfig {
        dropout: 0.0,
        ..DenseConfig::deep()
    };
    if let Some(column) = port {
        deep.embedding = Some(EmbeddingConfig {
            column,
            cardinality: 65_536,
            dim: 8,
        });
    }
    let runs = [
        (ModelConfig::default_for(ModelKind::FeedForward), &reduced),
        (ModelConfig::default_for(ModelKind::Conv1d), &reduced),
        (ModelConfig::Deep(deep), &frame),
    ];
    for (cfg, data) in runs {
        let started = std::time::Instant::now();
        let features = data.features();
        let pick = |rows: &[usize]| features.select(ndarray::Axis(0), rows);
        // Scaling fitted on the training rows only, applied alike everywhere.
        let bounds = Bounds::fit(
            data.schema(),
            pick(&train_rows).view(),
            ScalingMethod::Log1pQuantile { quantile: 0.999 },
        )
        .unwrap();
        let scale = |rows: &[usize]| bounds.transform(pick(rows).view()).unwrap().data;
        let (train, val, test) = (scale(&train_rows), scale(&val_rows), scale(&test_rows));

        let mut model = Model::new(&cfg, data.n_features(), 7).unwrap();
        let trainer = Trainer::new(TrainerConfig {
            epochs: 25,
            batch_size: 128,
            learning_rate: 2e-3,
            min_epoch_rows: 0,
            ..Default::default()
        })
        .unwrap();
        let history = trainer
            .fit(&mut model, train.view(), val.view(), &mut |_| {})
            .unwrap();
        let detector =
            ReconstructionDetector::fit(model, val.view(), ThresholdMethod::Percentile(99.0))
                .unwrap();
        let scores = detector.score(test.view()).unwrap();
        let auc = metrics::roc_auc(&test_labels, &scores).unwrap();
        let flags = detector.predict(test.view()).unwrap();
        let false_alarms = flags
            .iter()
            .zip(&test_labels)
            .filter(|&(&f, &a)| f == 1 && !a)
            .count();
        let detected = flags
            .iter()
            .zip(&test_labels)
            .filter(|&(&f, &a)| f == 1 && a)
            .count();
        let n_attacks = test_labels.len() - n_benign_test;
        println!(
            "{}: ROC-AUC {auc:.4}; {} epochs, best val loss {:.5}; at the 99th benign percentile: \
             FPR {:.3}, recall {:.3}; {:.1} s",
            cfg.kind(),
            history.epochs.len(),
            history.best_val_loss,
            false_alarms as f64 / n_benign_test as f64,
            detected as f64 / n_attacks as f64,
            started.elapsed().as_secs_f64()
        );
        assert!(auc > 0.8, "{}: ROC-AUC {auc}", cfg.kind());
        assert!(
            (false_alarms as f64) < 0.05 * n_benign_test as f64,
            "{}: {false_alarms} false alarms in {n_benign_test}",
            cfg.kind()
        );

        // The saved model, with the same bounds and calibration, scores raw
        // rows exactly alike.
        let (model, threshold, error_scale) = detector.into_parts();
        let saved = tempfile::tempdir().unwrap();
        model.save(saved.path()).unwrap();
        let loaded = Model::load(saved.path()).unwrap();
        let rescaled = bounds.transform(pick(&test_rows).view()).unwrap().data;
        let detector = ReconstructionDetector::from_parts(loaded, threshold, error_scale).unwrap();
        assert_eq!(detector.score(rescaled.view()).unwrap(), scores);
    }
}
