//! One module per group of commands; each turns parsed arguments into API calls and output.

pub mod account;
pub mod bots;
pub mod dead_letters;
pub mod integrations;
mod integrations_show;
pub mod test;
