"""Where templates come from: each module turns one kind of input into datasets."""
