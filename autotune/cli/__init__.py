"""The `autotune` command line: one module per subcommand."""
