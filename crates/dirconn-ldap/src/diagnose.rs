//! The staged connection test.
