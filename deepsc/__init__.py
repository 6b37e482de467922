"""Deep subspace clustering with external knowledge (DSC-Net, LRSC, SSCN)."""
