"""One function per command: compose the pure core and the edges, return values, print nothing."""
