"""A class run: intake, the executor seam, the one-notebook worker, the one result model, the
report."""
