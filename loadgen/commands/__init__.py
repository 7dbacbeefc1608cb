"""One module per ``inferload`` sub-command; each exposes ``main(argv) -> int``."""
