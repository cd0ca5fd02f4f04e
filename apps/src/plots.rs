//! The charts `train` saves: the learning curve and the confusion matrix, drawn with plotters
//! into memory and encoded as PNG, so they are written atomically like every other output.
//! The font is compiled in (DejaVu Sans, see `assets/`), so charts look the same on machines
//! without fonts installed.

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use zoo_models::train::History;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| unreachable!("the bundled font is a valid TrueType file"));
    });
}

/// Any plotters failure, as text: nothing in it is recoverable.
fn draw_error(e: impl std::fmt::Display) -> String {
    format!("drawing failed: {e}")
}

/// Draws on a white `width`×`height` canvas and encodes the result as PNG.
fn render(
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<Vec<u8>, String> {
    register_font();
    let mut rgb = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_error)?;
        draw(&root)?;
        root.present().map_err(draw_error)?;
    }
    let image = image::RgbImage::from_raw(width, height, rgb).expect("buffer of the right size");
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(png)
}

/// One panel of the learning curve: a training and a validation series per epoch.
fn curve_panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    title: &str,
    train: &[(f64, f64)],
    validation: &[(f64, f64)],
) -> Result<(), String> {
    let all = train.iter().chain(validation);
    let (low, high) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, y)| {
        (lo.min(y), hi.max(y))
    });
    let margin = ((high - low) * 0.1).max(1e-3);
    let last_epoch = train.last().map_or(1.0, |p| p.0).max(2.0);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1.0..last_epoch, (low - margin)..(high + margin))
        .map_err(draw_error)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(train.len().clamp(2, 10))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(draw_error)?;
    for (series, color, label) in [(train, BLUE, "train"), (validation, RED, "validation")] {
        if series.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                series.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(draw_error)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart
            .draw_series(series.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(draw_error)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(draw_error)
}

/// Loss per epoch (training and validation) and, for classification, accuracy beside it.
pub fn learning_curve(history: &History) -> Result<Vec<u8>, String> {
    let series = |value: &dyn Fn(&zoo_models::train::EpochRecord) -> Option<f64>| {
        history
            .epochs
            .iter()
            .filter_map(|r| value(r).map(|v| (r.epoch as f64, v)))
            .collect::<Vec<_>>()
    };
    let loss = series(&|r| Some(r.loss));
    let val_loss = series(&|r| r.val_loss());
    let accuracy = series(&|r| r.accuracy);
    let val_accuracy = series(&|r| r.validation.get("val_accuracy").copied());
    let panels = if accuracy.is_empty() { 1 } else { 2 };
    render((520 * panels, 400), |root| {
        let areas = root.split_evenly((1, panels as usize));
        curve_panel(&areas[0], "loss", &loss, &val_loss)?;
        if panels == 2 {
            curve_panel(&areas[1], "accuracy", &accuracy, &val_accuracy)?;
        }
        Ok(())
    })
}

/// `confusion[actual][predicted]` as a heat map, rows normalised so that each row's colour
/// shows the share of that class, with the counts written in the cells when they fit.
pub fn confusion_matrix(
    confusion: &[Vec<usize>],
    class_names: &[String],
) -> Result<Vec<u8>, String> {
    let n = confusion.len();
    let cell = (560 / n.max(1)).clamp(12, 60) as u32;
    let label_width = 20
        + 8 * class_names
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(1)
            .min(24) as u32;
    let side = cell * n as u32;
    render((side + label_width + 40, side + label_width + 60), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("confusion matrix (rows: true class)", ("sans-serif", 20))
            .margin(10)
            .x_label_area_size(label_width)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0.0..n as f64, 0.0..n as f64)
            .map_err(draw_error)?;
        // Cell (actual, predicted) spans [predicted, predicted + 1] × [row, row + 1], with
        // row 0 at the top as in a printed matrix; labels sit at the cell centres.
        let row = |actual: usize| (n - 1 - actual) as f64;
        let name = |centre: &f64| {
            let i = centre.floor() as usize;
            class_names.get(i).cloned().unwrap_or_else(|| i.to_string())
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted")
            .y_desc("true")
            .x_labels(n)
            .y_labels(n)
            .x_label_formatter(&|x| name(x))
            .y_label_formatter(&|y| name(&((n - 1) as f64 - y.floor())))
            .draw()
            .map_err(draw_error)?;
        let cells: Vec<(usize, usize, usize, f64)> = confusion
            .iter()
            .enumerate()
            .flat_map(|(actual, counts)| {
                let total = counts.iter().sum::<usize>().max(1) as f64;
                counts.iter().enumerate().map(move |(predicted, &count)| {
                    (actual, predicted, count, count as f64 / total)
                })
            })
            .collect();
        chart
            .draw_series(cells.iter().map(|&(actual, predicted, _, share)| {
                let shade = (255.0 * (1.0 - share)) as u8;
                let (x, y) = (predicted as f64, row(actual));
                Rectangle::new(
                    [(x, y), (x + 1.0, y + 1.0)],
                    RGBColor(shade, shade, 255).filled(),
                )
            }))
            .map_err(draw_error)?;
        if cell >= 24 {
            let font_size = (cell as f64 * 0.35).min(18.0);
            let centred = Pos::new(HPos::Center, VPos::Center);
            chart
                .draw_series(cells.iter().map(|&(actual, predicted, count, share)| {
                    let color = if share > 0.5 { WHITE } else { BLACK };
                    let style = ("sans-serif", font_size)
                        .into_font()
                        .color(&color)
                        .pos(centred);
                    Text::new(
                        count.to_string(),
                        (predicted as f64 + 0.5, row(actual) + 0.5),
                        style,
                    )
                }))
                .map_err(draw_error)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoo_models::train::{EpochRecord, StopReason};

    fn decode(png: &[u8]) -> image::RgbImage {
        image::load_from_memory(png).unwrap().to_rgb8()
    }

    fn count(image: &image::RgbImage, keep: impl Fn(&image::Rgb<u8>) -> bool) -> usize {
        image.pixels().filter(|p| keep(p)).count()
    }

    fn history(with_validation: bool) -> History {
        let epochs = (1..=4)
            .map(|epoch| EpochRecord {
                epoch,
                loss: 1.0 / epoch as f64,
                accuracy: Some(0.5 + 0.1 * epoch as f64),
                validation: if with_validation {
                    [
                        ("val_loss".to_string(), 1.2 / epoch as f64),
                        ("val_accuracy".to_string(), 0.5),
                    ]
                    .into()
                } else {
                    Default::default()
                },
                seconds: 1.0,
                samples_per_second: 100.0,
            })
            .collect();
        History {
            epochs,
            stop: StopReason::EpochBudget,
            monitor: "loss".into(),
            best_epoch: 4,
            train_seconds: 4.0,
            train_samples_per_second: 100.0,
        }
    }

    #[test]
    fn learning_curve_draws_both_series_in_two_panels() {
        let image = decode(&learning_curve(&history(true)).unwrap());
        assert_eq!(image.dimensions(), (1040, 400));
        let blue = count(&image, |p| p.0 == [0, 0, 255]);
        let red = count(&image, |p| p.0 == [255, 0, 0]);
        assert!(blue > 200 && red > 200, "blue {blue}, red {red}");
        let text = count(&image, |p| p.0 == [0, 0, 0]);
        assert!(
            text > 200,
            "axes and labels are drawn ({text} black pixels)"
        );

        let train_only = decode(&learning_curve(&history(false)).unwrap());
        assert_eq!(
            count(&train_only, |p| p.0 == [255, 0, 0]),
            0,
            "no validation series"
        );
    }

    #[test]
    fn confusion_matrix_shades_cells_by_row_share() {
        let names: Vec<String> = ["cat", "dog"].map(String::from).into();
        let image = decode(&confusion_matrix(&[vec![10, 0], vec![5, 5]], &names).unwrap());
        // A full-share cell is pure blue; a half-share cell is half-shaded.
        assert!(count(&image, |p| p.0 == [0, 0, 255]) > 1000);
        assert!(count(&image, |p| p.0 == [127, 127, 255]) > 1000);
        let many: Vec<String> = (0..40).map(|i| format!("class {i}")).collect();
        let diagonal: Vec<Vec<usize>> = (0..40)
            .map(|i| (0..40).map(|j| usize::from(i == j)).collect())
            .collect();
        assert!(confusion_matrix(&diagonal, &many).is_ok());
    }
}

/// `tune`'s chart: each trial's ranking figure after each budget it trained for (a line per
/// trial, labelled with its number at its last point).
pub fn search(trials: &[(String, Vec<(f64, f64)>)], metric: &str) -> Result<Vec<u8>, String> {
    let points = trials.iter().flat_map(|(_, p)| p.iter());
    let (mut x_high, mut low, mut high) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_high = x_high.max(x);
        (low, high) = (low.min(y), high.max(y));
    }
    if !low.is_finite() {
        (low, high) = (0.0, 1.0);
    }
    let margin = ((high - low) * 0.1).max(1e-3);
    render((720, 480), |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("{metric} per trial and budget"), ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_high * 1.08, (low - margin)..(high + margin))
            .map_err(draw_error)?;
        chart
            .configure_mesh()
            .x_desc("epochs")
            .y_desc(metric)
            .draw()
            .map_err(draw_error)?;
        for (i, (label, series)) in trials.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    series.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(draw_error)?;
            chart
                .draw_series(series.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(draw_error)?;
            if let Some(&last) = series.last() {
                chart
                    .draw_series(std::iter::once(Text::new(
                        label.clone(),
                        last,
                        ("sans-serif", 13).into_font().color(&color),
                    )))
                    .map_err(draw_error)?;
            }
        }
        Ok(())
    })
}
