"""Differential testing: two stores fed the same operations on copies of one home, their homes compared."""
