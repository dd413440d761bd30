"""mmae benchmark: plans, cells, worker processes, statistics, tables and its report."""
