//! Behaviour specific to each integration.
