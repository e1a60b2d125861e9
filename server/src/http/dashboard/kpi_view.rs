//! The evaluation page (三(一)1 quarterly evaluation): the KPI table per quarter and grouping, its
//! charts and its export. Figures come from `xuncha_core::kpi::compute`; this module only shows them.

use std::fmt::Write as _;

use super::chart::{Bar, Scale, bar_chart};
use super::export::{Cell, Table};
use super::html::esc;

/// One row of the table as shown (the core's `KpiRow`, rates `None` where the denominator is 0).
#[derive(Debug, Clone, PartialEq)]
pub struct KpiLine {
    pub label: String,
    pub due: u32,
    pub closed_on_time: u32,
    pub closed: u32,
    pub dispatched: u32,
    pub returned: u32,
    pub reopened: u32,
    pub on_time_rate: Option<f64>,
    pub closure_rate: Option<f64>,
    pub rework_rate: Option<f64>,
    pub return_rate: Option<f64>,
    pub avg_handle_hours: Option<f64>,
}

/// A quarter of the Beijing calendar, parsed from `2026Q4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarterArg {
    pub year: i32,
    pub quarter: u8,
}

impl QuarterArg {
    pub fn parse(text: &str) -> Option<QuarterArg> {
        let (year, q) = text.trim().split_once(['Q', 'q'])?;
        let year: i32 = year.parse().ok()?;
        let quarter: u8 = q.parse().ok()?;
        ((1..=4).contains(&quarter) && (2000..=2100).contains(&year))
            .then_some(QuarterArg { year, quarter })
    }

    pub fn of(date: chrono::NaiveDate) -> QuarterArg {
        use chrono::Datelike;
        QuarterArg {
            year: date.year(),
            quarter: u8::try_from((date.month0() / 3) + 1).unwrap_or(1),
        }
    }

    pub fn previous(self) -> QuarterArg {
        if self.quarter == 1 {
            QuarterArg {
                year: self.year - 1,
                quarter: 4,
            }
        } else {
            QuarterArg {
                year: self.year,
                quarter: self.quarter - 1,
            }
        }
    }

    pub fn next(self) -> QuarterArg {
        if self.quarter == 4 {
            QuarterArg {
                year: self.year + 1,
                quarter: 1,
            }
        } else {
            QuarterArg {
                year: self.year,
                quarter: self.quarter + 1,
            }
        }
    }

    pub fn code(self) -> String {
        format!("{}Q{}", self.year, self.quarter)
    }

    pub fn name_zh(self) -> String {
        format!("{}年第{}季度", self.year, self.quarter)
    }
}

/// Groupings offered on the page: (query value, Chinese label).
pub const GROUPS: [(&str, &str); 3] = [
    ("unit", "按责任单位"),
    ("community", "按社区"),
    ("estate", "按小区"),
];

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{:.1}%", v * 100.0))
}

