"""Analyses over study DataFrames: representativeness, rankings (preference aggregation), welfare."""
