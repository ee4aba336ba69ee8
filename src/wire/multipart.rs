//! multipart/related.
