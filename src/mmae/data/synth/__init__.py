"""Synthetic datasets: image categories (MVTec AD layout) and videos (UCSD Ped2 layout)."""
