//! Files the CLI writes that the core has no need of: PNG images.

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
