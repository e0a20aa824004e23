//! Training and evaluation data. Toy distributions are generated in code; files are read from
//! the shared data folder, never copied into the repository.

pub mod cifar;
pub mod text;
pub mod toy2d;
