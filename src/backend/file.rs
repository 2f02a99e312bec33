//! Users-file backend. (Being written: see the file-backend branch.)
