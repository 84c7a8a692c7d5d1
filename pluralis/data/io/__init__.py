"""data/io"""
