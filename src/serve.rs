//! The serving loop. (Being written.)
