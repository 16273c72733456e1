//! Scaling throughput: `Bounds::transform` of 1 million raw CIC-IDS2017
//! flows (77 features) under log1p + quantile scaling (the default) and
//! min-max, with the values outside the training range counted.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowdata::synth::{SynthConfig, generate};
use flowdata::{Bounds, ScalingMethod};

const ROWS: usize = 1_000_000;

fn scale(c: &mut Criterion) {
    let frame = generate(&SynthConfig {
        rows: ROWS,
        seed: 3,
        ..Default::default()
    });
    let x = frame.features();
    // Fitted on a tenth of the rows, so that some values lie outside.
    let fit_rows = x.slice(ndarray::s![..ROWS / 10, ..]);
    let mut g = c.benchmark_group("scale");
    g.sample_size(10);
    g.throughput(Throughput::Elements(frame.n_rows() as u64));
    for (name, method) in [
        ("transform_log1p_1m_rows", ScalingMethod::default()),
        ("transform_minmax_1m_rows", ScalingMethod::MinMax),
    ] {
        let bounds = Bounds::fit(frame.schema(), fit_rows, method).expect("fit");
        g.bench_function(name, |b| {
            b.iter(|| black_box(bounds.transform(x).expect("transform")))
        });
    }
    g.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);
