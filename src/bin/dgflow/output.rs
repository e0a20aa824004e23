//! Files the CLI writes that the core has no need of: PNG images, and tables under the command
//! that wrote them.

use std::path::Path;

use anyhow::{Context, Result};

use dgflow::render::Grid;

pub fn write_png(path: &Path, grid: &Grid) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut encoder =
        png::Encoder::new(std::io::BufWriter::new(file), grid.width as u32, grid.height as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(&grid.rgba)?;
    Ok(())
}

/// A table written with `--out`, under the command that wrote it (less `--out`), so that the
/// file says how to reproduce it.
pub fn write_table(path: &std::path::Path, caption: &str, table: &str) -> Result<()> {
    let mut words = std::env::args().skip(1);
    let mut command = vec!["dgflow".to_string()];
    while let Some(word) = words.next() {
        match word.as_str() {
            "--out" => {
                words.next();
            }
            w if w.starts_with("--out=") => {}
            _ => command.push(word),
        }
    }
    let text = format!("Written by `{}`:\n\n{caption}\n\n{table}", command.join(" "));
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
