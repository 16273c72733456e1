//! PNG plots drawn with `plotters` (bitmap backend, no system library).
//! Text needs a TrueType font, loaded at run time from the usual system
//! paths (or `$NIDS_FONT`); without one the plots are drawn without text.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use metrics::ConfusionMatrix;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::error::{PipelineError, Result};

/// Draw into a temporary file beside `path` (its name ends with `.png`,
/// which the bitmap encoder reads the format from) and rename it onto
/// `path` once drawn: a plot is written whole or not at all.
fn draw_to(path: &Path, draw: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let file = atomicfile::AtomicFile::create(path).map_err(|e| PipelineError::io(path, e))?;
    draw(file.temp_path())?;
    file.commit().map_err(|e| PipelineError::io(path, e))
}

const FONT_PATHS: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Register a system font with plotters once; returns its path, or `None`
/// when no font was found (plots are then drawn without text).
pub fn font() -> Option<&'static Path> {
    static FONT: OnceLock<Option<PathBuf>> = OnceLock::new();
    FONT.get_or_init(|| {
        let candidates = std::env::var_os("NIDS_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from));
        for path in candidates {
            if let Ok(bytes) = std::fs::read(&path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return Some(path);
                }
            }
        }
        None
    })
    .as_deref()
}

fn plot_err(path: &Path, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One line of a line chart.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points in data units.
    pub points: Vec<(f64, f64)>,
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(90, 90, 90),
];

/// Tick label: integers without decimals, small values with up to three.
/// The frame of a chart: image size, margin, caption size and label areas
/// (the bare areas apply when no font is available).
struct Layout {
    size: (u32, u32),
    margin: u32,
    caption: u32,
    x_area: u32,
    y_area: u32,
    bare_area: u32,
}

/// Line charts and histograms.
const WIDE: Layout = Layout {
    size: (800, 560),
    margin: 16,
    caption: 24,
    x_area: 48,
    y_area: 72,
    bare_area: 0,
};

/// A white canvas of the layout's size.
fn canvas<'a>(path: &'a Path, layout: &Layout) -> Result<DrawingArea<BitMapBackend<'a>, Shift>> {
    let root = BitMapBackend::new(path, layout.size).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_err(path, e))?;
    Ok(root)
}

/// A Cartesian chart on `root` with the layout's frame, captioned when a
/// font is available.
fn cartesian<'a, 'b>(
    root: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    path: &Path,
    title: &str,
    layout: &Layout,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
) -> Result<ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>> {
    let mut builder = ChartBuilder::on(root);
    builder.margin(layout.margin);
    if font().is_some() {
        builder
            .caption(title, ("sans-serif", layout.caption))
            .x_label_area_size(layout.x_area)
            .y_label_area_size(layout.y_area);
    } else {
        builder
            .x_label_area_size(layout.bare_area)
            .y_label_area_size(layout.bare_area);
    }
    builder
        .build_cartesian_2d(x, y)
        .map_err(|e| plot_err(path, e))
}

fn tick(v: &f64) -> String {
    if v.abs() >= 100.0 || (v.fract() == 0.0 && v.abs() < 1e15) {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Where a chart's legend goes.
pub use plotters::chart::SeriesLabelPosition as LegendPosition;

fn bounds(series: &[Series]) -> (f64, f64, f64, f64) {
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-12 {
        y1 = y0 + 1.0;
    }
    (x0, x1, y0, y1)
}

/// A line chart. `range` fixes the axes (`(x0, x1, y0, y1)`) or, when
/// `None`, fits them to the data with a small margin. Written whole or not
/// at all, as every plot.
pub fn line_chart(
    path: &Path,
    title: &str,
    axes: (&str, &str),
    series: &[Series],
    range: Option<(f64, f64, f64, f64)>,
    legend: LegendPosition,
) -> Result<()> {
    draw_to(path, |path| {
        let text = font().is_some();
        let layout = Layout {
            bare_area: 8,
            ..WIDE
        };
        let root = canvas(path, &layout)?;
        let (x0, x1, y0, y1) = range.unwrap_or_else(|| {
            let (x0, x1, y0, y1) = bounds(series);
            let pad = (y1 - y0) * 0.05;
            (x0, x1, y0 - pad, y1 + pad)
        });
        let mut chart = cartesian(&root, path, title, &layout, x0..x1, y0..y1)?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc(axes.0)
                .y_desc(axes.1)
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 17));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| plot_err(path, e))?;
        for (i, s) in series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let drawn = chart
                .draw_series(LineSeries::new(
                    s.points
                        .iter()
                        .copied()
                        .filter(|(x, y)| x.is_finite() && y.is_finite()),
                    color.stroke_width(2),
                ))
                .map_err(|e| plot_err(path, e))?;
            if text {
                drawn.label(s.name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            }
        }
        if text && series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .position(legend)
                .draw()
                .map_err(|e| plot_err(path, e))?;
        }
        root.present().map_err(|e| plot_err(path, e))
    })
}

