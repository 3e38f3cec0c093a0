//! Builds only its dependency, for the clean-build timing.
