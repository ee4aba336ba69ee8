//! Identifier mappings (legacy ↔ UXP), loaded from `mappings/*.toml`.