/// Overlaid histograms of benign and attack reconstruction errors on a
/// log10 axis, with the detector's threshold as a vertical line. Each
/// class is normalised to its own share per bin.
pub fn error_histogram(
    path: &Path,
    title: &str,
    benign: &[f64],
    attack: &[f64],
    threshold: f64,
) -> Result<()> {
    draw_to(path, |path| {
        let log = |v: f64| v.max(1e-12).log10();
        let all: Vec<f64> = benign.iter().chain(attack).map(|&v| log(v)).collect();
        let lo = all
            .iter()
            .copied()
            .fold(f64::MAX, f64::min)
            .min(log(threshold));
        let hi = all
            .iter()
            .copied()
            .fold(f64::MIN, f64::max)
            .max(log(threshold));
        let (lo, hi) = if hi - lo < 1e-9 {
            (lo - 1.0, hi + 1.0)
        } else {
            (lo, hi)
        };
        let bins = 60usize;
        let width = (hi - lo) / bins as f64;
        let hist = |values: &[f64]| {
            let mut h = vec![0f64; bins];
            for &v in values {
                let b = (((log(v) - lo) / width) as usize).min(bins - 1);
                h[b] += 1.0;
            }
            let n = values.len().max(1) as f64;
            h.iter_mut().for_each(|c| *c /= n);
            h
        };
        let (hb, ha) = (hist(benign), hist(attack));
        let top = hb.iter().chain(&ha).copied().fold(0.0, f64::max).max(1e-9) * 1.1;
        let text = font().is_some();
        let root = canvas(path, &WIDE)?;
        let mut chart = cartesian(&root, path, title, &WIDE, lo..hi, 0.0..top)?;
        let mut mesh = chart.configure_mesh();
        if text {
            mesh.x_desc("log10 reconstruction error (MSE)")
                .x_label_formatter(&tick)
                .y_label_formatter(&tick)
                .y_desc("share of the class per bin")
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 17));
        } else {
            mesh.x_labels(0).y_labels(0);
        }
        mesh.draw().map_err(|e| plot_err(path, e))?;
        let classes = [
            (format!("benign ({})", benign.len()), &hb, PALETTE[0]),
            (format!("attack ({})", attack.len()), &ha, PALETTE[1]),
        ];
        for (name, h, color) in classes {
            let drawn = chart
                .draw_series(h.iter().enumerate().map(|(i, &c)| {
                    let x = lo + i as f64 * width;
                    Rectangle::new([(x, 0.0), (x + width, c)], color.mix(0.45).filled())
                }))
                .map_err(|e| plot_err(path, e))?;
            if text {
                drawn.label(name).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.mix(0.45).filled())
                });
            }
        }
        let t = log(threshold);
        let line = chart
            .draw_series(LineSeries::new(
                vec![(t, 0.0), (t, top)],
                BLACK.stroke_width(2),
            ))
            .map_err(|e| plot_err(path, e))?;
        if text {
            line.label(format!("threshold {threshold:.3e}"))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2))
                });
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| plot_err(path, e))?;
        }
        root.present().map_err(|e| plot_err(path, e))
    })
}

/// A 2 x 2 confusion matrix (rows: true class, columns: predicted), cells
/// shaded by their share of the true class.
pub fn confusion_matrix(path: &Path, title: &str, cm: &ConfusionMatrix) -> Result<()> {
    draw_to(path, |tmp| draw_confusion_matrix(tmp, title, cm))
}

fn draw_confusion_matrix(path: &Path, title: &str, cm: &ConfusionMatrix) -> Result<()> {
    let text = font().is_some();
    let layout = Layout {
        size: (560, 520),
        margin: 20,
        caption: 20,
        x_area: 50,
        y_area: 80,
        bare_area: 0,
    };
    let root = canvas(path, &layout)?;
    let mut chart = cartesian(&root, path, title, &layout, 0.0..2.0, 0.0..2.0)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_mesh().x_labels(0).y_labels(0);
    if text {
        mesh.x_desc("predicted: benign | attack")
            .y_desc("true: attack | benign")
            .axis_desc_style(("sans-serif", 17));
    }
    mesh.draw().map_err(|e| plot_err(path, e))?;
    // (true, predicted, count); y = 1..2 is the benign row (top).
    let cells = [
        (0usize, 0usize, cm.tn, "TN"),
        (0, 1, cm.fp, "FP"),
        (1, 0, cm.fn_, "FN"),
        (1, 1, cm.tp, "TP"),
    ];
    let support = [cm.tn + cm.fp, cm.fn_ + cm.tp];
    for (t, p, count, name) in cells {
        let share = count as f64 / support[t].max(1) as f64;
        let y = if t == 0 { 1.0 } else { 0.0 };
        let x = p as f64;
        let shade = (255.0 * (1.0 - 0.75 * share)) as u8;
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x, y), (x + 1.0, y + 1.0)],
                RGBColor(shade, shade, 255).filled(),
            )))
            .map_err(|e| plot_err(path, e))?;
        if text {
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{name} {count} ({:.1} %)", 100.0 * share),
                    (x + 0.12, y + 0.55),
                    ("sans-serif", 20).into_font(),
                )))
                .map_err(|e| plot_err(path, e))?;
        }
    }
    root.present().map_err(|e| plot_err(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_written_as_png() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("line.png");
        line_chart(
            &a,
            "t",
            ("x", "y"),
            &[Series {
                name: "s".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 1.5)],
            }],
            None,
            LegendPosition::UpperRight,
        )
        .unwrap();
        let b = dir.path().join("hist.png");
        error_histogram(&b, "t", &[0.01, 0.02, 0.015], &[0.5, 1.0], 0.03).unwrap();
        let c = dir.path().join("cm.png");
        confusion_matrix(&c, "t", &ConfusionMatrix::new(5, 1, 90, 4)).unwrap();
        for p in [a, b, c] {
            let bytes = std::fs::read(&p).unwrap();
            assert_eq!(&bytes[1..4], b"PNG", "{}", p.display());
        }
        // Written through temporary files, none left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
    }
}
