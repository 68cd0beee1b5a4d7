"""Domain services: the cluster's rules, no aiogram imports."""
