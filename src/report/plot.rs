//! (Being implemented; see issue 5.)
