//! Swift-style rings: partition placement over zones and weights, handoffs, the builder.
