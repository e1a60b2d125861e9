//! Photo pipeline (being written).
