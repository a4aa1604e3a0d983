//! Sources: where decays happen. TODO.
