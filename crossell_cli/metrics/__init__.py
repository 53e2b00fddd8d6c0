"""One module per metric; each is a pure function of model frames -> pl.DataFrame."""
