//! Horizontal SVG bar charts for the KPI page. Plain SVG, printable, no script needed.

use maud::{Markup, html};

use super::export::display_width;

/// One bar: label and value. `None` means "no data" (e.g. a rate with a zero denominator) and is
/// drawn as an empty row with a dash, not as zero.
pub struct Bar<'a> {
    pub label: &'a str,
    pub value: Option<f64>,
}

/// How values are printed and scaled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// 0..=1 shown as a percentage, axis fixed at 100 %.
    Rate,
    /// Any non-negative quantity with its unit (e.g. 小时); the axis fits the largest value.
    Quantity(&'static str),
}

const ROW_H: f64 = 24.0;
/// The narrowest label column; it widens to the longest label.
const MIN_LABEL_W: f64 = 80.0;
/// Space between a label's end and its bar, and left of the longest label.
const LABEL_PAD: f64 = 8.0;
const BAR_W: f64 = 320.0;
const VALUE_W: f64 = 80.0;
/// The labels' font size, set on the SVG so the width estimate holds without the stylesheet.
const FONT_PX: f64 = 12.0;
/// Width of one spreadsheet column unit (half a CJK character) at [`FONT_PX`], generously: CJK
/// glyphs are one em, Latin glyphs rarely wider than 0.6 em.
const UNIT_PX: f64 = FONT_PX * 0.6;

/// The label column's width: the longest label fits whole (no label is cut).
fn label_width(bars: &[Bar<'_>]) -> f64 {
    let longest = bars
        .iter()
        .map(|b| display_width(b.label))
        .max()
        .unwrap_or(0);
    (longest as f64 * UNIT_PX + 2.0 * LABEL_PAD).max(MIN_LABEL_W)
}

fn format_value(value: f64, scale: Scale) -> String {
    match scale {
        Scale::Rate => format!("{:.1}%", value * 100.0),
        Scale::Quantity(unit) => format!("{value:.1} {unit}"),
    }
}

/// A number to one decimal (SVG coordinates and lengths).
fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// Renders a titled bar chart. Negative or non-finite values count as no data.
pub fn bar_chart(title: &str, bars: &[Bar<'_>], scale: Scale) -> Markup {
    let max = match scale {
        Scale::Rate => 1.0,
        Scale::Quantity(_) => bars
            .iter()
            .filter_map(|b| b.value)
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max),
    };
    let height = 30.0 + ROW_H * bars.len().max(1) as f64;
    let label_w = label_width(bars);
    let width = label_w + BAR_W + VALUE_W;
    html! {
        figure.chart {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (px(width)) " " (px(height)) }
                width=(px(width)) height=(px(height)) font-size=(FONT_PX) role="img" aria-label=(title) {
                @if bars.is_empty() {
                    text x="10" y="20" { "本季度无数据" }
                }
                @for (i, bar) in bars.iter().enumerate() {
                    (bar_row(10.0 + ROW_H * i as f64, label_w, bar, max, scale))
                }
            }
        }
    }
}

fn bar_row(y: f64, label_w: f64, bar: &Bar<'_>, max: f64, scale: Scale) -> Markup {
    let value = bar.value.filter(|v| v.is_finite() && *v >= 0.0);
    html! {
        text.bar-label x=(px(label_w - LABEL_PAD)) y=(px(y + 15.0)) text-anchor="end" { (bar.label) }
        @match value {
            Some(v) => {
                @let len = if max > 0.0 { (v / max).min(1.0) * BAR_W } else { 0.0 };
                rect.bar x=(px(label_w)) y=(px(y)) width=(px(len)) height=(px(ROW_H - 6.0)) {}
                text.bar-value x=(px(label_w + len + 6.0)) y=(px(y + 15.0)) { (format_value(v, scale)) }
            }
            None => {
                text.bar-value x=(px(label_w + 6.0)) y=(px(y + 15.0)) { "—" }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn rate_bars_scale_to_full_width_at_100_percent() {
        let svg = bar_chart(
            "按期结案率",
            &[
                Bar {
                    label: "河西区城市管理委员会",
                    value: Some(1.0),
                },
                Bar {
                    label: "<x>",
                    value: Some(0.5),
                },
                Bar {
                    label: "无数据",
                    value: None,
                },
            ],
            Scale::Rate,
        )
        .into_string();
        assert!(svg.contains("width=\"320.0\""));
        assert!(svg.contains("width=\"160.0\""));
        assert!(svg.contains("100.0%") && svg.contains("50.0%"));
        assert!(svg.contains("&lt;x&gt;"));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 2);
        assert!(svg.contains("—"));
    }

    #[test]
    fn quantities_fit_the_largest() {
        let svg = bar_chart(
            "平均处置时长",
            &[
                Bar {
                    label: "a",
                    value: Some(48.0),
                },
                Bar {
                    label: "b",
                    value: Some(12.0),
                },
            ],
            Scale::Quantity("小时"),
        )
        .into_string();
        assert!(svg.contains("width=\"320.0\"") && svg.contains("width=\"80.0\""));
        assert!(svg.contains("48.0 小时"));
    }

    /// The `viewBox` width and each label's text and right end.
    fn layout(svg: &str) -> (f64, Vec<(String, f64)>) {
        let vb = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
        let width: f64 = vb.split(' ').next().unwrap().parse().unwrap();
        let labels = svg
            .split("<text class=\"bar-label\" x=\"")
            .skip(1)
            .map(|rest| {
                let x: f64 = rest.split('"').next().unwrap().parse().unwrap();
                let text = rest
                    .split('>')
                    .nth(1)
                    .unwrap()
                    .split("</text")
                    .next()
                    .unwrap();
                (text.to_owned(), x)
            })
            .collect();
        (width, labels)
    }

    #[test]
    fn long_unit_names_are_whole_and_inside_the_view_box() {
        let names = [
            "天津市和平区南营门街道长春里社区居民委员会物业服务中心",
            "河西区旧楼区设施设备维修养护中心",
            "Tianjin Gas Group Co., Ltd. 天津能源",
            "短",
        ];
        let bars: Vec<Bar<'_>> = names
            .iter()
            .map(|n| Bar {
                label: n,
                value: Some(0.5),
            })
            .collect();
        let svg = bar_chart("结案率", &bars, Scale::Rate).into_string();
        let (width, labels) = layout(&svg);
        assert_eq!(labels.len(), names.len());
        for ((text, right), name) in labels.iter().zip(names) {
            assert_eq!(text, name, "the label is whole");
            // Right-aligned at `right`: it starts at `right - its width`, which must be inside.
            let left = right - display_width(name) as f64 * FONT_PX * 0.6;
            assert!(left >= 0.0, "{name} starts at {left}");
            assert!(*right <= width, "{name} ends at {right} of {width}");
        }
        assert!(svg.contains("font-size=\"12\""), "{svg}");
        // A short list keeps the compact width.
        let (narrow, _) = layout(
            &bar_chart(
                "x",
                &[Bar {
                    label: "和平区",
                    value: None,
                }],
                Scale::Rate,
            )
            .into_string(),
        );
        assert_eq!(narrow, MIN_LABEL_W + BAR_W + VALUE_W);
    }

    #[test]
    fn empty_chart_says_no_data() {
        assert!(
            bar_chart("x", &[], Scale::Rate)
                .into_string()
                .contains("本季度无数据")
        );
    }
}
