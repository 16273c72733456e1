//! Scoring with a saved detector, everything included (scale, encode,
//! decode for the novelty score and its explanation, standardise, policy,
//! verdict): batch throughput and the latency of one flow, for a detector
//! on the feedforward autoencoder and one on the deep autoencoder.

use std::hint::black_box;

use autoencoders::ModelKind;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use detector::Detector;
use flowdata::FeatureKind;
use flowdata::synth::{SynthConfig, generate};
use nids::PipelineConfig;

/// A detector trained briefly on generated flows, its policy on `kind`.
fn detector(kind: ModelKind, dir: &std::path::Path) -> Detector {
    let mut c = PipelineConfig::quick(dir.join(kind.as_str()));
    c.data.synthetic.rows = 4_000;
    c.autoencoders.kinds = vec![kind];
    c.autoencoders.trainer.min_epoch_rows = 0;
    c.ppo.timesteps = nids::Timesteps::Fixed(8_192);
    nids::run(&c).expect("training run");
    Detector::load(dir.join(kind.as_str()).join("detector")).expect("detector")
}

fn scoring(c: &mut Criterion) {
    let frame = generate(&SynthConfig {
        rows: 8_192,
        seed: 7,
        ..SynthConfig::default()
    });
    let names: Vec<String> = frame
        .schema()
        .features
        .iter()
        .filter(|f| f.kind != FeatureKind::Categorical)
        .map(|f| f.name.clone())
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let raw = frame
        .select_features(&names)
        .expect("features")
        .features()
        .to_owned();
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut group = c.benchmark_group("scoring");
    for kind in [ModelKind::FeedForward, ModelKind::Deep] {
        let d = detector(kind, dir.path());
        group.throughput(Throughput::Elements(raw.nrows() as u64));
        group.bench_function(format!("batch_8192_flows_{}", kind.as_str()), |b| {
            b.iter(|| black_box(d.score_batch(black_box(raw.view())).expect("score")))
        });
        group.throughput(Throughput::Elements(1));
        let one = raw.row(0).to_vec();
        group.bench_function(format!("one_flow_latency_{}", kind.as_str()), |b| {
            b.iter(|| black_box(d.score_one(black_box(&one)).expect("score")))
        });
    }
    group.finish();
}

criterion_group!(benches, scoring);
criterion_main!(benches);
