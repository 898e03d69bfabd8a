//! The EMCDDA TDI reporting workbook (2022 template, `seeds/emcdda/`): its table
//! layout read from the template itself, and the template filled with a release.
//!
//! The template is one worksheet in which each table starts with a title cell in
//! column A (`9.1.2 Primary drug by …`), its column headers on the next row from
//! column B, and its rows below, labels in column A. The fill locates each table by
//! its number, checks that the template has exactly the rows and columns the
//! description in `statutory.rs` expects, and writes numbers into the data cells
//! only, so the template's layout, styles and notes stay as they are.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::statutory::{Computed, StatTable, Value};

/// The template, shipped with the binary.
static TEMPLATE: &[u8] = include_bytes!("../../seeds/emcdda/EMCDDA_TDI_template_2022.xlsx");

/// One table of the template.
#[derive(Debug, Clone)]
pub struct Section {
    /// Its title, as written in the template.
    pub title: String,
    /// Worksheet row of the title (1-based).
    pub anchor: u32,
}

fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads the template.
pub fn template() -> Result<umya_spreadsheet::Spreadsheet, String> {
    umya_spreadsheet::reader::xlsx::read_reader(std::io::Cursor::new(TEMPLATE), true)
        .map_err(|e| format!("the EMCDDA template cannot be read: {e}"))
}

struct Layout {
    sections: HashMap<String, Section>,
    /// Column A and header texts by (column, row), for the labels.
    cells: HashMap<(u32, u32), String>,
}

fn layout() -> Result<&'static Layout, String> {
    static LAYOUT: OnceLock<Result<Layout, String>> = OnceLock::new();
    LAYOUT
        .get_or_init(|| {
            let book = template()?;
            let sheet = book
                .get_sheet(&0)
                .ok_or("the EMCDDA template has no worksheet")?;
            let mut sections = HashMap::new();
            let mut cells = HashMap::new();
            for cell in sheet.get_cell_collection() {
                let coordinate = cell.get_coordinate();
                let (col, row) = (*coordinate.get_col_num(), *coordinate.get_row_num());
                let text = normalise(&cell.get_value());
                if text.is_empty() {
                    continue;
                }
                if col == 1
                    && let Some((number, _)) = text.split_once(' ')
                    && number.split('.').count() == 3
                    && number.split('.').all(|p| p.parse::<u32>().is_ok())
                {
                    sections.insert(
                        number.to_owned(),
                        Section {
                            title: text.clone(),
                            anchor: row,
                        },
                    );
                }
                cells.insert((col, row), text);
            }
            Ok(Layout { sections, cells })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The template's section (title and position) of a table number.
pub fn section(number: &str) -> Result<Section, String> {
    layout()?
        .sections
        .get(number)
        .cloned()
        .ok_or_else(|| format!("table {number} is not in the EMCDDA template"))
}

/// Labels a computed table with the template's own title, row and column texts,
/// after checking that the template has exactly its rows and columns.
pub fn label(table: &Computed) -> Result<StatTable, String> {
    let layout = layout()?;
    let section = section(table.section)?;
    let text = |col: u32, row: u32| layout.cells.get(&(col, row)).cloned();
    let header = section.anchor + 1;
    let mut cols = Vec::new();
    for (j, code) in table.col_codes.iter().enumerate() {
        let col = 2 + u32::try_from(j).unwrap_or(u32::MAX);
        let label = text(col, header).ok_or_else(|| {
            format!(
                "table {}: the template has fewer columns than the {} expected",
                table.section,
                table.col_codes.len()
            )
        })?;
        cols.push(super::statutory::Label {
            code: code.clone(),
            label,
        });
    }
    let next_col = 2 + u32::try_from(table.col_codes.len()).unwrap_or(u32::MAX);
    if text(next_col, header).is_some() {
        return Err(format!(
            "table {}: the template has more columns than the {} expected",
            table.section,
            table.col_codes.len()
        ));
    }
    let mut rows = Vec::new();
    for (i, code) in table.row_codes.iter().enumerate() {
        let row = header + 1 + u32::try_from(i).unwrap_or(u32::MAX);
        let label = text(1, row)
            .filter(|l| !l.starts_with("NOTES") && !l.starts_with("1 - "))
            .ok_or_else(|| {
                format!(
                    "table {}: the template has fewer rows than the {} expected",
                    table.section,
                    table.row_codes.len()
                )
            })?;
        rows.push(super::statutory::Label {
            code: code.clone(),
            label,
        });
    }
    let last = rows
        .last()
        .map(|l| l.label.to_lowercase())
        .unwrap_or_default();
    let is_total = last.contains("total") || last.starts_with("4. all treatment entrants");
    if !is_total && !table.col_codes.iter().any(|c| c == "n_lag") {
        return Err(format!(
            "table {}: the template's last row is not the total row",
            table.section
        ));
    }
    Ok(StatTable {
        id: table.section.to_owned(),
        title: section.title,
        rows,
        cols,
        cells: table.cells.clone(),
        unreliable: table.unreliable.clone(),
    })
}

fn set(sheet: &mut umya_spreadsheet::Worksheet, col: u32, row: u32, value: &Value) {
    let cell = sheet.get_cell_mut((col, row));
    match value {
        Value::Count(n) => {
            cell.set_value_number(*n as f64);
        }
        Value::Stat(Some(x)) => {
            cell.set_value_number(*x);
        }
        Value::Stat(None) => {
            cell.set_value_string("");
        }
    }
}

/// The template filled with the workbook tables, plus a sheet of the DRD tables.
pub fn fill(
    year: i64,
    version: i64,
    tables: &[StatTable],
    drd: &[StatTable],
) -> Result<Vec<u8>, String> {
    let mut book = template()?;
    {
        let sheet = book
            .get_sheet_mut(&0)
            .ok_or("the EMCDDA template has no worksheet")?;
        for table in tables {
            let section = section(&table.id)?;
            for (i, row) in table.cells.iter().enumerate() {
                for (j, value) in row.iter().enumerate() {
                    let col = 2 + u32::try_from(j).unwrap_or(u32::MAX);
                    let r = section.anchor + 2 + u32::try_from(i).unwrap_or(u32::MAX);
                    set(sheet, col, r, value);
                }
            }
        }
    }
    let sheet = book
        .new_sheet("DRD")
        .map_err(|e| format!("cannot add the DRD sheet: {e}"))?;
    sheet
        .get_cell_mut((1, 1))
        .set_value_string(format!(
            "Drug-related deaths {year} (snapshot version {version}): Selection B and D, national, exact counts"
        ));
    let mut r = 3;
    for table in drd {
        sheet.get_cell_mut((1, r)).set_value_string(&table.title);
        r += 1;
        for (j, col) in table.cols.iter().enumerate() {
            let c = 2 + u32::try_from(j).unwrap_or(u32::MAX);
            sheet.get_cell_mut((c, r)).set_value_string(&col.label);
        }
        r += 1;
        for (row, values) in table.rows.iter().zip(&table.cells) {
            sheet.get_cell_mut((1, r)).set_value_string(&row.label);
            for (j, value) in values.iter().enumerate() {
                set(sheet, 2 + u32::try_from(j).unwrap_or(u32::MAX), r, value);
            }
            r += 1;
        }
        r += 1;
    }
    let mut out = Vec::new();
    umya_spreadsheet::writer::xlsx::write_writer(&book, &mut out)
        .map_err(|e| format!("cannot write the workbook: {e}"))?;
    Ok(out)
}