/// The KPI table as HTML.
pub fn kpi_table(lines: &[KpiLine], group_label: &str) -> String {
    if lines.is_empty() {
        return "<p class=\"empty\">本季度没有可考核的案件。</p>".to_string();
    }
    let mut out = format!(
        "<table class=\"kpi\" id=\"kpi-table\"><thead><tr><th>{}</th><th>应结</th><th>按期结案</th>\
         <th>结案</th><th>派遣</th><th>退回</th><th>返工</th><th>按期结案率</th><th>结案率</th>\
         <th>返工率</th><th>退回率</th><th>平均处置时长</th></tr></thead><tbody>",
        esc(group_label)
    );
    for l in lines {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&l.label),
            l.due,
            l.closed_on_time,
            l.closed,
            l.dispatched,
            l.returned,
            l.reopened,
            pct(l.on_time_rate),
            pct(l.closure_rate),
            pct(l.rework_rate),
            pct(l.return_rate),
            l.avg_handle_hours
                .map_or_else(|| "—".to_string(), |h| format!("{h:.1} 小时")),
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// The five charts of the page.
pub fn kpi_charts(lines: &[KpiLine]) -> String {
    let bars = |f: fn(&KpiLine) -> Option<f64>| -> Vec<Bar<'_>> {
        lines
            .iter()
            .map(|l| Bar {
                label: &l.label,
                value: f(l),
            })
            .collect()
    };
    let mut out = String::from("<div class=\"charts\">");
    out.push_str(&bar_chart(
        "按期结案率",
        &bars(|l| l.on_time_rate),
        Scale::Rate,
    ));
    out.push_str(&bar_chart("结案率", &bars(|l| l.closure_rate), Scale::Rate));
    out.push_str(&bar_chart("返工率", &bars(|l| l.rework_rate), Scale::Rate));
    out.push_str(&bar_chart("退回率", &bars(|l| l.return_rate), Scale::Rate));
    out.push_str(&bar_chart(
        "平均处置时长",
        &bars(|l| l.avg_handle_hours),
        Scale::Quantity("小时"),
    ));
    out.push_str("</div>");
    out
}

/// The KPI table for CSV/XLSX (rates as fractions, so spreadsheets can format them).
pub fn kpi_export(lines: &[KpiLine], group_label: &str, quarter: QuarterArg) -> Table {
    let headers = [
        group_label,
        "应结",
        "按期结案",
        "结案",
        "派遣",
        "退回",
        "返工",
        "按期结案率",
        "结案率",
        "返工率",
        "退回率",
        "平均处置时长(小时)",
    ];
    Table {
        sheet: format!("考核{}", quarter.code()),
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows: lines
            .iter()
            .map(|l| {
                vec![
                    Cell::from(l.label.clone()),
                    l.due.into(),
                    l.closed_on_time.into(),
                    l.closed.into(),
                    l.dispatched.into(),
                    l.returned.into(),
                    l.reopened.into(),
                    l.on_time_rate.into(),
                    l.closure_rate.into(),
                    l.rework_rate.into(),
                    l.return_rate.into(),
                    l.avg_handle_hours.into(),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn quarter_parsing_and_stepping() {
        assert_eq!(
            QuarterArg::parse("2026Q4"),
            Some(QuarterArg {
                year: 2026,
                quarter: 4
            })
        );
        assert_eq!(
            QuarterArg::parse("2026q1").unwrap().previous().code(),
            "2025Q4"
        );
        assert_eq!(QuarterArg::parse("2026Q4").unwrap().next().code(), "2027Q1");
        assert_eq!(QuarterArg::parse("2026Q5"), None);
        assert_eq!(QuarterArg::parse("abc"), None);
        let d = chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(QuarterArg::of(d).name_zh(), "2026年第4季度");
    }

    #[test]
    fn table_and_export_show_missing_rates_as_dash_and_empty() {
        let lines = vec![KpiLine {
            label: "和平区城市管理委员会".into(),
            due: 4,
            closed_on_time: 3,
            closed: 4,
            dispatched: 5,
            returned: 1,
            reopened: 0,
            on_time_rate: Some(0.75),
            closure_rate: Some(1.0),
            rework_rate: Some(0.0),
            return_rate: None,
            avg_handle_hours: Some(30.25),
        }];
        let html = kpi_table(&lines, "责任单位");
        assert!(html.contains("75.0%") && html.contains("—") && html.contains("30.2 小时"));
        let table = kpi_export(
            &lines,
            "责任单位",
            QuarterArg {
                year: 2026,
                quarter: 4,
            },
        );
        assert_eq!(table.rows[0][7], Cell::Number(0.75));
        assert_eq!(table.rows[0][10], Cell::Empty);
        assert!(
            table
                .to_csv()
                .contains("和平区城市管理委员会,4,3,4,5,1,0,0.75,1,0,,30.25")
        );
        assert_eq!(kpi_charts(&lines).matches("<figure").count(), 5);
    }
}
