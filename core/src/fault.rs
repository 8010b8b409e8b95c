//! Whose fault an error is. Each crate's error type answers for itself whether the user can
//! fix it in the command line, the config or an input file (the command then exits 2), or
//! whether something failed on the way (exit 1); the binary asks, and matches no variants.

/// An error that knows whether the user caused it.
pub trait UserFault {
    /// True when the fix is the user's: a flag, a config field, an input file.
    fn is_user_fault(&self) -> bool;
}

/// An output path over an input is always the user's to change.
impl UserFault for crate::Overlap {
    fn is_user_fault(&self) -> bool {
        true
    }
}
