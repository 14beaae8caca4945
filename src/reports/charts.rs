//! Charts drawn on the server as SVG: bars and lines with axis labels, nothing else.
//!
//! A plotting crate would need a font back end (system fontconfig or an embedded font) only
//! to measure labels; these charts need rectangles, polylines and text, which the browser
//! lays out itself. Every label is escaped here, because the SVG is put into the page as
//! markup: labels can be language codes, country codes or navigators' names.

use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 48.0;
const COLOURS: [&str; 4] = ["#3b6ea8", "#c2571a", "#5b8c3a", "#7a4f9a"];

/// Escapes text for SVG (XML) content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn open_svg(title: &str) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{t}\">\
         <title>{t}</title><text x=\"{LEFT}\" y=\"16\" font-size=\"13\" font-weight=\"bold\" fill=\"#222\">{t}</text>",
        t = escape(title)
    );
    svg
}

/// A round upper bound for an axis.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * magnitude >= max {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn y_axis(svg: &mut String, max: f64, format: &dyn Fn(f64) -> String) {
    let plot_height = HEIGHT - TOP - BOTTOM;
    for i in 0..=4 {
        let value = max * f64::from(i) / 4.0;
        let y = HEIGHT - BOTTOM - plot_height * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#555\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 3.0,
            escape(&format(value))
        );
    }
}

fn x_label(svg: &mut String, x: f64, label: &str, n_labels: usize, index: usize) {
    // Show at most about 14 labels; the rest stay readable in the bars' tooltips.
    let every = n_labels.div_ceil(14).max(1);
    if index % every != 0 {
        return;
    }
    let _ = write!(
        svg,
        "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#555\">{}</text>",
        HEIGHT - BOTTOM + 14.0,
        escape(label)
    );
}

/// Vertical bars, one per (label, value).
pub fn bar_chart(title: &str, bars: &[(String, f64)], format: &dyn Fn(f64) -> String) -> String {
    let mut svg = open_svg(title);
    let max = nice_max(bars.iter().map(|(_, v)| *v).fold(0.0, f64::max));
    y_axis(&mut svg, max, format);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let slot = plot_width / bars.len().max(1) as f64;
    for (index, (label, value)) in bars.iter().enumerate() {
        let height = plot_height * value / max;
        let x = LEFT + slot * index as f64;
        let _ = write!(
            svg,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{height:.1}\" fill=\"{}\"><title>{}: {}</title></rect>",
            x + slot * 0.1,
            HEIGHT - BOTTOM - height,
            slot * 0.8,
            COLOURS[0],
            escape(label),
            escape(&format(*value))
        );
        x_label(&mut svg, x + slot / 2.0, label, bars.len(), index);
    }
    if bars.is_empty() {
        no_data(&mut svg);
    }
    svg.push_str("</svg>");
    svg
}

/// Lines over shared x labels; a missing point breaks its line.
pub fn line_chart(
    title: &str,
    x_labels: &[String],
    series: &[(String, Vec<Option<f64>>)],
    format: &dyn Fn(f64) -> String,
) -> String {
    let mut svg = open_svg(title);
    let max = nice_max(
        series
            .iter()
            .flat_map(|(_, points)| points.iter().flatten().copied())
            .fold(0.0, f64::max),
    );
    y_axis(&mut svg, max, format);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let step = plot_width / x_labels.len().max(1) as f64;
    let x_of = |index: usize| LEFT + step * (index as f64 + 0.5);
    for (index, label) in x_labels.iter().enumerate() {
        x_label(&mut svg, x_of(index), label, x_labels.len(), index);
    }
    for (n, (name, points)) in series.iter().enumerate() {
        let colour = COLOURS[n % COLOURS.len()];
        let mut path = String::new();
        let mut pen_down = false;
        for (index, point) in points.iter().enumerate() {
            match point {
                Some(value) => {
                    let y = HEIGHT - BOTTOM - plot_height * value / max;
                    let _ = write!(
                        path,
                        "{}{:.1},{y:.1} ",
                        if pen_down { "L" } else { "M" },
                        x_of(index)
                    );
                    let _ = write!(
                        svg,
                        "<circle class=\"point\" cx=\"{:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{colour}\"><title>{} {}: {}</title></circle>",
                        x_of(index),
                        escape(name),
                        escape(x_labels.get(index).map_or("", String::as_str)),
                        escape(&format(*value))
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            svg,
            "<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#222\">{}</text>",
            path.trim_end(),
            LEFT + 120.0 * n as f64,
            HEIGHT - 18.0,
            LEFT + 120.0 * n as f64 + 14.0,
            HEIGHT - 9.0,
            escape(name)
        );
    }
    if x_labels.is_empty() {
        no_data(&mut svg);
    }
    svg.push_str("</svg>");
    svg
}

fn no_data(svg: &mut String) {
    let _ = write!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\" fill=\"#777\">No threads in this range</text>",
        WIDTH / 2.0,
        HEIGHT / 2.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        let bars = vec![("<script>alert(1)</script>".to_string(), 3.0)];
        let svg = bar_chart("by \"navigator\"", &bars, &|v| format!("{v}"));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("by &quot;navigator&quot;"));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 1);
    }

    #[test]
    fn a_missing_point_breaks_the_line() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let svg = line_chart(
            "t",
            &labels,
            &[("p50".into(), vec![Some(1.0), None, Some(3.0)])],
            &|v| format!("{v}"),
        );
        assert_eq!(svg.matches("<circle").count(), 2);
        let path = svg.split("<path d=\"").nth(1).unwrap();
        assert_eq!(path.split('"').next().unwrap().matches('M').count(), 2);
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(7.0), 10.0);
        assert_eq!(nice_max(23.0), 25.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(180.0), 200.0);
    }
}
