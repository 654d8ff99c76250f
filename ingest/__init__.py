"""Export files -> the raw schema of the build warehouse."""
