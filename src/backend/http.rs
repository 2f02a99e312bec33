//! mod_auth_http client backend. (Being written: see the http-backend branch.)
