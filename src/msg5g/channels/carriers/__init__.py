"""One module per carrier dialect."""
