pub mod accounts;
pub mod bots;
pub mod dead_letters;
pub mod health;
pub mod integrations;
mod integrations_dto;
pub mod recordings;
pub mod test_runs;
pub mod whatsapp_start;
